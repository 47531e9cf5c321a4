"""The study's Task 1: a LeNet-5 on 28x28 grayscale CIFAR-10, the 11-run sweep.

    python cifar_v2.py                          # the study's 11 runs, figures to figures/cifar/
    python cifar_v2.py --list                   # the run names and what each sets
    python cifar_v2.py --runs relu_adam_normal,tanh_adam_normal --seeds 0,1,2
    python cifar_v2.py --dataset MYSET          # any <data-dir>/MYSET/{Train,Test}/<class>/*.png set
    python cifar_v2.py --summary-only           # redraw every figure and table from saved results

Each run trains for a fixed number of iterations (batches), as the study counted them,
and every ``--eval-every`` iterations records the interval's train loss and accuracy, the
accuracy and loss on the whole test set, and statistics of the conv1/conv2 activations on
the test images (min, max, mean, std and a histogram), also logged for TensorBoard
(``tensorboard --logdir runs/cifar``). Rerunning a command skips finished runs and resumes
an interrupted one exactly; see the README's "Runs you can trust".
"""

from __future__ import annotations

import csv
import io as stdio
import re
import sys
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

from common import cpu  # noqa: E402  (first: the CPU's settings must precede TensorFlow's loading)

cpu.configure()  # oneDNN where TensorFlow leaves it off, TensorFlow's start-up chatter quiet: common/cpu.py

import numpy as np  # noqa: E402

from common import backend, claims, cli, io, runs, study  # noqa: E402
from common.config import (  # noqa: E402
    BATCH_SIZE,
    CHECKPOINT_EVERY,
    COLOR,
    DATA_DIR,
    DATASET,
    EVAL_EVERY,
    FUSED_ADAM,
    IMAGE_SIZE,
    ITERATIONS,
    OUT_DIR,
    PRECISION,
    RUNS_DIR,
    SEEDS,
    parse,
    setting,
)
from common.data import as_float_images, figures_folder, load_dataset  # noqa: E402
from common.evaluation import CONV_LAYERS, HIST_IMAGES, Evaluator  # noqa: E402
from common.plotting import plt, save_figure, seeds_note  # noqa: E402
from common.study import RUNS, STUDY  # noqa: E402
from common.training import RunLocked, RunSpec, check_run, train_run  # noqa: E402

# ---------------------------------------------------------------------------
# Settings: edit the defaults and rerun, or override them with flags (see --help).
# The runs themselves (the study's constants) are in common/study.py.
TASK = "cifar_v2"
SEARCH_TASK = "cifar_v2_search"  # the search's runs have an index of their own, beside the sweep's
STUDY_READ_EVERY = 1100  # the study read its TensorBoard every 1,100 iterations (its template's log step)
# 'beyond' starts from its base, the study's best run (row 7): the ladder's rung 0, trained once for both groups
RUN_GROUPS = {
    "study": tuple(r.name for r in study.STUDY_RUNS),
    "beyond": tuple(r.name for r in study.STUDY_RUNS if r.study_row == 7) + tuple(r.name for r in study.BEYOND_RUNS),
}
# --search-report compares the search's best with the hand-made best of the same space and length
SEARCH_RIVALS = {"study": "relu_adam_normal_dropout_l2", "all": "beyond_4_tta"}
LADDER_ONLY = frozenset(r.name for r in study.BEYOND_RUNS)  # the rungs above run 7: tabled in beyond/ladder.md
# The calibration (--calibrate): candidate values of the constants the study did not state
# (common/study.py). Each candidate trains once, at the longest length; shorter lengths and
# run 7 (run 8's config, shorter) are read off its curves, which a constant learning rate allows.
CALIBRATION_GRID = {
    "adam_lr": (1e-4, 1e-3),  # the template's rate, and Keras' (the GPU lead: 1e-3)
    "l2": (1e-4, 5e-4),
    "run6": ((1e-3, 0.9), (1e-2, 0.9)),  # run 6's (learning rate, momentum)
    "iterations": (3000, 4000, 5500),  # 5,500: the course template's max_step
    "long_factor": (1.5, 2.0),  # run 8 "more iterations"
}
STATS = ("min", "max", "mean", "std")


@dataclass(frozen=True)
class Settings:
    runs: tuple[str, ...] = setting(
        ("study",),
        "runs to train, comma-separated: run names (see --list), or the groups 'study' (its 11 runs) and "
        "'beyond' (the improvement ladder from run 7, and the small modern CNN)",
        choices=lambda: tuple(RUNS) + tuple(RUN_GROUPS),
        metavar="RUN",
    )
    list: bool = setting(False, "print the run names and what each sets, then exit")
    seeds: tuple[int, ...] = SEEDS((0,))
    iterations: int | None = ITERATIONS(
        None, "iterations per run (default: each run's own; the long run keeps its ratio to the others)"
    )
    batch_size: int | None = BATCH_SIZE(None, "batch size of every run (default: each run's own, 50)")
    eval_every: int = EVAL_EVERY(100)
    checkpoint_every: int = CHECKPOINT_EVERY(500)
    precision: str = PRECISION("float32")
    fused_adam: bool = FUSED_ADAM(False)
    dataset: str = DATASET("CIFAR10")
    data_dir: Path | None = DATA_DIR(None)
    color: str | None = COLOR(None)
    image_size: str | None = IMAGE_SIZE(None)
    runs_dir: Path = RUNS_DIR(Path("runs/cifar"))
    out_dir: Path | None = OUT_DIR(
        None,
        "where figures and summary tables go (default: figures/cifar for "
        "CIFAR10, figures/cifar_<dataset>[_<color>][_<HxW>] for other sets or another --color/--image-size)",
    )
    summary_only: bool = setting(False, "train nothing: redraw every figure and table from the saved results")
    constants: str = setting(
        "calibrated",
        "the study's unstated constants: calibrated (chosen by --calibrate) or round1 (the first guesses)",
        choices=tuple(study.CONSTANTS),
    )
    calibrate: bool = setting(
        False,
        "train the calibration grid (first seed of --seeds) and score every combination of the unstated "
        "constants against the study's table",
    )
    search: int | None = setting(
        None,
        "run a hyperparameter search until its study holds this many finished trials (see --storage)",
        min=1,
        metavar="TRIALS",
    )
    search_space: str = setting(
        "study",
        "the search's space: study (the study's own knobs) or all (plus the ladder's ingredients)",
        choices=("study", "all"),
    )
    search_iterations: int = ITERATIONS(3000, "iterations of each search trial")
    storage: str | None = setting(
        None,
        "the search's Optuna storage: a database URL shared by every worker, e.g. "
        "postgresql://user@host/lenet (default: an SQLite file in --runs-dir)",
        metavar="URL",
    )
    search_grace: int = setting(
        120, "seconds without a heartbeat after which a worker's trial counts as dead and is retried", min=2
    )
    search_report: bool = setting(
        False, "print the search's best trials, write its figures, and retrain the best with every --seeds"
    )

    def figures_dir(self) -> Path:
        if self.out_dir is not None:
            return self.out_dir
        return figures_folder("cifar", self.dataset, study.STUDY_DATASET, self.color, self.image_size)

    def selected_runs(self, runs: tuple[str, ...] | None = None) -> list[study.RunConfig]:
        """The runs (names or groups; default --runs) with this command's constants and overrides."""
        names = dict.fromkeys(n for r in (runs or self.runs) for n in RUN_GROUPS.get(r, (r,)))
        constants = study.CONSTANTS[self.constants]
        base = {r.name: r for r in study.study_runs(constants) + study.beyond_runs(constants)}
        return [study.with_overrides(base.get(n, RUNS[n]), self.iterations, self.batch_size, constants) for n in names]


