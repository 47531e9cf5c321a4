"""The study's Task 1: a LeNet-5 on 28x28 grayscale CIFAR-10, the 11-run sweep.

    python cifar_v2.py                       # the whole sweep, figures to figures/cifar/
    python cifar_v2.py --list                # the run names and what each sets
    python cifar_v2.py --runs relu_adam_normal,tanh_adam_normal --iterations 2000

Each run trains for a fixed number of iterations (batches), as the study counted
them, and every ``eval_every`` iterations records the interval's train loss and
accuracy, the accuracy and loss on the whole test set, and statistics of the
conv1/conv2 activations on test images (min, max, mean, std and a histogram),
also logged for TensorBoard (``tensorboard --logdir runs/cifar``).
Rerunning the same command skips finished runs and resumes an interrupted one.
"""

from __future__ import annotations

import argparse
import csv
import io as stdio
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the logs

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from common import io, training  # noqa: E402
from common.data import DataError, as_float_images, load_cifar10  # noqa: E402
from common.models import build_lenet5, compile_classifier, make_optimizer  # noqa: E402
from common.plotting import plt, save_figure  # noqa: E402
from common.tensorboard import SummaryWriter  # noqa: E402

# ---------------------------------------------------------------------------
# Constants: edit and rerun, or override with flags (see --help).
ITERATIONS = 3000        # batches per run (15 passes over the 10,000 training images at batch 50)
BATCH_SIZE = 50          # the study's batch size
ADAM_LR = 1e-4           # the TF tutorial template's Adam learning rate
DROPOUT = 0.5            # drop rate on fc1 for the regularized runs (the template's keep_prob 0.5)
L2 = 1e-4                # L2 weight: loss = cross-entropy + L2 * sum of squared kernel weights
HIST_IMAGES = 10         # test images whose every activation goes into the histograms
HIST_BINS = 60


@dataclass(frozen=True)
class RunConfig:
    """One row of the study's table."""
    name: str
    study_row: int
    activation: str = "relu"
    optimizer: str = "adam"
    learning_rate: float = ADAM_LR
    momentum: float = 0.0
    init: str = "normal"
    dropout: float = 0.0
    l2: float = 0.0
    batch_size: int = BATCH_SIZE
    iterations: int = ITERATIONS

    def describe(self) -> str:
        opt = f"{self.optimizer} lr {self.learning_rate:g}" + (f" m {self.momentum:g}" if self.momentum else "")
        reg = f"dropout {self.dropout:g} + L2 {self.l2:g}" if self.dropout or self.l2 else "no regularization"
        return f"{self.activation}, {opt}, {self.init} init, {reg}, batch {self.batch_size}, {self.iterations} it"


def _regularized(name, row, **kw):
    return RunConfig(name, row, dropout=DROPOUT, l2=L2, **kw)


# The study's 11 runs, in the order of its table. Where the study gave no value (run 6's
# learning rate and momentum, the dropout and L2 weights), the choice is ours, stated above.
RUNS = {r.name: r for r in [
    RunConfig("relu_adam_normal", 1),
    RunConfig("tanh_adam_normal", 2, activation="tanh"),
    RunConfig("sigmoid_adam_normal", 3, activation="sigmoid"),
    RunConfig("leaky_relu_adam_normal", 4, activation="leaky_relu"),
    RunConfig("relu_adam_glorot_uniform", 5, init="glorot_uniform"),
    RunConfig("relu_momentum_normal", 6, optimizer="momentum", learning_rate=1e-3, momentum=0.9),
    _regularized("relu_adam_normal_dropout_l2", 7),
    _regularized("relu_adam_normal_dropout_l2_long", 8, iterations=2 * ITERATIONS),
    _regularized("relu_momentum08_lr1e-2_dropout_l2", 9, optimizer="momentum", learning_rate=1e-2, momentum=0.8),
    _regularized("relu_momentum07_lr1e-2_dropout_l2", 10, optimizer="momentum", learning_rate=1e-2, momentum=0.7),
    _regularized("relu_momentum09_lr1e-3_dropout_l2", 11, optimizer="momentum", learning_rate=1e-3, momentum=0.9),
]}

# The study's reported accuracies (ORIGINAL_STUDY.md, Task 1 table), by table row.
STUDY = {1: (0.96, 0.525), 2: (0.96, 0.543), 3: (0.66, 0.49), 4: (0.92, 0.528), 5: (0.96, 0.533),
         6: (0.92, 0.454), 7: (0.92, 0.585), 8: (0.92, 0.56), 9: (0.72, 0.53), 10: (0.52, 0.52), 11: (0.50, 0.48)}


