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