# ---------------------------------------------------------------------------
# Figures: each drawn from a group's records (one per seed) in the results index.
def _series(records, key):
    """(iterations, values (seeds x points)) of ``key`` over the iterations every seed recorded."""
    its = sorted(set.intersection(*[{h["iteration"] for h in r["history"] if key in h} for r in records]))
    vals = np.array(
        [[next(h[key] for h in r["history"] if h["iteration"] == it) for it in its] for r in records], dtype=float
    )
    return np.asarray(its), vals


def _band(ax, records, key, label, color):
    """The mean over seeds as a line, the seeds' min-max as a band."""
    its, vals = _series(records, key)
    if len(its) == 0:
        return
    with warnings.catch_warnings():  # where every seed diverged (NaN), the line has a gap: no warning needed
        warnings.simplefilter("ignore", RuntimeWarning)
        mean, low, high = (f(vals, axis=0) for f in (np.nanmean, np.nanmin, np.nanmax))
    ax.plot(its, mean, color=color, lw=1.5, label=label)
    if len(records) > 1:
        ax.fill_between(its, low, high, color=color, alpha=0.2, lw=0)


def plot_curves(records, title: str, path, reference: tuple[float, float] | None = None, l2: bool = False) -> Path:
    """Train/test accuracy and loss against iterations; the study's numbers dashed."""
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    _band(ax_acc, records, "train_accuracy", "train (interval mean)", "C0")
    _band(ax_acc, records, "test_accuracy", "test (all test images)", "C1")
    if reference:
        for value, what, color in zip(reference, ("train", "test"), ("C0", "C1")):
            ax_acc.axhline(value, color=color, ls="--", lw=1, label=f"study's {what} accuracy")
    ax_acc.set(
        xlabel="iteration (batch)", ylabel="accuracy", ylim=(0, 1), title=f"accuracy ({seeds_note([len(records)])})"
    )
    ax_acc.grid(alpha=0.3)
    ax_acc.legend(fontsize=8, loc="best")
    _band(ax_loss, records, "train_loss", "train (interval mean" + (", incl. L2 penalty)" if l2 else ")"), "C0")
    _band(ax_loss, records, "test_loss", "test", "C1")
    ax_loss.set(xlabel="iteration (batch)", ylabel="cross-entropy loss", title="loss")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def image_grid(
    images: np.ndarray,
    path,
    title: str,
    ncols: int = 8,
    cmap: str = "gray",
    vmin: float | None = None,
    vmax: float | None = None,
    labels=None,
    colorbar_label: str | None = None,
):
    """Images (N, H, W) in a grid, all on one color scale (vmin..vmax) with a colorbar; or RGB
    images (N, H, W, 3) with values in [0, 1]."""
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
    if images.ndim == 3:  # a colorbar only where one scale maps values to colors (not for RGB images)
        cbar = fig.colorbar(im, ax=axes, shrink=0.8)
        if colorbar_label:
            cbar.set_label(colorbar_label)
    return save_figure(fig, path)


def bars_note(ns: list[int]) -> str:
    """What a bar figure's bars and error bars are, given the seed counts ``ns`` of its rows."""
    return seeds_note(ns, "error bar: std over seeds", "; no error bar: the test set's SE is ~1.6 points")


