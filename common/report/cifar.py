"""Task 1's report, from the results index: each run's figures, the sweep's summary against the study, and
the improvement ladder. Which rows a table shows follows the run definitions (``common.study``): the study's
11 rows in ``summary.md``, every run with a ``rung`` in ``beyond/ladder.md``, each in the order of
``study.RUNS``; a run changed with ``--set`` is a row of its own, its changes beside its name."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
from matplotlib.ticker import FuncFormatter

from common import io, runs, selection, study
from common.data import SPLIT_SEED
from common.metrics import CONV_LAYERS, GRADIENT_R2, HIST_IMAGES, VIEW_CANDIDATES, plane_r2
from common.report import claims, overview
from common.report.plots import (
    band,
    bars_note,
    evaluated_when,
    grouped_bars,
    image_grid,
    plt,
    save_figure,
    seeds_note,
)
from common.report.speed import write_fast_settings
from common.report.stats import binomial_se, compare, mean_std
from common.report.tables import csv_text, format_duration, gap, pct, pm, show

STATS = ("min", "max", "mean", "std")


# ---------------------------------------------------------------------------
# Each run's figures, from its seeds' records
def held_out(record: dict) -> bool:
    """A run that chose on validation: it evaluated the held-out training images, never the test set."""
    return any("val_accuracy" in h for h in record["history"])


def plot_curves(records, title: str, path, reference: tuple[float, float] | None = None, l2: bool = False) -> Path:
    """Train/test accuracy and loss against iterations; the study's numbers dashed."""
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    # a run that chooses on validation records the held-out training images, never the test set
    held = held_out(records[0])
    split, what = ("val", "validation (held-out training images)") if held else ("test", "test (all test images)")
    band(ax_acc, records, "train_accuracy", "train (interval mean)", "C0")
    band(ax_acc, records, f"{split}_accuracy", what, "C1")
    if reference:
        for value, what, color in zip(reference, ("train", "test"), ("C0", "C1")):
            ax_acc.axhline(value, color=color, ls="--", lw=1, label=f"study's {what} accuracy")
    ax_acc.set(
        xlabel="iteration (batch)", ylabel="accuracy", ylim=(0, 1), title=f"accuracy ({seeds_note([len(records)])})"
    )
    ax_acc.grid(alpha=0.3)
    ax_acc.legend(fontsize=8, loc="best")
    # the cross-entropy where every evaluation recorded it (a run resumed across the version that added it has
    # it only for its last part: its optimized loss is drawn instead)
    if all(all("train_ce" in h for h in r["history"] if h["iteration"]) for r in records):
        # the cross-entropy alone, comparable with the test cross-entropy; the optimized loss (with the L2
        # penalty, or label smoothing) beside it, dashed
        band(ax_loss, records, "train_ce", "train cross-entropy (interval mean)", "C0")
        band(ax_loss, records, "train_loss", "train loss as optimized" + (" (+ L2 penalty)" if l2 else ""), "C2")
        ax_loss.lines[-1].set_linestyle("--")
    else:  # runs recorded before the cross-entropy was: their loss is all there is, said so
        band(ax_loss, records, "train_loss", "train loss (interval mean" + (", incl. L2 penalty)" if l2 else ")"), "C0")
    band(ax_loss, records, f"{split}_loss", what.split(" (")[0] + " cross-entropy", "C1")
    ax_loss.set_yscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # 2, 3, 10 rather than 2x10^0
    ax_loss.yaxis.set_major_formatter(plain)
    # minor labels at 2, 3 and 5 times a decade only: all nine overprint each other next to the decade's label
    ax_loss.yaxis.set_minor_formatter(
        FuncFormatter(lambda v, _: f"{v:g}" if round(v / 10 ** math.floor(math.log10(v))) in (2, 3, 5) else "")
    )
    ax_loss.set(xlabel="iteration (batch)", ylabel="loss (log scale)", title="loss")
    ax_loss.grid(alpha=0.3, which="both")
    ax_loss.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def probe_labels(record: dict, arch: str) -> dict[str, str]:
    """What each statistic's layer is, for the legends: the LeNet-5's conv outputs after the nonlinearity; the
    VGG-style CNN's after batch norm and ReLU where the run recorded them there (``conv_probes``), and before
    batch norm and ReLU in runs recorded by earlier versions. Its conv2 is the second stage's first conv."""
    if arch == "lenet5":
        return {n: f"{n} (after the nonlinearity)" for n in CONV_LAYERS}
    which = {"conv1": "the 1st conv", "conv2": "the 3rd conv (stage 2's first)"}
    after = "conv_probes" in record["final"]
    return {n: f"{n}: {which[n]}, " + ("after BN + ReLU" if after else "before BN and ReLU") for n in CONV_LAYERS}


