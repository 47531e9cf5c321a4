"""Task 3's report (``figures/rnn/``) from the results index alone: ``summary.{md,csv}`` and the figures
(``rnn_figures``). A row of the grid is the group of records of ``recurrent.run_config(grid, cell, units)`` with the
most finished seeds (``stats.records_of``): nothing here depends on the process that draws it."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from common import io
from common.data import CLASS_NAMES, STUDY_COUNTS
from common.recurrent import CELL_LABELS, CELLS, STUDY_DATASET, STUDY_TEST_ACCURACY, Grid, run_config, run_name
from common.report import claims
from common.report import rnn_figures as figures
from common.report.speed import write_fast_settings
from common.report.stats import (
    NOISE,
    binomial_se,
    csv_text,
    format_duration,
    images_evaluated,
    mean_std,
    pm,
    records_of,
)
from common.runs import groups, identity_label
from common.study import label

TABLE_REACH = 0.95  # Part C's table: the first evaluation whose interval-mean train accuracy reaches this
# The study's words for a cell it gave no numbers for (common.recurrent.STUDY_TEST_ACCURACY is empty there)
STUDY_SAYS = {"rnn": ("below LSTM/GRU", "falls as units fall")}
FINAL_KEYS = ("train_accuracy", "test_accuracy", "train_loss", "test_loss")


def is_study_record(m: dict) -> bool:
    """Whether a record was made on the study's own set, as far as it tells: the study's name and, where it
    recorded them (its confusion matrix), the study's count of test images and classes."""
    classes = len(CLASS_NAMES[STUDY_DATASET])
    confusion = m["final"].get("test_confusion")
    return m["identity"]["data"]["name"] == STUDY_DATASET and (
        confusion is None or (len(confusion) == classes and images_evaluated(m) == classes * STUDY_COUNTS[1])
    )


def first_reaching(m: dict, key: str, level: float):
    """(iteration, training seconds) of the first record with ``key`` >= ``level``, else (None, None)."""
    for h in m.get("history", []):
        if h.get(key) is not None and h[key] >= level:
            return h["iteration"], h.get("train_time_s")
    return None, None


# ---------------------------------------------------------------- rows
def chosen_groups(records: list[dict], grid: Grid, runs: list[tuple[str, int | None]]) -> dict[str, str]:
    """Run name -> the group id of its row: for each (cell, units) of ``runs`` and the CNN, the records of
    ``run_config(grid, cell, units)`` (``stats.records_of``); a run without records is left out."""
    chosen = {}
    for cell, hidden in [*runs, ("cnn", None)]:
        recs = records_of(records, run_name(cell, hidden), run_config(grid, cell, hidden))
        if recs:
            chosen[run_name(cell, hidden)] = recs[0]["group_id"]
    return chosen