def grouped_bars(
    groups: list[str],
    series: dict[str, tuple[list[float], list[float]]],
    path,
    title: str,
    ylabel: str,
    ylim=(0, 1.2),
    rotate: int = 30,
    colors: list[str] | None = None,
    note: str | None = None,
    digits: int = 0,
) -> Path:
    """One group of bars per entry of ``groups``; ``series`` maps a legend label to (values, errors)
    (NaN = missing: no bar; error NaN: no error bar). Values are fractions, labeled as percentages
    with ``digits`` decimals."""
    x = np.arange(len(groups))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(7, 1.1 * len(groups) + 2), 5.2))
    for i, (label, (values, errors)) in enumerate(series.items()):
        values, errors = np.asarray(values, dtype=float), np.asarray(errors, dtype=float)
        bars = ax.bar(
            x + (i - (len(series) - 1) / 2) * width,
            values,
            width,
            label=label,
            color=None if colors is None else colors[i],
        )
        has_error = np.isfinite(errors) & np.isfinite(values)  # no error bar for the study or a single seed
        if has_error.any():
            ax.errorbar(
                (x + (i - (len(series) - 1) / 2) * width)[has_error],
                values[has_error],
                yerr=errors[has_error],
                fmt="none",
                ecolor="black",
                elinewidth=0.8,
                capsize=2,
            )
        labels = ["" if np.isnan(v) else f"{100 * v:.{digits}f}" for v in values]
        ax.bar_label(bars, labels=labels, fontsize=7, padding=1)
    ax.set_xticks(x, groups, rotation=rotate, ha="right" if rotate else "center")
    ax.set(ylabel=ylabel, ylim=ylim)
    ax.set_title(title + (f"\n({note})" if note else ""), fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncols=min(4, len(series)), loc="upper center")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_activation_stats(records, title, path):
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    for ax, stat in zip(axes, STATS):
        for k, name in enumerate(CONV_LAYERS):
            _band(ax, records, f"{name}_{stat}", name, f"C{k}")
        for it in range(STUDY_READ_EVERY, max(h["iteration"] for h in records[0]["history"]) + 1, STUDY_READ_EVERY):
            ax.axvline(it, color="0.6", lw=0.6, ls=":")
        ax.set(title=stat, xlabel="iteration (batch)", ylabel=f"activation {stat}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"{title}\n({seeds_note([len(records)])}; dotted: every {STUDY_READ_EVERY:,} iterations, "
        "where the study read TensorBoard)"
    )
    fig.tight_layout()
    return save_figure(fig, path)


def plot_activation_histograms(record, title, path, n_snapshots: int = 7):
    """Each conv layer's activation distribution at the study's read-out iterations (multiples of
    1,100, plus the start and the end), earliest (dark) to latest (yellow)."""
    recorded = [h for h in record["history"] if "conv1_hist" in h]
    if not recorded:
        return None
    picks = [h for h in recorded if h["iteration"] % STUDY_READ_EVERY == 0 or h is recorded[-1]]
    if len(picks) > n_snapshots:
        picks = [picks[i] for i in sorted(set(np.linspace(0, len(picks) - 1, n_snapshots).round().astype(int)))]
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, name in zip(axes, CONV_LAYERS):
        for j, h in enumerate(picks):
            edges, counts = np.asarray(h[f"{name}_hist"]["edges"]), np.asarray(h[f"{name}_hist"]["counts"])
            density = counts / max(counts.sum(), 1) / np.diff(edges)
            ax.stairs(
                density, edges, color=cmap(j / max(len(picks) - 1, 1)), lw=1.4, label=f"iteration {h['iteration']}"
            )
        ax.set_yscale("log")
        ax.set(
            title=f"{name} activations ({HIST_IMAGES} test images)",
            xlabel="activation value",
            ylabel="density (log scale)",
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{title}\n(seed {record['identity']['seed']})")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_filters(model, seed: int, run_title: str, path):
    """The conv1 filters on one symmetric scale: gray for a gray network, RGB for a color one."""
    kernel = np.asarray(model.get_layer("conv1").kernel)  # (k, k, channels, maps)
    filters = np.moveaxis(kernel, -1, 0)  # (maps, k, k, channels)
    if not np.all(np.isfinite(filters)):
        return None
    m, k = float(np.abs(filters).max()), filters.shape[1]  # k: 5 in the LeNet-5, 3 in the VGG-style CNNs
    labels = [f"{i}" for i in range(len(filters))]
    if filters.shape[-1] == 3:  # color filters as RGB: 0.5 + w / (2 max|w|) per channel, zero mid gray
        title = f"conv1 filters ({k}x{k}, RGB 0.5 + w / (2 max|w|), max|w| {m:.3g}; mid gray = 0), seed {seed}"
        return image_grid(0.5 + filters / (2 * m), path, f"{title}\n{run_title}", vmin=0, vmax=1, labels=labels)
    title = f"conv1 filters ({k}x{k}, shared symmetric gray scale), seed {seed}"
    return image_grid(
        filters[..., 0], path, f"{title}\n{run_title}", vmin=-m, vmax=m, labels=labels, colorbar_label="weight"
    )


def write_run_figures(
    run: study.RunConfig, records: list[dict], out_dir: Path, runs_dir: Path, reference: tuple[float, float] | None
) -> list[Path]:
    """The figures of one configuration, from its seeds' records; the filters from the lowest
    seed's saved model where the runs folder has it (else the committed figure stays)."""
    status = {r["status"] for r in records}
    flag = "" if status == {"finished"} else " [" + "/".join(sorted(s.upper() for s in status)) + "]"
    title = f"{run.name}{flag}: {run.describe()}"
    written = [plot_curves(records, title, out_dir / "curves.png", reference=reference, l2=bool(run.l2))]
    if any("conv1_mean" in h for h in records[0]["history"]):
        written.append(
            plot_activation_stats(
                records, f"conv activation statistics on the test images\n{title}", out_dir / "activation_stats.png"
            )
        )
        written.append(
            plot_activation_histograms(
                records[0], f"conv activation histograms\n{title}", out_dir / "activation_histograms.png"
            )
        )
    first = records[0]
    model_path = runs.run_folder(runs_dir, run.name, first["identity"]) / "model.keras"
    if model_path.exists():
        model = io.load_model(model_path, compile=False)
        written.append(plot_filters(model, first["identity"]["seed"], title, out_dir / "filters.png"))
    return [p for p in written if p is not None]


# ---------------------------------------------------------------------------
# Summary: every configuration in the results index, the current ones first.
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


def summary_rows(records: list[dict], current: dict[str, str], n_test: int) -> list[dict]:
    """One row per (run, identity without seed): mean and std over its seeds, the test set's own
    binomial standard error and, for the study's data, the study's numbers and our gaps to them."""
    rows = []
    for (name, gid), recs in runs.groups(records).items():
        cfg = recs[0]["identity"]["config"]
        row_no = RUNS[name].study_row if name in RUNS else None
        finished = [r for r in recs if r["status"] == "finished"]
        train = runs.mean_std([r["final"].get("train_accuracy") for r in finished])
        test = runs.mean_std([r["final"].get("test_accuracy") for r in finished])
        best = runs.mean_std([r["best_test_accuracy"] for r in finished])
        is_study = current.get("_study_data") == recs[0]["identity"]["data"]["fingerprint"]
        ref = STUDY.get(row_no) if is_study else None
        rows.append(
            {
                "row": row_no,
                "run": name,
                "identity": runs.identity_label(recs[0]["identity"]),
                "current": current.get(name) == gid,
                "seeds": ",".join(str(r["identity"]["seed"]) for r in recs),
                "n": len(finished),
                "status": "/".join(sorted({r["status"] for r in recs})),
                "iterations": cfg["iterations"],
                "train_acc_mean": train[0],
                "train_acc_std": train[1],
                "test_acc_mean": test[0],
                "test_acc_std": test[1],
                "test_acc_binomial_se": runs.binomial_se(test[0], n_test),
                "best_test_acc_mean": best[0],
                "study_train_acc": ref[0] if ref else None,
                "study_test_acc": ref[1] if ref else None,
                "train_gap": train[0] - ref[0] if ref else None,
                "test_gap": test[0] - ref[1] if ref else None,
                "train_time_s_mean": runs.mean_std([r["train_time_s"] for r in recs])[0],
                "images_per_s_mean": runs.mean_std([r["images_per_sec"] for r in recs])[0],
            }
        )
    order = {n: i for i, n in enumerate(RUNS)}
    return sorted(rows, key=lambda r: (not r["current"], order.get(r["run"], len(order)), r["run"], r["identity"]))


def _pct(v, digits=1):
    return "-" if v is None or not np.isfinite(v) else f"{100 * v:.{digits}f}"


def _gap(v):
    return "-" if v is None or not np.isfinite(v) else f"{100 * v:+.1f}"


def write_summary(rows: list[dict], out_dir: Path, dataset_label: str, study_data: bool) -> list[Path]:
    buf = stdio.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if v is None else round(v, 5) if isinstance(v, float) else v) for k, v in r.items()})
    io.write_text(out_dir / "summary.csv", buf.getvalue())

    # The ladder's rungs have a table of their own (beyond/ladder.md): this one is the sweep's
    ladder = [r for r in rows if r["current"] and r["run"] in LADDER_ONLY]
    current = [r for r in rows if r["current"] and r["run"] not in LADDER_ONLY]
    lines = [
        f"# {dataset_label}: the LeNet-5 sweep" + (" against the study" if study_data else ""),
        "",
        "Generated by `cifar_v2.py` from `results.jsonl` (every finished run found in the runs folder). "
        "Accuracies in percent: mean ± sample std over the seeds; SE = the binomial standard error "
        "of one accuracy on the test set, sqrt(p(1-p)/n), the noise of the test set itself. Train accuracy "
        "is the mean over the last evaluation interval's batches (as the study's curves); test "
        "accuracy is on every test image at the end of the run.",
        "",
    ]
    header = (
        "| # | run | seeds | iterations | train acc | test acc | SE | best test acc "
        + ("| study train | study test | train gap | test gap " if study_data else "")
        + "| train time | images/s | identity |"
    )
    lines += [header, "|" + "---|" * (header.count("|") - 1)]
    for r in current:
        lines.append(
            f"| {r['row'] or ''} | `{r['run']}`{' (' + r['status'] + ')' if r['status'] != 'finished' else ''} "
            f"| {r['seeds']} | {r['iterations']} | {runs.fmt_pct(r['train_acc_mean'], r['train_acc_std'])} "
            f"| {runs.fmt_pct(r['test_acc_mean'], r['test_acc_std'])} | {_pct(r['test_acc_binomial_se'])} "
            f"| {_pct(r['best_test_acc_mean'])} "
            + (
                f"| {_pct(r['study_train_acc'], 0)} | {_pct(r['study_test_acc'])} | {_gap(r['train_gap'])} "
                f"| {_gap(r['test_gap'])} "
                if study_data
                else ""
            )
            + f"| {cli.format_duration(r['train_time_s_mean'])} | {r['images_per_s_mean']:,.0f} | {r['identity']} |"
        )
    if study_data:
        gaps = [r for r in current if r["test_gap"] is not None and np.isfinite(r["test_gap"])]
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
    others = len(rows) - len(current) - len(ladder)
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
    labels = [f"{r['row'] or ''}. {r['run']}" + (" (diverged)" if "diverged" in r["status"] else "") for r in current]
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
    seeds = sorted({r["n"] for r in current})
    path = grouped_bars(
        labels,
        series,
        out_dir / "summary.png",
        f"{dataset_label}: final accuracy" + (", ours vs the study's" if study_data else ""),
        "accuracy",
        colors=colors,
        note="ours: " + bars_note(seeds),
    )
    return [out_dir / "summary.csv", out_dir / "summary.md", path]


