"""Task 3's report (``figures/rnn/``) from the results index alone: ``summary.{md,csv}`` and the figures, in percent,
claims 15 and 16 drawn with the claims' own thresholds and decided with their own functions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.patches import Patch

from common import io
from common.data import CLASS_NAMES, STUDY_COUNTS
from common.recurrent import CELL_LABELS, CELLS, STUDY_DATASET, STUDY_TEST_ACCURACY, Grid, run_config, run_name
from common.report import claims, stats
from common.report.claims import GAP_CELLS, GAP_RULE, REACH_LEVEL, about_equal, first_reach, points
from common.report.plots import SPLIT_COLORS, STUDY_COLORS, band, error_bars, log_labels, plt, save_figure, seeds_note
from common.report.speed import write_fast_settings
from common.report.stats import binomial_se, final, format_duration, images_evaluated, mean_std, pm
from common.runs import groups, identity_label
from common.study import label

TABLE_REACH = 0.95  # Part C's table: the first evaluation whose interval-mean train accuracy reaches this
# The study's words for a cell it gave no numbers for (common.recurrent.STUDY_TEST_ACCURACY is empty there)
STUDY_SAYS = {"rnn": ("below LSTM/GRU", "falls as units fall")}
# A cell's colour wherever a figure's lines or bars are cells; none of them is a split's colour (plots.SPLIT_COLORS:
# train blue, test red, validation purple), so that blue and red always mean train and test.
CELL_COLORS = {"rnn": "#2ca02c", "lstm": "#ff7f0e", "gru": "#8c564b", "cnn": "black"}
ERROR_FLOOR = 0.01  # percent: the error figures' log axes end here at the lowest (one image in 10,000)
SHADES = 0.45  # a cell's hidden sizes: its colour darkened (the largest) to lightened (the smallest) by this much
CSV_FIELDS = (  # noqa: SIM905  (summary.csv's columns)
    "cell hidden_units num_params current seeds n status iterations learning_rate batch_size final_train_accuracy_mean "
    "final_train_accuracy_std final_test_accuracy_mean final_test_accuracy_std test_accuracy_binomial_se "
    "final_train_loss_mean final_test_loss_mean train_seconds_mean study_test_accuracy identity"
).split()
CURVE_PANELS = (  # (split, what, title): the top row accuracies, the bottom row losses
    ("train", "accuracy", "train accuracy (interval mean)"),
    ("test", "accuracy", "test accuracy (all test images)"),
    ("train", "loss", "train loss (interval mean)"),
    ("test", "loss", "test loss"),
)


def is_study_record(m: dict) -> bool:
    """Whether a record was made on the study's set: its name, and (where its confusion matrix says) its size."""
    classes = len(CLASS_NAMES[STUDY_DATASET])
    confusion = m["final"].get("test_confusion")
    return m["identity"]["data"]["name"] == STUDY_DATASET and (
        confusion is None or (len(confusion) == classes and images_evaluated(m) == classes * STUDY_COUNTS[1])
    )


def first_reaching(m: dict) -> tuple:
    """(iteration, training seconds) of the first record with train accuracy >= TABLE_REACH, else (None, None)."""
    reached = (h for h in m.get("history", []) if (h.get("train_accuracy") or 0) >= TABLE_REACH)
    return next(((h["iteration"], h.get("train_time_s")) for h in reached), (None, None))


# ---------------------------------------------------------------- rows
def chosen_groups(records: list[dict], grid: Grid, runs: list[tuple[str, int | None]]) -> dict[str, str]:
    """Run name -> the group id of its row (``stats.records_of`` its config) for ``runs`` and the CNN, where found."""
    configs = {run_name(c, h): run_config(grid, c, h) for c, h in [*runs, ("cnn", None)]}
    found = {name: stats.records_of(records, name, config) for name, config in configs.items()}
    return {name: recs[0]["group_id"] for name, recs in found.items() if recs}