@dataclass
class SweepConfig:
    runs: tuple[str, ...] = tuple(RUNS)
    iterations: int | None = None     # overrides every run's (run 8 keeps twice as many)
    batch_size: int | None = None
    eval_every: int = 100
    checkpoint_every: int = 500
    seed: int = 0
    data_dir: str | None = None
    out_dir: Path = Path("figures/cifar")
    runs_dir: Path = Path("runs/cifar")


CONV_LAYERS = ("conv1", "conv2")
STATS = ("min", "max", "mean", "std")


# ---------------------------------------------------------------------------
# Evaluation: test accuracy and loss plus the conv-activation statistics, in one pass.
class Evaluator:
    """Every evaluation runs the test set once through a probe model that returns the
    logits and, per image, the min, max, sum and sum of squares of each conv layer's
    activations; a few fixed test images give the histograms."""

    def __init__(self, x_test, y_test, writer: SummaryWriter | None, hist_images: int = HIST_IMAGES):
        self.x_test, self.y_test, self.writer = x_test, y_test, writer
        self.x_hist = x_test[:hist_images]
        self._model = None

    def _build_probes(self, model):
        acts = [model.get_layer(name).output for name in CONV_LAYERS]
        per_image = [f(a, axis=(1, 2, 3)) for a in acts for f in (ops.min, ops.max, ops.sum, lambda t, axis: ops.sum(ops.square(t), axis=axis))]
        self.probe = keras.Model(model.inputs, [model.outputs[0]] + per_image)
        self.hist_probe = keras.Model(model.inputs, acts)
        self.sizes = [int(np.prod(a.shape[1:])) for a in acts]
        self._model = model

    def __call__(self, model, iteration: int) -> dict:
        if self._model is not model:
            self._build_probes(model)
        outs = [self.probe.predict_on_batch(xb) for xb in np.array_split(self.x_test, 2)]
        logits, *per_image = [np.concatenate([np.asarray(o[i]) for o in outs]) for i in range(len(outs[0]))]
        logits = logits.astype(np.float64)
        log_z = np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1)) + logits.max(1)
        record = {"test_loss": float(np.mean(log_z - logits[np.arange(len(logits)), self.y_test])),
                  "test_accuracy": float(np.mean(logits.argmax(1) == self.y_test))}
        hist_acts = self.hist_probe.predict_on_batch(self.x_hist)
        for i, name in enumerate(CONV_LAYERS):
            mins, maxs, sums, sqs = (per_image[4 * i + k].astype(np.float64) for k in range(4))
            count = self.sizes[i] * len(self.x_test)
            mean = sums.sum() / count
            record[f"{name}_min"], record[f"{name}_max"] = float(mins.min()), float(maxs.max())
            record[f"{name}_mean"] = float(mean)
            record[f"{name}_std"] = float(np.sqrt(max(sqs.sum() / count - mean**2, 0.0)))
            values = np.asarray(hist_acts[i]).ravel()
            counts, edges = np.histogram(values, bins=HIST_BINS)
            record[f"{name}_hist"] = {"edges": edges.tolist(), "counts": counts.tolist()}
            if self.writer:
                self.writer.histograms({f"activations/{name}": values}, iteration)
        if self.writer:
            self.writer.scalars({k: v for k, v in record.items() if not isinstance(v, dict)}, iteration)
        return record


# ---------------------------------------------------------------------------
# Figures.
def plot_curves(history: list[dict], title: str, path, reference: dict | None = None,
                train_loss_label: str = "train (interval mean)") -> Path:
    """Train/test accuracy and train loss (and test loss where recorded) against iterations.
    ``reference`` may hold the study's ``train_acc`` / ``test_acc`` (fractions) as dashed lines."""
    its = [h["iteration"] for h in history]
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4))
    ax_acc.plot(its, [h.get("train_accuracy", np.nan) for h in history], label="train (interval mean)", color="C0")
    if any("test_accuracy" in h for h in history):
        ax_acc.plot(its, [h.get("test_accuracy", np.nan) for h in history], label="test (all test images)", color="C1")
    for key, color in (("train_acc", "C0"), ("test_acc", "C1")):
        if reference and reference.get(key) is not None:
            ax_acc.axhline(reference[key], color=color, ls="--", lw=1, label=f"study's {key.replace('_', ' ')}")
    ax_acc.set(xlabel="iteration (batch)", ylabel="accuracy", ylim=(0, 1), title="accuracy")
    ax_acc.grid(alpha=0.3)
    ax_acc.legend(fontsize=8, loc="best")
    ax_loss.plot(its, [h.get("train_loss", np.nan) for h in history], label=train_loss_label, color="C0")
    if any("test_loss" in h for h in history):
        ax_loss.plot(its, [h.get("test_loss", np.nan) for h in history], label="test", color="C1")
    ax_loss.set(xlabel="iteration (batch)", ylabel="cross-entropy loss", title="loss")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def image_grid(images: np.ndarray, path, title: str, ncols: int = 8, cmap: str = "gray",
               vmin: float | None = None, vmax: float | None = None, labels=None, colorbar_label: str | None = None):
    """Images (N, H, W) in a grid, all on one color scale (vmin..vmax) with a colorbar."""
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
    cbar = fig.colorbar(im, ax=axes, shrink=0.8)
    if colorbar_label:
        cbar.set_label(colorbar_label)
    return save_figure(fig, path)


