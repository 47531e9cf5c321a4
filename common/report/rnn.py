"""Task 3's report, from the results index: each cell's curves over its hidden sizes, the final accuracies
against the study's, the CNN against the best of each cell (Part C), and ``summary.{md,csv}``."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, NullFormatter

from common import io
from common.recurrent import CELL_LABELS, CELLS, STUDY_DATASET, STUDY_TEST_ACCURACY, TASK, Grid, run_config, run_name
from common.report import claims
from common.report.plots import band, error_bars, plt, save_figure, seeds_note
from common.report.speed import write_fast_settings
from common.report.stats import binomial_se, mean_std, series
from common.report.tables import csv_text, format_duration, pm
from common.runs import group_id, groups, identity_label, make_identity
from common.study import label

CELL_COLORS = {"rnn": "C2", "lstm": "C0", "gru": "C1", "cnn": "C3"}
# The claims' rules that the figures draw (common/report/claims.py; tests/test_rnn_figures.py checks them
# against the claims' verdicts): claim 15 (train_equals_test) calls train and test accuracy "about equal"
# where |train - test| <= 5 points; claim 16 (cnn_first) reads "~100% training accuracy" as a mean train
# accuracy >= 98%.
CLAIM_GAP = 0.05
CLAIM_REACH = 0.98
CLAIM_CELLS = ("lstm", "gru")  # claim 15's cells
ERROR_FLOOR = 1e-4  # the error figures' log axes end here: one image in an interval's 10,000 (clipped below)


def final_value(m: dict, key: str) -> float:
    """The last recorded value of ``key`` (NaN if the run diverged or never recorded it)."""
    if m.get("status") != "finished":
        return math.nan
    v = m.get("final", {}).get(key)
    return math.nan if v is None else float(v)


def first_reaching(m: dict, key: str, level: float):
    """(iteration, training seconds) of the first record with ``key`` >= ``level``, else (None, None)."""
    for h in m.get("history", []):
        if h.get(key) is not None and h[key] >= level:
            return h["iteration"], h.get("train_time_s")
    return None, None


def grid_rows(records: list[dict], study_data: bool, current: dict[str, str], n_test: int) -> list[dict]:
    """One row per configuration (seeds averaged), RNNs in cell order and falling hidden size, then the CNN."""
    rows = []
    for (name, gid), recs in groups(records).items():
        c = recs[0]["identity"]["config"]
        cell, hidden = c["cell"], c["hidden_units"]
        stats = {
            key: mean_std([final_value(m, key) for m in recs])
            for key in ("train_accuracy", "test_accuracy", "train_loss", "test_loss")
        }
        rows.append(
            {
                "run": name,
                "group": gid,
                "current": current.get(name) == gid,
                "cell": cell,
                "hidden_units": hidden,
                "num_params": recs[0].get("num_params"),
                "seeds": ",".join(str(m["identity"]["seed"]) for m in recs),
                "n": stats["test_accuracy"][2],
                "status": "/".join(sorted({m["status"] for m in recs})),
                "iterations": c["iterations"],
                "learning_rate": c["learning_rate"],
                "batch_size": c["batch_size"],
                **{f"final_{k}_mean": v[0] for k, v in stats.items()},
                **{f"final_{k}_std": v[1] for k, v in stats.items()},
                "test_accuracy_binomial_se": binomial_se(stats["test_accuracy"][0], n_test),
                "train_seconds_mean": mean_std([m["train_time_s"] for m in recs])[0],
                "study_test_accuracy": STUDY_TEST_ACCURACY.get(cell, {}).get(hidden) if study_data else None,
                "identity": identity_label(recs[0]["identity"]),
                # the cell's name, with the grid's fields --set changed: "LSTM [learning_rate=0.005]"
                "label": label(CELL_LABELS.get(cell, cell), recs[0].get("overrides")),
                "records": recs,
            }
        )
    return sorted(
        rows,
        key=lambda r: (
            not r["current"],
            CELLS.index(r["cell"]) if r["cell"] in CELLS else len(CELLS),
            -(r["hidden_units"] or 0),
            r["group"],
        ),
    )


def best_per_cell(rows: list[dict]) -> dict[str, dict]:
    """For each RNN cell, its current finished configuration with the highest mean final test accuracy."""
    best = {}
    for r in rows:
        better = r["cell"] not in best or r["final_test_accuracy_mean"] > best[r["cell"]]["final_test_accuracy_mean"]
        if r["cell"] in CELLS and r["current"] and r["n"] and better:
            best[r["cell"]] = r
    return best


# ---------------------------------------------------------------- figures


def plot_cell_curves(cell: str, rows: list[dict], path: Path) -> Path:
    """Accuracy and loss, train and test, one line per hidden size; the study's test numbers dotted."""
    rows = sorted(rows, key=lambda r: -r["hidden_units"])
    colors = plt.cm.viridis(np.linspace(0, 0.85, max(len(rows), 1)))
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
    panels = [
        ("train_accuracy", "train accuracy (interval mean)", axes[0, 0]),
        ("test_accuracy", "test accuracy (all test images)", axes[0, 1]),
        ("train_loss", "train loss (interval mean)", axes[1, 0]),
        ("test_loss", "test loss", axes[1, 1]),
    ]
    for r, color in zip(rows, colors):
        label = f"{r['hidden_units']} units ({r['num_params']:,} params)" + (
            ", DIVERGED" if "diverged" in r["status"] else ""
        )
        for key, _, ax in panels:
            band(ax, r["records"], key, label, color)
        if r["study_test_accuracy"] is not None:
            axes[0, 1].axhline(
                r["study_test_accuracy"],
                color=color,
                ls=":",
                lw=1.3,
                label=f"study, {r['hidden_units']} units: {r['study_test_accuracy']:.0%}",
            )
    for key, title, ax in panels:
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if "accuracy" in key:
            ax.set(ylim=(0, 1), ylabel="accuracy")
        else:
            ax.set(ylabel="cross-entropy loss")
            ax.set_ylim(bottom=0)
    for ax in axes[1]:
        ax.set_xlabel("iteration (batch)")
    axes[0, 0].legend(fontsize=8, loc="lower right", title="hidden size", title_fontsize=8)
    axes[0, 1].legend(fontsize=7, loc="lower right", ncols=2)
    if cell == "rnn" and rows and rows[0]["study_test_accuracy"] is None:
        axes[0, 1].text(
            0.02,
            0.97,
            'study: no numbers for the basic RNN\n("below LSTM/GRU; falls as units fall")',
            transform=axes[0, 1].transAxes,
            fontsize=8,
            va="top",
            color="0.3",
        )
    c = rows[0]["records"][0]["identity"]["config"] if rows else {}
    fig.suptitle(
        f"{CELL_LABELS[cell]} on image rows: {c.get('optimizer', '')} lr {c.get('learning_rate', '')} "
        f"({c.get('lr_schedule', 'constant')}), batch {c.get('batch_size', '')}; {seeds_note([r['n'] for r in rows])}"
    )
    fig.tight_layout()
    return save_figure(fig, path)