def grid_row(name: str, gid: str, recs: list[dict], current: bool) -> dict:
    c = recs[0]["identity"]["config"]
    cell, hidden = c["cell"], c["hidden_units"]
    finals = {key: final(recs, key) for key in ("train_accuracy", "test_accuracy", "train_loss", "test_loss")}
    study = all(is_study_record(m) for m in recs)
    return {
        "run": name,
        "group": gid,
        "current": current,
        "cell": cell,
        "hidden_units": hidden,
        "num_params": recs[0].get("num_params"),
        "seeds": stats.seeds(recs),
        "n": finals["test_accuracy"][2],
        "status": "/".join(sorted({m["status"] for m in recs})),
        **{k: c[k] for k in ("iterations", "learning_rate", "batch_size")},
        **{f"final_{k}_mean": v[0] for k, v in finals.items()},
        **{f"final_{k}_std": v[1] for k, v in finals.items()},
        "test_accuracy_binomial_se": binomial_se(finals["test_accuracy"][0], images_evaluated(recs[0])),
        "train_seconds_mean": mean_std([m["train_time_s"] for m in recs])[0],
        "study_test_accuracy": STUDY_TEST_ACCURACY.get(cell, {}).get(hidden) if study else None,
        "study_says": STUDY_SAYS.get(cell) if study and not STUDY_TEST_ACCURACY.get(cell) else None,
        "study_data": study,
        "identity": identity_label(recs[0]["identity"]),
        # the cell's name, with the grid's fields --set changed: "LSTM [learning_rate=0.005]"
        "label": label(CELL_LABELS.get(cell, cell), recs[0].get("overrides")),
        "records": recs,
    }


def grid_rows(records: list[dict], chosen: dict[str, str]) -> list[dict]:
    """One row per configuration: the chosen first, each part in cell order and falling hidden size, the CNN last."""
    rows = [grid_row(name, gid, recs, chosen.get(name) == gid) for (name, gid), recs in groups(records).items()]
    order = lambda r: CELLS.index(r["cell"]) if r["cell"] in CELLS else len(CELLS)
    return sorted(rows, key=lambda r: (not r["current"], order(r), -(r["hidden_units"] or 0), r["group"]))


# ---------------------------------------------------------------- tables
def data_label(rows: list[dict]) -> str:
    """The data the rows were measured on, as their records say: "MNIST (1,000 test images)"."""
    recs = [m for r in rows for m in r["records"]]
    names = sorted({m["identity"]["data"]["name"] for m in recs})
    tests = sorted({images_evaluated(m) or 0 for m in recs})
    counts = [f"{n:,} test images" if n else "test images not recorded" for n in tests]
    return f"{' / '.join(names)} ({' / '.join(counts)})"


def accuracies(r: dict) -> list[str]:
    return [pm(r[f"final_{s}_accuracy_mean"], r[f"final_{s}_accuracy_std"]) for s in ("train", "test")]


def grid_table(rnn_rows: list[dict]) -> list:
    head = ["cell", "hidden units", "params", "seeds", "iterations", "final train acc", "final test acc", "SE"]
    head += ["final train loss", "final test loss", "training time", "study test acc", "identity"]
    table = []
    for r in rnn_rows:
        study = "n/a" + (f" ({r['study_says'][0]})" if r["study_says"] else "")  # the study's number, or why none
        if r["study_test_accuracy"] is not None:
            study = f"~{100 * r['study_test_accuracy']:.0f}"
        status = "" if r["status"] == "finished" else f" ({r['status']})"
        cells = [r["label"] + status, r["hidden_units"], f"{r['num_params']:,}", r["seeds"], r["iterations"]]
        cells += [*accuracies(r), pm(r["test_accuracy_binomial_se"])]
        cells += [pm(r[f"final_{s}_loss_mean"], digits=3, scale=1) for s in ("train", "test")]
        table.append([*cells, format_duration(r["train_seconds_mean"]), study, r["identity"]])
    keys = ("optimizer", "learning_rate", "lr_schedule", "batch_size", "iterations")
    settings = sorted({tuple(r["records"][0]["identity"]["config"].get(k, "constant") for k in keys) for r in rnn_rows})
    described = "; ".join(f"{opt} lr {lr} ({sch}), batch {bs}, {it} iterations" for opt, lr, sch, bs, it in settings)
    differ = " -- runs differ in settings, compare with care." if len(settings) > 1 else ""
    parts = [stats.markdown(head, table), f"Settings: {described}{differ}"]
    near = [r for r in rnn_rows if r["study_test_accuracy"] is not None and r["n"]]
    if near and any(images_evaluated(r["records"][0]) is None for r in near):
        parts.append("Against the study's approximate numbers: not judged, the records hold no count of test images.")
    elif near:  # the study's approximate number taken as one run on the same test images
        study_se = lambda r: binomial_se(r["study_test_accuracy"], images_evaluated(r["records"][0]))
        se = lambda r: math.hypot(stats.se_of_mean(r["records"]), study_se(r))
        ok = [r for r in near if r["final_test_accuracy_mean"] >= r["study_test_accuracy"] - stats.NOISE * se(r)]
        parts.append(
            f"Against the study's approximate numbers: {len(ok)} of {len(near)} runs at or above them or within "
            "noise of them (the study's number taken as one run on the same test images)."
        )
    return parts