def plot_activation_stats(records, title, path, read_every: int, arch: str = "lenet5") -> Path:
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    names = probe_labels(records[0], arch)
    for ax, stat in zip(axes, STATS):
        for k, name in enumerate(CONV_LAYERS):
            band(ax, records, f"{name}_{stat}", names[name], f"C{k}")
        for it in range(read_every, max(h["iteration"] for h in records[0]["history"]) + 1, read_every):
            ax.axvline(it, color="0.6", lw=0.6, ls=":")
        ax.set_xscale("symlog", linthresh=1, linscale=0.3)  # log from 1 on; iteration 0 (the initialization) kept
        ax.set_xlim(left=0)
        ax.set(title=stat, xlabel="iteration (batch; log scale, 0 = initialization)", ylabel=f"activation {stat}")
        ax.grid(alpha=0.3, which="both")
    handles, labels = axes[0].get_legend_handles_labels()  # one legend under the panels: never over a curve
    fig.legend(handles, labels, loc="lower center", ncols=2, fontsize=9, bbox_to_anchor=(0.5, -0.08))
    fig.suptitle(
        f"{title}\n({seeds_note([len(records)])}; {evaluated_when(records)}; dotted: every {read_every:,} "
        "iterations, where the study read TensorBoard)"
    )
    fig.tight_layout()
    return save_figure(fig, path)


