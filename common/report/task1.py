"""Task 1's report (``docs/task1.md``) from the results index alone: the sweep's summary (``summary.{md,csv,png}``),
the fit of the study's unstated constants (``constants_fit.{md,csv,png}``), and :func:`summarize`, which draws what
a command's runs change: their own figures (``runfigs``), the summary and the pages they are rows of. A table's row
for a run is the group of seeds with its exact config (``stats.records_of``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common import data, io, runs, study
from common.report import beyond, claims, overview, runfigs, stats
from common.report.plots import SPLIT_COLORS, STUDY_COLORS, error_bars, plt, save_figure, seed_dots, seeds_note
from common.report.stats import NOISE, PM_KEY, ROWS, gap, mean_std, pct, pm

# "within 3 test points" of the study's number: about twice one accuracy's binomial SE on the 1,000 test images
NEAR = 0.03
ACCURACIES = ("train_accuracy", "test_accuracy")  # the calibration's two numbers per run
SUMMARY_FIELDS = (  # noqa: SIM905  (summary.csv's columns)
    "row run identity current seeds n status iterations train_acc_mean train_acc_std test_acc_mean test_acc_std "
    "test_acc_binomial_se best_test_acc_mean study_train_acc study_test_acc train_gap test_gap train_time_s_mean "
    "images_per_s_mean"
).split()


@dataclass(frozen=True)
class DataInfo:
    """A data set as the report names it: ``study_info`` gives the study's; a script passes the set it loaded."""

    name: str
    study_data: bool
    class_names: tuple[str, ...]
    n_train: int
    n_test: int

    @property
    def label(self) -> str:
        return f"{self.name} ({self.n_train:,} train / {self.n_test:,} test)"

    @classmethod
    def of(cls, dataset) -> DataInfo:
        """From a loaded ``common.data.Dataset``."""
        is_study = dataset.is_study_data(study.STUDY_DATASET)
        return cls(dataset.name, is_study, dataset.class_names, len(dataset.y_train), len(dataset.y_test))


def study_info() -> DataInfo:
    """The study's CIFAR10 subset, as the records of its runs know it (no image needs to be read)."""
    train, test = (len(data.CIFAR10_CLASS_NAMES) * n for n in data.STUDY_COUNTS)
    return DataInfo(study.STUDY_DATASET, True, data.CIFAR10_CLASS_NAMES, train, test)


# The summary: every configuration in the results index, the current runs first, against the study's numbers
def summary_rows(records: list[dict], current: dict[str, set[str]], study_fingerprint: str | None) -> list[dict]:
    """One row per (run, identity without seed): its seeds' means and stds and, on the study's data, our gaps to it."""
    rows = []
    for (name, gid), recs in runs.groups(records).items():
        run, done, overrides = study.RUNS.get(name), stats.finished(recs), recs[0].get("overrides")
        is_study = study_fingerprint is not None and study_fingerprint == recs[0]["identity"]["data"]["fingerprint"]
        row = {
            "row": run.study_row if run else None,
            "run": name,
            "label": study.label(name, overrides),
            "overridden": len(overrides or {}),  # the fields this command changed (0: as defined)
            "identity": runs.identity_label(recs[0]["identity"]),
            "current": gid in current.get(name, ()),
            "seeds": stats.seeds(recs),
            "n": len(done),
            "status": "/".join(sorted({r["status"] for r in recs})),
            "iterations": recs[0]["identity"]["config"]["iterations"],
            "best_test_acc_mean": mean_std([r["best_test_accuracy"] for r in done])[0],
            "train_time_s_mean": mean_std([r["train_time_s"] for r in recs])[0],
            "images_per_s_mean": mean_std([r["images_per_sec"] for r in recs])[0],
            "cpus": sorted({stats.cpu(r) for r in recs}),
            "records": done,
        }
        for split, ref in zip(("train", "test"), (run.study_accuracy if run and is_study else None) or (None, None)):
            accs = [r["final"].get(f"{split}_accuracy") for r in done]
            row[f"{split}_acc_mean"], row[f"{split}_acc_std"], _ = mean_std(accs)
            row |= {f"{split}_accs": accs, f"study_{split}_acc": ref}
            row[f"{split}_gap"] = None if ref is None else row[f"{split}_acc_mean"] - ref
        images = stats.images_evaluated(recs[0], among=records)
        row["test_acc_binomial_se"] = stats.binomial_se(row["test_acc_mean"], images)
        row["test_acc_se"] = row["test_acc_std"] / math.sqrt(row["n"]) if row["n"] > 1 else row["test_acc_binomial_se"]
        rows.append(row)
    order = {n: i for i, n in enumerate(study.RUNS)}
    key = lambda r: (not r["current"], r["overridden"], order.get(r["run"], len(order)), r["run"], r["identity"])  # noqa: E731
    return sorted(rows, key=key)


