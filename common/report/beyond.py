"""Beyond the study (``docs/beyond.md``, ``figures/cifar/beyond/``): the improvement ladder (``ladder.{md,png}``,
``cost.png``) and every choice made on the validation split (``validation.md``, ``selection.png``). Every choice
reads ``val_*`` numbers alone and refuses a record without them (tests/test_selection.py shuffles the test labels
and gets the same choices)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from common import study
from common.data import SPLIT_SEED
from common.report import plots, stats
from common.report.plots import SPLIT_COLORS, plt, save_figure
from common.report.stats import PM_KEY, compare, difference, final, gap, pct, pm, show
from common.runs import VIEW_CANDIDATES

VIEW_LABELS = {k: f"flip x {shift}-pixel shifts" if shift else k for k, (_, shift) in VIEW_CANDIDATES.items()}


class NotValidation(ValueError):
    """A record without validation numbers was handed to a choice."""


def tested(records: list[dict], run: study.RunConfig) -> list[dict]:
    """The finished runs of ``run`` as defined (no split, no other change), on the study's data."""
    return stats.finished(stats.records_of(records, run.name, run.identity(), study.STUDY_DATASET))


def val_accuracy(record: dict) -> float:
    if "val_accuracy" not in record["final"]:
        raise NotValidation(
            f"{record['name']}: no validation accuracy; choices read only runs trained with a validation split "
            f"(--set validation={study.VALIDATION})"
        )
    return record["final"]["val_accuracy"]


def choosing_records(records: list[dict], per_class: int = study.VALIDATION) -> dict[str, list[dict]]:
    """The finished runs that chose on a ``per_class`` split, the named run otherwise unchanged, by name."""
    out: dict[str, list[dict]] = {}
    for r in records:
        run = study.RUNS.get(r["name"])
        if run is None or r["status"] != "finished" or r["identity"].get("split", {}).get("per_class") != per_class:
            continue
        if r["identity"]["config"] == study.with_overrides(run, validation=per_class).identity():
            out.setdefault(r["name"], []).append(r)
    return out


def mean_val(recs: list[dict]) -> float:
    return float(np.mean([val_accuracy(r) for r in recs]))


def ladder_decisions(by_name: dict[str, list[dict]], n_val: int) -> list[dict]:
    """Each rung whose two runs chose on validation: kept if its validation accuracy is above its ``builds_on``'s."""
    rows = []
    for name, run in study.RUNS.items():
        if name in by_name and run.builds_on in by_name:
            acc, prev = mean_val(by_name[name]), mean_val(by_name[run.builds_on])
            se = math.hypot(stats.binomial_se(acc, n_val), stats.binomial_se(prev, n_val))
            rows.append(
                dict(run=name, builds_on=run.builds_on, val=acc, prev=prev, delta=acc - prev, se=se, kept=acc > prev)
                | {"beyond_noise": abs(acc - prev) > stats.NOISE * se}
            )
    return rows


def best_views(recs: list[dict]) -> tuple[str, dict[str, float]] | None:
    """The test-time view set with the highest mean validation accuracy at the runs' end, and every set's."""
    views = [r["final"].get("val_accuracy_views") for r in recs]
    if not views or not all(views):
        return None
    means = {k: float(np.mean([v[k] for v in views])) for k in views[0]}
    return max(means, key=means.get), means


def score(recs: list[dict]) -> float:
    """A candidate's validation accuracy at its best test-time views (a network and its views chosen together)."""
    views = best_views(recs)
    return views[1][views[0]] if views else mean_val(recs)


def best_scored(by_name: dict[str, list[dict]], names) -> str | None:
    present = [n for n in names if n in by_name]
    return max(present, key=lambda n: score(by_name[n])) if present else None