def comparison_table(comparison: list[dict]) -> list:
    """Part C: the CNN against the best of each cell."""
    level = f"{100 * TABLE_REACH:g}%"
    intro = [
        f'Same training images, batch size and iteration budget. "To {level} train": first evaluation',
        f"at which the interval's mean train accuracy reached {level} (iteration / training seconds;",
        'the median over the seeds, "not reached" if a seed never did).',
    ]
    head = ["model", "params", "optimizer, lr", "final train acc", "final test acc", f"to {level} train"]
    name = lambda r: r["label"] + ("" if r["cell"] == "cnn" else f", {r['hidden_units']} units")
    reached, table = [], []  # the rows whose every seed reached the level, with each seed's (iteration, seconds)
    for r in comparison:
        c = r["records"][0]["identity"]["config"]
        ips = mean_std([m.get("images_per_sec") for m in r["records"]])[0]
        hits, reach = [first_reaching(m) for m in r["records"]], "not reached"
        if all(it is not None for it, _ in hits):
            reached.append((r, hits))
            reach = f"{np.median([it for it, _ in hits]):.0f} / {np.median([s for _, s in hits]):.0f}s"
        optimizer = f"{c.get('optimizer', 'adam')} {c['learning_rate']} ({c.get('lr_schedule', c.get('schedule'))})"
        cells = [name(r), f"{r['num_params']:,}", optimizer, *accuracies(r), reach]
        table.append([*cells, format_duration(r["train_seconds_mean"]), f"{ips:,.0f}"])
    parts = ["## Part C: the study's CNN against the best RNN, LSTM and GRU", intro]
    parts.append(stats.markdown([*head, "training time", "images/s"], table))
    if reached:  # who gets there first, counted in iterations and in training seconds
        first = [min(reached, key=lambda rh: np.median([h[k] for h in rh[1]]))[0] for k in (0, 1)]
        parts.append(f"First to {level} train: in iterations {name(first[0])}; in training seconds {name(first[1])}.")
    study = "Study: the CNN reached ~100% training accuracy faster than every RNN; LSTM and GRU came"
    return [*parts, [study, "close to it, the basic RNN did not."]]


def summary_parts(rows: list[dict], comparison: list[dict]) -> list:
    rnn_rows = [r for r in rows if r["cell"] != "cnn" and r["current"]]
    intro = [
        "Each image is a sequence of its rows (row r at step r), one recurrent layer, a dense softmax.",
        "Final = the last evaluation (train: mean over the last interval; test: all test images), in",
        "percent: mean ± sample std over the seeds; SE = the binomial standard error of one accuracy on",
        "the test set. Training seconds exclude evaluation. Study: the report's approximate test accuracy.",
        f"CPU: {stats.cpus([m for r in rows if r['current'] for m in r['records']])}.",
    ]
    parts = [f"# Task 3: RNNs on {data_label(rnn_rows)}", intro, *grid_table(rnn_rows)]
    parts += comparison_table(comparison) if comparison else []
    if others := sum(not r["current"] for r in rows):
        parts.append(
            f"The results index also holds {others} other configuration(s): every one is a row of `summary.csv`."
        )
    if diverged := [r["run"] for r in rows if "diverged" in r["status"] and r["current"]]:
        parts.append(f"Diverged (non-finite training loss; no final numbers): {', '.join(sorted(diverged))}.")
    return parts


