"""Test set-up: quiet TensorFlow, the repository on sys.path, and the real data's location."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from common.data import candidate_roots  # noqa: E402


def _find(name: str) -> Path:
    for root in candidate_roots():
        if (root / name).is_dir():
            return root
    pytest.fail(f"the real {name} data was not found in {candidate_roots()}; set DATA_DIR")


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder holding CIFAR10/ and MNIST/ (../shared/data here)."""
    return _find("CIFAR10")


def launch(script: str, tmp: Path, data_root: Path, *flags, env: dict | None = None):
    """``script`` in a process of its own, on ``tmp``/runs and ``tmp``/fig, its output in a log file;
    ``proc.output()`` reads what it printed so far."""
    import os
    import subprocess
    import time

    log = open(tmp / f"{Path(script).stem}-{time.time_ns()}.log", "w+")  # noqa: SIM115 (read while it runs)
    argv = [
        sys.executable,
        str(REPO / script),
        "--data-dir",
        str(data_root),
        "--runs-dir",
        str(tmp / "runs"),
        "--out-dir",
        str(tmp / "fig"),
        *map(str, flags),
    ]
    proc = subprocess.Popen(
        argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    )

    def output() -> str:
        log.flush()
        return Path(log.name).read_text()

    proc.output = output
    return proc