# ---------------------------------------------------------------------------
def make_spec(run: study.RunConfig, seed: int, s: Settings, data, x_train, x_test, task: str = TASK) -> RunSpec:
    evaluate = Evaluator(x_test, data.y_test, tta=run.tta, tta_shift=run.tta_shift)
    return study.make_spec(run, task, seed, data, x_train, s.runs_dir, s.eval_every, s.checkpoint_every, evaluate)


LADDER_STEPS = {  # rung -> (its label, what it adds, the rung its Δ test is measured from)
    "relu_adam_normal_dropout_l2": ("0", "the study's best run (row 7): dropout + L2", None),
    "beyond_1_augment": ("1", "+ random flips and 2-pixel shifts", "relu_adam_normal_dropout_l2"),
    "beyond_2_adamw_cosine": ("2", "+ AdamW, weight decay, warm-up and cosine decay", "beyond_1_augment"),
    "beyond_3_label_smoothing": ("3", "+ label smoothing 0.1", "beyond_2_adamw_cosine"),
    "beyond_4_tta": ("4", "+ test-time flip averaging", "beyond_3_label_smoothing"),
    "beyond_5_long": ("5", "+ 3x longer training", "beyond_4_tta"),
    "beyond_6_shift4": ("6", "+ shifts of up to 4 pixels", "beyond_5_long"),
    "beyond_vgg": ("CNN", "a small VGG-style CNN (batch norm, 3x3 convs) with rung 4's recipe", "beyond_4_tta"),
    "beyond_vgg_shift4": ("CNN+", "the same CNN + shifts of up to 4 pixels", "beyond_vgg"),
    "beyond_vgg_wide": ("wide CNN", "the CNN, wider (48/96/192) and pooled after each first conv", "beyond_vgg"),
    "beyond_vgg_wide_shift4": ("wide CNN+", "the wide CNN + shifts of up to 4 pixels", "beyond_vgg_wide"),
    "beyond_vgg_wide_erase": ("wide CNN++", "the wide CNN+ + random erasing", "beyond_vgg_wide_shift4"),
    "beyond_vgg_nesterov": ("CNN-SGD", "the CNN with SGD-Nesterov (lr 0.1) instead of AdamW", "beyond_vgg"),
    "beyond_vgg_nesterov_tta10": (
        "CNN-SGD+",
        "CNN-SGD, its predictions averaged over 10 views (flips x 1-pixel shifts)",
        "beyond_vgg_nesterov",
    ),
}


