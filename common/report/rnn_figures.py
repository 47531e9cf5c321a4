"""Task 3's figures, from the rows of ``common/report/rnn.py`` (each a configuration's records): each cell's
curves over its hidden sizes, the final test accuracies beside the study's, Part C's CNN against the best of
each cell (claim 16) and the train - test gap (claim 15). Accuracies and errors in percent; the claims' rules
are drawn with the claims' own thresholds and decided with the claims' own functions (``claims``)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.patches import Patch

from common.recurrent import CELL_LABELS, CELLS
from common.report import claims
from common.report.claims import GAP_CELLS, GAP_RULE, REACH_LEVEL, about_equal, first_reach, points
from common.report.plots import SPLIT_COLORS, STUDY_COLORS, band, error_bars, log_labels, plt, save_figure, seeds_note
from common.report.stats import decided, mean_std

# A cell's colour wherever a figure's lines or bars are cells; none of them is a split's colour (plots.SPLIT_COLORS:
# train blue, test red, validation purple), so that blue and red always mean train and test.
CELL_COLORS = {"rnn": "#2ca02c", "lstm": "#ff7f0e", "gru": "#8c564b", "cnn": "black"}
ERROR_FLOOR = 0.01  # percent: the error figures' log axes end here at the lowest (one image in 10,000)
SHADES = 0.45  # a cell's hidden sizes: its colour darkened (the largest) to lightened (the smallest) by this much


def final_value(m: dict, key: str) -> float:
    """The last recorded value of ``key`` (NaN if the run diverged or never recorded it)."""
    if m.get("status") != "finished":
        return math.nan
    v = m.get("final", {}).get(key)
    return math.nan if v is None else float(v)


def shades(cell: str, n: int) -> list[tuple]:
    """``n`` shades of the cell's colour, dark to light."""
    base = np.array(to_rgb(CELL_COLORS[cell]))
    return [tuple(base * (1 + t) if t < 0 else base + (1 - base) * t) for t in np.linspace(-SHADES, SHADES, n)]


# ---------------------------------------------------------------- each cell's curves
CURVE_PANELS = (  # (split, what, title): the top row accuracies, the bottom row losses
    ("train", "accuracy", "train accuracy (interval mean)"),
    ("test", "accuracy", "test accuracy (all test images)"),
    ("train", "loss", "train loss (interval mean)"),
    ("test", "loss", "test loss"),
)


def curves_note(rows: list[dict]) -> str:
    """The study's words for a cell it gave no numbers for, or ''."""
    says = rows[0].get("study_says") if rows else None
    return f'study: no numbers for the {CELL_LABELS[rows[0]["cell"]]}\n("{"; ".join(says)}")' if says else ""


def plot_cell_curves(cell: str, rows: list[dict], path: Path) -> Path:
    """Accuracy (%) and loss, train and test, one line per hidden size (shades of the cell's colour); the
    study's test numbers dotted."""
    rows = sorted(rows, key=lambda r: -r["hidden_units"])
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
    for r, color in zip(rows, shades(cell, max(len(rows), 1))):
        label = f"{r['hidden_units']} units ({r['num_params']:,} params)" + (
            ", DIVERGED" if "diverged" in r["status"] else ""
        )
        for ax, (split, what, _) in zip(axes.flat, CURVE_PANELS):
            band(ax, r["records"], f"{split}_{what}", label, color, scale=100 if what == "accuracy" else 1)
        study = r["study_test_accuracy"]
        if study is not None:
            label = f"study, {r['hidden_units']} units: {points(study)}%"
            axes[0, 1].axhline(100 * study, color=color, ls=":", lw=1.3, label=label)
    for ax, (split, what, title) in zip(axes.flat, CURVE_PANELS):
        ax.set_title(title, color=SPLIT_COLORS[split])
        ax.grid(alpha=0.3)
        if what == "accuracy":
            ax.set(ylim=(0, 100), ylabel="accuracy (%)")
        else:
            ax.set(ylabel="cross-entropy loss")
            ax.set_ylim(bottom=0)
    for ax in axes[1]:
        ax.set_xlabel("iteration (batch)")
    axes[0, 0].legend(fontsize=8, loc="lower right", title="hidden size", title_fontsize=8)
    axes[0, 1].legend(fontsize=7, loc="lower right", ncols=2)
    note = curves_note(rows)
    if note:
        axes[0, 1].text(0.02, 0.97, note, transform=axes[0, 1].transAxes, fontsize=8, va="top", color="0.3")
    c = rows[0]["records"][0]["identity"]["config"] if rows else {}
    fig.suptitle(
        f"{CELL_LABELS[cell]} on image rows: {c.get('optimizer', '')} lr {c.get('learning_rate', '')} "
        f"({c.get('lr_schedule', 'constant')}), batch {c.get('batch_size', '')}; {seeds_note([r['n'] for r in rows])}"
    )
    return save_figure(fig, path, tight=True)