def grid_row(name: str, gid: str, recs: list[dict], current: bool) -> dict:
    """One configuration's row: its seeds' final numbers (mean, std), what it is, and its records."""
    c = recs[0]["identity"]["config"]
    cell, hidden = c["cell"], c["hidden_units"]
    stats = {key: mean_std([figures.final_value(m, key) for m in recs]) for key in FINAL_KEYS}
    study = all(is_study_record(m) for m in recs)
    return {
        "run": name,
        "group": gid,
        "current": current,
        "cell": cell,
        "hidden_units": hidden,
        "num_params": recs[0].get("num_params"),
        "seeds": ",".join(str(m["identity"]["seed"]) for m in recs),
        "n": stats["test_accuracy"][2],
        "status": "/".join(sorted({m["status"] for m in recs})),
        **{k: c[k] for k in ("iterations", "learning_rate", "batch_size")},
        **{f"final_{k}_mean": v[0] for k, v in stats.items()},
        **{f"final_{k}_std": v[1] for k, v in stats.items()},
        "test_accuracy_binomial_se": binomial_se(stats["test_accuracy"][0], images_evaluated(recs[0])),
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
    """One row per configuration (seeds averaged): the chosen ones first (``current``), each part in cell
    order and falling hidden size, the CNN last."""
    rows = [grid_row(name, gid, recs, chosen.get(name) == gid) for (name, gid), recs in groups(records).items()]
    order = lambda r: CELLS.index(r["cell"]) if r["cell"] in CELLS else len(CELLS)
    return sorted(rows, key=lambda r: (not r["current"], order(r), -(r["hidden_units"] or 0), r["group"]))


def best_per_cell(rows: list[dict]) -> dict[str, dict]:
    """For each RNN cell, its current finished configuration with the highest mean final test accuracy."""
    done = [r for r in rows if r["cell"] in CELLS and r["current"] and r["n"]]
    top = lambda cell: max((r for r in done if r["cell"] == cell), key=lambda r: r["final_test_accuracy_mean"])  # noqa: E731
    return {cell: top(cell) for cell in {r["cell"] for r in done}}


# ---------------------------------------------------------------- tables
CSV_FIELDS = (  # noqa: SIM905  (summary.csv's columns)
    "cell hidden_units num_params current seeds n status iterations learning_rate batch_size "
    "final_train_accuracy_mean final_train_accuracy_std final_test_accuracy_mean final_test_accuracy_std "
    "test_accuracy_binomial_se final_train_loss_mean final_test_loss_mean train_seconds_mean study_test_accuracy "
    "identity"
).split()


def _fmt(v, digits=3):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def data_label(rows: list[dict]) -> str:
    """The data the rows were measured on, as their records say: "MNIST (1,000 test images)", or "MNIST (test
    images not recorded)" for records that do not say."""
    recs = [m for r in rows for m in r["records"]]
    names = sorted({m["identity"]["data"]["name"] for m in recs})
    tests = sorted({images_evaluated(m) or 0 for m in recs})
    counts = [f"{n:,} test images" if n else "test images not recorded" for n in tests]
    return f"{' / '.join(names)} ({' / '.join(counts)})"


def study_cell(r: dict) -> str:
    """The study's number for a row of the grid table, or why there is none."""
    if r["study_test_accuracy"] is not None:
        return f"~{100 * r['study_test_accuracy']:.0f}"
    return f"n/a ({r['study_says'][0]})" if r["study_says"] else "n/a"


def grid_table(rnn_rows: list[dict]) -> list[str]:
    """The grid's table, one line per current RNN row, and its settings."""
    lines = [
        "| cell | hidden units | params | seeds | iterations | final train acc | final test acc | SE "
        "| final train loss | final test loss | training time | study test acc | identity |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rnn_rows:
        status = "" if r["status"] == "finished" else f" ({r['status']})"
        lines.append(
            f"| {r['label']}{status} | {r['hidden_units']} | {r['num_params']:,} | {r['seeds']} "
            f"| {r['iterations']} "
            f"| {pm(r['final_train_accuracy_mean'], r['final_train_accuracy_std'])} "
            f"| {pm(r['final_test_accuracy_mean'], r['final_test_accuracy_std'])} "
            f"| {pm(r['test_accuracy_binomial_se'])} "
            f"| {_fmt(r['final_train_loss_mean'])} | {_fmt(r['final_test_loss_mean'])} "
            f"| {format_duration(r['train_seconds_mean'])} | {study_cell(r)} | {r['identity']} |"
        )
    keys = ("optimizer", "learning_rate", "lr_schedule", "batch_size", "iterations")
    settings = sorted({tuple(r["records"][0]["identity"]["config"].get(k, "constant") for k in keys) for r in rnn_rows})
    lines += [
        "",
        "Settings: "
        + "; ".join(f"{opt} lr {lr} ({sched}), batch {bs}, {it} iterations" for opt, lr, sched, bs, it in settings)
        + (" -- runs differ in settings, compare with care." if len(settings) > 1 else ""),
    ]
    near = [r for r in rnn_rows if r["study_test_accuracy"] is not None and r["n"]]
    if near and any(images_evaluated(r["records"][0]) is None for r in near):
        lines += ["", "Against the study's approximate numbers: not judged, the records hold no count of test images."]
    elif near:  # the study's approximate number taken as one run on the same test images
        se = lambda r: math.hypot(  # noqa: E731
            r["final_test_accuracy_std"] / math.sqrt(r["n"]) if r["n"] > 1 else r["test_accuracy_binomial_se"],
            binomial_se(r["study_test_accuracy"], images_evaluated(r["records"][0])),
        )
        ok = [r for r in near if r["final_test_accuracy_mean"] >= r["study_test_accuracy"] - NOISE * se(r)]
        lines += [
            "",
            f"Against the study's approximate numbers: {len(ok)} of {len(near)} runs at or above them or within "
            "noise of them (the study's number taken as one run on the same test images).",
        ]
    return lines + [""]


def reach_text(r: dict) -> str:
    """Part C's "to 95% train": the seeds' median iteration / training seconds, or "not reached"."""
    reach = [first_reaching(m, "train_accuracy", TABLE_REACH) for m in r["records"]]
    if any(it is None for it, _ in reach):
        return "not reached"
    return f"{np.median([it for it, _ in reach]):.0f} / {np.median([s for _, s in reach]):.0f}s"


def comparison_table(comparison: list[dict]) -> list[str]:
    """Part C: the CNN against the best of each cell."""
    level = f"{100 * TABLE_REACH:g}%"
    lines = [
        "## Part C: the study's CNN against the best RNN, LSTM and GRU",
        "",
        f'Same training images, batch size and iteration budget. "To {level} train": first evaluation',
        f"at which the interval's mean train accuracy reached {level} (iteration / training seconds;",
        'the median over the seeds, "not reached" if a seed never did).',
        "",
        f"| model | params | optimizer, lr | final train acc | final test acc | to {level} train "
        "| training time | images/s |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in comparison:
        c = r["records"][0]["identity"]["config"]
        name = r["label"] + ("" if r["cell"] == "cnn" else f", {r['hidden_units']} units")
        ips = mean_std([m.get("images_per_sec") for m in r["records"]])[0]
        sched = c.get("lr_schedule", c.get("schedule"))
        lines.append(
            f"| {name} | {r['num_params']:,} | {c.get('optimizer', 'adam')} {c['learning_rate']} ({sched}) "
            f"| {pm(r['final_train_accuracy_mean'], r['final_train_accuracy_std'])} "
            f"| {pm(r['final_test_accuracy_mean'], r['final_test_accuracy_std'])} | {reach_text(r)} "
            f"| {format_duration(r['train_seconds_mean'])} | {ips:,.0f} |"
        )
    reached = [(r, [first_reaching(m, "train_accuracy", TABLE_REACH) for m in r["records"]]) for r in comparison]
    reached = [(r, hits) for r, hits in reached if all(it is not None for it, _ in hits)]
    if reached:  # who gets there first, counted in iterations and in training seconds
        name = lambda r: r["label"] + ("" if r["cell"] == "cnn" else f", {r['hidden_units']} units")  # noqa: E731
        first = [min(reached, key=lambda rh: np.median([h[k] for h in rh[1]]))[0] for k in (0, 1)]
        lines += ["", f"First to {level} train: in iterations {name(first[0])}; in training seconds {name(first[1])}."]
    return lines + [
        "",
        "Study: the CNN reached ~100% training accuracy faster than every RNN; LSTM and GRU came",
        "close to it, the basic RNN did not.",
        "",
    ]


def summary_markdown(rows: list[dict], comparison: list[dict]) -> str:
    rnn_rows = [r for r in rows if r["cell"] != "cnn" and r["current"]]
    lines = [
        f"# Task 3: RNNs on {data_label(rnn_rows)}",
        "",
        "Each image is a sequence of its rows (row r at step r), one recurrent layer, a dense softmax.",
        "Final = the last evaluation (train: mean over the last interval; test: all test images), in",
        "percent: mean ± sample std over the seeds; SE = the binomial standard error of one accuracy on",
        "the test set. Training seconds exclude evaluation. Study: the report's approximate test accuracy.",
        "",
        *grid_table(rnn_rows),
        *(comparison_table(comparison) if comparison else []),
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


# ---------------------------------------------------------------- everything
def draw(rows: list[dict], rnn_rows: list[dict], out: Path) -> tuple[list[Path], list[dict]]:
    """The figures, and Part C's rows (the CNN and the best of each cell; [] without a finished CNN)."""
    written = [
        figures.plot_cell_curves(cell, [r for r in rnn_rows if r["cell"] == cell], out / f"{cell}_curves.png")
        for cell in CELLS
        if any(r["cell"] == cell for r in rnn_rows)
    ]
    written.append(figures.plot_summary(rnn_rows, out / "summary.png"))
    written.append(figures.plot_train_test_gap(rnn_rows, out / "train_test_gap.png"))
    cnn = next((r for r in rows if r["cell"] == "cnn" and r["current"] and r["n"]), None)
    if cnn is None:
        return written, []
    best = best_per_cell(rows)
    comparison = [cnn] + [best[c] for c in CELLS if c in best]
    written.append(figures.plot_cnn_comparison(comparison, out / "cnn_comparison.png"))
    return written, comparison


def summarize(records: list[dict], grid: Grid, runs: list[tuple[str, int | None]], out: Path, log=print) -> list[Path]:
    """Every figure and table of the grid from the index's ``records`` (one data set's): ``runs`` are the
    (cell, hidden units) asked for under the settings ``grid``; their rows and the CNN's are the current rows of
    the tables, chosen from the records alone (``chosen_groups``). On the study's data in ``<figures>/rnn``, the
    claims table is rebuilt too."""
    io.remove_stale_temps(out, recursive=True)  # half-written figures of killed processes
    rows = grid_rows(records, chosen_groups(records, grid, runs))
    rnn_rows = [r for r in rows if r["cell"] in CELLS and r["current"]]
    if not rnn_rows:
        log(f"no finished RNN runs of these settings in {out / 'results.jsonl'} or the runs folder; nothing to show")
        return []
    written, comparison = draw(rows, rnn_rows, out)
    io.write_text(out / "summary.md", summary_markdown(rows, comparison))
    io.write_text(out / "summary.csv", csv_text(rows, CSV_FIELDS))
    written += [out / "summary.md", out / "summary.csv"]
    written += write_fast_settings(records, out, [run_name(c, h) for c, h in [*runs, ("cnn", None)]], "rnn_mnist.py")
    if all(r["study_data"] for r in rnn_rows) and out.name == "rnn":  # the standard layout <figures>/rnn
        written += claims.update(out.parent, log)
    return written