# ---------------------------------------------------------------- figures
def plot_cell_curves(cell: str, rows: list[dict], path: Path) -> Path:
    """Accuracy (%) and loss, train and test, one line per hidden size (``rows``: falling); the study's dotted."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
    base = np.array(to_rgb(CELL_COLORS[cell]))
    for r, t in zip(rows, np.linspace(-SHADES, SHADES, len(rows))):
        color = tuple(base * (1 + t) if t < 0 else base + (1 - base) * t)
        label = f"{r['hidden_units']} units ({r['num_params']:,} params)" + ", DIVERGED" * ("diverged" in r["status"])
        for ax, (split, what, _) in zip(axes.flat, CURVE_PANELS):
            band(ax, r["records"], f"{split}_{what}", label, color, scale=100 if what == "accuracy" else 1)
        if (study := r["study_test_accuracy"]) is not None:
            label = f"study, {r['hidden_units']} units: {points(study)}%"
            axes[0, 1].axhline(100 * study, color=color, ls=":", lw=1.3, label=label)
    for ax, (split, what, title) in zip(axes.flat, CURVE_PANELS):
        ax.set_title(title, color=SPLIT_COLORS[split])
        ax.grid(alpha=0.3)
        ax.set_ylabel("accuracy (%)" if what == "accuracy" else "cross-entropy loss")
        ax.set_ylim(0, 100 if what == "accuracy" else None)
    for ax in axes[1]:
        ax.set_xlabel("iteration (batch)")
    axes[0, 0].legend(fontsize=8, loc="lower right", title="hidden size", title_fontsize=8)
    axes[0, 1].legend(fontsize=7, loc="lower right", ncols=2)
    if says := rows[0].get("study_says"):  # the study's words for a cell it gave no numbers for
        note = f'study: no numbers for the {CELL_LABELS[rows[0]["cell"]]}\n("{"; ".join(says)}")'
        axes[0, 1].text(0.02, 0.97, note, transform=axes[0, 1].transAxes, fontsize=8, va="top", color="0.3")
    c = rows[0]["records"][0]["identity"]["config"]
    fig.suptitle(
        f"{CELL_LABELS[cell]} on image rows: {c.get('optimizer', '')} lr {c.get('learning_rate', '')} "
        f"({c.get('lr_schedule', 'constant')}), batch {c.get('batch_size', '')}; {seeds_note([r['n'] for r in rows])}"
    )
    return save_figure(fig, path, tight=True)


def plot_summary(cells: dict[str, list[dict]], path: Path) -> Path:
    """Final test accuracy (%) per cell and hidden size, ours (mean, std error bars) beside the study's."""
    fig, axes = plt.subplots(1, len(cells), figsize=(4.2 * len(cells) + 0.5, 4.3), sharey=True, squeeze=False)
    ns = [r["n"] for part in cells.values() for r in part]
    ours_label = f"ours (final test accuracy, {seeds_note(ns, 'error bar: std')})"
    study_style = dict(label="study (reported, approx.)", color=STUDY_COLORS["test"], hatch="//", ec="white")
    for ax, (cell, part) in zip(axes[0], cells.items()):
        x = np.arange(len(part))
        ours, err = (np.array([100 * r[f"final_test_accuracy_{k}"] for r in part]) for k in ("mean", "std"))
        study = np.array([np.nan if r["study_test_accuracy"] is None else 100 * r["study_test_accuracy"] for r in part])
        ax.bar(x - 0.2, np.nan_to_num(ours), 0.4, label=ours_label, color=SPLIT_COLORS["test"])
        error_bars(ax, x - 0.2, ours, err, elinewidth=1.2, capsize=3, zorder=3)
        b2 = ax.bar(x + 0.2, np.nan_to_num(study), 0.4, **study_style)
        for xi, top, r, v in zip(x - 0.2, np.nan_to_num(ours) + np.where(np.isfinite(err), err, 0), part, ours):
            text = "diverged" if "diverged" in r["status"] else f"{v:.1f}"
            ax.text(xi, top + 0.8, text, ha="center", va="bottom", fontsize=8)
        ax.bar_label(b2, labels=["n/a" if np.isnan(v) else f"{v:.0f}" for v in study], fontsize=8, padding=1)
        ax.set_xticks(x, [str(r["hidden_units"]) for r in part])
        ax.set(xlabel="hidden units", title=CELL_LABELS[cell], ylim=(0, 108))
        ax.grid(axis="y", alpha=0.3)
        if (says := part[0].get("study_says")) and np.all(np.isnan(study)):
            text = f'study: no numbers (n/a); reported\n"{"; ".join(says)}"'
            ax.text(0.5, 0.97, text, transform=ax.transAxes, ha="center", va="top", fontsize=7.5, color="0.3")
    axes[0, 0].set_ylabel("final test accuracy (%)")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=2, fontsize=9, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle("Final test accuracy (%) by recurrent cell and hidden size")
    return save_figure(fig, path, tight=(0, 0.06, 1, 1))