def plot_summary(rows: list[dict], path: Path) -> Path:
    """Final test accuracy per cell and hidden size (mean, std error bars), ours beside the study's."""
    cells = [c for c in CELLS if any(r["cell"] == c for r in rows)]
    fig, axes = plt.subplots(1, len(cells), figsize=(4.2 * len(cells) + 0.5, 4.3), sharey=True, squeeze=False)
    for ax, cell in zip(axes[0], cells):
        cell_rows = sorted((r for r in rows if r["cell"] == cell), key=lambda r: -r["hidden_units"])
        x = np.arange(len(cell_rows))
        ours = np.array([r["final_test_accuracy_mean"] for r in cell_rows], dtype=float)
        err = np.array([r["final_test_accuracy_std"] for r in cell_rows], dtype=float)
        study_acc = np.array(
            [np.nan if r["study_test_accuracy"] is None else r["study_test_accuracy"] for r in cell_rows], dtype=float
        )
        b1 = ax.bar(
            x - 0.2,
            np.nan_to_num(ours),
            0.4,
            yerr=np.where(np.isfinite(err), err, 0),
            capsize=3,
            label="ours",
            color=CELL_COLORS[cell],
        )
        b2 = ax.bar(x + 0.2, np.nan_to_num(study_acc), 0.4, label="study", color="0.65", hatch="//", edgecolor="white")
        ax.bar_label(
            b1,
            labels=["diverged" if "diverged" in r["status"] else f"{100 * v:.1f}" for r, v in zip(cell_rows, ours)],
            fontsize=8,
            padding=1,
        )
        ax.bar_label(b2, labels=["n/a" if np.isnan(v) else f"{100 * v:.0f}" for v in study_acc], fontsize=8, padding=1)
        ax.set_xticks(x, [str(r["hidden_units"]) for r in cell_rows])
        ax.set(xlabel="hidden units", title=CELL_LABELS[cell], ylim=(0, 1.08))
        ax.grid(axis="y", alpha=0.3)
        if cell == "rnn" and np.all(np.isnan(study_acc)):
            ax.text(
                0.5,
                0.97,
                'study: no numbers (n/a); reported\n"below LSTM/GRU; falls as units fall"',
                transform=ax.transAxes,
                ha="center",
                va="top",
                fontsize=7.5,
                color="0.3",
            )
    axes[0, 0].set_ylabel("test accuracy")
    handles = axes[0, 0].get_legend_handles_labels()[0]
    fig.legend(
        handles,
        [
            f"ours (final test accuracy, {seeds_note([r['n'] for r in rows], 'error bar: std')})",
            "study (reported, approx.)",
        ],
        loc="lower center",
        ncols=2,
        fontsize=9,
        bbox_to_anchor=(0.5, -0.02),
    )
    fig.suptitle("Final test accuracy by recurrent cell and hidden size")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return save_figure(fig, path)