def chosen(records: list[dict]) -> list[dict]:
    """The best LeNet-5 and the best network, with their views, chosen on validation; ``named``: the run that is it."""
    chose = choosing_records(records)
    out = []
    for key, what, lenet in (("lenet", "the study's LeNet-5", True), ("net", "the best network", False)):
        name = best_scored(chose, [n for n, r in study.RUNS.items() if r.rung and (r.arch == "lenet5") == lenet])
        if not name:
            continue
        run, v = study.RUNS[name], best_views(chose[name]) if study.RUNS[name].tta else None
        if v:  # the views chosen on validation replace the run's own
            tta, shift = VIEW_CANDIDATES[v[0]]
            run = dataclasses.replace(run, tta=tta, tta_shift=shift)
        named = next((n for n, r in study.RUNS.items() if r.identity() == run.identity()), None)
        out.append(dict(key=key, what=what, name=name, val=score(chose[name]), views=v and v[0], named=named))
    return out


def row_difference(a: dict, b: dict) -> str:
    return difference(a["test_acc_mean"] - b["test_acc_mean"], math.hypot(a["test_acc_se"], b["test_acc_se"]))


def same_networks(records: list[dict], run: study.RunConfig) -> tuple[list[dict], list[dict]]:
    """The seeds of ``run`` and its ``builds_on`` that are one network (the same train accuracy) under other views."""
    base_run = study.RUNS.get(run.builds_on)
    if base_run is None or {k for k in study.KNOBS if getattr(run, k) != getattr(base_run, k)} - {"tta", "tta_shift"}:
        return [], []
    base = {r["seed"]: r for r in tested(records, base_run)}
    same = lambda r: r["seed"] in base and r["final"]["train_accuracy"] == base[r["seed"]]["final"]["train_accuracy"]
    mine = [r for r in tested(records, run) if same(r)]
    return mine, [base[r["seed"]] for r in mine]


def write_ladder(rows: list[dict], records: list[dict], out: Path) -> list[Path]:
    intro = (
        "Generated by `cifar_v2.py --runs beyond` from `results.jsonl`. Each rung adds one ingredient to the run it "
        "builds on (the other rows are different networks: the CNNs with rung 4's recipe, then changes of their own; "
        "airbench with its own recipe). Accuracies in percent, mean ± std over the seeds; train acc: the mean over the "
        "last interval's training batches, augmented and with dropout on (not what the network fits: `protocol.md` "
        "reads clean training images); gap = train - test accuracy; Δ test = the change from the run it builds on "
        f"(`common/study.py`: each run's `builds_on`), ± its standard error. {PM_KEY} These rungs and networks were "
        "chosen by looking at seed 0's test accuracy; `validation.md` remakes every choice on a validation split. The "
        "CPU column names the machines that trained the seeds."
    )
    # every current row by name: of a run's, the one with the fewest changed fields (not a --set variant beside it)
    by_name = {r["run"]: r for r in sorted((r for r in rows if r["current"]), key=lambda r: -r.get("overridden", 0))}
    ladder = [by_name[n] for n, run in study.RUNS.items() if run.rung is not None and n in by_name and by_name[n]["n"]]
    if len(ladder) < 2:
        return []
    params = {r["name"]: r.get("num_params") for r in records}
    head = ["rung", "what it adds", "params", "iterations", "seeds", "train acc", "test acc", "gap", "Δ test"]
    cells = []
    for r in ladder:
        run = study.RUNS[r["run"]]
        prev = by_name.get(run.builds_on) if run.builds_on else None
        cells.append(
            [run.rung, f"{run.adds} (`{r['label']}`)", f"{params.get(r['run']) or 0:,}", r["iterations"], r["seeds"]]
            + [pm(r["train_acc_mean"], r["train_acc_std"]), pm(r["test_acc_mean"], r["test_acc_std"])]
            + [f"{100 * (r['train_acc_mean'] - r['test_acc_mean']):.1f}"]
            + [row_difference(r, prev) if prev and prev["n"] else "-", stats.format_duration(r["train_time_s_mean"])]
            + ["; ".join(r["cpus"])]
        )
    table = stats.markdown([*head, "training time", "CPU"], cells)
    parts = ["# Beyond the study: the improvement ladder", intro, table]
    wide = [r for r in ladder if study.RUNS[r["run"]].arch == "vgg_wide"]
    if wide and "beyond_vgg" in by_name:  # the wider networks against the CNN they widen
        each = [f"{study.RUNS[r['run']].rung} {row_difference(r, by_name['beyond_vgg'])}" for r in wide]
        parts.append("The wide CNNs against the CNN (test accuracy): " + "; ".join(each) + ".")
    for r in ladder:  # a rung that changes only the test-time views: the same networks, compared seed by seed
        mine, base = same_networks(records, study.RUNS[r["run"]])
        if mine and study.RUNS[r["run"]].tta_shift:
            d, se, _ = stats.paired_compare(mine, base, split="test")
            parts.append(
                f"{r['label']}: {len(mine)} of {r['n']} seeds are `{study.RUNS[r['run']].builds_on}`'s networks (the "
                f"same train accuracy to the last digit), evaluated over other views; their difference, seed by seed: "
                f"{difference(d, se)}."
            )
    page = stats.write_page(out / "ladder.md", *parts)
    return [page, plot_ladder(ladder, out / "ladder.png"), plot_cost(ladder, params, out / "cost.png")]


