"""``reliability.png``: probability calibration of the study's best run and the best networks beyond it, as
reliability diagrams with the expected calibration error (ECE; Guo et al. 2017), from the reliability tables
the runs recorded at their end (``common.metrics.reliability``: the top-class probability of each test image,
averaged over the run's test-time views, in equal-width bins)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from common import study
from common.metrics import expected_calibration_error
from common.report import validation
from common.report.plots import SPLIT_COLORS, plt, save_figure
from common.report.stats import mean_std


def pooled(tables: list[dict]) -> dict:
    """The seeds' reliability tables summed bin by bin (the same bins)."""
    return {k: np.sum([t[k] for t in tables], axis=0) for k in ("count", "confidence_sum", "correct")} | {
        "bins": tables[0]["bins"]
    }


def panel(ax, recs: list[dict], title: str) -> None:
    tables = [r["final"]["test_reliability"] for r in recs]
    ece = mean_std([expected_calibration_error(t) for t in tables])
    t = pooled(tables)
    bins = t["bins"]
    edges = np.linspace(0, 1, bins + 1)
    count = np.asarray(t["count"], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc, conf = t["correct"] / count, t["confidence_sum"] / count
    have = count > 0
    ax.bar(  # the axes are in percent: each bin 100 / bins wide
        100 * edges[:-1][have],
        100 * acc[have],
        100 / bins,
        align="edge",
        color=SPLIT_COLORS["test"],
        alpha=0.8,
        edgecolor="white",
        label="accuracy in the bin",
    )
    ax.plot(100 * conf[have], 100 * acc[have], "k.", ms=4, label="(mean confidence, accuracy) of the bin")
    ax.plot([0, 100], [0, 100], color="gray", ls="--", lw=0.8, label="perfect calibration")
    share = ax.twinx()
    shares = 100 * count / count.sum()
    share.step(100 * edges, np.append(shares, shares[-1]), where="post", color="black", lw=1.2)  # to the last edge
    share.set(ylim=(0, 100), ylabel="test images in the bin (%)")
    seeds = ",".join(str(r["seed"]) for r in recs)
    spread = f" ± {100 * ece[1]:.1f}" if len(recs) > 1 else ""
    ax.set_title(
        f"{title}\nECE {100 * ece[0]:.1f}{spread} points (seed{'s' if len(recs) > 1 else ''} {seeds})", fontsize=9
    )
    ax.set(xlim=(0, 100), ylim=(0, 100), xlabel="confidence: top-class probability (%)", ylabel="accuracy (%)")
    ax.grid(alpha=0.3)


def write_reliability(records: list[dict], chosen: list[tuple[str, str]], out: Path) -> list[Path]:
    """One panel per run of ``chosen`` (name, title) whose seeds recorded a reliability table."""
    panels = []
    for name, title in chosen:
        recs = [r for r in validation.tested(records, study.RUNS[name]) if "test_reliability" in r["final"]]
        if recs:
            panels.append((recs, f"{title}"))
    if not panels:
        return []
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 5), squeeze=False)
    for ax, (recs, title) in zip(axes[0], panels):
        panel(ax, recs, title)
    axes[0][0].legend(fontsize=7.5, loc="upper left")
    title = (
        "Probability calibration on the test set: reliability diagrams (15 equal bins of the top-class probability, "
        "the seeds pooled; bars: the accuracy in each bin; black steps: the share of test images in it; ECE: the "
        "images' weighted |accuracy - confidence| gap, mean ± std over the seeds)"
    )
    fig.suptitle(textwrap.fill(title, 60 * len(panels)), fontsize=9.5)  # never wider than its panels
    fig.tight_layout()
    return [save_figure(fig, out / "reliability.png")]
