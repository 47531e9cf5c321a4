"""The figures' shared parts: matplotlib headless, the atomic PNG save, the band over seeds, bars, image grids."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # scripts run headless and only write files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from common import io  # noqa: E402
from common.report.stats import series  # noqa: E402

DPI = 130
# One colour per split in every figure (and accuracies in percent everywhere): the training images, the test
# set, the validation split held out of training; the study's own numbers in lighter shades of the same hues
SPLIT_COLORS = {"train": "#1f77b4", "test": "#d62728", "val": "#9467bd"}
STUDY_COLORS = {"train": "#9ecae1", "test": "#fcae91"}
SPLIT_NAMES = {"train": "train", "test": "test", "val": "validation"}
# The two conv layers, in colours no split has, conv2 dashed: where both lines coincide, each still shows
LAYER_STYLES = {"conv1": dict(color="#ff7f0e"), "conv2": dict(color="#2ca02c", ls="--")}


def save_figure(fig, path: str | Path, tight: bool | tuple = False) -> Path:
    """The figure as a PNG, written whole or not at all, then closed; ``tight``: ``fig.tight_layout`` (rect) first."""
    path = Path(path)
    if tight:
        fig.tight_layout(rect=None if tight is True else tight)
    try:
        with io.atomic(path) as tmp:
            fig.savefig(tmp, dpi=DPI, bbox_inches="tight", format="png")
    finally:
        plt.close(fig)
    return path


def seeds_note(ns: list[int], spread: str = "band: ± 1 std over seeds", single: str = "") -> str:
    """What a figure's lines or bars are, given its rows' seed counts: "mean of 2/3 seeds, band: ...", "1 seed"."""
    ns = sorted(set(ns)) or [1]
    if max(ns) == 1:
        return "1 seed" + single
    return f"mean of {'/'.join(map(str, ns))} seeds, {spread}"


def band(ax, records: list[dict], key: str, label: str, color, x_key: str = "iteration", scale: float = 1.0, **style):
    """The mean over seeds as a line, ± one sample std as a band (one seed: the line alone); returns (x, mean, std)."""
    xs, vals = series(records, key, x_key)
    if len(xs) == 0:
        return xs, np.array([]), np.array([])
    with warnings.catch_warnings():  # a point where every seed is NaN: a gap, no warning needed
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = scale * np.nanmean(vals, axis=0)
        std = scale * np.nanstd(vals, axis=0, ddof=1) if len(records) > 1 else np.zeros_like(mean)
    ax.plot(xs, mean, color=color, label=label, **{"lw": 1.5, **style})
    if len(records) > 1:
        ax.fill_between(xs, mean - std, mean + std, color=color, alpha=0.2, lw=0)
    return xs, mean, std


def error_bars(ax, where, values, errors, **style) -> None:
    """Black error bars at ``where`` wherever both the value and its error are finite (NaN: no bar)."""
    where, values, errors = (np.asarray(a, dtype=float) for a in (where, values, errors))
    ok = np.isfinite(errors) & np.isfinite(values)
    if ok.any():
        style = {"elinewidth": 0.8, "capsize": 2, **style}
        ax.errorbar(where[ok], values[ok], yerr=errors[ok], fmt="none", ecolor="black", **style)


def seed_dots(ax, where, per_seed, width: float, scale: float = 100.0) -> None:
    """Each seed's value as a dot on its bar, spread across it in seed order so that none hides another."""
    for w, values in zip(where, per_seed):
        values = [v for v in (values or []) if v is not None and np.isfinite(v)]
        if len(values) >= 2:
            offsets = np.linspace(-0.25, 0.25, len(values)) * width
            ax.plot(w + offsets, scale * np.asarray(values), "o", ms=2.6, color="black", alpha=0.75, zorder=4)


