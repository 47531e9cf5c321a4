"""The study's 11 runs side by side (``figures/cifar/``: test accuracy, conv std, ramp filters and the train/test gap
over training, ours against the study's), and the confusion matrices, ``classes.md`` and reliability diagrams (the
expected calibration error, ECE; Guo et al. 2017) of the study's best run and of the recipes chosen on validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from common import study
from common.report import beyond, plots, stats
from common.report.claims import RAMP_SHARE
from common.report.plots import LAYER_STYLES, SPLIT_COLORS, band, plt, save_figure, seeds_note
from common.report.stats import curve, mean_std, pct
from common.runs import GRADIENT_R2, expected_calibration_error

# one color per optimizer family, one line style per activation: the 11 runs stay apart on one axis
COLORS = {1: "C0", 2: "C1", 3: "C3", 4: "C2", 5: "C4", 6: "C5", 7: "C6", 8: "C6", 9: "C8", 10: "C9", 11: "#444444"}
# run 8 is run 7 trained twice as long (its first 5,500 iterations are run 7's, batch for batch): same color, dashed
STYLES = {8: "--"}


def _n(groups, spread: str = "lines: the mean") -> str:
    return seeds_note([len(v) for v in groups.values()], spread)


def plot_overlay_test_accuracy(groups: dict[int, list[dict]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(10, 5.5))
    for row, recs in sorted(groups.items()):
        xs, ys = curve(recs, "test_accuracy")
        run = study.RUNS[recs[0]["name"]]
        style = dict(color=COLORS.get(row), ls=STYLES.get(row, "-"), lw=2.2 if run.activation == "sigmoid" else 1.2)
        ax.plot(xs, 100 * ys, label=study.short(run), zorder=3 - row / 20, **style)
    for it in range(study.READ_EVERY, int(ax.get_xlim()[1]) + 1, study.READ_EVERY):
        ax.axvline(it, color="gray", ls=":", lw=0.6)
    ax.axhline(10, color="gray", ls="--", lw=0.8)
    ax.text(ax.get_xlim()[1], 10.5, "chance", ha="right", va="bottom", fontsize=8, color="gray")
    ax.set(xlabel="iteration (batch of 50)", ylabel="test accuracy (%), all 1,000 test images", ylim=(0, 65))
    ax.set_title(
        "The study's 11 runs: test accuracy over training (CIFAR-10, 28x28 gray)\n"
        f"({_n(groups)}; sigmoid drawn thick; dotted: every {study.READ_EVERY:,} iterations, the study's read-outs)",
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="study row (run 8: run 7 continued)")
    return save_figure(fig, path)


def plot_overlay_conv_std(groups: dict[int, list[dict]], path: Path) -> Path:
    """Every run's conv1 and conv2 activation std over iterations (mean over seeds), log x axis, one panel per
    run (eleven runs' colours on one axis could not be told apart), the std at initialization a dot at the left."""
    when = plots.evaluated_when([r for recs in groups.values() for r in recs])
    title = (
        "Claim 8, the study's 11 runs: does the std of the conv activations drop early, then rise?\n"
        f"({_n(groups)}; {when}; dot at the left: the std at initialization)"
    )
    fig, panels = small_multiples(groups, title, "iteration (log scale)", "activation std")
    for row, ax in panels.items():
        for layer in ("conv1", "conv2"):
            xs, ys = curve(groups[row], f"{layer}_std")
            label = f"{layer} (after the nonlinearity), over all test images"
            ax.plot(xs[xs > 0], ys[xs > 0], lw=1.3, label=label, **LAYER_STYLES[layer])
            ax.plot([0.4], ys[:1], "o", ms=3.5, color=LAYER_STYLES[layer]["color"])  # iteration 0, left of 1
        ax.set_xscale("log")
    fig.legend(*ax.get_legend_handles_labels(), loc="center", bbox_to_anchor=(0.87, 0.2), fontsize=8)
    return save_figure(fig, path, tight=True)


def small_multiples(groups: dict[int, list[dict]], title: str, xlabel: str, ylabel: str):
    """A 3x4 grid of panels, one per study row, both axes shared and labelled on the outer panels only."""
    fig, axes = plt.subplots(3, 4, figsize=(14, 8.6), sharex=True, sharey=True)
    panels = dict(zip(sorted(groups), axes.flat))
    for i, (row, ax) in enumerate(panels.items()):
        ax.set_title(study.short(study.RUNS[groups[row][0]["name"]]), fontsize=8)
        ax.grid(alpha=0.3)
        if i >= len(panels) - 4:  # the lowest of its column (the last row may be short)
            ax.set_xlabel(xlabel)
            ax.xaxis.set_tick_params(labelbottom=True)
        if i % 4 == 0:
            ax.set_ylabel(ylabel)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10.5)
    return fig, panels