def grouped_bars(groups: list[str], series: dict[str, list[float]], path, title: str, ylabel: str,
                 ylim=(0, 1.2), rotate: int = 30, colors: list[str] | None = None) -> Path:
    """One group of bars per entry of ``groups``; ``series`` maps a legend label to values (NaN = missing,
    drawn as no bar). Values are fractions, labeled as percentages."""
    x = np.arange(len(groups))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(max(7, 1.1 * len(groups) + 2), 5))
    for i, (label, values) in enumerate(series.items()):
        values = np.asarray(values, dtype=float)
        bars = ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label,
                      color=None if colors is None else colors[i])
        ax.bar_label(bars, labels=["" if np.isnan(v) else f"{100 * v:.0f}" for v in values], fontsize=7, padding=1)
    ax.set_xticks(x, groups, rotation=rotate, ha="right" if rotate else "center")
    ax.set(ylabel=ylabel, ylim=ylim, title=title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncols=min(4, len(series)), loc="upper center")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_activation_stats(history, title, path):
    its = [h["iteration"] for h in history if "conv1_mean" in h]
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.6))
    for ax, stat in zip(axes, STATS):
        for name in CONV_LAYERS:
            ax.plot(its, [h[f"{name}_{stat}"] for h in history if "conv1_mean" in h], label=name)
        ax.set(title=stat, xlabel="iteration (batch)", ylabel=f"activation {stat}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_activation_histograms(history, title, path, n_snapshots: int = 6):
    """Each conv layer's activation distribution at a few iterations, earliest (dark) to latest (yellow)."""
    recorded = [h for h in history if "conv1_hist" in h]
    picks = [recorded[i] for i in sorted(set(np.linspace(0, len(recorded) - 1, n_snapshots).round().astype(int)))]
    cmap = plt.get_cmap("viridis")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    for ax, name in zip(axes, CONV_LAYERS):
        for j, h in enumerate(picks):
            edges, counts = np.asarray(h[f"{name}_hist"]["edges"]), np.asarray(h[f"{name}_hist"]["counts"])
            density = counts / max(counts.sum(), 1) / np.diff(edges)
            ax.stairs(density, edges, color=cmap(j / max(len(picks) - 1, 1)), lw=1.4,
                      label=f"iteration {h['iteration']}")
        ax.set_yscale("log")
        ax.set(title=f"{name} activations ({HIST_IMAGES} test images)", xlabel="activation value",
               ylabel="density (log scale)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_filters(model, title, path):
    kernel = np.asarray(model.get_layer("conv1").kernel)  # (5, 5, 1, 32)
    filters = np.moveaxis(kernel[:, :, 0, :], -1, 0)
    if not np.all(np.isfinite(filters)):
        return None
    m = float(np.abs(filters).max())
    return image_grid(filters, path, title, ncols=8, vmin=-m, vmax=m,
                               labels=[f"{i}" for i in range(len(filters))], colorbar_label="weight")


def write_run_figures(run: RunConfig, model, metrics, out_dir: Path):
    status = "" if metrics["status"] == "finished" else f" [{metrics['status'].upper()}]"
    title = f"{run.name}{status}: {run.describe()}"
    study_train, study_test = STUDY[run.study_row]
    plot_curves(metrics["history"], title, out_dir / "curves.png",
                         reference={"train_acc": study_train, "test_acc": study_test},
                         train_loss_label="train (interval mean" + (", incl. L2 penalty)" if run.l2 else ")"))
    if any("conv1_mean" in h for h in metrics["history"]):
        plot_activation_stats(metrics["history"], f"conv activation statistics on the 1,000 test images\n{title}",
                              out_dir / "activation_stats.png")
        plot_activation_histograms(metrics["history"], f"conv activation histograms\n{title}",
                                   out_dir / "activation_histograms.png")
    plot_filters(model, f"conv1 filters (5x5, shared symmetric gray scale)\n{title}", out_dir / "filters.png")


# ---------------------------------------------------------------------------
# Summary against the study's numbers.
SUMMARY_FIELDS = ("row", "run", "status", "iterations", "final_train_acc", "final_test_acc", "best_test_acc",
                  "study_train_acc", "study_test_acc", "wall_time_s", "images_per_s")


def summary_rows(runs, results):
    rows = []
    for run in runs:
        m = results[run.name]
        final = m["final"]
        study_train, study_test = STUDY[run.study_row]
        rows.append({"row": run.study_row, "run": run.name, "status": m["status"],
                     "iterations": m["iterations_done"],
                     "final_train_acc": final.get("train_accuracy") if m["status"] == "finished" else None,
                     "final_test_acc": final.get("test_accuracy"), "best_test_acc": m["best_test_accuracy"],
                     "study_train_acc": study_train, "study_test_acc": study_test,
                     "wall_time_s": m["wall_time_s"], "images_per_s": m["images_per_sec"]})
    return rows


def _fmt(value, pct=True):
    if value is None:
        return "-"
    return f"{100 * value:.1f}%" if pct else f"{value:,.0f}"


def write_summary(runs, results, out_dir: Path, command: str):
    rows = summary_rows(runs, results)
    buf = stdio.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_FIELDS)
    writer.writeheader()
    writer.writerows(rows)
    io.write_text(out_dir / "summary.csv", buf.getvalue())

    total = sum(r["wall_time_s"] for r in rows)
    lines = [f"# CIFAR-10 sweep: ours against the study", "",
             f"Made by `{command}` (seed {results[runs[0].name]['seed']}); "
             f"total wall time {training.format_duration(total)}.", "",
             "Train accuracy is the mean over the last evaluation interval's batches (as the study's "
             "training curves); test accuracy is on all 1,000 test images.", "",
             "| # | run | status | iterations | train acc | test acc (final) | test acc (best) "
             "| study train | study test | wall time | images/s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['row']} | `{r['run']}` | {r['status']} | {r['iterations']} | {_fmt(r['final_train_acc'])} "
                     f"| {_fmt(r['final_test_acc'])} | {_fmt(r['best_test_acc'])} | ~{_fmt(r['study_train_acc'])} "
                     f"| ~{_fmt(r['study_test_acc'])} | {training.format_duration(r['wall_time_s'])} "
                     f"| {_fmt(r['images_per_s'], pct=False)} |")
    io.write_text(out_dir / "summary.md", "\n".join(lines) + "\n")

    nan = float("nan")
    labels = [f"{r['row']}. {r['run']}" + (" (diverged)" if r["status"] == "diverged" else "") for r in rows]
    grouped_bars(
        labels,
        {"ours: train": [r["final_train_acc"] if r["final_train_acc"] is not None else nan for r in rows],
         "study: train": [r["study_train_acc"] for r in rows],
         "ours: test (final)": [r["final_test_acc"] if r["final_test_acc"] is not None else nan for r in rows],
         "study: test": [r["study_test_acc"] for r in rows]},
        out_dir / "summary.png", "CIFAR-10 (28x28 gray, 10k/1k): final accuracy, ours vs the study's", "accuracy",
        colors=["#1f77b4", "#9ecae1", "#d62728", "#fcae91"])
    return rows


# ---------------------------------------------------------------------------
def run_one(run: RunConfig, cfg: SweepConfig, x_train, y_train, x_test, y_test) -> dict:
    run_dir = cfg.runs_dir / run.name
    writer = SummaryWriter(run_dir / "tensorboard")
    evaluator = Evaluator(x_test, y_test, writer)

    def build():
        model = build_lenet5(run.activation, run.init, dropout=run.dropout, l2=run.l2)
        return compile_classifier(model, make_optimizer(run.optimizer, run.learning_rate, run.momentum))

    try:
        return training.train_run(
            run.name, build, x_train, y_train, run_dir=run_dir, config=asdict(run), iterations=run.iterations,
            batch_size=run.batch_size, eval_every=cfg.eval_every, seed=cfg.seed, evaluate=evaluator,
            checkpoint_every=cfg.checkpoint_every,
            on_final=lambda model, metrics: write_run_figures(run, model, metrics, cfg.out_dir / run.name))
    finally:
        writer.close()


def parse_args(argv=None) -> tuple[SweepConfig, argparse.Namespace]:
    defaults = SweepConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", default=",".join(defaults.runs),
                   help="comma-separated run names (default: all 11, see --list)")
    p.add_argument("--list", action="store_true", help="print the run names and what each sets, then exit")
    p.add_argument("--iterations", type=int, default=None,
                   help=f"iterations per run (default {ITERATIONS}; the '_long' run does twice as many)")
    p.add_argument("--batch-size", type=int, default=None, help=f"batch size of every run (default {BATCH_SIZE})")
    p.add_argument("--eval-every", type=int, default=defaults.eval_every,
                   help=f"iterations between evaluations (default {defaults.eval_every})")
    p.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every,
                   help=f"iterations between resumable checkpoints (default {defaults.checkpoint_every})")
    p.add_argument("--seed", type=int, default=defaults.seed, help=f"weights, batch order, dropout (default {defaults.seed})")
    p.add_argument("--data-dir", default=None, help="folder holding CIFAR10/{Train,Test}/<class>/*.png "
                   "(default: $DATA_DIR, ./data, ../shared/data, then Keras' downloader)")
    p.add_argument("--out-dir", type=Path, default=defaults.out_dir,
                   help=f"where figures and the summary go (default {defaults.out_dir})")
    p.add_argument("--runs-dir", type=Path, default=defaults.runs_dir,
                   help=f"where metrics JSON, checkpoints and TensorBoard logs go (default {defaults.runs_dir})")
    args = p.parse_args(argv)
    names = tuple(n.strip() for n in args.runs.split(",") if n.strip())
    unknown = [n for n in names if n not in RUNS]
    if unknown or not names:
        p.error(f"--runs: unknown run name(s) {unknown or [args.runs]}; choose from {', '.join(RUNS)} (see --list)")
    for flag in ("iterations", "batch_size", "eval_every", "checkpoint_every"):
        value = getattr(args, flag)
        if value is not None and value <= 0:
            p.error(f"--{flag.replace('_', '-')} must be a positive integer, got {value}")
    cfg = SweepConfig(runs=names, iterations=args.iterations, batch_size=args.batch_size, eval_every=args.eval_every,
                      checkpoint_every=args.checkpoint_every, seed=args.seed, data_dir=args.data_dir,
                      out_dir=args.out_dir, runs_dir=args.runs_dir)
    return cfg, args


