"""Task 3: recurrent networks on MNIST, and Part C's comparison with the study's CNN.

    python rnn_mnist.py                               # the grid (3 cells x 4 sizes) + the CNN, seed 0
    python rnn_mnist.py --cells lstm,gru --hidden 20,10 --seeds 0,1,2
    python rnn_mnist.py --dataset MYSET               # any <data-dir>/MYSET/{Train,Test}/<class>/*.png set
    python rnn_mnist.py --summary-only                # redraw figures and tables from saved results

Each image is read as a sequence of its rows (28 time steps of 28 pixels for MNIST): one
recurrent layer (basic RNN = keras SimpleRNN, LSTM or GRU), then a dense softmax over the
classes. Every ``--eval-every`` iterations a run records the interval's mean train loss and
accuracy, the test loss and accuracy on all test images, and the cumulative training
seconds. Part C trains the study's CNN (the LeNet-5 of common/) on the same images with the
same batch size and iteration budget.

Outputs: runs/rnn/<cell>_<units>/seed<k>-<id>/ (and runs/rnn/cnn/...); figures/rnn/
<cell>_curves.png, summary.png, cnn_comparison.png, summary.md, summary.csv, results.jsonl.
Finished runs are skipped, an interrupted one resumes exactly, and the summary is rebuilt
from every finished run in --runs-dir and the results index.
"""

from __future__ import annotations

import csv
import io as stringio
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from common import cpu  # noqa: E402  (first: the CPU's settings must precede TensorFlow's loading)

cpu.configure()  # oneDNN where TensorFlow leaves it off, TensorFlow's start-up chatter quiet: common/cpu.py

import keras  # noqa: E402
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
    LEARNING_RATE,
    OUT_DIR,
    PRECISION,
    RUNS_DIR,
    SEEDS,
    parse,
    setting,
)
from common.data import as_float_images, figures_folder, load_dataset  # noqa: E402
from common.evaluation import make_test_evaluator  # noqa: E402
from common.models import (  # noqa: E402
    LOGITS_DTYPE,
    OPTIMIZERS,
    SCHEDULES,
    compile_classifier,
    learning_rate_schedule,
    make_optimizer,
)
from common.plotting import plt, save_figure, seeds_note  # noqa: E402
from common.training import RunLocked, RunSpec, check_run, train_run  # noqa: E402

TASK = "rnn_mnist"
CELLS = ("rnn", "lstm", "gru")
CELL_LAYERS = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
CELL_LABELS = {"rnn": "basic RNN", "lstm": "LSTM", "gru": "GRU", "cnn": "CNN (LeNet-5)"}
CELL_COLORS = {"rnn": "C2", "lstm": "C0", "gru": "C1", "cnn": "C3"}
STUDY_DATASET = "MNIST"
# The study's reported test accuracies (fractions); the basic RNN has no numbers in the report.
STUDY_TEST_ACCURACY = {
    "lstm": {20: 0.95, 15: 0.95, 10: 0.90, 5: 0.75},
    "gru": {20: 0.95, 15: 0.95, 10: 0.85, 5: 0.65},
    "rnn": {},
}