def plot_ramp_share(groups: dict[int, list[dict]], path: Path) -> Path | None:
    """Claim 7: the share of the 32 conv1 filters that are intensity ramps, over training, one panel per run
    (on one axis the runs that stay at 0 hid each other), with the claim's rule."""
    groups = {k: v for k, v in groups.items() if v and "conv1_gradient_filters" in v[0]["history"][-1]}
    if not groups:
        return None
    title = (
        f"Claim 7: first-layer filters that are intensity ramps (a plane fits with R² >= {GRADIENT_R2}), over "
        f"training\n({_n(groups)}; dashed: the claim's rule, {100 * RAMP_SHARE:.0f}% of the filters)"
    )
    fig, panels = small_multiples(groups, title, "iteration (batch of 50)", "ramp filters (% of 32)")
    for row, ax in panels.items():
        xs, ys = curve(groups[row], "conv1_gradient_filters")
        ax.plot(xs, 100 * ys, color=COLORS.get(row), lw=1.4)  # one run per panel: no line style needed
        ax.axhline(100 * RAMP_SHARE, color="black", ls="--", lw=0.8)
    return save_figure(fig, path, tight=True)


def plot_gap_over_training(groups: dict[int, list[dict]], path: Path) -> Path:
    """The study's overfitting claim as it grows: train and test accuracy over training, the gap shaded, per run."""
    title = (
        "The train/test gap over training, the study's 11 runs (CIFAR-10, 28x28 gray): train accuracy (interval "
        f"mean) above test accuracy,\nthe gap shaded ({_n(groups, 'bands: ± 1 std over seeds')}; final gap in points "
        "in each panel)"
    )
    fig, panels = small_multiples(groups, title, "iteration (batch of 50)", "accuracy (%)")
    for row, ax in panels.items():
        recs = groups[row]
        xs, train, _ = band(ax, recs, "train_accuracy", "train", SPLIT_COLORS["train"], scale=100)
        xt, test, _ = band(ax, recs, "test_accuracy", "test", SPLIT_COLORS["test"], scale=100)
        both = np.intersect1d(xs, xt)
        tr, te = train[np.isin(xs, both)], test[np.isin(xt, both)]
        ax.fill_between(both, te, tr, where=tr >= te, color="0.5", alpha=0.18, lw=0)
        ax.text(0.97, 0.05, f"gap {tr[-1] - te[-1]:+.1f}", transform=ax.transAxes, ha="right", fontsize=8)
        ax.set_ylim(0, 100)
    next(iter(panels.values())).legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 0.12))
    return save_figure(fig, path, tight=True)