def error_band(ax, records: list[dict], key: str, label: str, color, x_key: str = "iteration"):
    """The error 1 - ``key`` in percent, as ``plots.band`` draws it; against time, only after t = 0 (a log axis)."""
    keep = lambda h: key in h and (x_key == "iteration" or (h.get("train_time_s") or 0) > 0)
    error = lambda v: math.nan if v is None else 1.0 - v
    records = [dict(m, history=[{**h, key: error(h[key])} for h in m["history"] if keep(h)]) for m in records]
    return band(ax, records, key, label, color, x_key, scale=100)


def plot_cnn_comparison(rows: list[dict], path: Path) -> Path:
    """Claim 16: train and test error (%, log scale) of the CNN and each cell's best, its level marked."""
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharey="row")
    panels = [(key, x) for key in ("train_accuracy", "test_accuracy") for x in ("iteration", "train_time_s")]
    for r in rows:
        cell, color = r["cell"], CELL_COLORS[r["cell"]]
        units = "" if cell == "cnn" else f", {r['hidden_units']} units"
        label = f"{CELL_LABELS[cell]}{units} ({r['num_params']:,} params)"
        drawn = [error_band(ax, r["records"], key, label, color, x) for ax, (key, x) in zip(axes.flat, panels)]
        xs, mean, _ = drawn[0]  # the training error against iterations
        if (it := first_reach(r["records"])) is not None and it in xs:  # claim 16's number: where the claim finds it
            y = mean[list(xs).index(it)]
            axes[0, 0].plot(it, y, "o", color=color, ms=6, mec="0.5" if color == "black" else "black", mew=0.6)
            axes[0, 0].annotate(f"{it:,}", (it, y), xytext=(4, 6), textcoords="offset points", fontsize=8, color=color)
    errors = ("training error (100 - interval-mean train accuracy)", "test error (100 - test accuracy)")
    xlabels = ("iteration (batch)", "training seconds, log scale (model.fit; evaluation excluded)")
    for row, (split, what) in enumerate(zip(("train", "test"), errors)):
        for col, (ax, xlabel) in enumerate(zip(axes[row], xlabels)):
            ax.set(yscale="log", xlabel=xlabel)
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


def train_test_gaps(rows: list[dict]) -> list[dict]:
    """Claim 15's numbers per RNN row: each seed's final train - test accuracy, std, count and the claim's mean."""
    out = []
    for r in rows:
        gaps = [final([m], "train_accuracy")[0] - final([m])[0] for m in r["records"]]
        mean = final(r["records"], "train_accuracy")[0] - final(r["records"])[0]
        _, std, n = mean_std(gaps)
        out.append(dict(cell=r["cell"], hidden_units=r["hidden_units"], gaps=gaps, mean=mean, std=std, n=n))
    return out