def plot_ladder(ladder: list[dict], path: Path) -> Path:
    """Train and test accuracy per rung (LeNet-5's, then the other networks), the study's best as a line; the gap."""
    lenet = [r for r in ladder if study.RUNS[r["run"]].arch == "lenet5"]
    other = [r for r in ladder if study.RUNS[r["run"]].arch != "lenet5"]
    rows = lenet + other
    x = np.concatenate([np.arange(len(lenet)), len(lenet) + 0.8 + np.arange(len(other))])
    fig, (ax, gx) = plt.subplots(2, 1, figsize=(max(9, 0.75 * len(rows) + 3), 8.8), height_ratios=(2.2, 1), sharex=True)
    width = 0.38
    for shift, split in ((-width / 2, "train"), (width / 2, "test")):  # mean, std, each seed a dot; 1 seed: hatched
        vals, errs = (np.array([100 * r[f"{split}_acc_{k}"] for r in rows]) for k in ("mean", "std"))
        single = np.array([r["n"] == 1 for r in rows])
        color = SPLIT_COLORS[split]
        ax.bar(x[~single] + shift, vals[~single], width, color=color, label=f"{split} (mean; bar: std; dots: seeds)")
        style = dict(color="white", edgecolor=color, hatch="///", label=f"{split}, 1 seed")
        ax.bar(x[single] + shift, vals[single], width, **style)
        plots.error_bars(ax, x + shift, vals, np.where(single, np.nan, errs))
        plots.seed_dots(ax, x + shift, [r[f"{split}_accs"] for r in rows], width)
        for xi, v, e, r in zip(x + shift, vals, np.nan_to_num(errs), rows):
            top = max([v + (0 if r["n"] == 1 else e)] + [100 * a for a in r[f"{split}_accs"]])
            ax.text(xi, top + 1.5, f"{v:.1f}", ha="center", va="bottom", fontsize=6.5)  # above cap and dots
    best = next(run for run in study.RUNS.values() if run.rung == "0")  # the study's best run, as it reported it
    y = 100 * best.study_accuracy[1]
    ax.axhline(y, color="gray", ls=":", lw=1)
    label = f"the study's best\n(run {best.study_row}), {y:.1f}%"
    ax.annotate(label, (1.005, y), xycoords=("axes fraction", "data"), ha="left", va="center", fontsize=8)
    if other:
        for a in (ax, gx):
            a.axvline(len(lenet) - 0.1, color="gray", lw=0.8)
        ax.text(np.mean(x[: len(lenet)]), 114, "the study's LeNet-5, one ingredient per rung", ha="center", fontsize=9)
        others = "other networks (the CNNs: rung 4's recipe, then their own)"
        ax.text(np.mean(x[len(lenet) :]), 114, others, ha="center", fontsize=9)
    ax.set(ylabel="final accuracy (%); test: all 1,000 test images", ylim=(0, 120))
    ax.set_title("Beyond the study: what each ingredient buys (CIFAR-10, 28x28 gray)", fontsize=10, pad=22)
    ax.legend(fontsize=7.5, loc="lower center", ncols=4, bbox_to_anchor=(0.5, 1.0), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    gaps = np.array([100 * (r["train_acc_mean"] - r["test_acc_mean"]) for r in rows])
    gx.bar(x, gaps, 0.6, color="#7f7f7f")
    for xi, g in zip(x, gaps):
        gx.text(xi, g + 0.5, f"{g:.1f}", ha="center", va="bottom", fontsize=7)
    gx.set(ylabel="train - test (points)", ylim=(0, max(gaps.max() * 1.25, 5)))
    gx.set_title(
        "the train/test gap, train read on augmented batches with dropout on (clean: protocol.png)", fontsize=9
    )
    gx.grid(axis="y", alpha=0.3)
    short = lambda name: name.removeprefix("beyond_").lstrip("0123456789").lstrip("_")  # noqa: E731
    gx.set_xticks(x, [f"{study.RUNS[r['run']].rung}: {short(r['run'])}" for r in rows], rotation=35, ha="right")
    return save_figure(fig, path, tight=True)


def network_points(ax, names, x, y, color, xerr=None, yerr=None) -> None:
    """The runs ``names`` at (x, y) with their error bars: LeNet-5 as circles, other networks as squares."""
    lenet = np.array([study.RUNS[n].arch == "lenet5" for n in names])
    pick = lambda v, keep: None if v is None else np.asarray(v, float)[keep]  # noqa: E731
    for keep, fmt, what in ((lenet, "o", "the study's LeNet-5"), (~lenet, "s", "other networks")):
        if keep.any():
            style = dict(fmt=fmt, color=color, ms=5, capsize=2, label=what)
            ax.errorbar(pick(x, keep), pick(y, keep), xerr=pick(xerr, keep), yerr=pick(yerr, keep), **style)


def plot_cost(ladder: list[dict], params: dict[str, int], path: Path) -> Path:
    """Test accuracy against training time (on the CPUs the panel names) and against the number of weights."""
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.6), sharey=True)
    xs = [[r["train_time_s_mean"] / 60 for r in ladder], [params.get(r["run"]) or np.nan for r in ladder]]
    ys, errs = [100 * r["test_acc_mean"] for r in ladder], [100 * np.nan_to_num(r["test_acc_std"]) for r in ladder]
    for ax, x in zip(axes, xs):
        network_points(ax, [r["run"] for r in ladder], x, ys, SPLIT_COLORS["test"], yerr=errs)
        ax.set_xscale("log")
        ax.margins(x=0.12)  # room for the labels right of the last points
        ax.grid(alpha=0.3, which="both")
    plots.log_labels(axes[0].xaxis, (2, 3, 4, 6, 8))  # minutes as 4, 6, 10, not 4x10^0
    axes[0].set(
        xlabel="training time (minutes, mean over the seeds; log scale)", ylabel="test accuracy (%), 1,000 images"
    )
    cpus = sorted({c for r in ladder for c in r["cpus"]})  # as the tables' CPU column lists them
    rough = " (a rough comparison)" if len(cpus) > 1 or stats.short_cpu(None) in cpus else ""
    axes[0].set_title(f"timed on: {'; '.join(cpus)}{rough}", fontsize=9)
    axes[1].set(xlabel="weights (log scale)")
    axes[1].legend(fontsize=8, loc="lower left")
    what = "test accuracy against training time and against the number of weights"
    fig.suptitle(f"What each rung costs: {what}\n(labels: the rungs; error bars: std over the seeds)", fontsize=10)
    fig.tight_layout()
    for ax, x in zip(axes, xs):
        plots.spread_labels(ax, x, ys, [study.RUNS[r["run"]].rung for r in ladder], yerr=errs)
    return save_figure(fig, path)