def in_ladder(row: dict) -> bool:
    return row["run"] in study.RUNS and study.RUNS[row["run"]].group == "beyond"


def gap_text(rows: list[dict]) -> str:
    """What the gaps to the study's table say: their means, how many runs lie near the study's or within noise of
    it, and the same on the seeds the calibration never used (all but 0)."""
    gaps = lambda key, rs: 100 * np.mean([abs(r[key]) for r in rs])  # noqa: E731
    noise = [
        abs(r["test_gap"]) <= NOISE * math.hypot(r["test_acc_se"], stats.binomial_se(r["study_test_acc"], 1000))
        for r in rows
    ]
    text = (
        f"Mean absolute gap to the study over the {len(rows)} current runs: train {gaps('train_gap', rows):.1f} "
        f"points, test {gaps('test_gap', rows):.1f} points; {sum(abs(r['test_gap']) <= NEAR for r in rows)} of "
        f"{len(rows)} runs within {100 * NEAR:.0f} test points; {sum(noise)} of {len(rows)} test gaps within noise "
        "(the study's number taken as one run on the 1,000 test images). One accuracy's binomial standard error on "
        f"the test set: {stats.span([100 * r['test_acc_binomial_se'] for r in rows], '{:.1f}')} points."
    )
    later = lambda r, k: stats.final([m for m in r["records"] if m["seed"] != 0], f"{k}_accuracy")[0]  # noqa: E731
    unseen = [{f"{k}_gap": later(r, k) - r[f"study_{k}_acc"] for k in ("train", "test")} for r in rows]
    if all(math.isfinite(u["test_gap"]) for u in unseen):
        text += (
            f" On the seeds other than 0 alone (the calibration chose the constants on seed 0): train "
            f"{gaps('train_gap', unseen):.1f}, test {gaps('test_gap', unseen):.1f} points."
        )
    return text