def plot_activation_histograms(record, title, path, read_every: int, n_snapshots: int = 7, arch: str = "lenet5"):
    """Each conv layer's activation distribution at the study's read-out iterations (multiples of
    ``read_every``, plus the start and the end), earliest (dark) to latest (yellow)."""
    recorded = [h for h in record["history"] if "conv1_hist" in h]
    if not recorded:
        return None
    picks = [h for h in recorded if h["iteration"] % read_every == 0 or h is recorded[-1]]
    if len(picks) > n_snapshots:
        picks = [picks[i] for i in sorted(set(np.linspace(0, len(picks) - 1, n_snapshots).round().astype(int)))]
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    names = probe_labels(record, arch)
    for ax, name in zip(axes, CONV_LAYERS):
        for j, h in enumerate(picks):
            edges, counts = np.asarray(h[f"{name}_hist"]["edges"]), np.asarray(h[f"{name}_hist"]["counts"])
            density = counts / max(counts.sum(), 1) / np.diff(edges)
            ax.stairs(
                density, edges, color=cmap(j / max(len(picks) - 1, 1)), lw=1.4, label=f"iteration {h['iteration']}"
            )
        ax.set_yscale("log")
        ax.set(
            title=f"{names[name]}\n({HIST_IMAGES} {'validation' if held_out(record) else 'test'} images)",
            xlabel="activation value",
            ylabel="density (log scale)",
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{title}\n(seed {record['identity']['seed']})")
    fig.tight_layout()
    return save_figure(fig, path)


# One symmetric gray scale for every LeNet-5 filters figure, so that two runs' figures compare filters, not
# scales: the trained runs' largest |weight| ranged 0.25-1.0 (figures before this scale); weights beyond it clip
FILTER_SCALE = 0.5


def plot_filters(model, seed: int, run_title: str, path, scale: float | None = FILTER_SCALE):
    """The conv1 filters on one symmetric scale (``FILTER_SCALE`` for gray 5x5 filters, shared by every run;
    ``None``: the run's own largest |weight|): gray for a gray network, RGB for a color one. The intensity ramps
    (a plane fits with R^2 >= 0.5: claim 7) are framed in red."""
    kernel = np.asarray(model.get_layer("conv1").kernel)  # (k, k, channels, maps)
    filters = np.moveaxis(kernel, -1, 0)  # (maps, k, k, channels)
    if not np.all(np.isfinite(filters)):
        return None
    m, k = float(np.abs(filters).max()), filters.shape[1]  # k: 5 in the LeNet-5, 3 in the VGG-style CNNs
    ramps = plane_r2(kernel) >= GRADIENT_R2
    labels = [f"{i}" + (" ramp" if r else "") for i, r in enumerate(ramps)]
    note = f"red frame: an intensity ramp (plane R² >= {GRADIENT_R2}), {int(ramps.sum())} of {len(ramps)}"
    if filters.shape[-1] == 3:  # color filters as RGB: 0.5 + w / (2 max|w|) per channel, zero mid gray
        title = f"conv1 filters ({k}x{k}, RGB 0.5 + w / (2 max|w|), max|w| {m:.3g}; mid gray = 0), seed {seed}"
        return image_grid(
            0.5 + filters / (2 * m), path, f"{title}\n{note}\n{run_title}", vmin=0, vmax=1, labels=labels, marked=ramps
        )
    if scale is None or k != 5:  # the VGG's 3x3 filters (after batch norm's rescaling) have a scale of their own
        scale, what = m, f"its own symmetric scale, ±{m:.3g}"
    else:
        what = f"the scale every LeNet-5 run shares, ±{scale:g}" + (f"; clipped, max|w| {m:.3g}" if m > scale else "")
    title = f"conv1 filters ({k}x{k}, {what}), seed {seed}"
    return image_grid(
        filters[..., 0],
        path,
        f"{title}\n{note}\n{run_title}",
        vmin=-scale,
        vmax=scale,
        labels=labels,
        colorbar_label="weight",
        marked=ramps,
    )


def plot_filters_init_vs_trained(run: study.RunConfig, model, record: dict, run_title: str, path):
    """The conv1 filters at initialization (redrawn: the same seed and builder as the run's, checked against the
    plane fit the run recorded at iteration 0) above the trained ones, on one symmetric scale, the intensity
    ramps framed (claim 7: how many the training made)."""
    from common import backend, models

    seed = record["identity"]["seed"]
    trained = np.asarray(model.get_layer("conv1").kernel)
    if trained.shape[2] != 1 or not np.all(np.isfinite(trained)):
        return None  # gray filters only: a color network's filters have figures of their own
    backend.seed_everything(seed)
    fresh = models.build_model(run, model.outputs[0].shape[-1], tuple(model.inputs[0].shape[1:]))
    init = np.asarray(fresh.get_layer("conv1").kernel)
    at0 = record["history"][0].get("conv1_filter_plane_r2")
    if at0 is None or not np.isclose(float(plane_r2(init).mean()), at0, rtol=1e-6):
        return None  # not the run's initialization (another builder or version): no figure rather than a wrong one
    scale = FILTER_SCALE if trained.shape[0] == 5 else float(max(np.abs(init).max(), np.abs(trained).max()))
    both = np.concatenate([np.moveaxis(init, -1, 0), np.moveaxis(trained, -1, 0)])[..., 0]
    ramps = np.concatenate([plane_r2(init), plane_r2(trained)]) >= GRADIENT_R2
    n = init.shape[-1]
    labels = [f"{'init' if i < n else 'trained'} {i % n}" for i in range(2 * n)]
    # how far training moved each filter: its correlation with its own start, against other filters' starts
    r = np.corrcoef(init.reshape(-1, n).T, trained.reshape(-1, n).T)[:n, n:]
    own, other = np.median(np.diag(r)), np.median(np.abs(r[~np.eye(n, dtype=bool)]))
    title = (
        f"conv1 filters at initialization (rows 1-{max(1, n // 16)}) and trained (the rest), one scale ±{scale:.3g}, "
        f"seed {seed}\nred frame: an intensity ramp (plane R² >= {GRADIENT_R2}): {int(ramps[:n].sum())} of {n} at "
        f"initialization, {int(ramps[n:].sum())} trained; a trained filter's correlation with its own start: "
        f"median {own:.2f} (|r| with the other starts: {other:.2f})\n{run_title}"
    )
    return image_grid(
        both, path, title, ncols=16, vmin=-scale, vmax=scale, labels=labels, colorbar_label="weight", marked=ramps
    )


def figure_folder(out: Path, name: str, overrides: dict | None) -> Path:
    """``<out>/<run>``, or for a run changed with --set ``<out>/<run>@dropout=0.3``: never the committed one's.
    A run that chooses on validation (``validation`` set) has its figures under ``<out>/validation/``."""
    overrides = dict(overrides or {})
    base = Path(out) / "validation" if overrides.pop("validation", 0) else Path(out)
    return base / (name + "".join(f"@{c}" for c in study.changes(overrides)))


def write_run_figures(
    run: study.RunConfig, records: list[dict], out_dir: Path, runs_dir: Path, read_every: int, study_data: bool
) -> list[Path]:
    """The figures of one configuration, from its seeds' records; the filters from the lowest
    seed's saved model where the runs folder has it (else the committed figure stays)."""
    status = {r["status"] for r in records}
    flag = "" if status == {"finished"} else " [" + "/".join(sorted(s.upper() for s in status)) + "]"
    title = f"{study.label(run.name, records[0].get('overrides'))}{flag}: {run.describe()}"
    reference = run.study_accuracy if study_data else None
    # the curves on the run's own evaluation grid: a dense early rerun's single-batch train numbers are noise there
    # (and it records train_ce, which runs made before that metric lack after its end)
    every = records[0]["identity"]["eval_every"]
    grid = [{**r, "history": [h for h in r["history"] if h["iteration"] % every == 0]} for r in records]
    written = [plot_curves(grid, title, out_dir / "curves.png", reference=reference, l2=bool(run.l2))]
    # the VGG's statistics where its seeds read the same layers: after BN + ReLU where any seed recorded that
    # (``conv_probes``), else before them (runs recorded by earlier versions); never the two in one band
    stats = [r for r in records if "conv_probes" in r["final"]] or records if run.arch != "lenet5" else records
    if any("conv1_mean" in h for h in stats[0]["history"]):
        written.append(
            plot_activation_stats(
                stats,
                f"conv activation statistics on the {'validation' if held_out(stats[0]) else 'test'} images\n{title}",
                out_dir / "activation_stats.png",
                read_every,
                run.arch,
            )
        )
        written.append(
            plot_activation_histograms(
                stats[0],
                f"conv activation histograms\n{title}",
                out_dir / "activation_histograms.png",
                read_every,
                arch=run.arch,
            )
        )
    first = records[0]
    model_path = runs.run_folder(runs_dir, run.name, first["identity"]) / "model.keras"
    if model_path.exists():
        model = io.load_model(model_path, compile=False)
        written.append(plot_filters(model, first["identity"]["seed"], title, out_dir / "filters.png"))
        written.append(plot_filters_init_vs_trained(run, model, first, title, out_dir / "filters_init_vs_trained.png"))
    return [p for p in written if p is not None]


# ---------------------------------------------------------------------------
# The summary: every configuration in the results index, the current ones first.
SUMMARY_FIELDS = (
    "row",
    "run",
    "identity",
    "current",
    "seeds",
    "n",
    "status",
    "iterations",
    "train_acc_mean",
    "train_acc_std",
    "test_acc_mean",
    "test_acc_std",
    "test_acc_binomial_se",
    "best_test_acc_mean",
    "study_train_acc",
    "study_test_acc",
    "train_gap",
    "test_gap",
    "train_time_s_mean",
    "images_per_s_mean",
)


def summary_rows(records: list[dict], current: dict[str, set[str]], study_fingerprint: str | None, n_test: int):
    """One row per (run, identity without seed): mean and std over its seeds, the test set's own binomial
    standard error and, for the study's data, the study's numbers and our gaps to them. ``current``: run
    name -> the group ids this command's settings give it (the plain run, and any --set variant)."""
    rows = []
    for (name, gid), recs in runs.groups(records).items():
        cfg = recs[0]["identity"]["config"]
        run = study.RUNS.get(name)
        finished = [r for r in recs if r["status"] == "finished"]
        train = mean_std([r["final"].get("train_accuracy") for r in finished])
        test = mean_std([r["final"].get("test_accuracy") for r in finished])
        best = mean_std([r["best_test_accuracy"] for r in finished])
        is_study = study_fingerprint is not None and study_fingerprint == recs[0]["identity"]["data"]["fingerprint"]
        ref = run.study_accuracy if run and is_study else None
        overrides = recs[0].get("overrides")
        rows.append(
            {
                "row": run.study_row if run else None,
                "run": name,
                "label": study.label(name, overrides),
                "overridden": bool(overrides),
                "identity": runs.identity_label(recs[0]["identity"]),
                "current": gid in current.get(name, ()),
                "seeds": ",".join(str(r["identity"]["seed"]) for r in recs),
                "n": len(finished),
                "status": "/".join(sorted({r["status"] for r in recs})),
                "iterations": cfg["iterations"],
                "train_acc_mean": train[0],
                "train_acc_std": train[1],
                "test_acc_mean": test[0],
                "test_acc_std": test[1],
                "test_acc_binomial_se": binomial_se(test[0], n_test),
                "best_test_acc_mean": best[0],
                "study_train_acc": ref[0] if ref else None,
                "study_test_acc": ref[1] if ref else None,
                "train_gap": train[0] - ref[0] if ref else None,
                "test_gap": test[0] - ref[1] if ref else None,
                "train_time_s_mean": mean_std([r["train_time_s"] for r in recs])[0],
                "images_per_s_mean": mean_std([r["images_per_sec"] for r in recs])[0],
            }
        )
    order = {n: i for i, n in enumerate(study.RUNS)}
    return sorted(
        rows,
        key=lambda r: (not r["current"], r["overridden"], order.get(r["run"], len(order)), r["run"], r["identity"]),
    )


def write_summary(rows: list[dict], out_dir: Path, dataset_label: str, study_data: bool) -> list[Path]:
    io.write_text(out_dir / "summary.csv", csv_text(rows, SUMMARY_FIELDS, nan="nan"))
    # the ladder's rungs above rung 0 (and the CNNs) have a table of their own, beyond/ladder.md
    in_ladder = lambda r: r["run"] in study.RUNS and study.RUNS[r["run"]].group == "beyond"
    ladder = [r for r in rows if r["current"] and in_ladder(r) and not r["overridden"]]
    current = [r for r in rows if r["current"] and not in_ladder(r)]
    lines = [
        f"# {dataset_label}: the LeNet-5 sweep" + (" against the study" if study_data else ""),
        "",
        "Generated by `cifar_v2.py` from `results.jsonl` (every finished run found in the runs folder). "
        "Accuracies in percent: mean ± sample std over the seeds; SE = the binomial standard error "
        "of one accuracy on the test set, sqrt(p(1-p)/n), the noise of the test set itself. Train accuracy "
        "is the mean over the last evaluation interval's batches (as the study's curves); test "
        "accuracy is on every test image at the end of the run (never the best of its evaluations: that "
        "would be a choice made on the test set; `summary.csv` keeps it as `best_test_acc_mean`).",
        "",
    ]
    header = (
        "| # | run | seeds | iterations | train acc | test acc | SE "
        + ("| study train | study test | train gap | test gap " if study_data else "")
        + "| train time | images/s | identity |"
    )
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    for r in current:
        lines.append(
            f"| {r['row'] or ''} | `{r['label']}`{' (' + r['status'] + ')' if r['status'] != 'finished' else ''} "
            f"| {r['seeds']} | {r['iterations']} | {pm(r['train_acc_mean'], r['train_acc_std'])} "
            f"| {pm(r['test_acc_mean'], r['test_acc_std'])} | {pct(r['test_acc_binomial_se'])} "
            + (
                f"| {pct(r['study_train_acc'], 0)} | {pct(r['study_test_acc'])} | {gap(r['train_gap'])} "
                f"| {gap(r['test_gap'])} "
                if study_data
                else ""
            )
            + f"| {format_duration(r['train_time_s_mean'])} | {r['images_per_s_mean']:,.0f} | {r['identity']} |"
        )
    if study_data:  # over the study's rows as defined (a --set variant is an experiment, not the reproduction)
        gaps = [r for r in current if not r["overridden"] and r["test_gap"] is not None and np.isfinite(r["test_gap"])]
        if gaps:
            lines += [
                "",
                f"Mean absolute gap to the study over the {len(gaps)} current runs: train "
                f"{100 * np.mean([abs(r['train_gap']) for r in gaps]):.1f} points, test "
                f"{100 * np.mean([abs(r['test_gap']) for r in gaps]):.1f} points; "
                f"{sum(abs(r['test_gap']) <= 0.03 for r in gaps)} of {len(gaps)} runs within 3 test points.",
            ]
    if ladder:
        lines += ["", f"The improvement ladder's {len(ladder)} run(s) are tabled in `beyond/ladder.md`."]
    others = len(rows) - len(current) - len([r for r in rows if r["current"] and in_ladder(r)])
    if others:
        lines += [
            "",
            f"The results index also holds {others} other configuration(s) (other constants, lengths, data "
            "or backends; e.g. the calibration's): every one is a row of `summary.csv`.",
        ]
    io.write_text(out_dir / "summary.md", "\n".join(lines) + "\n")

    nan = float("nan")
    if study_data:  # the figure compares with the study: its rows only (the ladder has a figure of its own)
        current = [r for r in current if r["row"]]

    def name(r):  # the study's rows as a reader names them; other runs by their names
        run = study.RUNS.get(r["run"])
        text = overview.short(run) if run and run.study_row and not r["overridden"] else r["label"]
        return text + (" (diverged)" if "diverged" in r["status"] else "")

    labels = [name(r) for r in current]
    series = {
        "ours: train": ([r["train_acc_mean"] for r in current], [r["train_acc_std"] for r in current]),
        "ours: test": ([r["test_acc_mean"] for r in current], [r["test_acc_std"] for r in current]),
    }
    colors = ["#1f77b4", "#d62728"]
    if study_data:
        series = {
            "ours: train": series["ours: train"],
            "study: train": ([r["study_train_acc"] or nan for r in current], [nan] * len(current)),
            "ours: test": series["ours: test"],
            "study: test": ([r["study_test_acc"] or nan for r in current], [nan] * len(current)),
        }
        colors = ["#1f77b4", "#9ecae1", "#d62728", "#fcae91"]
    path = grouped_bars(
        labels,
        series,
        out_dir / "summary.png",
        f"{dataset_label}: final accuracy" + (", ours vs the study's" if study_data else ""),
        "final accuracy (%)",
        colors=colors,
        ylim=(0, 1.12),
        note="ours: " + bars_note(sorted({r["n"] for r in current})),
    )
    return [out_dir / "summary.csv", out_dir / "summary.md", path]


# ---------------------------------------------------------------------------
# The improvement ladder
def write_ladder(rows: list[dict], records: list[dict], out: Path) -> list[Path]:
    """Every run with a ``rung`` (in the order of ``study.RUNS``): what each ingredient buys on the test set,
    and what it does to the train/test gap (the study's diagnosis was overfitting)."""
    by_name = {r["run"]: r for r in rows if r["current"] and not r.get("overridden")}
    ladder = [by_name[n] for n, run in study.RUNS.items() if run.rung is not None and n in by_name and by_name[n]["n"]]
    if len(ladder) < 2:
        return []
    params = {r["name"]: r.get("num_params") for r in records}
    lines = [
        "# Beyond the study: the improvement ladder",
        "",
        "Generated by `cifar_v2.py --runs beyond` from `results.jsonl`. Each rung adds one ingredient to "
        "the run it builds on (the CNN rows are different networks with rung 4's recipe). Accuracies in "
        "percent, mean ± std over the seeds; gap = train - test accuracy; Δ test = the change from the run it "
        "builds on (`common/study.py`: each run's `builds_on`). These rungs and networks were chosen by looking "
        "at seed 0's test accuracy; `validation.md` remakes every choice on a validation split.",
        "",
        "| rung | what it adds | params | iterations | seeds | train acc | test acc | gap | Δ test | training time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in ladder:
        run = study.RUNS[r["run"]]
        prev = by_name.get(run.builds_on) if run.builds_on else None
        delta = "-" if not prev or not prev["n"] else gap(r["test_acc_mean"] - prev["test_acc_mean"])
        lines.append(
            f"| {run.rung} | {run.adds} (`{r['run']}`) | {params.get(r['run']) or 0:,} "
            f"| {r['iterations']} | {r['seeds']} | {pm(r['train_acc_mean'], r['train_acc_std'])} "
            f"| {pm(r['test_acc_mean'], r['test_acc_std'])} | {100 * (r['train_acc_mean'] - r['test_acc_mean']):.1f} "
            f"| {delta} | {format_duration(r['train_time_s_mean'])} |"
        )
    out.mkdir(parents=True, exist_ok=True)
    io.write_text(out / "ladder.md", "\n".join(lines) + "\n")
    return [out / "ladder.md", plot_ladder(ladder, out / "ladder.png")]


# The targets for the runs beyond the study (3 seeds, chosen on validation): the study's LeNet-5, and
# the best network within 15 minutes of training on this CPU; the study's own best (run 7) for reference
TARGETS = {"LeNet-5 target": (0.72, "lenet5"), "best-network target": (0.84, None)}


def plot_ladder(ladder: list[dict], path: Path) -> Path:
    """Two panels: train and test accuracy per rung (the LeNet-5 rungs, then the other networks, apart), with
    the study's best run and the targets as lines and single-seed bars hatched; and the train - test gap."""
    lenet = [r for r in ladder if study.RUNS[r["run"]].arch == "lenet5"]
    other = [r for r in ladder if study.RUNS[r["run"]].arch != "lenet5"]
    rows = lenet + other
    x = np.concatenate([np.arange(len(lenet)), len(lenet) + 0.8 + np.arange(len(other))])
    names = [f"{study.RUNS[r['run']].rung}" for r in rows]
    fig, (ax, gx) = plt.subplots(2, 1, figsize=(max(9, 0.75 * len(rows) + 3), 8.5), height_ratios=(2.2, 1), sharex=True)
    width = 0.38
    for shift, key, color, what in ((-width / 2, "train", "#1f77b4", "train"), (width / 2, "test", "#d62728", "test")):
        vals = np.array([100 * r[f"{key}_acc_mean"] for r in rows])
        errs = np.array([100 * r[f"{key}_acc_std"] for r in rows])
        single = np.array([r["n"] == 1 for r in rows])
        ax.bar(x[~single] + shift, vals[~single], width, color=color, label=f"{what} (3 seeds: mean, error bar std)")
        ax.bar(
            x[single] + shift, vals[single], width, color="white", edgecolor=color, hatch="///", label=f"{what}, 1 seed"
        )
        ok = ~single & np.isfinite(errs)
        ax.errorbar(x[ok] + shift, vals[ok], yerr=errs[ok], fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
        for xi, v, e in zip(x + shift, vals, np.where(single, 0, np.nan_to_num(errs))):
            ax.text(xi, v + e + 0.8, f"{v:.1f}", ha="center", va="bottom", fontsize=6.5, rotation=90)
    study_best = study.RUNS["relu_adam_normal_dropout_l2"].study_accuracy[1]
    ax.axhline(100 * study_best, color="gray", ls=":", lw=1)
    right = dict(xycoords=("axes fraction", "data"), ha="left", va="center", fontsize=8)  # beside the axes
    ax.annotate(f"the study's best\n(run 7), {100 * study_best:.1f}%", (1.005, 100 * study_best), **right)
    for label, (value, _) in TARGETS.items():
        ax.axhline(100 * value, color="black", ls="--", lw=0.8)
        ax.annotate(f"{label},\n{100 * value:.0f}%", (1.005, 100 * value), **right)
    if other:
        for a in (ax, gx):
            a.axvline(len(lenet) - 0.1, color="gray", lw=0.8)
        ax.text(np.mean(x[: len(lenet)]), 112, "the study's LeNet-5, one ingredient per rung", ha="center", fontsize=9)
        ax.text(np.mean(x[len(lenet) :]), 112, "other networks, rung 4's recipe", ha="center", fontsize=9)
    ax.set(ylabel="final accuracy (%), test: all 1,000 test images", ylim=(0, 118))
    ax.set_title(
        "Beyond the study: what each ingredient buys (CIFAR-10, 28x28 gray; rungs chosen earlier on seed 0's test "
        "accuracy)",
        fontsize=10,
    )
    ax.legend(fontsize=7.5, loc="lower left", ncols=2)
    ax.grid(axis="y", alpha=0.3)
    gaps = np.array([100 * (r["train_acc_mean"] - r["test_acc_mean"]) for r in rows])
    gx.bar(x, gaps, 0.6, color="#7f7f7f")
    for xi, g in zip(x, gaps):
        gx.text(xi, g + 0.5, f"{g:.1f}", ha="center", va="bottom", fontsize=7)
    gx.set(ylabel="train - test (points)", ylim=(0, max(gaps.max() * 1.25, 5)))
    gx.set_title("the train/test gap (the study's diagnosis: overfitting)", fontsize=9)
    gx.grid(axis="y", alpha=0.3)
    short = lambda name: name.removeprefix("beyond_").lstrip("0123456789").lstrip("_")
    gx.set_xticks(x, [f"{n}: {short(r['run'])}" for n, r in zip(names, rows)], rotation=35, ha="right")
    fig.tight_layout()
    return save_figure(fig, path)


# ---------------------------------------------------------------------------
def summarize(
    records: list[dict],
    data,
    drawn: list[tuple[study.RunConfig, dict | None]],
    named: list[study.RunConfig],
    out: Path,
    runs_dir: Path,
    eval_every: int,
    read_every: int,
    log=print,
) -> list[Path]:
    """Every figure and table of the sweep from the index's ``records`` of ``data``'s set. ``drawn``: the
    (run, its --set fields) this command asked for, whose per-run figures are drawn; ``named``: every named
    run under this command's settings, the current rows of the tables (with the ``drawn`` ones)."""
    io.remove_stale_temps(out, recursive=True)  # half-written figures of killed processes
    if not records:
        log(f"no finished runs of {data.name} in {runs_dir} or {out / 'results.jsonl'}; nothing to summarize.")
        return []
    records = runs.merge_early(records, study.EARLY_ITERATIONS, log)  # the --early reruns, in their runs' histories
    study_data = data.is_study_data(study.STUDY_DATASET)
    group = lambda run: runs.run_group(study.TASK, run, data, eval_every)
    current: dict[str, set[str]] = {}  # the tables' rows: a run that chose on validation is validation.md's only
    for run in named + [run for run, fields in drawn if not (fields or {}).get("validation")]:
        current.setdefault(run.name, set()).add(group(run))
    written, failed = [], []
    for run, overrides in drawn:
        gid = group(run)
        recs = sorted(
            (r for r in records if r["name"] == run.name and r["group_id"] == gid), key=lambda r: r["identity"]["seed"]
        )
        if not recs:
            continue
        try:
            folder = figure_folder(out, run.name, overrides)
            written += write_run_figures(run, recs, folder, runs_dir, read_every, study_data)
        except Exception as err:  # a figure must never cost a result: report it, go on
            failed.append(f"{run.name}: {type(err).__name__}: {err}")
    rows = summary_rows(records, current, data.fingerprint if study_data else None, len(data.y_test))
    written += write_summary(
        rows, out, f"{data.name} ({len(data.x_train):,} train / {len(data.x_test):,} test)", study_data
    )
    written += write_ladder(rows, records, out / "beyond")
    written += write_validation(records, out / "beyond", data.num_classes)
    written += write_fast_settings(records, out, list(study.RUNS), "cifar_v2.py")
    if study_data:  # the study's 11 runs side by side, and against the study's numbers
        written += overview.write_overview(records, out)
        for name, title in confusion_runs(records):
            written += overview.plot_confusion(_test(records, study.RUNS[name]), data.class_names, title, out)
    if study_data and out.name == "cifar":  # the standard layout <figures>/cifar beside <figures>/rnn
        written.append(claims.update(out.parent, log))
    for f in failed:
        log(f"error drawing figures of {f}. The results are saved; redraw with --summary-only.")
    return written


# ---------------------------------------------------------------------------
# Beyond the study under the protocol: every choice made on the validation split (common/selection.py)
VIEW_LABELS = {
    "none": "none",
    "flip": "flip",
    "flip_shift1": "flip x 1-pixel shifts",
    "flip_shift2": "flip x 2-pixel shifts",
}


def _test(records: list[dict], run: study.RunConfig) -> list[dict]:
    """The finished 10,000-image runs of ``run`` (no split, no other change): what the report reads."""
    ident = run.identity()
    return [
        r for r in records if r["name"] == run.name and r["status"] == "finished" and r["identity"]["config"] == ident
    ]


# What the README reported before the protocol, chosen by looking at seed 0's test accuracy
TEST_CHOSEN = {"lenet": "beyond_6_shift4", "net": "beyond_vgg_nesterov_tta10"}


def chosen(records: list[dict]) -> list[dict]:
    """The protocol's two choices, each made on validation: the best LeNet-5 (the ladder's rungs) and the best
    network (the other architectures), each with its test-time views; ``named`` is the named run that is that
    recipe (trained on all 10,000 images), if there is one."""
    chose = selection.choosing_records(records)
    views = {n: selection.best_views(recs) for n, recs in chose.items() if study.RUNS[n].tta}
    out = []
    for key, what, keep in (
        ("lenet", "the study's LeNet-5", lambda r: r.arch == "lenet5"),
        ("net", "the best network", lambda r: r.arch != "lenet5"),
    ):
        name = selection.best_scored(chose, [n for n, r in study.RUNS.items() if r.rung is not None and keep(r)])
        if not name:
            continue
        run, v = study.RUNS[name], views.get(name)
        if v:  # the views chosen on validation replace the run's own
            tta, shift = VIEW_CANDIDATES[v[0]]
            run = dataclasses.replace(run, tta=tta, tta_shift=shift)
        match = [n for n, r in study.RUNS.items() if r.identity() == run.identity()]
        out.append(
            {
                "key": key,
                "what": what,
                "name": name,
                "val": selection.score(chose[name]),
                "views": v[0] if v else None,
                "named": match[0] if match else None,
            }
        )
    return out


def confusion_runs(records: list[dict]) -> list[tuple[str, str]]:
    """The runs whose confusion matrices the report draws: the study's best run (row 7), and the best LeNet-5
    and the best network beyond the study, as chosen on validation."""
    out = [("relu_adam_normal_dropout_l2", "The study's best run (row 7)")]
    for c in chosen(records):
        if c["named"]:
            out.append((c["named"], f"{c['what'][:1].upper() + c['what'][1:]}, chosen on validation ({c['named']})"))
    return out


def write_validation(records: list[dict], out: Path, n_classes: int = 10) -> list[Path]:
    """``beyond/validation.md``: the ladder's decisions and the test-time views, made on the validation split,
    beside the decisions made earlier on seed 0's test accuracy; then the chosen recipes' test accuracy (all
    10,000 training images, every seed) and, where the choice changed, the selection effect."""
    chose = selection.choosing_records(records)
    decisions = selection.ladder_decisions(chose, study.VALIDATION * n_classes)
    if not decisions:
        return []
    seed0 = lambda name: [r for r in _test(records, study.RUNS[name]) if r["seed"] == 0]
    lines = [
        "# Beyond the study: every choice made on validation",
        "",
        "Generated by `cifar_v2.py --runs beyond --set validation=100` from `results.jsonl` (`common/selection.py`). "
        "Each choosing run trains on 9,000 training images and is evaluated on the other 1,000 (100 per class, "
        f"drawn from seed {SPLIT_SEED}, the same for every run); it never reads the test set. A rung is kept "
        "when its validation accuracy is above that of the run it builds on (within noise: a change under twice the "
        "binomial standard error of a difference on 1,000 images, about 4 points); the chosen recipe is the best "
        "validation accuracy over all the candidates. Beside it, the decision made earlier "
        "by looking at seed 0's test accuracy (10,000 training images). Accuracies in percent.",
        "",
        "| rung | what it adds | builds on | val acc | Δ val | on validation "
        "| Δ test, seed 0 (earlier) | earlier, on test | same? |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for d in decisions:
        run = study.RUNS[d["run"]]
        now, before = seed0(d["run"]), seed0(d["builds_on"])
        dt = now[0]["final"]["test_accuracy"] - before[0]["final"]["test_accuracy"] if now and before else None
        earlier = "-" if dt is None else ("kept" if dt > 0 else "dropped")
        noise = "" if d["beyond_noise"] else " (within noise)"
        seeds = ",".join(str(r["seed"]) for r in chose[d["run"]])
        lines.append(
            f"| {run.rung} | {run.adds} (`{d['run']}`) | `{d['builds_on']}` | {pct(d['val'])} (seed {seeds}) "
            f"| {gap(d['delta'])} | **{'kept' if d['kept'] else 'dropped'}**{noise} "
            f"| {gap(dt) if dt is not None else '-'} "
            f"| {earlier} | {'-' if dt is None else ('yes' if (dt > 0) == d['kept'] else '**no**')} |"
        )
    changed = []  # the rows whose decision validation reverses: both recipes' test accuracy (all 10,000 images)
    for d in decisions:
        now, before = seed0(d["run"]), seed0(d["builds_on"])
        if now and before and (now[0]["final"]["test_accuracy"] > before[0]["final"]["test_accuracy"]) != d["kept"]:
            a, b = _test(records, study.RUNS[d["run"]]), _test(records, study.RUNS[d["builds_on"]])
            diff, se, _ = compare(a, b)
            test_pick, val_pick = (d["run"], d["builds_on"]) if not d["kept"] else (d["builds_on"], d["run"])
            changed.append(
                f"- rung {study.RUNS[d['run']].rung}: on the test set `{test_pick}`, on validation `{val_pick}`; "
                f"test accuracy `{d['run']}` {show(a)}, `{d['builds_on']}` {show(b)}: "
                f"{gap(diff)} ± {100 * se:.1f} points"
            )
    if changed:
        lines += [
            "",
            "The selection effect where validation reverses a decision (test accuracy of both recipes, trained "
            "on all 10,000 images; n = the seeds):",
            "",
        ]
        lines += changed
    views = [(n, selection.best_views(chose[n])) for n in study.RUNS if n in chose and study.RUNS[n].tta]
    views = [(n, v) for n, v in views if v]
    if views:
        names = list(VIEW_LABELS)
        lines += [
            "",
            "Test-time views, compared on the validation images at each run's end (the run trains the same way "
            "whatever the views; flip = the image and its mirror, x shifts = 10 views):",
            "",
            "| run | " + " | ".join(VIEW_LABELS[k] for k in names) + " | chosen |",
            "|---|" + "---|" * (len(names) + 1),
        ]
        for n, (best_view, means) in views:
            lines.append(
                f"| `{n}` | " + " | ".join(pct(means.get(k)) for k in names) + f" | **{VIEW_LABELS[best_view]}** |"
            )
    lines += ["", "The choices, and the chosen recipes' test accuracy (trained on all 10,000 images):", ""]
    effect = []
    for c in chosen(records):
        test = _test(records, study.RUNS[c["named"]]) if c["named"] else []
        shown = f"`{c['named']}`" if c["named"] else f"`{c['name']}` with views {c['views']} (no named run yet)"
        result = (
            f"test accuracy {show(test)} (seeds {seeds_of(test)})" if test else "not yet trained on all 10,000 images"
        )
        lines.append(
            f"- {c['what']}: {shown}, val acc {pct(c['val'])}% (at these views)"
            + (f", views: {VIEW_LABELS[c['views']]}" if c["views"] else "")
            + f"; {result}."
        )
        before = TEST_CHOSEN[c["key"]]
        if c["named"] != before:
            effect.append((c, test, _test(records, study.RUNS[before]), before))
    if effect:
        lines += ["", "Where validation chose differently from the earlier test-set choice (the selection effect):", ""]
        for c, test, old, before in effect:
            diff = compare(old, test) if test and old else None
            lines.append(
                f"- {c['what']}: chosen on the test set `{before}`, {show(old) if old else 'not trained'}; "
                f"on validation {('`' + c['named'] + '`') if c['named'] else 'a recipe not yet trained'}"
                + (
                    f", {show(test)}; test-chosen minus validation-chosen {gap(diff[0])} ± {100 * diff[1]:.1f} points"
                    if diff
                    else ""
                )
                + "."
            )
    else:
        made = len(chosen(records))
        lines += [
            "",
            ("Both choices are the ones" if made == 2 else "The choice made so far is the one")
            + " made earlier on the test set: no selection effect to measure there.",
        ]
    out.mkdir(parents=True, exist_ok=True)
    io.write_text(out / "validation.md", "\n".join(lines) + "\n")
    return [out / "validation.md"]


def seeds_of(records: list[dict]) -> str:
    return ",".join(str(r["seed"]) for r in sorted(records, key=lambda r: r["seed"]))