def plot_study_scatter(groups: dict[int, list[dict]], path: Path) -> Path:
    """Ours against the study's per run, train and test (a panel each, on its own range), with the y = x line."""
    fig, axes = plt.subplots(1, 2, figsize=(12, 6), layout="constrained")
    for side, (ax, what, marker) in enumerate(zip(axes, ("train", "test"), "os")):
        pts, color = [], SPLIT_COLORS[what]
        for row, recs in sorted(groups.items()):
            mean, std, _ = mean_std([r["final"].get(f"{what}_accuracy") for r in recs])
            pts.append((row, 100 * study.RUNS[recs[0]["name"]].study_accuracy[side], 100 * mean, 100 * std))
        rows, xs, ys, es = (np.array(v) for v in zip(*pts))
        ax.errorbar(xs, ys, yerr=np.nan_to_num(es), fmt=marker, color=color, ms=5, capsize=2, label=f"ours, {what}")
        lo = 5 * np.floor(min(xs.min(), (ys - es).min()) / 5) - 2
        hi = 5 * np.ceil(max(xs.max(), (ys + es).max()) / 5) + 2
        ax.plot([lo, hi], [lo, hi], color="gray", lw=0.8, ls="--", label="y = x (ours = the study's)")
        ax.set(xlim=(lo, hi), ylim=(lo, hi), aspect="equal")
        plots.spread_labels(ax, xs, ys, [str(int(r)) for r in rows], yerr=es)  # close points keep their labels apart
        ax.set(xlabel=f"the study's {what} accuracy (%)", ylabel=f"our {what} accuracy (%)")
        ax.set_title(f"{what} accuracy", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    labels = f"labels: the study's rows; {_n(groups, 'error bar: std over seeds')}"
    fig.suptitle(f"Ours against the study's, its 11 runs ({labels})", fontsize=11)
    return save_figure(fig, path)


def write_confusions(shown: list[tuple[str, str, list[dict]]], class_names, out: Path) -> list[Path]:
    """Per run of ``shown`` (name, title, records), from its seeds' recorded confusion matrices (summed):
    ``confusion_<run>.png``, ``per_class_<run>.png`` and its row of ``classes.md``, against the row above."""
    written, previous, ses, rows, k = [], None, [], [], len(class_names)
    for name, title, recs in shown:
        if not (have := [r for r in recs if "test_confusion" in r["final"]]):
            continue
        mats = [np.asarray(r["final"]["test_confusion"], dtype=float) for r in have]
        ids = ",".join(str(r["seed"]) for r in have)
        seeds = f"seed {ids}" if len(have) == 1 else f"seeds {ids} summed"
        total = sum(mats)
        share = total / total.sum(1, keepdims=True)
        fig, ax = plt.subplots(figsize=(7.5, 6.5))
        im = ax.imshow(100 * share, cmap="Blues", vmin=0, vmax=100)
        for (i, j), v in np.ndenumerate(share):
            ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=7, color="white" if v > 0.5 else "black")
        ax.set_xticks(range(k), class_names, rotation=45, ha="right")
        ax.set_yticks(range(k), class_names)
        ax.set(xlabel="predicted class", ylabel="true class")
        fig.colorbar(im, ax=ax, label="% of the true class's test images")
        ax.set_title(f"{title}: confusion matrix\n({seeds}; {int(total.sum()):,} predictions)", fontsize=10)
        written.append(save_figure(fig, out / f"confusion_{name}.png"))
        each = np.array([np.diag(m) / m.sum(1) for m in mats])
        fig, ax = plt.subplots(figsize=(8, 4.5))
        mean = each.mean(0)
        if len(each) > 1:
            err, what = each.std(0, ddof=1), "error bar: std over seeds"
        else:  # one seed: the noise of ~100 test images per class, the binomial SE of each class's accuracy
            n_class = mats[0].sum(1)
            err, what = np.sqrt(mean * (1 - mean) / n_class), f"error bar: binomial SE of {int(n_class.mean())} images"
        ax.bar(range(k), 100 * mean, yerr=100 * err, capsize=3, color="C0")
        overall = float(np.mean([np.trace(m) / m.sum() for m in mats]))
        ax.axhline(100 * overall, color="C3", ls="--", lw=1, label=f"all classes: {100 * overall:.1f}%")
        ax.set_xticks(range(k), class_names, rotation=30, ha="right")
        ax.set(ylabel="test accuracy of the class (%)", ylim=(0, 100))
        ax.set_title(f"{title}: accuracy per class\n({seeds_note([len(each)], what, single='; ' + what)})", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
        written.append(save_figure(fig, out / f"per_class_{name}.png"))
        per = np.diag(total) / total.sum(1)  # the classes' accuracies, the seeds pooled
        share -= np.diag(per)  # the confusions alone
        ses += [stats.binomial_se(p, n / len(mats)) for p, n in zip(per, total.sum(1))]
        listed = lambda idx: ", ".join(f"{class_names[i]} {pct(per[i], 0)}" for i in idx)  # noqa: E731
        top = np.dstack(np.unravel_index(np.argsort(-share, axis=None)[:3], share.shape))[0]
        mixed = ", ".join(f"{class_names[t]} as {class_names[p]} {pct(share[t, p], 0)}" for t, p in top)
        gains = "-"
        if previous is not None:
            d = per - previous
            gains = f"better on {int(np.sum(d > 0))} of {len(d)}; most: " + ", ".join(
                f"{class_names[i]} {stats.gap(d[i], 0)}" for i in np.argsort(-d)[:3]
            )
        weak, strong = listed(np.argsort(per)[:3]), listed(np.argsort(-per)[:3])
        rows.append([f"`{name}`", ids, pct(np.trace(total) / total.sum()), weak, strong, mixed, gains])
        previous = per
    if not rows:
        return written
    head = ["run", "seeds", "test acc", "weakest", "strongest", "largest confusions", "over the row above"]
    intro = (
        "Generated by `cifar_v2.py` from `results.jsonl`: each run's confusion matrix summed over the seeds that "
        "recorded one (`confusion_<run>.png`, `per_class_<run>.png`); accuracies in percent of the class's test "
        "images; a confusion is the share of a true class predicted as another."
    )
    noise = (
        f"Each class has about 100 test images: its accuracy's binomial standard error is {pct(min(ses), 0)}-"
        f"{pct(max(ses), 0)} points (the error bars of `per_class_<run>.png`)."
    )
    title = "# Which classes: the study's best run and the recipes chosen on validation"
    return [*written, stats.write_page(out / "classes.md", title, intro, stats.markdown(head, rows), noise)]


def write_reliability(shown: list[tuple[str, str, list[dict]]], out: Path) -> list[Path]:
    """A reliability diagram per run of ``shown`` (name, title, records), its seeds' tables summed bin by bin."""
    panels = [([r for r in recs if "test_reliability" in r["final"]], title) for _, title, recs in shown]
    panels = [(recs, title) for recs, title in panels if recs]
    if not panels:
        return []
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 5), squeeze=False)
    for ax, (recs, title) in zip(axes[0], panels):
        tables = [r["final"]["test_reliability"] for r in recs]
        ece = mean_std([expected_calibration_error(t) for t in tables])
        t = {k: np.sum([table[k] for table in tables], axis=0) for k in ("count", "confidence_sum", "correct")}
        bins = tables[0]["bins"]
        edges = np.linspace(0, 1, bins + 1)
        count = np.asarray(t["count"], dtype=float)
        have = count > 0
        acc, conf = (t[k][have] / count[have] for k in ("correct", "confidence_sum"))
        style = dict(
            align="edge", color=SPLIT_COLORS["test"], alpha=0.8, edgecolor="white", label="accuracy in the bin"
        )
        ax.bar(100 * edges[:-1][have], 100 * acc, 100 / bins, **style)  # in percent: each bin 100 / bins wide
        ax.plot(100 * conf, 100 * acc, "k.", ms=4, label="(mean confidence, accuracy) of the bin")
        ax.plot([0, 100], [0, 100], color="gray", ls="--", lw=0.8, label="perfect calibration")
        share = ax.twinx()
        shares = 100 * count / count.sum()
        share.step(100 * edges, np.append(shares, shares[-1]), where="post", color="black", lw=1.2)  # to the last edge
        share.set(ylim=(0, 100), ylabel="test images in the bin (%)")
        seeds = f"seed{'s' if len(recs) > 1 else ''} {stats.seeds(recs)}"
        spread = f" ± {100 * ece[1]:.1f}" if len(recs) > 1 else ""
        ax.set_title(f"{title}\nECE {100 * ece[0]:.1f}{spread} points ({seeds})", fontsize=9)
        ax.set(xlim=(0, 100), ylim=(0, 100), xlabel="confidence: top-class probability (%)", ylabel="accuracy (%)")
        ax.grid(alpha=0.3)
    steps = plt.Line2D([], [], color="black", lw=1.2, label="test images in the bin (right axis)")
    axes[0][0].legend(handles=[*axes[0][0].get_legend_handles_labels()[0], steps], fontsize=7.5, loc="upper left")
    pooled = max(len(r) for r, _ in panels) > 1
    how = "each panel's seeds pooled; ECE: mean ± std over them" if pooled else "one seed per run (in each title)"
    fig.suptitle(
        f"Calibration on the test set: reliability diagrams, {bins} equal bins of the top-class probability\n"
        f"({how}; ECE: the images' weighted |accuracy - confidence| gap)",
        fontsize=9.5,
    )
    return [save_figure(fig, out / "reliability.png", tight=True)]