def summary_parts(rows: list[dict], dataset_label: str, study_data: bool, early: tuple[int, int]) -> list:
    intro = (
        "Generated by `cifar_v2.py` from `results.jsonl` (every finished run found in the runs folder). Accuracies in "
        f"percent. {PM_KEY} Train accuracy is the mean over the last evaluation interval's batches, as the study read "
        "its own (from its training batches); test accuracy is on every test image at the end of the run (never the "
        "best of its evaluations: that would be a choice made on the test set; `summary.csv` keeps it as "
        "`best_test_acc_mean`, with the images/s and the identity of every row). The CPU column names the machines "
        "that trained the seeds (times compare only on one machine)."
    )
    ladder = {r["run"] for r in rows if r["current"] and in_ladder(r)}  # one row each (beyond.write_ladder)
    current = [r for r in rows if r["current"] and not in_ladder(r)]
    head = ["#", "run", "seeds", "iterations", "train acc", "test acc"]
    head += ["study train", "study test", "train gap", "test gap"] if study_data else []
    table = []
    for r in current:
        status = f" ({r['status']})" if r["status"] != "finished" else ""
        cells = [r["row"] or "", f"`{r['label']}`{status}", r["seeds"], r["iterations"]]
        cells += [pm(r["train_acc_mean"], r["train_acc_std"]), pm(r["test_acc_mean"], r["test_acc_std"])]
        if study_data:
            cells += [pct(r["study_train_acc"], 0), pct(r["study_test_acc"]), gap(r["train_gap"]), gap(r["test_gap"])]
        table.append([*cells, stats.format_duration(r["train_time_s_mean"]), "; ".join(r["cpus"])])
    title = f"# {dataset_label}: the LeNet-5 sweep" + (" against the study" if study_data else "")
    parts = [title, intro, stats.markdown([*head, "training time", "CPU"], table)]
    gaps = [r for r in current if not r["overridden"] and r["test_gap"] is not None and np.isfinite(r["test_gap"])]
    if study_data and gaps:  # over the study's rows as defined (a --set variant is an experiment)
        parts.append(gap_text(gaps))
    if early[1]:
        parts.append(
            f"The `--early` reruns merged into their runs' histories: {early[0]} of {early[1]} (a rerun is merged "
            f"where its last evaluation gives the full run's test accuracy and conv statistics at iteration "
            f"{study.EARLY_ITERATIONS})."
        )
    if ladder:
        parts.append(f"The improvement ladder's {len(ladder)} run(s) are tabled in `beyond/ladder.md`.")
    if others := len(rows) - len(current) - len(ladder):
        parts.append(
            f"The results index also holds {others} other configuration(s) (other constants, lengths, data "
            "or backends; e.g. the calibration's): every one is a row of `summary.csv`."
        )
    return parts


def plot_summary(current: list[dict], path: Path, dataset_label: str, study_data: bool) -> Path:
    """Final train and test accuracy per run, the study's beside ours; each seed a dot."""

    def name(r):  # the study's rows as a reader names them; other runs by their names
        run = study.RUNS.get(r["run"])
        text = study.short(run) if run and run.study_row and not r["overridden"] else r["label"]
        return text + (" (diverged)" if "diverged" in r["status"] else "")

    series, colors = {}, []
    for split in ("train", "test"):  # label -> (means, stds[, each seed's]) in fractions (NaN: no bar, no error bar)
        series[f"ours: {split}"] = tuple([r[f"{split}_{k}"] for r in current] for k in ("acc_mean", "acc_std", "accs"))
        colors.append(SPLIT_COLORS[split])
        if study_data:
            series[f"study: {split}"] = ([r[f"study_{split}_acc"] or np.nan for r in current], [np.nan] * len(current))
            colors.append(STUDY_COLORS[split])
    x, width = np.arange(len(current)), 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(7, 1.1 * len(current) + 2), 5.2))
    for i, (label, (values, errors, *seeds)) in enumerate(series.items()):
        values, errors = 100 * np.asarray(values, dtype=float), 100 * np.asarray(errors, dtype=float)
        where = x + (i - (len(series) - 1) / 2) * width
        ax.bar(where, values, width, label=label, color=colors[i])
        error_bars(ax, where, values, errors)  # none for the study or a single seed
        if seeds:
            seed_dots(ax, where, seeds[0], width)
        for k, (w, v, e) in enumerate(zip(where, values, errors)):  # each value above its bar's cap and dots
            if np.isfinite(v):
                dots = [100 * d for d in (seeds[0][k] or [])] if seeds else []
                top = max([v + (e if np.isfinite(e) else 0.0), *dots])
                ax.text(w, top + 0.8, f"{v:.0f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [name(r) for r in current], rotation=30, ha="right")
    ax.set(ylabel="final accuracy (%)", ylim=(0, 100 * 1.12))
    title = f"{dataset_label}: final accuracy" + (", ours vs the study's" if study_data else "")
    ns, single = sorted({r["n"] for r in current}), "; no error bar: the test set's SE is ~1.6 points"
    note = f"ours: {seeds_note(ns, 'error bar: std over seeds', single)}; dots: the seeds"
    ax.set_title(f"{title}\n({note})", fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0))  # outside: never over a bar
    return save_figure(fig, path, tight=True)