# ---------------------------------------------------------------- final test accuracy against the study's
def summary_panel(ax, rows: list[dict]) -> None:
    """One cell's bars: ours (mean, std error bar) beside the study's, in percent."""
    x = np.arange(len(rows))
    ours = np.array([100 * r["final_test_accuracy_mean"] for r in rows], dtype=float)
    err = np.array([100 * r["final_test_accuracy_std"] for r in rows], dtype=float)
    study = np.array([np.nan if r["study_test_accuracy"] is None else 100 * r["study_test_accuracy"] for r in rows])
    ax.bar(x - 0.2, np.nan_to_num(ours), 0.4, label="ours", color=SPLIT_COLORS["test"])
    error_bars(ax, x - 0.2, ours, err, elinewidth=1.2, capsize=3, zorder=3)
    b2 = ax.bar(x + 0.2, np.nan_to_num(study), 0.4, label="study", color=STUDY_COLORS["test"], hatch="//")
    for p in b2.patches:
        p.set_edgecolor("white")
    tops = np.nan_to_num(ours) + np.where(np.isfinite(err), err, 0)
    for xi, top, r, v in zip(x - 0.2, tops, rows, ours):
        text = "diverged" if "diverged" in r["status"] else f"{v:.1f}"
        ax.text(xi, top + 0.8, text, ha="center", va="bottom", fontsize=8)
    ax.bar_label(b2, labels=["n/a" if np.isnan(v) else f"{v:.0f}" for v in study], fontsize=8, padding=1)
    ax.set_xticks(x, [str(r["hidden_units"]) for r in rows])
    ax.set(xlabel="hidden units", title=CELL_LABELS[rows[0]["cell"]], ylim=(0, 108))
    ax.grid(axis="y", alpha=0.3)
    says = rows[0].get("study_says")
    if says and np.all(np.isnan(study)):
        text = f'study: no numbers (n/a); reported\n"{"; ".join(says)}"'
        ax.text(0.5, 0.97, text, transform=ax.transAxes, ha="center", va="top", fontsize=7.5, color="0.3")