def error_band(ax, records: list[dict], key: str, label: str, color, x_key: str = "iteration"):
    """The error ``1 - key`` (an accuracy) for a log axis: the mean over seeds as a line, ± one (sample)
    std over seeds as a band (one seed: the line alone), both clipped below at ``ERROR_FLOOR``. Returns the
    plotted (x, mean error, std) (empty arrays where no seed recorded ``key``)."""
    xs, vals = series(records, key, x_key)
    if len(xs) == 0:
        return xs, np.array([]), np.array([])
    err = 1.0 - vals
    with warnings.catch_warnings():  # a point where every seed is NaN (diverged): a gap, no warning needed
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(err, axis=0)
        std = np.nanstd(err, axis=0, ddof=1) if len(records) > 1 else np.zeros_like(mean)
    ax.plot(xs, np.maximum(mean, ERROR_FLOOR), color=color, lw=1.5, label=label)
    if len(records) > 1:
        low, high = np.maximum(mean - std, ERROR_FLOOR), np.maximum(mean + std, ERROR_FLOOR)
        ax.fill_between(xs, low, high, color=color, alpha=0.2, lw=0)
    return xs, mean, std


def plot_cnn_comparison(rows: list[dict], path: Path) -> Path:
    """Claim 16: train and test error (1 - accuracy, log scale) against iterations and against training
    seconds, the CNN and the best of each cell: mean over seeds, ± std band; claim 16's level dotted and
    where each mean training error first reaches it marked."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharey="row")
    reach_error = 1.0 - CLAIM_REACH
    for r in rows:
        cell = r["cell"]
        label = (
            CELL_LABELS[cell]
            + ("" if cell == "cnn" else f", {r['hidden_units']} units")
            + f" ({r['num_params']:,} params)"
        )
        for row, key in enumerate(("train_accuracy", "test_accuracy")):
            xs, mean, _ = error_band(axes[row, 0], r["records"], key, label, CELL_COLORS[cell])
            # log time axis: the CNN trains ~10x longer than the RNNs; t = 0 (untrained) is left out
            timed = [dict(m, history=[h for h in m["history"] if h.get("train_time_s", 0) > 0]) for m in r["records"]]
            error_band(axes[row, 1], timed, key, label, CELL_COLORS[cell], x_key="train_time_s")
            if key == "train_accuracy":  # claim 16: the first evaluation the mean reaches its level
                hit = np.flatnonzero((xs > 0) & (mean <= reach_error))
                if len(hit):
                    axes[0, 0].plot(xs[hit[0]], mean[hit[0]], "o", color=CELL_COLORS[cell], ms=6, mec="black", mew=0.6)
                    axes[0, 0].annotate(
                        f"{xs[hit[0]]:,}",
                        (xs[hit[0]], mean[hit[0]]),
                        xytext=(4, 6),
                        textcoords="offset points",
                        fontsize=8,
                        color=CELL_COLORS[cell],
                    )
    percent = FuncFormatter(lambda v, _: f"{100 * v:g}%")
    for row, what in enumerate(("training error (1 - interval-mean train accuracy)", "test error (1 - test accuracy)")):
        for col, xlabel in enumerate(
            ("iteration (batch)", "training seconds, log scale (model.fit; evaluation excluded)")
        ):
            ax = axes[row, col]
            ax.set_yscale("log")
            ax.set(xlabel=xlabel, title=f"{what} vs {'iterations' if col == 0 else 'time'}")
            ax.yaxis.set_major_formatter(percent)
            ax.yaxis.set_minor_formatter(NullFormatter())
            ax.grid(alpha=0.3, which="major")
            ax.grid(alpha=0.1, which="minor")
        axes[row, 1].set_xscale("log")
        axes[row, 0].set_ylabel("error, log scale")
        low = axes[row, 0].get_ylim()[0]  # the data's own range, to whole decades, never below the floor
        decades = -max(math.floor(math.log10(ERROR_FLOOR)), math.floor(math.log10(low)))
        axes[row, 0].set_ylim(10.0**-decades, 1)
        if decades <= 2:  # a short range: 2% and 5% labeled too
            minor = FuncFormatter(
                lambda v, _: f"{100 * v:g}%" if round(v / 10 ** math.floor(math.log10(v))) in (2, 5) else ""
            )
            axes[row, 0].yaxis.set_minor_formatter(minor)
    for ax in axes[0]:
        ax.axhline(
            reach_error,
            color="0.3",
            ls=":",
            lw=1.2,
            label=f"claim 16's level: {100 * reach_error:g}% training error ({100 * CLAIM_REACH:g}% accuracy)",
        )
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=3, fontsize=9, bbox_to_anchor=(0.5, -0.01))
    fig.suptitle(
        "Part C (claim 16): the study's CNN vs the best basic RNN, LSTM and GRU, error on a log scale "
        "(same data, batch and iterations)\n"
        f"{seeds_note([r['n'] for r in rows], 'band: ± 1 std over seeds')}; dots: the first evaluation where "
        f"the mean training error is <= {100 * reach_error:g}%, at the iteration written beside it",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return save_figure(fig, path)


def train_test_gaps(rows: list[dict]) -> list[dict]:
    """Claim 15's numbers, one per RNN row: each seed's final train - test accuracy (``gaps``, NaN for a
    diverged seed) and their mean, sample std and count (``mean``, ``std``, ``n``), in fractions."""
    out = []
    for r in rows:
        gaps = [final_value(m, "train_accuracy") - final_value(m, "test_accuracy") for m in r["records"]]
        mean, std, n = mean_std(gaps)
        out.append(
            {"cell": r["cell"], "hidden_units": r["hidden_units"], "gaps": gaps, "mean": mean, "std": std, "n": n}
        )
    return out


def plot_train_test_gap(rows: list[dict], path: Path) -> Path:
    """Claim 15: the final train - test accuracy gap in points per cell and hidden size (mean over seeds,
    std error bars), with the claim's ± threshold of "about equal"."""
    gaps = {(g["cell"], g["hidden_units"]): g for g in train_test_gaps(rows)}
    cells = [c for c in CELLS if any(c == cell for cell, _ in gaps)]
    sizes = sorted({h for _, h in gaps}, reverse=True)
    x = np.arange(len(sizes))
    width = 0.8 / max(len(cells), 1)
    limit = 100 * CLAIM_GAP
    fig, ax = plt.subplots(figsize=(max(7.5, 1.6 * len(sizes) + 2.5), 5.2))
    ax.axhspan(-limit, limit, color="0.93", lw=0, zorder=0)
    for sign in (1, -1):
        ax.axhline(
            sign * limit,
            color="0.25",
            ls="--",
            lw=1.1,
            zorder=1,
            label=f"claim 15's rule: |train - test| <= {limit:g} points" if sign > 0 else None,
        )
    ax.axhline(0, color="black", lw=0.8, zorder=1)
    highs, lows = [limit], [0.0]
    for i, cell in enumerate(cells):
        gs = [gaps.get((cell, h)) for h in sizes]
        mean = np.array([np.nan if g is None else 100 * g["mean"] for g in gs])
        std = np.array([np.nan if g is None else 100 * g["std"] for g in gs])
        where = x + (i - (len(cells) - 1) / 2) * width
        bars = ax.bar(
            where,
            np.nan_to_num(mean),
            width,
            color=CELL_COLORS[cell],
            zorder=2,
        )
        error_bars(ax, where, mean, std, elinewidth=0.9, capsize=3, zorder=3)
        outside = [g is not None and abs(g["mean"]) > CLAIM_GAP for g in gs]  # as the claim counts (NaN: no)
        for bar in np.flatnonzero(outside):  # hatched: the mean is outside the claim's rule
            bars[bar].set_hatch("//")
            bars[bar].set_edgecolor("white")
        spread = np.where(np.isfinite(std) & np.isfinite(mean), std, 0.0)
        for j, g in enumerate(gs):
            if g is None:
                continue
            seeds = 100 * np.array(g["gaps"], dtype=float)
            seeds = seeds[np.isfinite(seeds)]
            if len(seeds) > 1:  # each seed, jittered so that equal gaps stay visible
                jitter = np.linspace(-0.18, 0.18, len(seeds)) * width
                ax.plot(where[j] + jitter, seeds, "o", ms=3.2, mfc="white", mec="black", mew=0.7, zorder=4)
            top = max([np.nan_to_num(mean[j]) + spread[j], *seeds])
            text = "diverged" if np.isnan(mean[j]) else f"{mean[j]:.1f}"
            ax.text(where[j], top + 0.25, text, ha="center", va="bottom", fontsize=8, zorder=5)
            highs.append(top)
            lows += [np.nan_to_num(mean[j]) - spread[j], *seeds]
    ax.plot([], [], "o", ms=3.2, mfc="white", mec="black", mew=0.7, label="one seed")
    handles, labels = ax.get_legend_handles_labels()
    for cell in cells:  # plain swatches: a cell's first bar may be hatched
        handles.append(Patch(facecolor=CELL_COLORS[cell]))
        labels.append(CELL_LABELS[cell] + ("" if cell in CLAIM_CELLS else " (not part of the claim)"))
    handles.append(Patch(facecolor="0.6", hatch="//", edgecolor="white"))
    labels.append(f"hatched: mean outside ±{limit:g} points")
    ax.set_ylim(min(lows) - 1, 1.22 * max(highs) + 1)  # room for the value labels and the legend
    ax.set_xticks(x, [str(h) for h in sizes])
    ax.set(xlabel="hidden units", ylabel="final train - test accuracy (percentage points)")
    ax.grid(axis="y", alpha=0.3, zorder=0)
    within = [
        f"{CELL_LABELS[c]} {sum(abs(g['mean']) <= CLAIM_GAP for (cc, _), g in gaps.items() if cc == c)} of "
        f"{sum(cc == c for cc, _ in gaps)}"
        for c in CLAIM_CELLS
        if c in cells
    ]
    ns = [g["n"] for g in gaps.values()]
    ax.set_title(
        "Claim 15: are train and test accuracy about equal for LSTM and GRU?\n"
        f"final train - test accuracy ({seeds_note(ns, 'error bar: ± 1 std over seeds', '; no error bar')}); "
        f"mean within ±{limit:g} points: {', '.join(within) or 'no LSTM/GRU runs'}",
        fontsize=10,
    )
    ax.legend(handles, labels, fontsize=8, loc="upper left", ncols=3)
    fig.tight_layout()
    return save_figure(fig, path)