# The fit of the study's unstated constants (cifar_v2.py --calibrate)
def seed_record(records: list[dict], run: study.RunConfig, seed: int) -> dict | None:
    """``run``'s record of ``seed`` on the study's data (float32, the default kernels), if any."""
    recs = stats.records_of(records, run.name, run.identity(), study.STUDY_DATASET)
    return next((r for r in recs if r["identity"]["seed"] == seed), None)


def calibration_table(records: list[dict], seed: int, eval_every: int, batch_size=None) -> list[dict]:
    """One row per combination of the constants: its mean absolute gaps to the study's 11 runs, their mean the score."""
    rows = []
    for (lr, l2, run6), by_row in study.candidates(batch_size):
        recs = {row: rec for row, run in by_row.items() if (rec := seed_record(records, run, seed))}
        for iterations in study.GRID["iterations"]:
            for factor in study.GRID["long_factor"]:
                gaps = {}
                for row, rec in recs.items():
                    at = (round(iterations * factor) if row == 8 else iterations) // eval_every * eval_every
                    train, test = (stats.at([rec], at, k) for k in ACCURACIES)
                    if np.isfinite([train, test]).all():  # recorded at that length
                        gaps[row] = tuple(v - ref for v, ref in zip((train, test), ROWS[row].study_accuracy))
                complete = len(gaps) == len(ROWS)
                train_gap = float(np.mean([abs(g[0]) for g in gaps.values()])) if complete else float("nan")
                test_gap = float(np.mean([abs(g[1]) for g in gaps.values()])) if complete else float("nan")
                near = sum(abs(g[1]) <= NEAR for g in gaps.values()) if complete else None
                rows.append(
                    dict(adam_lr=lr, l2=l2, run6_lr=run6[0], run6_momentum=run6[1], iterations=iterations)
                    | dict(long_factor=factor, runs_found=len(gaps), train_gap=train_gap, test_gap=test_gap)
                    | dict(score=(train_gap + test_gap) / 2, within_3_test_points=near, gaps=gaps)
                )
    return sorted(rows, key=lambda r: (np.isnan(r["score"]), r["score"]))


def calibration_notes(records: list[dict], scored: list[dict], seed: int) -> str:
    """What the rows and the runs behind them say beyond the best 12: Adam's two rates at every length (each L2 at
    its best, as the figure draws them), run 6 at the grid's faster rate, and run 7 read off run 8's curve."""
    (lo, hi), lengths, l2s = study.GRID["adam_lr"], study.GRID["iterations"], study.GRID["l2"]
    best = {(r["adam_lr"], r["l2"], r["iterations"]): r["score"] for r in sorted(scored, key=lambda r: -r["score"])}
    worse = [it for it in lengths if min(best[lo, l2, it] for l2 in l2s) > max(best[hi, l2, it] for l2 in l2s)]
    lines = [
        f"At {len(worse)} of {len(lengths)} lengths both Adam {lo:g} settings score worse than both Adam {hi:g} "
        "settings (each L2 at its best run-6 setting and run-8 factor, as the figure draws them)."
    ]
    fast = study.with_overrides(study.RUNS["relu_momentum_normal"], learning_rate=study.GRID["run6"][1][0])
    if rec := seed_record(records, fast, seed):
        lines.append(
            f"Run 6 at lr {fast.learning_rate:g}, momentum {fast.momentum:g} (the grid's other run-6 setting): its "
            f"test accuracy is at most {pct(max(h['test_accuracy'] for h in rec['history']))}% at any evaluation "
            "(chance: one class in ten)."
        )
    r7, r8 = (seed_record(records, ROWS[row], seed) for row in (7, 8))
    if r7 and r8:  # the calibration reads run 7 off run 8's curve: the same batches, dropout masks and rate
        its = [h for h in r7["history"] if h["iteration"] % study.EVAL_EVERY == 0]
        by_it = {h["iteration"]: h for h in r8["history"]}
        same = [h for h in its if all(h.get(k) == by_it.get(h["iteration"], {}).get(k) for k in ACCURACIES)]
        lines.append(
            f"Run 7 trained on its own (seed {seed}) gives run 8's train and test accuracy to every recorded digit at "
            f"{len(same)} of {len(its)} evaluations, as reading run 7 off run 8's curve assumes."
        )
    return " ".join(lines)


