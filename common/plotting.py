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


def seeds_note(ns: list[int], spread: str = "band: min-max", single: str = "") -> str:
    """What a figure's lines or bars are, given the seed counts ``ns`` of its rows: "mean of 3 seeds,
    band: min-max", "mean of 2/3 seeds, error bar: std over seeds", or for one seed "1 seed" plus
    ``single`` (e.g. why no error bar is drawn)."""
    ns = sorted(set(ns)) or [1]
    if max(ns) == 1:
        return "1 seed" + single
    return f"mean of {'/'.join(map(str, ns))} seeds, {spread}"