def decision_parts(records, chose, decisions) -> list:
    """Each decision on validation beside the one made earlier on seed 0's test accuracy, and where they differ."""
    head = ["rung", "what it adds", "builds on", "val acc", "Δ val", "on validation", "train acc", "training time"]
    rows, made, changed = [], 0, {}
    for d in decisions:
        run, recs = study.RUNS[d["run"]], chose[d["run"]]
        a, b = tested(records, run), tested(records, study.RUNS[d["builds_on"]])
        now, before = (next((r["final"]["test_accuracy"] for r in x if r["seed"] == 0), None) for x in (a, b))
        kept = f"**{'kept' if d['kept'] else 'dropped'}**" + ("" if d["beyond_noise"] else " (within noise)")
        time, then = stats.format_duration(np.mean([r["train_time_s"] for r in recs])), ["-"] * 3
        if now is not None and before is not None:
            made, was = made + 1, now > before
            then = [gap(now - before), "kept" if was else "dropped", "yes" if was == d["kept"] else "**no**"]
        if then[-1] == "**no**":
            test_pick, val_pick = (d["run"], d["builds_on"]) if not d["kept"] else (d["builds_on"], d["run"])
            diff = difference(*compare(a, b, among=records)[:2])
            changed[run.rung] = (
                f"- rung {run.rung}: on the test set `{test_pick}`, on validation `{val_pick}`; "
                f"test accuracy `{d['run']}` {show(a)}, `{d['builds_on']}` {show(b)}: {diff}"
            )
        rows.append(
            [run.rung, f"{run.adds} (`{d['run']}`)", f"`{d['builds_on']}`"]
            + [f"{pct(d['val'])} (seed {stats.seeds(recs)})", f"{gap(d['delta'])} ± {pct(d['se'])}", kept]
            + [pct(final(recs, "train_accuracy")[0]), time, *then]
        )
    beyond = [study.RUNS[d["run"]].rung for d in decisions if d["beyond_noise"]]
    typical = np.mean([d["se"] for d in decisions])
    summary = (
        f"{len(decisions)} decisions on validation; {made} of them were also made earlier on seed 0's test "
        f"accuracy, and validation reverses {len(changed)} ({', '.join(changed) or 'none'}). Beyond noise on "
        f"validation: {', '.join(beyond) or 'none'}; the standard error of a decision's difference is about "
        f"{pct(typical)} points (unpaired, so conservative: both runs are scored on the same images)."
    )
    intro = (
        "The selection effect where validation reverses a decision (test accuracy of both recipes, trained on all "
        "10,000 images; n = the seeds):"
    )
    table = stats.markdown([*head, "Δ test, seed 0 (earlier)", "earlier, on test", "same?"], rows)
    return [table, summary, *([intro, list(changed.values())] if changed else [])]