def write_calibration(records: list[dict], rows: list[dict], out: Path, seed: int) -> list[Path]:
    names = {v: k for k, v in study.CONSTANTS.items()}
    rows = [{**r, "constants": names.get(study.constants_of(r), "")} for r in rows]
    fields = ("adam_lr", "l2", "run6_lr", "run6_momentum", "iterations", "long_factor", "train_gap", "test_gap")
    fields += ("score", "within_3_test_points", "runs_found", "constants")
    written = [stats.write_csv(out / "constants_fit.csv", rows, fields)]
    scored = [r for r in rows if np.isfinite(r["score"])]
    intro = (
        f"Generated by `cifar_v2.py --calibrate` (seed {seed}) from `results.jsonl`. Each row is one "
        "combination of the unstated constants; the gaps are the mean absolute differences between our final "
        "accuracies and the study's table over its 11 runs, in points; score = (train gap + test gap) / 2. "
        f"{len(scored)} of {len(rows)} combinations have all 11 runs. The best 12, and the two named sets:"
    )
    head = ["rank", "Adam lr", "L2", "run 6 (lr, momentum)", "iterations", "run 8 factor", "train gap", "test gap"]
    head += ["score", f"runs within {100 * NEAR:.0f} test points", "set"]
    table = [
        [rank, f"{r['adam_lr']:g}", f"{r['l2']:g}", f"({r['run6_lr']:g}, {r['run6_momentum']:g})", r["iterations"]]
        + [f"{r['long_factor']:g}", *(f"{100 * r[k]:.1f}" for k in ("train_gap", "test_gap", "score"))]
        + [f"{r['within_3_test_points']} of 11", r["constants"]]
        for rank, r in enumerate(scored, 1)
        if rank <= 12 or r["constants"]
    ]
    notes = [calibration_notes(records, scored, seed)] if scored else []
    title = "# The constants the study did not state, fitted to its table"
    written.append(stats.write_page(out / "constants_fit.md", title, intro, stats.markdown(head, table), *notes))
    return written + ([plot_calibration(scored, out / "constants_fit.png", seed)] if scored else [])