def image_grid(images: np.ndarray, path, title: str, vmin, vmax, labels, marked, ncols=8):
    """Labelled images (N, H, W) on one color scale with a colorbar, or RGB (N, H, W, 3) in [0, 1]; ``marked`` framed.
    One Axes holds every image (an Axes per image drew a 64-filter grid 2.6x slower)."""
    nrows = -(-len(images) // ncols)
    gap, room = 0.3, 0.55  # between images and above each (its label), in image widths
    fig, ax = plt.subplots(figsize=(1.25 * ncols * (1 + gap) / 1.3 + 1.2, 1.25 * nrows * (1 + room) / 1.3 + 0.7))
    for i, image in enumerate(images):
        x, y = (i % ncols) * (1 + gap), (i // ncols) * (1 + room) + room
        im = ax.imshow(image, cmap="gray", vmin=vmin, vmax=vmax, extent=(x, x + 1, y + 1, y), interpolation="nearest")
        frame = dict(ec="red", lw=2.5) if marked[i] else dict(ec="black", lw=0.8)
        ax.add_patch(matplotlib.patches.Rectangle((x, y), 1, 1, fill=False, **frame))
        ax.text(x + 0.5, y - 0.08, labels[i], ha="center", va="bottom", fontsize=8)
    ax.set(xlim=(-0.05, ncols * (1 + gap) - gap + 0.05), ylim=(nrows * (1 + room) + 0.05, 0), aspect="equal")
    ax.axis("off")
    ax.set_title(title, fontsize=10)
    if images.ndim == 3:  # a colorbar only where one scale maps values to colors (not for RGB images)
        fig.colorbar(im, ax=ax, shrink=0.8, pad=0.02, label="weight")
    return save_figure(fig, path)


def evaluated_when(records: list[dict]) -> str:
    """When the records were evaluated (``dense_until``: a dense early rerun merged in, common.runs.merge_early)."""
    every = records[0]["identity"]["eval_every"]
    dense = min((r.get("dense_until", 0) for r in records), default=0)
    if dense:
        return f"evaluated after every iteration up to {dense}, then every {every}"
    return f"evaluated every {every} iterations (no dense early rerun)"


def spread_labels(ax, xs, ys, labels, xerr=None, yerr=None, fontsize: float = 8) -> None:
    """Labels beside their points, none over another label, a marker or an error bar (``xerr``, ``yerr``: half-widths);
    a moved label gets a thin line to its point. Call it once the axes' limits, scales and layout are set."""
    if ax.figure.get_layout_engine():  # the axes' final place (constrained layout)
        ax.figure.get_layout_engine().execute(ax.figure)
    ax.get_xlim(), ax.apply_aspect()  # the final limits and box: a pending autoscale or equal aspect applied
    pt = ax.figure.dpi / 72  # pixels per point
    to_px = ax.transData.transform
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    px = to_px(np.column_stack([xs, ys]))
    frame = ax.bbox
    taken = [(x - 4 * pt, y - 4 * pt, x + 4 * pt, y + 4 * pt) for x, y in px]  # the markers
    for err, axis in ((xerr, 0), (yerr, 1)):  # the error bars, as thin boxes
        for e, xv, yv in zip(np.nan_to_num(err if err is not None else np.zeros(len(px))), xs, ys):
            ends = to_px([(xv - e, yv), (xv + e, yv)] if axis == 0 else [(xv, yv - e), (xv, yv + e)])
            taken.append((*(ends.min(axis=0) - 1.5 * pt), *(ends.max(axis=0) + 1.5 * pt)))
    clear = lambda b: all(b[2] <= t[0] or t[2] <= b[0] or b[3] <= t[1] or t[3] <= b[1] for t in taken)  # noqa: E731
    for i in np.argsort(px[:, 1]):
        x, y = px[i]
        width, height = (len(str(labels[i])) * 0.62 + 0.4) * fontsize * pt, fontsize * pt
        boxes = [
            (x0, y0, x0 + width, y0 + height)
            for k in (0, 1, -1, 2, -2, 3, -3, 4, -4, 5, 6, 7, 8)
            for x0 in (x + 4 * pt, x - 4 * pt - width)
            for y0 in [y + 2 * pt + k * (1.3 * fontsize * pt) - (k < 0) * (height + 4 * pt)]  # k lines up or down
        ]
        inside = [b for b in boxes if frame.x0 <= b[0] and b[2] <= frame.x1 and frame.y0 <= b[1] and b[3] <= frame.y1]
        box = next((b for b in inside if clear(b)), (inside or boxes)[0])
        taken.append(box)
        moved = abs(box[1] - (y + 2 * pt)) > 1 or box[0] < x
        arrow = dict(arrowstyle="-", color="0.6", lw=0.5, shrinkA=0, shrinkB=3) if moved else None
        style = dict(textcoords="offset points", va="bottom", fontsize=fontsize, arrowprops=arrow)
        ax.annotate(labels[i], (xs[i], ys[i]), xytext=((box[0] - x) / pt, (box[1] - y) / pt), **style)


def log_labels(axis, minor=(), unit: str = "") -> None:
    """A log axis labelled 1, 10, 100 (not 10^0), minor ticks only at ``minor`` times a decade (all nine overprint)."""
    axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}{unit}"))
    pick = lambda v: v > 0 and round(v / 10 ** math.floor(math.log10(v))) in minor  # noqa: E731
    axis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}{unit}" if pick(v) else ""))
