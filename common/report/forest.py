"""``forest.png``: each claim's differences with their intervals, the evidence of the claims that rest on a
difference (a run against another, a cell against another), as a reviewer reads them at a glance."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common.report import claims
from common.report.plots import plt, save_figure
from common.report.stats import NOISE


def plot_forest(checked: list[claims.Claim], path: Path) -> Path | None:
    """One row per difference: the point, its ± NOISE standard-error interval (filled where it excludes 0:
    beyond noise), grouped by claim; zero dashed."""
    rows = [(k, c, what, d, se) for k, c in enumerate(checked, 1) for what, d, se in c.differences]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(rows) + 1.8))
    y = np.arange(len(rows))[::-1]
    for yi, (*_, d, se) in zip(y, rows):
        beyond = abs(d) > NOISE * se
        color = "black" if beyond else "0.55"
        ax.errorbar(
            [100 * d],
            [yi],
            xerr=[100 * NOISE * se],
            fmt="o",
            color=color,
            mfc=color if beyond else "white",
            capsize=3,
            ms=5,
        )
    ax.axvline(0, color="gray", ls="--", lw=0.8)
    labels = [f"claim {k}: {what}" for k, _, what, _, _ in rows]
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_xlabel(f"difference (accuracy points), ± {NOISE:g} standard errors over the seeds")
    ax.set_title(
        "The claims that rest on a difference: each difference and its interval\n"
        "(filled: beyond noise, the interval excludes 0; open: within noise; claims as numbered in figures/claims.md)",
        fontsize=10,
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path)


def write_forest(figures_root: Path, log=print) -> list[Path]:
    path = plot_forest(claims.from_indexes(figures_root, log), Path(figures_root) / "forest.png")
    return [path] if path else []