def plot_calibration(rows: list[dict], path: Path, seed: int) -> Path:
    """The mean absolute gaps to the study against the run length, one line per (Adam lr, L2)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    its = sorted(study.GRID["iterations"])
    best = {(r["adam_lr"], r["l2"], r["iterations"]): r for r in reversed(rows)}  # rows: best first
    for k, (lr, l2) in enumerate(sorted({(r["adam_lr"], r["l2"]) for r in rows})):
        for ax, key in zip(axes, ("train_gap", "test_gap")):
            y = [100 * best[lr, l2, it][key] for it in its]
            ax.plot(its, y, marker="o", color=f"C{k}", label=f"Adam lr {lr:g}, L2 {l2:g}")
    for ax, what in zip(axes, ("train", "test")):
        ax.set(xlabel="iterations per run", ylabel=f"mean |ours - study| {what} accuracy (points)", ylim=(0, None))
        ax.set_title(f"{what} accuracy gap over the 11 runs")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"Fitting the study's unstated constants to its table (seed {seed}; each point at its best run-6 setting and "
        "run-8 factor)"
    )
    return save_figure(fig, path, tight=True)


# What a command draws
def pages_changed(drawn: list[tuple[study.RunConfig, dict | None]], speed: bool = False) -> set[str]:
    """The pages beside the summary that a command's runs (``drawn``: each with its --set fields) are rows of:
    "ladder", "validation", "speed" (an opt-in speed setting), "overview" (the study's 11 runs side by side, the
    chosen recipes' confusion and reliability) and "claims"."""
    pages = {"speed"} if speed else set()
    for run, fields in drawn:
        if (fields or {}).get("validation"):
            pages |= {"validation", "overview"}  # a choice made on validation picks the recipes the overview shows
        elif run.rung is not None or run.group == "beyond":
            pages |= {"ladder"} | ({"overview"} if not fields else set())
        if run.group == "study" and not fields:
            pages |= {"overview", "claims"}
    return pages


def summarize(
    records: list[dict],
    info: DataInfo,
    drawn: list[tuple[study.RunConfig, dict | None]],
    named: list[study.RunConfig],
    out: Path,
    read_every: int = study.READ_EVERY,
    log=print,
    pages: set[str] | None = None,
) -> list[Path]:
    """The sweep's figures and tables from the index's ``records`` of the set ``info``. ``drawn``: the (run, its
    --set fields) whose per-run figures are drawn; ``named``: every named run under this command's settings, the
    current rows of the tables (with the ``drawn`` ones); ``pages``: the pages to draw besides the summary
    (:func:`pages_changed`; None: every page)."""
    io.remove_stale_temps(out, recursive=True)  # half-written figures of killed processes
    if not records:
        log(f"no finished runs of {info.name} in {out / 'results.jsonl'}; nothing to summarize.")
        return []
    merged = runs.merge_early(records, study.EARLY_ITERATIONS, log)  # the --early reruns, in their runs' histories
    early = sum(bool(r.get("dense_until")) for r in merged), sum(r["identity"].get("eval_every") == 1 for r in records)
    current: dict[str, set[str]] = {}  # run name -> the tables' rows: each run's group with the most seeds
    for run in named + [run for run, fields in drawn if not (fields or {}).get("validation")]:
        if recs := stats.records_of(merged, run.name, run.identity(), info.name):
            current.setdefault(run.name, set()).add(recs[0]["group_id"])
    fingerprint = next(
        (r["identity"]["data"]["fingerprint"] for r in merged if r["identity"]["data"]["name"] == info.name), None
    )
    rows = summary_rows(merged, current, fingerprint if info.study_data else None)
    written = []
    for run, overrides in drawn:  # each asked-for run's own figures
        if recs := stats.records_of(merged, run.name, run.identity(), info.name):
            # in <out>/<run>, a run changed with --set in <out>/<run>@dropout=0.3 (never the committed one's), a run
            # that chooses on validation under <out>/validation/
            overrides = dict(overrides or {})
            folder = out / "validation" if overrides.pop("validation", 0) else out
            folder /= run.name + "".join(f"@{c}" for c in study.changes(overrides))
            try:
                written += runfigs.write_run_figures(run, recs, folder, read_every, info.study_data)
            except Exception as err:  # noqa: BLE001  (a figure must never cost a result: report it, go on)
                log(f"error drawing figures of {run.name}: {type(err).__name__}: {err}. The results are saved.")
    written.append(stats.write_csv(out / "summary.csv", rows, SUMMARY_FIELDS, nan="nan"))
    written.append(stats.write_page(out / "summary.md", *summary_parts(rows, info.label, info.study_data, early)))
    # the figure of the study's data compares with the study: its rows only (the ladder has a figure of its own)
    shown = [r for r in rows if r["current"] and not in_ladder(r) and (r["row"] or not info.study_data)]
    written.append(plot_summary(shown, out / "summary.png", info.label, info.study_data))
    wants = lambda page: pages is None or page in pages  # noqa: E731
    if wants("ladder"):
        written += beyond.write_ladder(rows, merged, out / "beyond")
    if wants("validation"):
        written += beyond.write_validation(merged, out / "beyond", len(info.class_names))
    # imported where drawn: a run that draws neither page (the default) loads neither, nor common.protocol
    if wants("protocol"):
        from common.report import protocol

        written += protocol.write(merged, out / "beyond")
    if wants("speed"):
        from common.report import speed

        written += speed.write_fast_settings(merged, out, list(study.RUNS), "cifar_v2.py")
    if info.study_data and wants("overview"):
        written += overview.write_overview(merged, out, info.class_names)
    if info.study_data and out.name == "cifar" and wants("claims"):  # the standard layout: <figures>/cifar, /rnn
        written += claims.update(out.parent, log)
    return [p for p in written if p is not None]
