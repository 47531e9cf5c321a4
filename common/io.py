"""Result and model I/O: every file is written to a temporary name, then renamed, so an
interruption never leaves a half-written result. A temporary name carries its writer's
process id; :func:`remove_stale_temps` deletes those of processes that no longer run."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from common.cli import UserError

TEMP_RE = re.compile(r"^\..+\.tmp(\d+)(\.[^.]*)?$")


def atomic_path(path: Path) -> Path:
    """A temporary sibling of ``path`` (same folder, so the rename is atomic), named after
    this process so that a killed writer's leftovers can be told apart and removed."""
    return path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike, recursive: bool = False) -> int:
    """Deletes temporary files left by killed processes (their pid no longer runs); returns how many."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.rglob(".*.tmp*") if recursive else folder.glob(".*.tmp*"):
        m = TEMP_RE.match(path.name)
        if m and int(m.group(1)) != os.getpid() and not _alive(int(m.group(1))) and path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


class CorruptFile(UserError):
    """A saved file cannot be read."""


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def write_json(path: str | os.PathLike, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, default=_json_default, allow_nan=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Reads a JSON file; a truncated or edited one raises :class:`CorruptFile` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptFile(f"{path}: not valid JSON ({err}); it was truncated or edited by hand.") from None


@contextlib.contextmanager
def atomic(path: str | os.PathLike):
    """``with atomic(path) as tmp: <write tmp>``: the file appears at ``path`` whole, or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic(path) as tmp:
        tmp.write_text(text)


def save_model(model, path: str | os.PathLike) -> None:
    """``model.save`` (architecture, weights and optimizer state), atomically."""
    with atomic(path) as tmp:
        model.save(tmp)


class CheckpointError(UserError):
    """A checkpoint is missing or does not match what the caller expects."""


def load_model(path: str | os.PathLike, required_layers: tuple[str, ...] = (), compile: bool = True):
    """Loads a ``.keras`` checkpoint; a missing/corrupt file or missing layers raise a clear error."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"{path}: model file not found. Train one first (e.g. python dconvnet.py) or pass the right --checkpoint."
        )
    try:
        model = keras.models.load_model(path, compile=compile)
    except Exception as err:  # zipfile.BadZipFile, OSError, ValueError...: one message for all of them
        raise CheckpointError(
            f"{path}: cannot read this model file ({type(err).__name__}: {err}); it is "
            "truncated or not a Keras model. Delete it and retrain (e.g. python dconvnet.py)."
        ) from None
    names = {layer.name for layer in model.layers}
    missing = [n for n in required_layers if n not in names]
    if missing:
        raise CheckpointError(
            f"{path}: checkpoint has no layer(s) {missing} (it has {sorted(names)}). "
            "It is not the study's LeNet-5; retrain it with dconvnet.py."
        )
    return model


def versions() -> dict[str, str]:
    """Library versions and machine, saved with every result."""
    import keras
    import matplotlib

    from common import backend, cpu

    out = {
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "keras": keras.__version__,
        "matplotlib": matplotlib.__version__,
        "platform": platform.platform(),
        **backend.describe(),
        "cpu": cpu.summary(),
    }
    if cpu.onednn() is not None:
        out["onednn"] = cpu.onednn()
    for lib in ("tensorflow", "jax", "torch"):
        if lib in sys.modules:
            out[lib] = sys.modules[lib].__version__
    return out