def resolve_runs(cfg: SweepConfig) -> list[RunConfig]:
    runs = []
    for name in cfg.runs:
        run = RUNS[name]
        if cfg.iterations is not None:
            run = replace(run, iterations=cfg.iterations * run.iterations // ITERATIONS)
        if cfg.batch_size is not None:
            run = replace(run, batch_size=cfg.batch_size)
        runs.append(run)
    return runs


def main(argv=None) -> int:
    sys.stdout.reconfigure(line_buffering=True)  # progress lines show up at once, also in `| tee` logs
    cfg, args = parse_args(argv)
    runs = resolve_runs(cfg)
    if args.list:
        for run in runs:
            print(f"{run.study_row:>2}. {run.name:<36} {run.describe()}")
        return 0
    try:
        data = load_cifar10(cfg.data_dir)
    except DataError as err:
        sys.exit(f"error: {err}")
    print(f"CIFAR10 from {data.source}: {len(data.x_train)} train / {len(data.x_test)} test images; "
          f"{len(runs)} run(s), seed {cfg.seed}, evaluation every {cfg.eval_every} iterations.")
    x_train, x_test = as_float_images(data.x_train), as_float_images(data.x_test)
    command = " ".join(["python cifar_v2.py", *(sys.argv[1:] if argv is None else argv)])
    results, start = {}, time.time()
    for i, run in enumerate(runs, 1):
        print(f"\n== run {i}/{len(runs)}: {run.name}: {run.describe()}")
        results[run.name] = run_one(run, cfg, x_train, data.y_train, x_test, data.y_test)
        m = results[run.name]
        print(f"== {run.name}: {m['status']}, final test accuracy {_fmt(m['final'].get('test_accuracy'))}, "
              f"best {_fmt(m['best_test_accuracy'])} (study: ~{_fmt(STUDY[run.study_row][1])})")
    write_summary(runs, results, cfg.out_dir, command)
    print(f"\nSweep done in {training.format_duration(time.time() - start)}. "
          f"Summary: {cfg.out_dir / 'summary.md'}; per-run figures in {cfg.out_dir}/<run>/; "
          f"metrics in {cfg.runs_dir}/<run>/metrics.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