def write_ladder(rows: list[dict], records: list[dict], out: Path) -> list[Path]:
    """The improvement ladder: what each ingredient buys on the test set, and what it does to the
    train/test gap (the study's diagnosis was overfitting)."""
    by_name = {r["run"]: r for r in rows if r["current"]}
    ladder = [by_name[n] for n in LADDER_STEPS if n in by_name and by_name[n]["n"]]
    if len(ladder) < 2:
        return []
    params = {r["name"]: r.get("num_params") for r in records}
    lines = [
        "# Beyond the study: the improvement ladder",
        "",
        "Generated by `cifar_v2.py --runs beyond` from `results.jsonl`. Each rung adds one ingredient to "
        "the rung above it (the CNN rows are different networks with rung 4's recipe). Accuracies in "
        "percent, mean ± std over the seeds; gap = train - test accuracy; Δ test = the change from the rung "
        "it builds on (rung 4 for the CNN, the CNN for CNN+, CNN-SGD and the wide CNN, the row above for the "
        "wide CNN's variants and CNN-SGD+).",
        "",
        "| rung | what it adds | params | iterations | seeds | train acc | test acc | gap | Δ test | training time |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in ladder:
        label, adds, below = LADDER_STEPS[r["run"]]
        gap = r["train_acc_mean"] - r["test_acc_mean"]
        prev = by_name.get(below) if below else None
        # round first, then + 0.0: a change of -0.03 points prints +0.0, not -0.0
        delta = (
            "-"
            if not prev or not prev["n"]
            else f"{round(100 * (r['test_acc_mean'] - prev['test_acc_mean']), 1) + 0.0:+.1f}"
        )
        lines.append(
            f"| {label} | {adds} (`{r['run']}`) | {params.get(r['run']) or 0:,} "
            f"| {r['iterations']} | {r['seeds']} | {runs.fmt_pct(r['train_acc_mean'], r['train_acc_std'])} "
            f"| {runs.fmt_pct(r['test_acc_mean'], r['test_acc_std'])} | {100 * gap:.1f} | {delta} "
            f"| {cli.format_duration(r['train_time_s_mean'])} |"
        )
    out.mkdir(parents=True, exist_ok=True)
    io.write_text(out / "ladder.md", "\n".join(lines) + "\n")
    short = lambda name: re.sub(r"^beyond_(\d+_)?", "", name)  # beyond_1_augment -> augment
    labels = [f"{LADDER_STEPS[r['run']][0]}: {short(r['run'])}" for r in ladder]
    path = grouped_bars(
        labels,
        {
            "train": ([r["train_acc_mean"] for r in ladder], [r["train_acc_std"] for r in ladder]),
            "test": ([r["test_acc_mean"] for r in ladder], [r["test_acc_std"] for r in ladder]),
            "train - test gap": ([r["train_acc_mean"] - r["test_acc_mean"] for r in ladder], [np.nan] * len(ladder)),
        },
        out / "ladder.png",
        "Beyond the study: what each ingredient buys (CIFAR-10, 28x28 gray, 1,000 test images)",
        "accuracy / gap",
        colors=["#1f77b4", "#d62728", "#7f7f7f"],
        note=bars_note(sorted({r["n"] for r in ladder})),
        ylim=(0, 1.15),
        digits=1,  # the targets (72%, 82%) and the rungs' differences are tenths of a point
    )
    return [out / "ladder.md", path]


def summarize(s: Settings, data, selected: list[study.RunConfig], log=print) -> list[Path]:
    """Adds every finished run in the runs folder to the index, then draws every figure and table."""
    out = s.figures_dir()
    io.remove_stale_temps(out, recursive=True)  # half-written figures of killed processes
    records = [
        r
        for r in runs.update_index(out, s.runs_dir, TASK, STUDY_READ_EVERY, log)
        if r["identity"]["data"]["name"] == s.dataset
    ]
    if not records:
        log(f"no finished runs of {s.dataset} in {s.runs_dir} or {out / 'results.jsonl'}; nothing to summarize.")
        return []
    study_data = data.is_study_data(study.STUDY_DATASET)
    current = {"_study_data": data.fingerprint if study_data else None}
    written, failed = [], []
    # Every named run is current in its configuration under this command's settings, not only the
    # selected ones: `--runs beyond` once rewrote the study's table with the ladder's rows alone.
    chosen = {run.name for run in selected}
    for run in selected + [r for r in s.selected_runs(tuple(RUNS)) if r.name not in chosen]:
        identity = runs.make_identity(TASK, run.identity(), 0, data, s.eval_every)
        gid = runs.group_id(identity)
        recs = sorted(
            (r for r in records if r["name"] == run.name and r["group_id"] == gid), key=lambda r: r["identity"]["seed"]
        )
        if not recs:
            continue
        current[run.name] = gid
        if run.name not in chosen:  # per-run figures only for the configurations this command asks for
            continue
        ref = STUDY.get(run.study_row) if study_data else None
        try:
            written += write_run_figures(run, recs, out / run.name, s.runs_dir, ref)
        except Exception as err:  # a figure must never cost a result: report it, go on
            failed.append(f"{run.name}: {type(err).__name__}: {err}")
    rows = summary_rows(records, current, len(data.y_test))
    written += write_summary(
        rows, out, f"{data.name} ({len(data.x_train):,} train / {len(data.x_test):,} test)", study_data
    )
    written += write_ladder(rows, records, out / "beyond")
    written += runs.write_fast_settings(records, out, list(RUNS), "cifar_v2.py")
    if study_data and out.name == "cifar":  # the standard layout <figures>/cifar beside <figures>/rnn
        written.append(claims.update(out.parent, log))
    for f in failed:
        log(f"error drawing figures of {f}. The results are saved; redraw with --summary-only.")
    return written


# ---------------------------------------------------------------------------
# Calibration: which unstated constants reproduce the study's table best.
def calibration_candidates(batch_size: int | None = None):
    """(Constants at the longest length, {study row: the run whose curve gives that row}) for every
    combination of the grid's learning rates, L2 weights and run-6 settings."""
    g = CALIBRATION_GRID
    longest, factor = max(g["iterations"]), max(g["long_factor"])
    out = []
    for lr in g["adam_lr"]:
        for l2 in g["l2"]:
            for run6 in g["run6"]:
                c = study.Constants(longest, lr, run6, study.ROUND1.dropout, l2, factor)
                by_row = {r.study_row: study.with_overrides(r, batch_size=batch_size) for r in study.study_runs(c)}
                by_row[7] = by_row[8]  # run 7 is run 8's config, stopped earlier: read off run 8's curve
                out.append(((lr, l2, run6), by_row))
    return out


def calibration_runs(batch_size=None) -> list[study.RunConfig]:
    """Every distinct run the grid needs (run 7 excepted), Keras' Adam rate first (the likeliest winner,
    whose runs a later sweep with the adopted constants reuses), the template's last."""
    seen = {}
    for _, by_row in calibration_candidates(batch_size):
        for row, run in by_row.items():
            if row != 7:
                seen[(run.name, tuple(sorted(run.identity().items())))] = run
    template_adam = lambda r: r.optimizer == "adam" and r.learning_rate == min(CALIBRATION_GRID["adam_lr"])
    return sorted(seen.values(), key=template_adam)


def _at(record: dict, iteration: int, key: str):
    return next((h.get(key) for h in record["history"] if h["iteration"] == iteration), None)


def calibration_table(records: list[dict], data, seed: int, eval_every: int, batch_size=None) -> list[dict]:
    """One row per combination of the constants: the mean absolute gaps to the study's table over the
    11 runs (train and test accuracy, points) and their mean, the score."""
    by_key = {(r["name"], r["group_id"], r["identity"]["seed"]): r for r in records}
    rows = []
    for (lr, l2, run6), by_row in calibration_candidates(batch_size):
        recs = {}
        for row, run in by_row.items():
            gid = runs.group_id(runs.make_identity(TASK, run.identity(), seed, data, eval_every))
            recs[row] = by_key.get((run.name, gid, seed))
        for iterations in CALIBRATION_GRID["iterations"]:
            for factor in CALIBRATION_GRID["long_factor"]:
                gaps = {}
                for row, rec in recs.items():
                    at = round(iterations * factor) if row == 8 else iterations
                    at = at // eval_every * eval_every
                    train, test = (_at(rec, at, k) if rec else None for k in ("train_accuracy", "test_accuracy"))
                    if train is not None and test is not None:
                        gaps[row] = (train - STUDY[row][0], test - STUDY[row][1])
                complete = len(gaps) == len(STUDY)
                train_gap = float(np.mean([abs(g[0]) for g in gaps.values()])) if complete else float("nan")
                test_gap = float(np.mean([abs(g[1]) for g in gaps.values()])) if complete else float("nan")
                rows.append(
                    {
                        "adam_lr": lr,
                        "l2": l2,
                        "run6_lr": run6[0],
                        "run6_momentum": run6[1],
                        "iterations": iterations,
                        "long_factor": factor,
                        "runs_found": len(gaps),
                        "train_gap": train_gap,
                        "test_gap": test_gap,
                        "score": (train_gap + test_gap) / 2,
                        "within_3_test_points": sum(abs(g[1]) <= 0.03 for g in gaps.values()) if complete else None,
                        "gaps": gaps,
                    }
                )
    return sorted(rows, key=lambda r: (np.isnan(r["score"]), r["score"]))


def _constants_of(row: dict) -> study.Constants:
    return study.Constants(
        row["iterations"],
        row["adam_lr"],
        (row["run6_lr"], row["run6_momentum"]),
        study.ROUND1.dropout,
        row["l2"],
        row["long_factor"],
    )


def write_calibration(rows: list[dict], out: Path, seed: int) -> list[Path]:
    names = {v: k for k, v in study.CONSTANTS.items()}
    fields = (
        "adam_lr",
        "l2",
        "run6_lr",
        "run6_momentum",
        "iterations",
        "long_factor",
        "train_gap",
        "test_gap",
        "score",
        "within_3_test_points",
        "runs_found",
        "constants",
    )
    buf = stdio.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow(
            {
                **{k: round(v, 5) if isinstance(v, float) else v for k, v in r.items()},
                "constants": names.get(_constants_of(r), ""),
            }
        )
    io.write_text(out / "calibration.csv", buf.getvalue())
    scored = [r for r in rows if np.isfinite(r["score"])]
    lines = [
        "# Calibration: the constants the study did not state",
        "",
        f"Generated by `cifar_v2.py --calibrate` (seed {seed}) from `results.jsonl`. Each row is one "
        "combination of the unstated constants; the gaps are the mean absolute differences between our final "
        "accuracies and the study's table over its 11 runs, in points; score = (train gap + test gap) / 2. "
        f"{len(scored)} of {len(rows)} combinations have all 11 runs. The best 12, and the two named sets:",
        "",
        "| rank | Adam lr | L2 | run 6 (lr, momentum) | iterations | run 8 factor | train gap | test gap "
        "| score | runs within 3 test points | set |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for rank, r in enumerate(scored, 1):
        name = names.get(_constants_of(r), "")
        if rank <= 12 or name:
            lines.append(
                f"| {rank} | {r['adam_lr']:g} | {r['l2']:g} | ({r['run6_lr']:g}, {r['run6_momentum']:g}) "
                f"| {r['iterations']} | {r['long_factor']:g} | {100 * r['train_gap']:.1f} "
                f"| {100 * r['test_gap']:.1f} | {100 * r['score']:.1f} | {r['within_3_test_points']} of 11 "
                f"| {name} |"
            )
    io.write_text(out / "calibration.md", "\n".join(lines) + "\n")
    written = [out / "calibration.csv", out / "calibration.md"]
    if scored:
        written.append(plot_calibration(scored, out / "calibration.png", seed))
    return written


def plot_calibration(rows: list[dict], path: Path, seed: int) -> Path:
    """Mean absolute gap to the study against the run length, one line per (Adam lr, L2), each at its
    best run-6 setting and run-8 factor."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharex=True)
    for k, (lr, l2) in enumerate(sorted({(r["adam_lr"], r["l2"]) for r in rows})):
        its = sorted(CALIBRATION_GRID["iterations"])
        best = [
            min((r for r in rows if (r["adam_lr"], r["l2"], r["iterations"]) == (lr, l2, it)), key=lambda r: r["score"])
            for it in its
        ]
        for ax, key in zip(axes, ("train_gap", "test_gap")):
            ax.plot(its, [100 * b[key] for b in best], marker="o", color=f"C{k}", label=f"Adam lr {lr:g}, L2 {l2:g}")
    for ax, what, target in zip(axes, ("train", "test"), (10, 3)):
        ax.axhline(target, color="0.5", ls="--", lw=1, label=f"target: {target} points")
        ax.set(
            xlabel="iterations per run",
            ylabel=f"mean |ours - study| {what} accuracy (points)",
            title=f"{what} accuracy gap over the 11 runs",
            ylim=(0, None),
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"Calibration of the unstated constants (seed {seed}; each point at its best run-6 setting and run-8 factor)"
    )
    fig.tight_layout()
    return save_figure(fig, path)


def calibrate(s: Settings, data, x_train, x_test) -> list[Path]:
    seed = s.seeds[0]
    todo = calibration_runs(s.batch_size)
    print(f"calibration: {len(todo)} runs (seed {seed}), every combination of {CALIBRATION_GRID}")
    if not s.summary_only:
        for i, run in enumerate(todo, 1):
            print(f"\n== calibration {i}/{len(todo)} {run.name}: {run.describe()}")
            report(train_run(make_spec(run, seed, s, data, x_train, x_test), wait=True), run, data)
    out = s.figures_dir()
    records = runs.update_index(out, s.runs_dir, TASK, STUDY_READ_EVERY)
    rows = calibration_table(records, data, seed, s.eval_every, s.batch_size)
    best = next((r for r in rows if np.isfinite(r["score"])), None)
    if best:
        print(
            f"best: Adam lr {best['adam_lr']:g}, L2 {best['l2']:g}, run 6 ({best['run6_lr']:g}, "
            f"{best['run6_momentum']:g}), {best['iterations']} iterations, run 8 x{best['long_factor']:g}: "
            f"train gap {100 * best['train_gap']:.1f}, test gap {100 * best['test_gap']:.1f} points"
        )
    return write_calibration(rows, out, seed)


# ---------------------------------------------------------------------------
# The search: Optuna over the study's knobs (and, with --search-space all, the ladder's ingredients).
def sample_run(trial, space: str, iterations: int) -> study.RunConfig:
    """A trial's run: every knob the study tuned by hand, and in the "all" space the recipe's too."""
    optimizers = ["adam", "momentum", "adagrad", "rmsprop"] + (["adamw", "nesterov"] if space == "all" else [])
    optimizer = trial.suggest_categorical("optimizer", optimizers)
    p = dict(
        optimizer=optimizer,
        learning_rate=trial.suggest_float("learning_rate", 1e-5, 3e-2, log=True),
        momentum=trial.suggest_float("momentum", 0.5, 0.99)
        if optimizer in ("momentum", "rmsprop", "nesterov")
        else 0.0,
        dropout=trial.suggest_float("dropout", 0.0, 0.7),
        l2=trial.suggest_float("l2", 1e-6, 1e-2, log=True),
        batch_size=trial.suggest_categorical("batch_size", [16, 32, 50, 100]),
        init=trial.suggest_categorical("init", ["normal", "glorot_uniform", "he_normal"]),
        activation=trial.suggest_categorical("activation", ["relu", "tanh", "sigmoid", "leaky_relu"]),
    )
    if space == "all":
        schedule = trial.suggest_categorical("schedule", ["constant", "cosine"])
        p.update(
            augment=trial.suggest_categorical("augment", ["none", "flip_shift"]),
            schedule=schedule,
            warmup=trial.suggest_int("warmup", 0, 500, step=100) if schedule == "cosine" else 0,
            weight_decay=trial.suggest_float("weight_decay", 1e-5, 0.1, log=True)
            if optimizer in ("adamw", "nesterov")
            else 0.0,
            label_smoothing=trial.suggest_float("label_smoothing", 0.0, 0.2),
            tta=trial.suggest_categorical("tta", [False, True]),
        )
    return study.RunConfig(f"search_{space}", iterations=iterations, **p)


def search_name(s: Settings) -> str:
    return f"{TASK}-{s.dataset}-{s.search_space}-{s.search_iterations}it"


def run_search(s: Settings, data, x_train, x_test) -> int:
    import optuna

    from common import search

    url = search.storage_url(s.storage, s.runs_dir)
    seed = s.seeds[0]
    st = search.open_study(search_name(s), url, seed, grace=s.search_grace, min_resource=2 * s.eval_every)
    print(
        f"search {st.study_name} on {url.split('@')[-1]}: until {s.search} trials are finished; "
        f"{search.counts(st)} so far"
    )

    def objective(trial):
        run = sample_run(trial, s.search_space, s.search_iterations)
        check_run(run.name, run.iterations, s.eval_every, run.batch_size, len(data.x_train))
        spec = make_spec(run, seed, s, data, x_train, x_test, task=SEARCH_TASK)

        def should_stop(iteration, record):
            trial.report(record["test_accuracy"], iteration)
            return trial.should_prune()

        spec.should_stop = should_stop
        trial.set_user_attr("run_dir", str(spec.run_dir))
        print(f"\n== trial {trial.number}: {run.describe()}")
        m = train_run(spec, wait=True)
        if m["status"] == "pruned":
            raise optuna.TrialPruned()
        # a diverged run scores chance: a bad configuration, not a failed trial to retry
        return (
            m["final"].get("test_accuracy", 1.0 / data.num_classes)
            if m["status"] == "finished"
            else (1.0 / data.num_classes)
        )

    final = search.work(st, objective, s.search)
    print(f"search {st.study_name}: {final}")
    return 0


def search_report(s: Settings, data, x_train, x_test) -> list[Path]:
    """The best trials, Optuna's figures, and the best configuration retrained with every --seeds beside
    the study's hand-tuned best (run 7), so the difference has error bars."""
    from common import search

    st = search.open_study(search_name(s), search.storage_url(s.storage, s.runs_dir), s.seeds[0], create=False)
    out = s.figures_dir() / "search" / st.study_name
    best = search.best_trials(st, 10)
    if not best:
        raise cli.UserError(f"study {st.study_name} has no complete trial yet; run --search first.")
    written = search.report_figures(st, out, save_figure)
    # the winner, retrained with each seed as an ordinary run (seed 0 is the search's own)
    import optuna

    fixed = optuna.trial.FixedTrial(best[0].params)  # answers every suggestion with the best trial's values
    # retrained at the study runs' length, so that it competes on the same budget with the hand-made
    # best of its space: the study's run 7, or with the ladder's ingredients the ladder's rung 4
    # (--iterations sets another length for both, e.g. a test's short one)
    (hand_run,) = s.selected_runs((SEARCH_RIVALS[s.search_space],))
    winner = replace(sample_run(fixed, s.search_space, hand_run.iterations), name=f"search_best_{s.search_space}")
    for seed in s.seeds:
        report(train_run(make_spec(winner, seed, s, data, x_train, x_test, task=SEARCH_TASK), wait=True), None, data)
    records = runs.update_index(out, s.runs_dir, SEARCH_TASK, STUDY_READ_EVERY)
    mine = [r for r in records if r["name"] == winner.name and r["identity"]["config"] == winner.identity()]
    base = [
        r
        for r in runs.update_index(s.figures_dir(), s.runs_dir, TASK, STUDY_READ_EVERY)
        if r["name"] == hand_run.name and r["identity"]["config"] == hand_run.identity()
    ]
    win, hand = (runs.mean_std([r["final"].get("test_accuracy") for r in rs]) for rs in (mine, base))
    c = search.counts(st)
    lines = [
        f"# Search `{st.study_name}`",
        "",
        f"Generated by `cifar_v2.py --search-report` from the study's storage: {c.get('COMPLETE', 0)} complete, "
        f"{c.get('PRUNED', 0)} pruned, {c.get('FAIL', 0)} failed trials, {s.search_iterations} iterations each, "
        f"space `{s.search_space}`. Value: the final test accuracy of the search's seed.",
        "",
        "| rank | trial | test acc | parameters |",
        "|---|---|---|---|",
    ]
    for rank, t in enumerate(best, 1):
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(t.params.items()))
        lines.append(f"| {rank} | {t.number} | {100 * t.value:.1f} | {params} |")
    lines += [
        "",
        f"The best configuration retrained for {hand_run.iterations} iterations (the study runs' length) with seeds "
        f"{','.join(map(str, s.seeds))}: test accuracy {runs.fmt_pct(win[0], win[1])}% (n = {win[2]}); "
        + (
            "the study's hand-tuned best (run 7"
            if s.search_space == "study"
            else "the hand-built recipe of the same length (the ladder's rung 4"
        )
        + f", `{hand_run.name}`, {hand_run.iterations} iterations): "
        f"{runs.fmt_pct(hand[0], hand[1])}% (n = {hand[2]}); the study reported 58.5% for its run 7.",
    ]
    if mine and base:
        diff, se, real = claims.compare(mine, base)
        lines += [
            "",
            f"Search minus `{hand_run.name}`: {100 * diff:+.1f} ± {100 * se:.1f} points (standard error over seeds): "
            + ("beyond noise" if real else "within noise (less than two standard errors)")
            + ".",
        ]
    io.write_text(out / "search.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return written + [out / "search.md"]


def report(m: dict, run: study.RunConfig | None, data) -> None:
    ref = STUDY.get(run.study_row) if run and data.is_study_data(study.STUDY_DATASET) else None
    final = m["final"]
    print(
        f"== {m['name']} seed {m['seed']}: {m['status']}, final train acc {_pct(final.get('train_accuracy'))}%, "
        f"test acc {_pct(final.get('test_accuracy'))}%" + (f" (study: ~{_pct(ref[1])}%)" if ref else "")
    )


@cli.entry_point
def main(argv=None) -> int:
    cli.line_buffered()
    s = parse(Settings, argv, description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    backend.set_precision(s.precision)  # before any model is built: Keras' dtype policy is global
    backend.set_fused_adam(s.fused_adam)  # likewise before any optimizer is built
    selected = s.selected_runs()
    if s.list:
        for run in selected:
            print(f"{run.study_row or '-':>2}. {run.name:<36} {run.describe()}")
        return 0
    out = cli.writable_dir(s.figures_dir(), "--out-dir")
    cli.writable_dir(s.runs_dir, "--runs-dir")
    data = load_dataset(s.dataset, s.data_dir, color=s.color, image_size=s.image_size)
    for run in selected:
        check_run(run.name, run.iterations, s.eval_every, run.batch_size, len(data.x_train))
    print(f"{data.describe()}\n{backend.banner()}")
    if s.calibrate:
        if not data.is_study_data(study.STUDY_DATASET):
            raise cli.UserError(
                f"--calibrate fits the study's table, which is about {study.STUDY_DATASET}; "
                f"{data.name} is not the study's data."
            )
        for path in calibrate(s, data, as_float_images(data.x_train), as_float_images(data.x_test)):
            print(f"wrote {path}")
        return 0
    if s.search is not None:
        return run_search(s, data, as_float_images(data.x_train), as_float_images(data.x_test))
    if s.search_report:
        for path in search_report(s, data, as_float_images(data.x_train), as_float_images(data.x_test)):
            print(f"wrote {path}")
        return 0
    if not s.summary_only:
        x_train, x_test = as_float_images(data.x_train), as_float_images(data.x_test)
        jobs = [(run, seed) for run in selected for seed in s.seeds]
        print(
            f"{len(jobs)} run(s): {len(selected)} configuration(s) x seeds {','.join(map(str, s.seeds))}; "
            f"evaluation every {s.eval_every} iterations; runs in {s.runs_dir}"
        )
        start, deferred = time.time(), []
        for i, (run, seed) in enumerate(jobs, 1):
            print(f"\n== {i}/{len(jobs)} {run.name} seed {seed}: {run.describe()}")
            spec = make_spec(run, seed, s, data, x_train, x_test)
            try:
                m = train_run(spec)
            except RunLocked:
                print(f"[{spec.label}] another process is training it; doing the other runs first.")
                deferred.append(spec)
                continue
            report(m, run, data)
        for spec in deferred:
            report(train_run(spec, wait=True), RUNS.get(spec.name), data)
        print(f"\n{len(jobs)} run(s) done in {cli.format_duration(time.time() - start)}.")
    written = summarize(s, data, selected)
    print(
        f"Summary: {out / 'summary.md'}; per-run figures in {out}/<run>/; index {out / 'results.jsonl'}; "
        f"metrics in {s.runs_dir}/<run>/seed<k>-<id>/metrics.json ({len(written)} files written)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