# ---------------------------------------------------------------- tables

CSV_FIELDS = (
    "cell",
    "hidden_units",
    "num_params",
    "current",
    "seeds",
    "n",
    "status",
    "iterations",
    "learning_rate",
    "batch_size",
    "final_train_accuracy_mean",
    "final_train_accuracy_std",
    "final_test_accuracy_mean",
    "final_test_accuracy_std",
    "test_accuracy_binomial_se",
    "final_train_loss_mean",
    "final_test_loss_mean",
    "train_seconds_mean",
    "study_test_accuracy",
    "identity",
)


def _fmt(v, digits=3):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def summary_markdown(rows: list[dict], comparison: list[dict], dataset_label: str) -> str:
    lines = [
        f"# Task 3: RNNs on {dataset_label}",
        "",
        "Each image is a sequence of its rows (row r at step r), one recurrent layer, a dense softmax.",
        "Final = the last evaluation (train: mean over the last interval; test: all test images), in",
        "percent: mean ± sample std over the seeds; SE = the binomial standard error of one accuracy on",
        "the test set. Training seconds exclude evaluation. Study: the report's approximate test accuracy.",
        "",
        "| cell | hidden units | params | seeds | iterations | final train acc | final test acc | SE "
        "| final train loss | final test loss | training time | study test acc | identity |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    rnn_rows = [r for r in rows if r["cell"] != "cnn" and r["current"]]
    for r in rnn_rows:
        study_acc = (
            f"~{100 * r['study_test_accuracy']:.0f}"
            if r["study_test_accuracy"] is not None
            else "n/a (below LSTM/GRU)"
            if r["cell"] == "rnn"
            else "n/a"
        )
        status = "" if r["status"] == "finished" else f" ({r['status']})"
        lines.append(
            f"| {r['label']}{status} | {r['hidden_units']} | {r['num_params']:,} | {r['seeds']} "
            f"| {r['iterations']} "
            f"| {pm(r['final_train_accuracy_mean'], r['final_train_accuracy_std'])} "
            f"| {pm(r['final_test_accuracy_mean'], r['final_test_accuracy_std'])} "
            f"| {pm(r['test_accuracy_binomial_se'])} "
            f"| {_fmt(r['final_train_loss_mean'])} | {_fmt(r['final_test_loss_mean'])} "
            f"| {format_duration(r['train_seconds_mean'])} | {study_acc} | {r['identity']} |"
        )
    settings = sorted(
        {
            (
                r["records"][0]["identity"]["config"]["optimizer"],
                r["learning_rate"],
                r["records"][0]["identity"]["config"].get("lr_schedule", "constant"),
                r["batch_size"],
                r["iterations"],
            )
            for r in rows
            if r["cell"] != "cnn" and r["current"]
        }
    )
    lines += [
        "",
        "Settings: "
        + "; ".join(f"{opt} lr {lr} ({sched}), batch {bs}, {it} iterations" for opt, lr, sched, bs, it in settings)
        + (" -- runs differ in settings, compare with care." if len(settings) > 1 else ""),
        "",
    ]
    if comparison:
        lines += [
            "## Part C: the study's CNN against the best RNN, LSTM and GRU",
            "",
            'Same training images, batch size and iteration budget. "To 95% train": first evaluation',
            "at which the interval's mean train accuracy reached 95% (iteration / training seconds;",
            'the median over the seeds, "not reached" if a seed never did).',
            "",
            "| model | params | optimizer, lr | final train acc | final test acc | to 95% train "
            "| training time | images/s |",
            "|---|---:|---|---:|---:|---:|---:|---:|",
        ]
        for r in comparison:
            c = r["records"][0]["identity"]["config"]
            label = r["label"] + ("" if r["cell"] == "cnn" else f", {r['hidden_units']} units")
            reach = [first_reaching(m, "train_accuracy", 0.95) for m in r["records"]]
            reach_txt = (
                "not reached"
                if any(it is None for it, _ in reach)
                else f"{np.median([it for it, _ in reach]):.0f} / {np.median([s for _, s in reach]):.0f}s"
            )
            ips = mean_std([m.get("images_per_sec") for m in r["records"]])[0]
            opt = c.get("optimizer", "adam")
            sched = c.get("lr_schedule", c.get("schedule"))
            lines.append(
                f"| {label} | {r['num_params']:,} | {opt} {c['learning_rate']} ({sched}) "
                f"| {pm(r['final_train_accuracy_mean'], r['final_train_accuracy_std'])} "
                f"| {pm(r['final_test_accuracy_mean'], r['final_test_accuracy_std'])} | {reach_txt} "
                f"| {format_duration(r['train_seconds_mean'])} | {ips:,.0f} |"
            )
        lines += [
            "",
            "Study: the CNN reached ~100% training accuracy faster than every RNN; LSTM and GRU came",
            "close to it, the basic RNN did not.",
            "",
        ]
    others = sum(not r["current"] for r in rows)
    if others:
        lines += [
            f"The results index also holds {others} other configuration(s): every one is a row of `summary.csv`.",
            "",
        ]
    diverged = [r["run"] for r in rows if "diverged" in r["status"] and r["current"]]
    if diverged:
        lines += [f"Diverged (non-finite training loss; no final numbers): {', '.join(sorted(diverged))}.", ""]
    return "\n".join(lines)


def summarize(
    records: list[dict], data, grid: Grid, runs: list[tuple[str, int | None]], out: Path, eval_every: int, log=print
) -> list[Path]:
    """Every figure and table of the grid from the index's ``records`` of ``data``'s set. ``runs``: the
    (cell, hidden units) of the grid this command asked for, under its settings ``grid``; with the CNN,
    they are the current rows of the tables."""
    io.remove_stale_temps(out, recursive=True)  # half-written figures of killed processes
    study_data = data.is_study_data(STUDY_DATASET)
    current = {}
    for cell, hidden in [*runs, ("cnn", None)]:
        identity = make_identity(TASK, run_config(grid, cell, hidden), 0, data, eval_every)
        current[run_name(cell, hidden)] = group_id(identity)
    rows = grid_rows(records, study_data, current, len(data.y_test))
    rnn_rows = [r for r in rows if r["cell"] in CELLS and r["current"]]
    if not rnn_rows:
        log(f"no finished RNN runs of these settings in {out / 'results.jsonl'} or the runs folder; nothing to show")
        return []
    written = [
        plot_cell_curves(cell, [r for r in rnn_rows if r["cell"] == cell], out / f"{cell}_curves.png")
        for cell in CELLS
        if any(r["cell"] == cell for r in rnn_rows)
    ]
    written.append(plot_summary(rnn_rows, out / "summary.png"))
    written.append(plot_train_test_gap(rnn_rows, out / "train_test_gap.png"))
    comparison = []
    cnn = next((r for r in rows if r["cell"] == "cnn" and r["current"] and r["n"]), None)
    if cnn is not None:
        best = best_per_cell(rows)
        comparison = [cnn] + [best[c] for c in CELLS if c in best]
        written.append(plot_cnn_comparison(comparison, out / "cnn_comparison.png"))
    label = f"{data.name} ({len(data.x_train):,} train / {len(data.x_test):,} test)"
    io.write_text(out / "summary.md", summary_markdown(rows, comparison, label))
    io.write_text(out / "summary.csv", csv_text(rows, CSV_FIELDS))
    written += [out / "summary.md", out / "summary.csv"]
    written += write_fast_settings(records, out, list(current), "rnn_mnist.py")
    if study_data and out.name == "rnn":  # the standard layout <figures>/rnn beside <figures>/cifar
        written.append(claims.update(out.parent, log))
    return written