def view_parts(chose) -> list:
    views = [(n, v) for n in study.RUNS if n in chose and study.RUNS[n].tta and (v := best_views(chose[n]))]
    rows = [
        [f"`{n}`", *(pct(means.get(k)) for k in VIEW_LABELS), f"**{VIEW_LABELS[best]}**"] for n, (best, means) in views
    ]
    intro = (
        "Test-time views, compared on the validation images at each run's end (the run trains the same way "
        "whatever the views; flip = the image and its mirror, x shifts = 10 views):"
    )
    return [intro, stats.markdown(["run", *VIEW_LABELS.values(), "chosen"], rows)] if rows else []


def carried(decisions: list[dict], name: str) -> list[str]:
    """The ingredients validation dropped that the recipe ``name`` still holds: a dropped rung of its chain of
    ``builds_on`` whose changed fields keep the rung's values in ``name`` (airbench, built on CNN-SGD+, sets its
    own label smoothing)."""
    dropped, recipe, held = {d["run"] for d in decisions if not d["kept"]}, study.RUNS[name].identity(), []
    while name:  # down the chain, the recipe's first rung last
        run, name = study.RUNS[name], study.RUNS[name].builds_on
        base = study.RUNS[name].identity() if name else {}
        if run.name in dropped and all(recipe[f] == v for f, v in run.identity().items() if base[f] != v):
            held.insert(0, f"rung {run.rung}'s {run.adds.removeprefix('+ ')}")
    return held


