"""Result, model and TensorBoard I/O: every file is written to a temporary name, then renamed, so an
interruption never leaves a half-written result. A temporary name carries its writer's
process id; :func:`remove_stale_temps` deletes those of processes that no longer run."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import platform
import re
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from common.cli import WORKER_ENV, UserError, alive

TEMP_RE = re.compile(r"^\..+\.tmp(\d+)(\.[^.]*)?$")


def remove_stale_temps(folder: str | os.PathLike, recursive: bool = False) -> int:
    """Deletes temporary files left by killed processes (their pid no longer runs); returns how many."""
    removed = 0
    for path in Path(folder).rglob(".*.tmp*") if recursive else Path(folder).glob(".*.tmp*"):
        m = TEMP_RE.match(path.name)
        if m and not alive(int(m.group(1))) and path.is_file():  # a live writer (this one too) keeps its file
            path.unlink(missing_ok=True)
            removed += 1
    return removed


class CorruptFile(UserError):
    """A saved file cannot be read."""


def write_json(path: str | os.PathLike, data: Any) -> None:
    """NumPy values as lists and numbers, paths as text; anything else raises TypeError."""
    default = lambda obj: obj.tolist() if isinstance(obj, (np.generic, np.ndarray)) else os.fspath(obj)
    write_text(path, json.dumps(data, indent=2, default=default, allow_nan=True) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Reads a JSON file; a truncated or edited one raises :class:`CorruptFile` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptFile(f"{path}: not valid JSON ({err}); it was truncated or edited by hand.") from None


# A write that fails for want of room or rights: a full disk (ENOSPC), a quota (EDQUOT), a file-size limit
# (EFBIG), a folder made read-only while the script ran (EROFS, EACCES, EPERM)
FULL = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG)
CANNOT_WRITE = (*FULL, errno.EROFS, errno.EACCES, errno.EPERM)


class WriteFailed(UserError):
    """A file could not be written (the disk is full, a limit or the rights forbid it)."""


@contextlib.contextmanager
def atomic(path: str | os.PathLike):
    """``with atomic(path) as tmp: <write tmp>``: the file appears at ``path`` whole, or not at all. A write that
    fails for want of room or rights raises :class:`WriteFailed`, naming the folder and the fix."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")  # its writer named: remove_stale_temps
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        if err.errno not in CANNOT_WRITE:
            raise
        raise WriteFailed(
            f"cannot write {path} ({err.strerror}): {'no room' if err.errno in FULL else 'no right to write'} in "
            f"{path.parent}. Free space there (or make it writable), or pass another folder (--runs-dir, --out-dir), "
            "then rerun the same command: nothing finished was lost (every file is written whole or not at all), "
            "and an unfinished run resumes from its last checkpoint."
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic(path) as tmp:
        tmp.write_text(text)


def save_model(model, path: str | os.PathLike) -> None:
    """``model.save`` (architecture, weights and optimizer state), atomically."""
    with atomic(path) as tmp:
        model.save(tmp)


def unreadable_model(path: str | os.PathLike) -> str | None:
    """Why ``path`` is not a whole ``.keras`` file (a zip archive), or None: missing, cut short (the archive's
    directory, at its end, is gone) or damaged (a part fails its CRC). Milliseconds, without Keras."""
    if not Path(path).is_file():
        return "the file is missing"
    try:
        with zipfile.ZipFile(path) as z:
            damaged = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        return f"not a whole .keras file ({err}): it was cut short (an interrupted copy or write) or is another file"
    return f"a damaged .keras file (its part {damaged} fails its checksum)" if damaged else None


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
    retrain = (
        "Rerun the command that trained it (python dconvnet.py with its --run and --seed trains a run whose model is "
        "unreadable again, the old file moved aside), or pass another --checkpoint."
    )
    if problem := unreadable_model(path):  # Keras would say "File not found" of a cut-short file
        raise CheckpointError(f"{path}: {problem}. {retrain}")
    try:
        model = keras.models.load_model(path, compile=compile)
    except Exception as err:  # OSError, ValueError, KeyError...: a whole zip file that is not a Keras model
        raise CheckpointError(
            f"{path}: cannot read this model file ({type(err).__name__}: {err}); it is not a Keras model. {retrain}"
        ) from None
    names = {layer.name for layer in model.layers}
    if missing := [n for n in required_layers if n not in names]:
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
    if WORKER_ENV in os.environ:  # --workers N: N runs shared the CPU, so the times are not a lone run's
        out["workers"] = int(os.environ[WORKER_ENV].split("/")[1])
    return out | {lib: sys.modules[lib].__version__ for lib in ("tensorflow", "jax", "torch") if lib in sys.modules}


class TensorBoardLog:
    """Event files written from a run's saved history with the ``tensorboard`` package alone (no TensorFlow, so the
    JAX path logs too): one file per checkpoint segment, named by its first iteration (``...it000000600``), written
    just before the checkpoint that ends it. A run resumed from its checkpoint at iteration c deletes the files of
    segments that began after c (a process killed before its next checkpoint), so TensorBoard shows every step once.
    """

    def __init__(self, logdir: str | os.PathLike):
        self.logdir = Path(logdir)

    def truncate_after(self, iteration: int | None) -> None:
        """Deletes segments that began after ``iteration``; ``None`` (a fresh start): all of them."""
        for path in self.logdir.glob("events.out.tfevents.*"):
            m = re.search(r"\.it(\d{9})$", path.name)
            if m and (iteration is None or int(m.group(1)) > iteration):
                path.unlink(missing_ok=True)

    def write(self, records: list[dict]) -> None:
        """One event file holding ``records`` (history entries keyed by ``iteration``)."""
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.histogram.metadata import create_summary_metadata
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
        from tensorboard.util.tensor_util import make_tensor_proto

        if not records:
            return
        self.logdir.mkdir(parents=True, exist_ok=True)
        writer = EventFileWriter(str(self.logdir), filename_suffix=f".it{records[0]['iteration']:09d}")
        Value, histogram = summary_pb2.Summary.Value, create_summary_metadata("", "")
        for rec in records:  # every number a scalar (the iteration is the step), every binned count a histogram
            values = [Value(tag=k, simple_value=float(v)) for k, v in rec.items() if isinstance(v, (int, float))]
            values += [  # TensorBoard's own histogram format: a (left edge, right edge, count) row per bin
                Value(
                    tag=f"activations/{k.removesuffix('_hist')}",
                    metadata=histogram,
                    tensor=make_tensor_proto(np.stack([v["edges"][:-1], v["edges"][1:], v["counts"]], axis=1)),
                )
                for k, v in rec.items()
                if isinstance(v, dict) and "counts" in v
            ]
            summary = summary_pb2.Summary(value=[v for v in values if v.tag != "iteration"])
            writer.add_event(event_pb2.Event(step=int(rec["iteration"]), wall_time=time.time(), summary=summary))
        writer.close()  # flushes