def plot_train_test_gap(rows: list[dict], path: Path) -> Path:
    """Claim 15: the final train - test gap per cell and hidden size, hatched outside the claim's rule."""
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
    extent = [limit, 0.0]  # every top and bottom drawn: the axis' range
    for i, cell in enumerate(cells):
        where = x + (i - (len(cells) - 1) / 2) * width
        gs = [gaps.get((cell, h)) for h in sizes]
        mean, std = (np.array([np.nan if g is None else 100 * g[k] for g in gs]) for k in ("mean", "std"))
        bars = ax.bar(where, np.nan_to_num(mean), width, color=CELL_COLORS[cell], zorder=2)
        error_bars(ax, where, mean, std, elinewidth=0.9, capsize=3, zorder=3)
        spread = np.where(np.isfinite(std) & np.isfinite(mean), std, 0.0)
        for j, g in enumerate(gs):
            if g is None:
                continue
            if math.isfinite(g["mean"]) and not about_equal(g["mean"]):  # hatched: as the claim counts it
                bars[j].set(hatch="//", edgecolor="white")
            seeds = 100 * np.array(g["gaps"], dtype=float)
            seeds = seeds[np.isfinite(seeds)]
            if len(seeds) > 1:  # each seed, spread across the bar so that equal gaps stay visible
                jitter = np.linspace(-0.18, 0.18, len(seeds)) * width
                ax.plot(where[j] + jitter, seeds, "o", ms=3.2, mfc="white", mec="black", mew=0.7, zorder=4)
            top = max([np.nan_to_num(mean[j]) + spread[j], *seeds])
            text = stats.decided(g["mean"], GAP_RULE) if math.isfinite(g["mean"]) else "diverged"  # the rule's side
            ax.text(where[j], top + 0.25, text, ha="center", va="bottom", fontsize=8, zorder=5)
            extent += [top, np.nan_to_num(mean[j]) - spread[j], *seeds]
    ax.plot([], [], "o", ms=3.2, mfc="white", mec="black", mew=0.7, label="one seed")
    hatched = Patch(facecolor="0.6", hatch="//", edgecolor="white", label=f"hatched: mean outside ±{limit:g} points")
    handles = ax.get_legend_handles_labels()[0] + [  # plain swatches: a cell's first bar may be hatched
        Patch(facecolor=CELL_COLORS[c], label=CELL_LABELS[c] + ("" if c in GAP_CELLS else " (not part of the claim)"))
        for c in cells
    ]
    ax.set_ylim(min(extent) - 1, 1.22 * max(extent) + 1)  # room for the value labels and the legend
    ax.set_xticks(x, [str(h) for h in sizes])
    ax.set(xlabel="hidden units", ylabel="final train - test accuracy (percentage points)")
    ax.grid(axis="y", alpha=0.3, zorder=0)
    counted = {c: [about_equal(g["mean"]) for (cc, _), g in gaps.items() if cc == c] for c in GAP_CELLS if c in cells}
    within = [f"{CELL_LABELS[c]} {sum(v)} of {len(v)}" for c, v in counted.items()]  # the claim's count within its rule
    asked = " and ".join(CELL_LABELS[c] for c in GAP_CELLS)
    note = seeds_note([g["n"] for g in gaps.values()], "error bar: ± 1 std over seeds", "; no error bar")
    ax.set_title(
        f"Claim {claims.number(claims.train_equals_test)}: are train and test accuracy about equal for {asked}?\n"
        f"final train - test accuracy ({note}); "
        f"mean within ±{limit:g} points: {', '.join(within) or f'no {asked} runs'}",
        fontsize=10,
    )
    ax.legend(handles=[*handles, hatched], fontsize=8, loc="upper left", ncols=3)
    return save_figure(fig, path, tight=True)


def summarize(records: list[dict], grid: Grid, runs: list[tuple[str, int | None]], out: Path, log=print) -> list[Path]:
    """Every figure and table of ``runs`` under ``grid`` and the CNN; in ``<figures>/rnn`` (study data) the claims."""
    io.remove_stale_temps(out, recursive=True)  # half-written figures of killed processes
    rows = grid_rows(records, chosen_groups(records, grid, runs))
    rnn_rows = [r for r in rows if r["cell"] in CELLS and r["current"]]
    if not rnn_rows:
        log(f"no finished RNN runs of these settings in {out / 'results.jsonl'} or the runs folder; nothing to show")
        return []
    cells = {c: part for c in CELLS if (part := [r for r in rnn_rows if r["cell"] == c])}  # each by falling size
    written = [plot_cell_curves(cell, part, out / f"{cell}_curves.png") for cell, part in cells.items()]
    written += [plot_summary(cells, out / "summary.png"), plot_train_test_gap(rnn_rows, out / "train_test_gap.png")]
    comparison = []  # Part C: the CNN and each cell's finished configuration with the best mean final test accuracy
    if cnn := next((r for r in rows if r["cell"] == "cnn" and r["current"] and r["n"]), None):
        done = [[r for r in part if r["n"]] for part in cells.values()]
        comparison = [cnn] + [max(part, key=lambda r: r["final_test_accuracy_mean"]) for part in done if part]
        written.append(plot_cnn_comparison(comparison, out / "cnn_comparison.png"))
    written.append(stats.write_page(out / "summary.md", *summary_parts(rows, comparison)))
    written.append(stats.write_csv(out / "summary.csv", rows, CSV_FIELDS))
    written += write_fast_settings(records, out, [run_name(c, h) for c, h in [*runs, ("cnn", None)]], "rnn_mnist.py")
    if all(r["study_data"] for r in rnn_rows) and out.name == "rnn":  # the standard layout <figures>/rnn
        written += claims.update(out.parent, log)
    return written
