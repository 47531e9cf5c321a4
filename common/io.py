"""Checkpoint and result I/O: every file is written to a temporary name, then renamed,
so an interruption never leaves a half-written result or checkpoint."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np


def atomic_path(path: Path) -> Path:
    """A temporary sibling of ``path`` (same folder, so the rename is atomic)."""
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def write_json(path: str | os.PathLike, data: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    tmp.write_text(json.dumps(data, indent=2, default=_json_default, allow_nan=True) + "\n")
    os.replace(tmp, path)


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def write_text(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    tmp.write_text(text)
    os.replace(tmp, path)


def save_npz(path: str | os.PathLike, **arrays) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    os.replace(tmp, path)


def save_model(model, path: str | os.PathLike) -> None:
    """``model.save`` (architecture, weights and optimizer state), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    model.save(tmp)
    os.replace(tmp, path)


class CheckpointError(RuntimeError):
    """A checkpoint is missing or does not match what the caller expects."""


def load_model(path: str | os.PathLike, required_layers: tuple[str, ...] = (), compile: bool = True):
    """Loads a ``.keras`` checkpoint; a missing/corrupt file or missing layers raise a clear error."""
    import keras
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found. Train one first (e.g. python dconvnet.py) "
                              "or pass the right --checkpoint.")
    try:
        model = keras.models.load_model(path, compile=compile)
    except Exception as err:
        raise CheckpointError(f"{path}: cannot load this checkpoint ({type(err).__name__}: {err}). "
                              "Delete it and retrain.") from err
    names = {layer.name for layer in model.layers}
    missing = [n for n in required_layers if n not in names]
    if missing:
        raise CheckpointError(f"{path}: checkpoint has no layer(s) {missing} (it has {sorted(names)}). "
                              "It is not the study's LeNet-5; retrain it with dconvnet.py.")
    return model


def versions() -> dict[str, str]:
    """Library versions and machine, saved with every result."""
    import keras
    import matplotlib
    out = {"python": sys.version.split()[0], "numpy": np.__version__, "keras": keras.__version__,
           "matplotlib": matplotlib.__version__, "backend": keras.backend.backend(),
           "platform": platform.platform()}
    try:
        import tensorflow as tf
        out["tensorflow"] = tf.__version__
    except ImportError:
        pass
    if out["backend"] == "jax":
        import jax
        out["jax"] = jax.__version__
    return out
