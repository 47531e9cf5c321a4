"""Figures shared by the scripts: learning curves, image/filter grids, grouped bars.
Every figure is titled and labeled, and saved atomically as PNG."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # scripts run headless and only write files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

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


def plot_curves(history: list[dict], title: str, path, reference: dict | None = None,
                train_loss_label: str = "train (interval mean)") -> Path:
    """Train/test accuracy and train loss (and test loss where recorded) against iterations.
    ``reference`` may hold the study's ``train_acc`` / ``test_acc`` (fractions) as dashed lines."""
    its = [h["iteration"] for h in history]
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    ax_acc.plot(its, [h.get("train_accuracy", np.nan) for h in history], label="train (interval mean)", color="C0")
    if any("test_accuracy" in h for h in history):
        ax_acc.plot(its, [h.get("test_accuracy", np.nan) for h in history], label="test (all test images)", color="C1")
    for key, color in (("train_acc", "C0"), ("test_acc", "C1")):
        if reference and reference.get(key) is not None:
            ax_acc.axhline(reference[key], color=color, ls="--", lw=1, label=f"study's {key.replace('_', ' ')}")
    ax_acc.set(xlabel="iteration (batch)", ylabel="accuracy", ylim=(0, 1), title="accuracy")
    ax_acc.grid(alpha=0.3)
    ax_acc.legend(fontsize=8, loc="best")
    ax_loss.plot(its, [h.get("train_loss", np.nan) for h in history], label=train_loss_label, color="C0")
    if any("test_loss" in h for h in history):
        ax_loss.plot(its, [h.get("test_loss", np.nan) for h in history], label="test", color="C1")
    ax_loss.set(xlabel="iteration (batch)", ylabel="cross-entropy loss", title="loss")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def image_grid(images: np.ndarray, path, title: str, ncols: int = 8, cmap: str = "gray",
               vmin: float | None = None, vmax: float | None = None, labels=None, colorbar_label: str | None = None):
    """Images (N, H, W) in a grid, all on one color scale (vmin..vmax) with a colorbar."""
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    vmin = float(np.min(images)) if vmin is None else vmin
    vmax = float(np.max(images)) if vmax is None else vmax
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols + 1, 1.3 * nrows + 0.6), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i < n:
            im = ax.imshow(images[i], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            if labels is not None:
                ax.set_title(labels[i], fontsize=8)
        else:
            ax.axis("off")
    fig.suptitle(title)
    cbar = fig.colorbar(im, ax=axes, shrink=0.8)
    if colorbar_label:
        cbar.set_label(colorbar_label)
    return save_figure(fig, path)


def grouped_bars(groups: list[str], series: dict[str, list[float]], path, title: str, ylabel: str,
                 ylim=(0, 1.2), rotate: int = 30, colors: list[str] | None = None) -> Path:
    """One group of bars per entry of ``groups``; ``series`` maps a legend label to values (NaN = missing,
    drawn as no bar). Values are fractions, labeled as percentages."""
    x = np.arange(len(groups))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(7, 1.1 * len(groups) + 2), 5))
    for i, (label, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float)
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label,
                      color=None if colors is None else colors[i])
        ax.bar_label(bars, labels=["" if np.isnan(v) else f"{100 * v:.0f}" for v in values], fontsize=7, padding=1)
    ax.set_xticks(x, groups, rotation=rotate, ha="right" if rotate else "center")
    ax.set(ylabel=ylabel, ylim=ylim, title=title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncols=min(4, len(series)), loc="upper center")
    fig.tight_layout()
    return save_figure(fig, path)
