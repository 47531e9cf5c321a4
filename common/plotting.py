"""Plotting shared by the scripts: a headless matplotlib and an atomic PNG save."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # scripts run headless and only write files
import matplotlib.pyplot as plt  # noqa: E402

from common.io import atomic_path  # noqa: E402

DPI = 130


def save_figure(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = atomic_path(path)
    fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format="png")
    plt.close(fig)
    os.replace(tmp, path)
    return path