def choice_parts(records, decisions) -> list:
    lines, effect = [], []
    for c in chosen(records):
        test = sorted(tested(records, study.RUNS[c["named"]]), key=lambda r: r["seed"]) if c["named"] else []
        shown = f"`{c['named']}`" if c["named"] else f"`{c['name']}` with views {c['views']} (no named run yet)"
        result, unseen = "not yet trained on all 10,000 images", [r for r in test if r["seed"] != 0]
        if test:  # seed 0: the seed the recipes were first picked on
            se = stats.binomial_se(final(test)[0], stats.images_evaluated(test[0], among=records))
            result = (
                f"test accuracy {show(test)} (seeds {stats.seeds(test)}; the test set's binomial SE {pct(se)} points)"
            )
        result += f"; seeds other than 0, the seed it was first picked on: {show(unseen)}" if unseen else ""
        views = f", views: {VIEW_LABELS[c['views']]}" if c["views"] else ""
        kept = carried(decisions, c["named"] or c["name"])
        still = f"; it still holds {' and '.join(kept)}, which validation dropped" if kept else ""
        lines.append(f"- {c['what']}: {shown}, val acc {pct(c['val'])}% (at these views){views}; {result}{still}.")
        before = study.TEST_CHOSEN[c["key"]]
        if c["named"] != before:  # the selection effect
            old = tested(records, study.RUNS[before])
            diff = difference(*compare(old, test, among=records)[:2]) if test and old else ""
            diff = f", {show(test)}; test-chosen minus validation-chosen {diff}" if diff else ""
            effect.append(
                f"- {c['what']}: chosen on the test set `{before}`, {show(old) if old else 'not trained'}; "
                f"on validation {shown if c['named'] else 'a recipe not yet trained'}{diff}."
            )
    same = "Both choices are the ones made earlier on the test set: no selection effect to measure there."
    intro = "Where validation chose differently from the earlier test-set choice (the selection effect):"
    head = "The choices, and the chosen recipes' test accuracy (trained on all 10,000 images):"
    return [head, lines, *([intro, effect] if effect else [same])]


def write_validation(records: list[dict], out: Path, n_classes: int = 10) -> list[Path]:
    intro = (
        "Generated by `cifar_v2.py --runs beyond --set validation=100` from `results.jsonl`. Each choosing run trains "
        f"on 9,000 training images and is evaluated on the other 1,000 (100 per class, drawn from seed {SPLIT_SEED}, "
        "the same for every run); it never reads the test set. A rung is kept when its validation accuracy is above "
        "that of the run it builds on (within noise: a change under twice the binomial standard error of a difference "
        "on 1,000 images); the chosen recipe is the best validation accuracy over all the candidates. Beside it, the "
        "decision made earlier by looking at seed 0's test accuracy (10,000 training images). Accuracies in percent; "
        f"train acc: the choosing run's, on its 9,000 images. {PM_KEY}"
    )
    chose = choosing_records(records)
    decisions = ladder_decisions(chose, study.VALIDATION * n_classes)
    if not decisions:
        return []
    parts = decision_parts(records, chose, decisions) + view_parts(chose) + choice_parts(records, decisions)
    page = stats.write_page(out / "validation.md", "# Beyond the study: every choice made on validation", intro, *parts)
    return [page, plot_selection(records, chose, out / "selection.png")]


def plot_selection(records: list[dict], chose: dict[str, list[dict]], path: Path) -> Path:
    """Each candidate's validation accuracy (at its own views) against its test accuracy trained on all 10,000."""
    fig, ax = plt.subplots(figsize=(8, 6.5))
    pts = []
    for name, recs in chose.items():
        test = [100 * r["final"]["test_accuracy"] for r in tested(records, study.RUNS[name])]
        if test:
            val = mean_val(recs)
            xerr = 100 * stats.binomial_se(val, stats.images_evaluated(recs[0], "val", records))
            pts.append((100 * val, np.mean(test), xerr, np.std(test, ddof=1) if len(test) > 1 else 0, name))
    if pts:
        x, y, xerr, yerr, names = zip(*pts)
        lo, hi = np.floor(min(x + y) / 5) * 5 - 2, np.ceil(max(x + y) / 5) * 5 + 2
        ax.plot([lo, hi], [lo, hi], color="gray", ls="--", lw=0.8, label="y = x")
        ax.set(xlim=(lo, hi), ylim=(lo, hi))
        network_points(ax, names, x, y, "black", xerr, yerr)
        plots.spread_labels(ax, x, y, [study.RUNS[n].rung for n in names], xerr, yerr)
    ax.set(
        xlabel="validation accuracy (%), 1,000 held-out training images, at the run's own views",
        ylabel="test accuracy (%), all 1,000 test images (trained on 10,000)",
    )
    ax.set_title(
        "The selection effect: each candidate's validation accuracy against its test accuracy\n"
        "(labels: the rungs; bars: the SE of one validation run, the std over the test seeds)",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return save_figure(fig, path)