def plot_summary(rows: list[dict], path: Path) -> Path:
    """Final test accuracy (%) per cell and hidden size (mean, std error bars), ours beside the study's."""
    cells = [c for c in CELLS if any(r["cell"] == c for r in rows)]
    fig, axes = plt.subplots(1, len(cells), figsize=(4.2 * len(cells) + 0.5, 4.3), sharey=True, squeeze=False)
    for ax, cell in zip(axes[0], cells):
        summary_panel(ax, sorted((r for r in rows if r["cell"] == cell), key=lambda r: -r["hidden_units"]))
    axes[0, 0].set_ylabel("final test accuracy (%)")
    handles = axes[0, 0].get_legend_handles_labels()[0]
    labels = [f"ours (final test accuracy, {seeds_note([r['n'] for r in rows], 'error bar: std')})"]
    labels.append("study (reported, approx.)")
    fig.legend(handles, labels, loc="lower center", ncols=2, fontsize=9, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle("Final test accuracy (%) by recurrent cell and hidden size")
    return save_figure(fig, path, tight=(0, 0.06, 1, 1))


# ---------------------------------------------------------------- Part C: the CNN against the best of each cell
def error_records(records: list[dict], key: str, timed: bool = False) -> list[dict]:
    """The records with the accuracy ``key`` turned into its error, 1 - ``key``; ``timed``: only the evaluations
    after some training (a log time axis has no t = 0)."""
    keep = lambda h: key in h and (not timed or (h.get("train_time_s") or 0) > 0)
    error = lambda v: math.nan if v is None else 1.0 - v
    return [dict(m, history=[{**h, key: error(h[key])} for h in m["history"] if keep(h)]) for m in records]


def error_band(ax, records: list[dict], key: str, label: str, color, x_key: str = "iteration"):
    """The error 1 - ``key`` in percent, mean ± one std over the seeds (``plots.band``); (x, mean, std) as drawn.
    Where the band reaches 0 the log axis cuts it at its bottom."""
    return band(ax, error_records(records, key, x_key != "iteration"), key, label, color, x_key, scale=100)


def mark_reach(ax, r: dict, xs, mean) -> None:
    """Claim 16's number on the mean training error: the first evaluation the claim finds at its level."""
    it = first_reach(r["records"])
    if it is None or it not in xs:
        return
    y, color = mean[list(xs).index(it)], CELL_COLORS[r["cell"]]
    ax.plot(it, y, "o", color=color, ms=6, mec="0.5" if color == "black" else "black", mew=0.6)
    ax.annotate(f"{it:,}", (it, y), xytext=(4, 6), textcoords="offset points", fontsize=8, color=color)


ERROR_ROWS = (  # (split, title) of the comparison's two rows
    ("train", "training error (100 - interval-mean train accuracy)"),
    ("test", "test error (100 - test accuracy)"),
)
ERROR_XLABELS = ("iteration (batch)", "training seconds, log scale (model.fit; evaluation excluded)")


def error_axes(axes) -> None:
    """The four panels' scales, titles (in the split's colour) and percent labels."""
    for row, (split, what) in enumerate(ERROR_ROWS):
        for col, xlabel in enumerate(ERROR_XLABELS):
            ax = axes[row, col]
            ax.set_yscale("log")
            ax.set_xlabel(xlabel)
            ax.set_title(f"{what} vs {'iterations' if col == 0 else 'time'}", color=SPLIT_COLORS[split])
            log_labels(ax.yaxis, unit="%")
            ax.grid(alpha=0.3, which="major")
            ax.grid(alpha=0.1, which="minor")
        axes[row, 1].set_xscale("log")
        axes[row, 0].set_ylabel("error (%), log scale")
        low = axes[row, 0].get_ylim()[0]  # the data's own range, to whole decades, never below the floor
        exponent = max(math.floor(math.log10(ERROR_FLOOR)), math.floor(math.log10(low)))
        axes[row, 0].set_ylim(10.0**exponent, 100)
        if exponent >= 0:  # a short range: 2% and 5% labeled too
            log_labels(axes[row, 0].yaxis, (2, 5), "%")


def plot_cnn_comparison(rows: list[dict], path: Path) -> Path:
    """Claim 16: train and test error (%, log scale) against iterations and against training seconds, the CNN
    and the best of each cell: mean over seeds, ± std band; the claim's level dotted, and where the claim finds
    each mean training accuracy first at it marked."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharey="row")
    for r in rows:
        cell, color = r["cell"], CELL_COLORS[r["cell"]]
        units = "" if cell == "cnn" else f", {r['hidden_units']} units"
        label = f"{CELL_LABELS[cell]}{units} ({r['num_params']:,} params)"
        for row, key in enumerate(("train_accuracy", "test_accuracy")):
            xs, mean, _ = error_band(axes[row, 0], r["records"], key, label, color)
            error_band(axes[row, 1], r["records"], key, label, color, x_key="train_time_s")
            if key == "train_accuracy":
                mark_reach(axes[0, 0], r, xs, mean)
    error_axes(axes)
    n, level = claims.number(claims.cnn_first), 100 * (1 - REACH_LEVEL)
    for ax in axes[0]:
        text = f"claim {n}'s level: {level:g}% training error ({points(REACH_LEVEL)}% accuracy)"
        ax.axhline(level, color="0.3", ls=":", lw=1.2, label=text)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=3, fontsize=9, bbox_to_anchor=(0.5, -0.01))
    fig.suptitle(
        f"Part C (claim {n}): the study's CNN vs the best basic RNN, LSTM and GRU, error on a log scale "
        "(same data, batch and iterations)\n"
        f"{seeds_note([r['n'] for r in rows], 'band: ± 1 std over seeds')}; dots: the first evaluation where "
        f"the mean training error is <= {level:g}%, at the iteration written beside it",
        fontsize=10,
    )
    return save_figure(fig, path, tight=(0, 0.07, 1, 1))


# ---------------------------------------------------------------- claim 15: the train - test gap
def train_test_gaps(rows: list[dict]) -> list[dict]:
    """Claim 15's numbers, one per RNN row: each seed's final train - test accuracy (``gaps``, NaN for a
    diverged seed), their sample std and count (``std``, ``n``), and the claim's own number (``mean``: mean
    train - mean test over the finished seeds, ``claims.train_test_gap``), in fractions."""
    out = []
    for r in rows:
        gaps = [final_value(m, "train_accuracy") - final_value(m, "test_accuracy") for m in r["records"]]
        _, std, n = mean_std(gaps)
        mean = claims.train_test_gap(r["records"])
        out.append(
            {"cell": r["cell"], "hidden_units": r["hidden_units"], "gaps": gaps, "mean": mean, "std": std, "n": n}
        )
    return out


def gap_bars(ax, cell: str, where, gs: list[dict | None], width: float) -> list[float]:
    """One cell's bars (hatched where the claim finds the mean outside its rule), each seed's dot and the
    label; returns the tops and bottoms drawn (for the axis' range)."""
    mean = np.array([np.nan if g is None else 100 * g["mean"] for g in gs])
    std = np.array([np.nan if g is None else 100 * g["std"] for g in gs])
    bars = ax.bar(where, np.nan_to_num(mean), width, color=CELL_COLORS[cell], zorder=2)
    error_bars(ax, where, mean, std, elinewidth=0.9, capsize=3, zorder=3)
    spread = np.where(np.isfinite(std) & np.isfinite(mean), std, 0.0)
    extent = []
    for j, g in enumerate(gs):
        if g is None:
            continue
        if math.isfinite(g["mean"]) and not about_equal(g["mean"]):  # hatched: as the claim counts it
            bars[j].set_hatch("//")
            bars[j].set_edgecolor("white")
        seeds = 100 * np.array(g["gaps"], dtype=float)
        seeds = seeds[np.isfinite(seeds)]
        if len(seeds) > 1:  # each seed, spread across the bar so that equal gaps stay visible
            jitter = np.linspace(-0.18, 0.18, len(seeds)) * width
            ax.plot(where[j] + jitter, seeds, "o", ms=3.2, mfc="white", mec="black", mew=0.7, zorder=4)
        top = max([np.nan_to_num(mean[j]) + spread[j], *seeds])
        label = decided(g["mean"], GAP_RULE) if math.isfinite(g["mean"]) else "diverged"  # on its side of the rule
        ax.text(where[j], top + 0.25, label, ha="center", va="bottom", fontsize=8, zorder=5)
        extent += [top, np.nan_to_num(mean[j]) - spread[j], *seeds]
    return extent


def gap_title(gaps: dict, cells: list[str], limit: float) -> str:
    """The figure's question and the claim's count of means within its rule."""
    within = [
        f"{CELL_LABELS[c]} {sum(about_equal(g['mean']) for (cc, _), g in gaps.items() if cc == c)} of "
        f"{sum(cc == c for cc, _ in gaps)}"
        for c in GAP_CELLS
        if c in cells
    ]
    ns = [g["n"] for g in gaps.values()]
    asked = " and ".join(CELL_LABELS[c] for c in GAP_CELLS)
    return (
        f"Claim {claims.number(claims.train_equals_test)}: are train and test accuracy about equal for {asked}?\n"
        f"final train - test accuracy ({seeds_note(ns, 'error bar: ± 1 std over seeds', '; no error bar')}); "
        f"mean within ±{limit:g} points: {', '.join(within) or f'no {asked} runs'}"
    )


def plot_train_test_gap(rows: list[dict], path: Path) -> Path:
    """Claim 15: the final train - test accuracy gap in points per cell and hidden size (the claim's number,
    std error bars, each seed a dot), with the claim's ± limit of "about equal"."""
    gaps = {(g["cell"], g["hidden_units"]): g for g in train_test_gaps(rows)}
    cells = [c for c in CELLS if any(c == cell for cell, _ in gaps)]
    sizes = sorted({h for _, h in gaps}, reverse=True)
    x, width, limit = np.arange(len(sizes)), 0.8 / max(len(cells), 1), float(points(GAP_RULE))
    fig, ax = plt.subplots(figsize=(max(7.5, 1.6 * len(sizes) + 2.5), 5.2))
    ax.axhspan(-limit, limit, color="0.93", lw=0, zorder=0)
    rule = f"claim {claims.number(claims.train_equals_test)}'s rule: |train - test| <= {limit:g} points"
    for sign in (1, -1):
        ax.axhline(sign * limit, color="0.25", ls="--", lw=1.1, zorder=1, label=rule if sign > 0 else None)
    ax.axhline(0, color="black", lw=0.8, zorder=1)
    extent = [limit, 0.0]
    for i, cell in enumerate(cells):
        where = x + (i - (len(cells) - 1) / 2) * width
        extent += gap_bars(ax, cell, where, [gaps.get((cell, h)) for h in sizes], width)
    ax.plot([], [], "o", ms=3.2, mfc="white", mec="black", mew=0.7, label="one seed")
    handles, labels = ax.get_legend_handles_labels()
    for cell in cells:  # plain swatches: a cell's first bar may be hatched
        handles.append(Patch(facecolor=CELL_COLORS[cell]))
        labels.append(CELL_LABELS[cell] + ("" if cell in GAP_CELLS else " (not part of the claim)"))
    handles.append(Patch(facecolor="0.6", hatch="//", edgecolor="white"))
    labels.append(f"hatched: mean outside ±{limit:g} points")
    ax.set_ylim(min(extent) - 1, 1.22 * max(extent) + 1)  # room for the value labels and the legend
    ax.set_xticks(x, [str(h) for h in sizes])
    ax.set(xlabel="hidden units", ylabel="final train - test accuracy (percentage points)")
    ax.grid(axis="y", alpha=0.3, zorder=0)
    ax.set_title(gap_title(gaps, cells, limit), fontsize=10)
    ax.legend(handles, labels, fontsize=8, loc="upper left", ncols=3)
    return save_figure(fig, path, tight=True)