def write_overview(records: list[dict], out: Path, class_names) -> list[Path]:
    """Every figure above into ``out``, and the confusions, classes and reliability of the study's best run and of the
    recipes beyond it chosen on validation and, where it chose another, first chosen on test."""
    groups = {row: stats.finished(recs) for row, recs in stats.study_rows(records).items()}
    made = []
    if groups:
        made += [
            plot_overlay_test_accuracy(groups, out / "overlay_test_accuracy.png"),
            plot_overlay_conv_std(groups, out / "overlay_conv_std.png"),
            plot_ramp_share(groups, out / "ramp_share.png"),
            plot_gap_over_training(groups, out / "train_test_gap.png"),
            plot_study_scatter(groups, out / "study_scatter.png"),
        ]
    best = next(name for name, run in study.RUNS.items() if run.rung == "0")
    shown = [(best, f"The study's best run (row {study.RUNS[best].study_row})")]
    for c in beyond.chosen(records):  # the recipe chosen on validation, and the one first picked on test if other
        what, before = c["what"][:1].upper() + c["what"][1:], study.TEST_CHOSEN[c["key"]]
        if c["named"] and c["named"] != before:
            shown.append((c["named"], f"{what}, chosen on validation ({c['named']})"))
        how = "validation" if c["named"] == before else "seed 0's test accuracy"
        shown.append((before, f"{what}, chosen on {how} ({before})"))
    shown = [(name, title, beyond.tested(records, study.RUNS[name])) for name, title in shown]
    made += write_confusions(shown, class_names, out)
    return [p for p in made + write_reliability(shown, out) if p]