# Defaults chosen with short runs on the 2-core CPU (seed 0, batch 100, Adam, 3000 iterations, cosine decay):
# lr 1e-2 -> test accuracy LSTM-20 93.8%, GRU-20 95.0%, basic RNN-20 ~75%; lr 5e-3 -> 93.1%, 93.9%, ~76%.
# Unrolled LSTM/GRU train faster on the CPU (measured, batch 100: LSTM ~16k img/s unrolled, ~13k not).
@dataclass(frozen=True)
class Settings:
    cells: tuple[str, ...] = setting(CELLS, "recurrent cells, comma-separated", choices=CELLS)
    hidden: tuple[int, ...] = setting((20, 15, 10, 5), "hidden sizes, comma-separated", min=1, metavar="UNITS")
    optimizer: str = setting("adam", "the RNNs' optimizer", choices=OPTIMIZERS)
    learning_rate: float = LEARNING_RATE(1e-2, "the RNNs' learning rate")
    lr_schedule: str = setting(
        "cosine",
        "cosine: decay every learning rate to 0 over the run (a stable final number); constant: no decay",
        choices=SCHEDULES,
    )
    batch_size: int = BATCH_SIZE(100)
    iterations: int = ITERATIONS(3000)
    eval_every: int = EVAL_EVERY(100)
    checkpoint_every: int = CHECKPOINT_EVERY(500)
    seeds: tuple[int, ...] = SEEDS((0,))
    unroll: bool = setting(True, "unroll the time steps (faster on the CPU)")
    cnn: bool = setting(True, "Part C: also train the study's CNN with the same batch size and iterations")
    cnn_learning_rate: float = LEARNING_RATE(1e-4, "the CNN's Adam learning rate (the TF tutorial's)")
    precision: str = PRECISION("float32")
    fused_adam: bool = FUSED_ADAM(False)
    dataset: str = DATASET(STUDY_DATASET)
    data_dir: Path | None = DATA_DIR(None)
    color: str | None = COLOR(None)
    image_size: str | None = IMAGE_SIZE(None)
    runs_dir: Path = RUNS_DIR(Path("runs/rnn"))
    out_dir: Path | None = OUT_DIR(
        None,
        "where figures and summary tables go (default: figures/rnn for MNIST, figures/rnn_<dataset>[_<color>][_<HxW>] "
        "for other sets or another --color/--image-size)",
    )
    summary_only: bool = setting(False, "train nothing: redraw figures and tables from the saved results")

    def figures_dir(self) -> Path:
        if self.out_dir is not None:
            return self.out_dir
        return figures_folder("rnn", self.dataset, STUDY_DATASET, self.color, self.image_size)


# ---------------------------------------------------------------- data and models


def as_sequences(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, C) -> float32 (N, H, W * C) in [0, 1]: time step r is image row r
    (for color images its pixels' channels side by side: r, g, b, r, g, b, ...)."""
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"expected images of shape (N, rows, columns[, channels]), got {images.shape}")
    return images.reshape(len(images), images.shape[1], -1).astype(np.float32) / 255.0


def expected_params(cell: str, hidden: int, inputs: int = 28, classes: int = 10) -> int:
    """Textbook parameter count: recurrent layer (Keras 3 GRU: reset_after=True) + dense softmax."""
    h, d = hidden, inputs
    recurrent = {"rnn": h * (h + d) + h, "lstm": 4 * (h * (h + d) + h), "gru": 3 * (h * (h + d) + 2 * h)}[cell]
    return recurrent + classes * (h + 1)


def build_rnn(
    cell: str, hidden: int, unroll: bool = True, steps: int = 28, inputs: int = 28, num_classes: int = 10
) -> keras.Model:
    """``steps`` x ``inputs`` -> one ``cell`` layer of ``hidden`` units -> dense logits."""
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
    rows = keras.Input((steps, inputs), name="rows")
    x = CELL_LAYERS[cell](hidden, unroll=unroll, name=cell)(rows)
    outputs = keras.layers.Dense(num_classes, name="logits", dtype=LOGITS_DTYPE)(x)
    return keras.Model(rows, outputs, name=f"{cell}_{hidden}")


def run_name(cell: str, hidden: int | None = None) -> str:
    return "cnn" if cell == "cnn" else f"{cell}_{hidden}"


def cnn_run(s: Settings) -> study.RunConfig:
    """Part C's CNN: the study's LeNet-5 (run 1's config) with this grid's batch, budget and schedule."""
    return study.RunConfig(
        "cnn",
        learning_rate=s.cnn_learning_rate,
        iterations=s.iterations,
        batch_size=s.batch_size,
        schedule=s.lr_schedule,
    )


def run_config(s: Settings, cell: str, hidden: int | None) -> dict:
    """What shapes one run's numbers (with the seed, the data and the backend)."""
    if cell == "cnn":
        return {"cell": "cnn", "hidden_units": None, **cnn_run(s).identity()}
    return {
        "cell": cell,
        "hidden_units": hidden,
        "optimizer": s.optimizer,
        "learning_rate": s.learning_rate,
        "lr_schedule": s.lr_schedule,
        "batch_size": s.batch_size,
        "iterations": s.iterations,
        "unroll": s.unroll,
    }


def make_spec(s: Settings, cell: str, hidden: int | None, seed: int, data, arrays: dict) -> RunSpec:
    name = run_name(cell, hidden)
    identity = runs.make_identity(TASK, run_config(s, cell, hidden), seed, data, s.eval_every)
    if cell == "cnn":
        x_train, x_test = arrays["img_train"], arrays["img_test"]

        def build():
            return study.build_model(cnn_run(s), data.num_classes, x_train.shape[1:])
    else:
        x_train, x_test = arrays["seq_train"], arrays["seq_test"]

        def build():
            lr = learning_rate_schedule(s.learning_rate, s.lr_schedule, s.iterations)
            model = build_rnn(cell, hidden, s.unroll, *x_train.shape[1:], data.num_classes)
            return compile_classifier(model, make_optimizer(s.optimizer, lr))

    return RunSpec(
        name=name,
        identity=identity,
        run_dir=runs.run_folder(s.runs_dir, name, identity),
        build=build,
        x=x_train,
        y=data.y_train,
        iterations=s.iterations,
        batch_size=s.batch_size,
        eval_every=s.eval_every,
        checkpoint_every=s.checkpoint_every,
        evaluate=make_test_evaluator(x_test, data.y_test),
    )


# ---------------------------------------------------------------- collecting results


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
    for (name, gid), recs in runs.groups(records).items():
        c = recs[0]["identity"]["config"]
        cell, hidden = c["cell"], c["hidden_units"]
        stats = {
            key: runs.mean_std([final_value(m, key) for m in recs])
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
                "test_accuracy_binomial_se": runs.binomial_se(stats["test_accuracy"][0], n_test),
                "train_seconds_mean": runs.mean_std([m["train_time_s"] for m in recs])[0],
                "study_test_accuracy": STUDY_TEST_ACCURACY.get(cell, {}).get(hidden) if study_data else None,
                "identity": runs.identity_label(recs[0]["identity"]),
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


def _band(ax, recs: list[dict], key: str, color, label, x_key: str = "iteration"):
    """Mean over seeds as a line, min-max over seeds as a band (x: iterations or mean training seconds)."""
    its = sorted(set.intersection(*[{h["iteration"] for h in m["history"] if key in h} for m in recs]))
    if not its:
        return
    vals = np.array([[next(h[key] for h in m["history"] if h["iteration"] == it) for it in its] for m in recs])
    xs = np.array(
        [[next(h.get(x_key, np.nan) for h in m["history"] if h["iteration"] == it) for it in its] for m in recs]
    ).mean(axis=0)
    ax.plot(xs, vals.mean(axis=0), color=color, lw=1.6, label=label)
    if len(recs) > 1:
        ax.fill_between(xs, vals.min(axis=0), vals.max(axis=0), color=color, alpha=0.2, lw=0)


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
            _band(ax, r["records"], key, color, label)
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


def plot_cnn_comparison(rows: list[dict], path: Path) -> Path:
    """Train and test accuracy against iterations and against training seconds."""
    fig, axes = plt.subplots(2, 2, figsize=(11.5, 7.5), sharey=True)
    for r in rows:
        cell = r["cell"]
        label = (
            CELL_LABELS[cell]
            + ("" if cell == "cnn" else f", {r['hidden_units']} units")
            + f" ({r['num_params']:,} params)"
        )
        for row, key in enumerate(("train_accuracy", "test_accuracy")):
            _band(axes[row, 0], r["records"], key, CELL_COLORS[cell], label)
            # log time axis: the CNN trains ~10x longer than the RNNs; t = 0 (untrained) is left out
            timed = [dict(m, history=[h for h in m["history"] if h.get("train_time_s", 0) > 0]) for m in r["records"]]
            _band(axes[row, 1], timed, key, CELL_COLORS[cell], label, x_key="train_time_s")
    for row, what in enumerate(("train accuracy (interval mean)", "test accuracy")):
        for col, xlabel in enumerate(
            ("iteration (batch)", "training seconds, log scale (model.fit; evaluation excluded)")
        ):
            ax = axes[row, col]
            ax.set(xlabel=xlabel, ylim=(0, 1.02), title=f"{what} vs {'iterations' if col == 0 else 'time'}")
            ax.grid(alpha=0.3)
        axes[row, 1].set_xscale("log")
        axes[row, 0].set_ylabel("accuracy")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=2, fontsize=9, bbox_to_anchor=(0.5, -0.01))
    fig.suptitle(
        "Part C: the study's CNN vs the best basic RNN, LSTM and GRU (same data, batch and iterations); "
        f"{seeds_note([r['n'] for r in rows])}",
        fontsize=10,
    )
    fig.tight_layout(rect=(0, 0.07, 1, 1))
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


def summary_csv(rows: list[dict]) -> str:
    buf = stringio.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow(
            {
                k: (
                    ""
                    if r[k] is None or (isinstance(r[k], float) and math.isnan(r[k]))
                    else round(r[k], 5)
                    if isinstance(r[k], float)
                    else r[k]
                )
                for k in CSV_FIELDS
            }
        )
    return buf.getvalue()


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
            f"| {CELL_LABELS[r['cell']]}{status} | {r['hidden_units']} | {r['num_params']:,} | {r['seeds']} "
            f"| {r['iterations']} "
            f"| {runs.fmt_pct(r['final_train_accuracy_mean'], r['final_train_accuracy_std'])} "
            f"| {runs.fmt_pct(r['final_test_accuracy_mean'], r['final_test_accuracy_std'])} "
            f"| {runs.fmt_pct(r['test_accuracy_binomial_se'])} "
            f"| {_fmt(r['final_train_loss_mean'])} | {_fmt(r['final_test_loss_mean'])} "
            f"| {cli.format_duration(r['train_seconds_mean'])} | {study_acc} | {r['identity']} |"
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
            label = CELL_LABELS[r["cell"]] + ("" if r["cell"] == "cnn" else f", {r['hidden_units']} units")
            reach = [first_reaching(m, "train_accuracy", 0.95) for m in r["records"]]
            reach_txt = (
                "not reached"
                if any(it is None for it, _ in reach)
                else f"{np.median([it for it, _ in reach]):.0f} / {np.median([s for _, s in reach]):.0f}s"
            )
            ips = runs.mean_std([m.get("images_per_sec") for m in r["records"]])[0]
            opt = c.get("optimizer", "adam")
            sched = c.get("lr_schedule", c.get("schedule"))
            lines.append(
                f"| {label} | {r['num_params']:,} | {opt} {c['learning_rate']} ({sched}) "
                f"| {runs.fmt_pct(r['final_train_accuracy_mean'], r['final_train_accuracy_std'])} "
                f"| {runs.fmt_pct(r['final_test_accuracy_mean'], r['final_test_accuracy_std'])} | {reach_txt} "
                f"| {cli.format_duration(r['train_seconds_mean'])} | {ips:,.0f} |"
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


def write_summary(s: Settings, data, log=print) -> list[Path]:
    """Adds every finished run in --runs-dir to the index, then rebuilds every figure and table from it."""
    out = s.figures_dir()
    io.remove_stale_temps(out, recursive=True)  # half-written figures of killed processes
    records = [
        r for r in runs.update_index(out, s.runs_dir, TASK, log=log) if r["identity"]["data"]["name"] == s.dataset
    ]
    study_data = data.is_study_data(STUDY_DATASET)
    current = {}
    for cell, hidden in [(c, h) for c in s.cells for h in s.hidden] + [("cnn", None)]:
        identity = runs.make_identity(TASK, run_config(s, cell, hidden), 0, data, s.eval_every)
        current[run_name(cell, hidden)] = runs.group_id(identity)
    rows = grid_rows(records, study_data, current, len(data.y_test))
    rnn_rows = [r for r in rows if r["cell"] in CELLS and r["current"]]
    if not rnn_rows:
        log(f"no finished RNN runs of these settings in {s.runs_dir} or {out / 'results.jsonl'}; nothing to summarize")
        return []
    written = [
        plot_cell_curves(cell, [r for r in rnn_rows if r["cell"] == cell], out / f"{cell}_curves.png")
        for cell in CELLS
        if any(r["cell"] == cell for r in rnn_rows)
    ]
    written.append(plot_summary(rnn_rows, out / "summary.png"))
    comparison = []
    cnn = next((r for r in rows if r["cell"] == "cnn" and r["current"] and r["n"]), None)
    if cnn is not None:
        best = best_per_cell(rows)
        comparison = [cnn] + [best[c] for c in CELLS if c in best]
        written.append(plot_cnn_comparison(comparison, out / "cnn_comparison.png"))
    label = f"{data.name} ({len(data.x_train):,} train / {len(data.x_test):,} test)"
    io.write_text(out / "summary.md", summary_markdown(rows, comparison, label))
    io.write_text(out / "summary.csv", summary_csv(rows))
    written += [out / "summary.md", out / "summary.csv"]
    written += runs.write_fast_settings(records, out, list(current), "rnn_mnist.py")
    if study_data and out.name == "rnn":  # the standard layout <figures>/rnn beside <figures>/cifar
        written.append(claims.update(out.parent, log))
    return written


# ---------------------------------------------------------------- command line


@cli.entry_point
def main(argv=None) -> int:
    cli.line_buffered()
    s = parse(Settings, argv, description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    backend.set_precision(s.precision)  # before any model is built: Keras' dtype policy is global
    backend.set_fused_adam(s.fused_adam)  # likewise before any optimizer is built
    out = cli.writable_dir(s.figures_dir(), "--out-dir")
    cli.writable_dir(s.runs_dir, "--runs-dir")
    data = load_dataset(s.dataset, s.data_dir, color=s.color, image_size=s.image_size)
    check_run("the grid", s.iterations, s.eval_every, s.batch_size, len(data.x_train))
    print(f"{data.describe()}\n{backend.banner()}")
    if not s.summary_only:
        arrays = {
            "seq_train": as_sequences(data.x_train),
            "seq_test": as_sequences(data.x_test),
            "img_train": as_float_images(data.x_train),
            "img_test": as_float_images(data.x_test),
        }
        jobs = [(c, h, seed) for c in s.cells for h in s.hidden for seed in s.seeds]
        jobs += [("cnn", None, seed) for seed in s.seeds] if s.cnn else []
        print(
            f"{len(jobs)} runs x {s.iterations} iterations, batch {s.batch_size}, {s.optimizer} lr "
            f"{s.learning_rate} (CNN: adam lr {s.cnn_learning_rate}), {s.lr_schedule}; runs in {s.runs_dir}"
        )
        t0, deferred = time.time(), []
        for k, (cell, hidden, seed) in enumerate(jobs, 1):
            spec = make_spec(s, cell, hidden, seed, data, arrays)
            print(f"--- [{k}/{len(jobs)}] {spec.label}, {cli.format_duration(time.time() - t0)} elapsed")
            try:
                m = train_run(spec)
            except RunLocked:
                print(f"[{spec.label}] another process is training it; doing the other runs first.")
                deferred.append(spec)
                continue
            print(
                f"    {spec.label}: {m['status']}, final test accuracy {runs.fmt_pct(final_value(m, 'test_accuracy'))}%"
            )
        for spec in deferred:
            train_run(spec, wait=True)
        print(f"all runs done in {cli.format_duration(time.time() - t0)}")
    for path in write_summary(s, data):
        print(f"wrote {path}")
    print(f"index: {out / 'results.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
