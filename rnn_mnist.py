"""Task 3: recurrent networks on MNIST, and Part C's comparison with the study's CNN.

Each 28x28 image is read as a sequence of 28 rows (28 time steps of 28 pixels):
one recurrent layer (basic RNN = keras SimpleRNN, LSTM or GRU; 20, 15, 10, 5 units),
then a dense 10-way softmax. Every ``eval_every`` iterations the run records the
interval's mean train loss/accuracy, test loss/accuracy on all test images, and the
cumulative training wall-clock seconds. Part C trains the study's CNN (LeNet-5 from
common/) with the same data, batch size and iteration budget.

    python rnn_mnist.py                          # the default grid + the CNN
    python rnn_mnist.py --cells lstm,gru --hidden 20,10 --iterations 3000

Outputs: runs/rnn/<cell>_<hidden>/metrics.json (and runs/rnn/cnn/), figures/rnn/
<cell>_curves.png, summary.png, cnn_comparison.png, summary.md, summary.csv.
Finished runs are skipped, interrupted ones resume from their last checkpoint,
and the summary is rebuilt from every run's metrics.json in --runs-dir.
"""

from __future__ import annotations

import argparse
import csv
import io as stringio
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np

from common import io
from common.cli import choice_of, comma_list, flatten, positive_float, positive_int
from common.data import DataError, as_float_images, load_mnist
from common.models import NUM_PARAMS as CNN_NUM_PARAMS
from common.models import build_lenet5, compile_classifier, make_optimizer
from common.plotting import plt, save_figure
from common.training import format_duration, train_run

CELLS = ("rnn", "lstm", "gru")
CELL_LAYERS = {"rnn": keras.layers.SimpleRNN, "lstm": keras.layers.LSTM, "gru": keras.layers.GRU}
CELL_LABELS = {"rnn": "basic RNN", "lstm": "LSTM", "gru": "GRU", "cnn": "CNN (LeNet-5)"}
OPTIMIZERS = ("adam", "rmsprop", "sgd", "momentum", "adagrad")
LR_SCHEDULES = ("cosine", "constant")
# The study's reported test accuracies (fractions); the basic RNN has no numbers in the report.
STUDY_TEST_ACCURACY = {"lstm": {20: 0.95, 15: 0.95, 10: 0.90, 5: 0.75},
                       "gru": {20: 0.95, 15: 0.95, 10: 0.85, 5: 0.65},
                       "rnn": {}}
STUDY_RNN_NOTE = "no number; report: below LSTM/GRU, falls as units fall"
CELL_COLORS = {"rnn": "C2", "lstm": "C0", "gru": "C1", "cnn": "C3"}
SEQ_LEN, SEQ_DIM, NUM_CLASSES = 28, 28, 10


# Defaults chosen with short runs on the 2-core CPU (seed 0, batch 100, Adam, 3000 iterations, cosine decay):
# lr 1e-2 -> test accuracy LSTM-20 93.8%, GRU-20 95.0%, basic RNN-20 ~75%; lr 5e-3 -> 93.1%, 93.9%, ~76%.
# Throughput, batch 100, unrolled (img/s): basic RNN ~14k, LSTM ~16k, GRU ~12k; not unrolled: LSTM ~13k,
# GRU ~9k; the CNN ~870. The default grid + CNN: ~12 minutes on an otherwise idle 2-core machine.
@dataclass(frozen=True)
class Config:
    """The grid and its training settings; every field is overridable by a flag of main()."""
    cells: tuple[str, ...] = CELLS
    hidden: tuple[int, ...] = (20, 15, 10, 5)
    optimizer: str = "adam"
    learning_rate: float = 1e-2
    lr_schedule: str = "cosine"   # "cosine": decays to 0 over the run (a stable final number); "constant"
    batch_size: int = 100
    iterations: int = 3000
    eval_every: int = 100
    checkpoint_every: int = 500   # rounded to a multiple of eval_every
    seed: int = 0
    unroll: bool = True           # measured: unrolled LSTM/GRU train faster on CPU
    cnn: bool = True              # Part C: train the study's CNN too
    cnn_learning_rate: float = 1e-4  # Adam, the TF tutorial's rate for this CNN (the study gives none)
    data_dir: str | None = None
    out_dir: str = "figures/rnn"
    runs_dir: str = "runs/rnn"


# ---------------------------------------------------------------- data and models

def as_sequences(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28) in [0, 1]: time step r is image row r."""
    images = np.asarray(images)
    if images.ndim != 3 or images.shape[1:] != (SEQ_LEN, SEQ_DIM):
        raise ValueError(f"expected images of shape (N, 28, 28), got {images.shape}")
    return images.astype(np.float32) / 255.0


def expected_params(cell: str, hidden: int) -> int:
    """Textbook parameter count: recurrent layer (Keras 3 GRU: reset_after=True) + dense 10-way."""
    h, d = hidden, SEQ_DIM
    recurrent = {"rnn": h * (h + d) + h, "lstm": 4 * (h * (h + d) + h), "gru": 3 * (h * (h + d) + 2 * h)}[cell]
    return recurrent + NUM_CLASSES * (h + 1)


def build_rnn(cell: str, hidden: int, unroll: bool = True) -> keras.Model:
    """28 steps x 28 inputs -> one ``cell`` layer of ``hidden`` units -> dense 10 logits."""
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
    inputs = keras.Input((SEQ_LEN, SEQ_DIM), name="rows")
    x = CELL_LAYERS[cell](hidden, unroll=unroll, name=cell)(inputs)
    outputs = keras.layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"{cell}_{hidden}")


def learning_rate(cfg: Config, base: float):
    """The base rate, or a cosine decay from it to 0 over the run's iterations (saved with checkpoints)."""
    if cfg.lr_schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(base, decay_steps=cfg.iterations)
    return base


def run_name(cell: str, hidden: int | None = None) -> str:
    return "cnn" if cell == "cnn" else f"{cell}_{hidden}"


def run_config(cfg: Config, cell: str, hidden: int | None) -> dict:
    """What defines one run: a finished run with the same dict is skipped, a checkpoint resumed."""
    lr = cfg.cnn_learning_rate if cell == "cnn" else cfg.learning_rate
    config = {"task": "rnn_mnist", "cell": cell, "hidden_units": hidden,
              "optimizer": "adam" if cell == "cnn" else cfg.optimizer, "learning_rate": lr,
              "lr_schedule": cfg.lr_schedule,
              "batch_size": cfg.batch_size, "iterations": cfg.iterations, "eval_every": cfg.eval_every,
              "seed": cfg.seed}
    if cell == "cnn":
        config.update(model="lenet5", activation="relu", init="normal", input="28x28x1 image / 255")
    else:
        config.update(unroll=cfg.unroll, input="28 rows x 28 pixels / 255, row r = step r")
    return config


def make_evaluator(x_test: np.ndarray, y_test: np.ndarray):
    def evaluate(model: keras.Model, iteration: int) -> dict:
        result = model.evaluate(x_test, y_test, batch_size=500, verbose=0, return_dict=True)
        return {"test_loss": float(result["loss"]), "test_accuracy": float(result["accuracy"])}
    return evaluate


def run_one(cfg: Config, cell: str, hidden: int | None, data: dict, log=print) -> dict:
    """Trains (or skips, or resumes) one run via common.training.train_run; returns its metrics."""
    name = run_name(cell, hidden)
    run_dir = Path(cfg.runs_dir) / name
    config = run_config(cfg, cell, hidden)
    if cell == "cnn":
        def build():
            return compile_classifier(build_lenet5("relu", "normal"),
                                      make_optimizer("adam", learning_rate(cfg, cfg.cnn_learning_rate)))
        x_train, x_test = data["img_train"], data["img_test"]
    else:
        def build():
            return compile_classifier(build_rnn(cell, hidden, cfg.unroll),
                                      make_optimizer(cfg.optimizer, learning_rate(cfg, cfg.learning_rate)))
        x_train, x_test = data["seq_train"], data["seq_test"]

    def on_final(model, metrics):
        metrics["num_params"] = int(model.count_params())
        metrics["cell"], metrics["hidden_units"] = cell, hidden

    ckpt = cfg.eval_every * max(1, round(cfg.checkpoint_every / cfg.eval_every))
    return train_run(name, build, x_train, data["y_train"], run_dir=run_dir, config=config,
                     iterations=cfg.iterations, batch_size=cfg.batch_size, eval_every=cfg.eval_every,
                     seed=cfg.seed, evaluate=make_evaluator(x_test, data["y_test"]),
                     checkpoint_every=ckpt, on_final=on_final, log=log)


# ---------------------------------------------------------------- collecting results

def load_runs(runs_dir: Path) -> dict[str, dict]:
    """Every finished or diverged run's metrics.json under ``runs_dir``, by run name."""
    runs = {}
    for path in sorted(Path(runs_dir).glob("*/metrics.json")):
        m = io.read_json(path)
        if m.get("status") in ("finished", "diverged") and m.get("config", {}).get("task") == "rnn_mnist":
            runs[path.parent.name] = m
    return runs


def final_value(m: dict, key: str) -> float:
    """The last recorded value of ``key`` (NaN if the run diverged or never recorded it)."""
    if m.get("status") != "finished":
        return math.nan
    v = m.get("final", {}).get(key)
    return math.nan if v is None else float(v)


def train_seconds(m: dict) -> float:
    hist = [h for h in m.get("history", []) if "train_time_s" in h]
    return hist[-1]["train_time_s"] if hist else m.get("train_time_s", math.nan)


def first_reaching(m: dict, key: str, level: float):
    """(iteration, training seconds) of the first record with ``key`` >= ``level``, else (None, None)."""
    for h in m.get("history", []):
        if h.get(key) is not None and h[key] >= level:
            return h["iteration"], h.get("train_time_s")
    return None, None


def grid_rows(runs: dict[str, dict]) -> list[dict]:
    """One row per run, RNNs in cell order and falling hidden size, then the CNN."""
    rows = []
    def order(item):
        m = item[1]
        cell = m["config"]["cell"]
        return (CELLS.index(cell) if cell in CELLS else len(CELLS), -(m["config"]["hidden_units"] or 0))
    for name, m in sorted(runs.items(), key=order):
        c = m["config"]
        cell, hidden = c["cell"], c["hidden_units"]
        study = STUDY_TEST_ACCURACY.get(cell, {}).get(hidden)
        rows.append({
            "run": name, "cell": cell, "hidden_units": hidden,
            "num_params": m.get("num_params", CNN_NUM_PARAMS if cell == "cnn" else expected_params(cell, hidden)),
            "status": m["status"], "iterations": m.get("iterations_done"),
            "learning_rate": c["learning_rate"], "batch_size": c["batch_size"],
            "final_train_accuracy": final_value(m, "train_accuracy"),
            "final_test_accuracy": final_value(m, "test_accuracy"),
            "final_train_loss": final_value(m, "train_loss"),
            "final_test_loss": final_value(m, "test_loss"),
            "train_seconds": train_seconds(m), "wall_seconds": m.get("wall_time_s", math.nan),
            "study_test_accuracy": study,
        })
    return rows


def best_per_cell(runs: dict[str, dict]) -> dict[str, dict]:
    """For each RNN cell, its finished run with the highest final test accuracy."""
    best = {}
    for m in runs.values():
        cell = m["config"]["cell"]
        if cell in CELLS and m["status"] == "finished":
            if cell not in best or final_value(m, "test_accuracy") > final_value(best[cell], "test_accuracy"):
                best[cell] = m
    return best


# ---------------------------------------------------------------- figures

def plot_cell_curves(cell: str, runs: list[dict], path: Path) -> Path:
    """Accuracy and loss, train and test, one line per hidden size; the study's test numbers dotted."""
    runs = sorted(runs, key=lambda m: -m["config"]["hidden_units"])
    colors = plt.cm.viridis(np.linspace(0, 0.85, max(len(runs), 1)))
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True)
    panels = [("train_accuracy", "train accuracy (interval mean)", axes[0, 0]),
              ("test_accuracy", "test accuracy (1,000 test images)", axes[0, 1]),
              ("train_loss", "train loss (interval mean)", axes[1, 0]),
              ("test_loss", "test loss", axes[1, 1])]
    for m, color in zip(runs, colors):
        hidden = m["config"]["hidden_units"]
        hist = m["history"]
        label = f"{hidden} units ({m.get('num_params', expected_params(cell, hidden)):,} params)"
        if m["status"] == "diverged":
            label += ", DIVERGED"
        for key, _, ax in panels:
            pts = [(h["iteration"], h[key]) for h in hist if key in h]
            if pts:
                ax.plot(*zip(*pts), color=color, lw=1.6, label=label)
        study = STUDY_TEST_ACCURACY.get(cell, {}).get(hidden)
        if study is not None:
            axes[0, 1].axhline(study, color=color, ls=":", lw=1.3, label=f"study, {hidden} units: {study:.0%}")
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
    if cell == "rnn":
        # top left: the basic RNN's curves stay below ~0.8, the legend sits bottom right
        axes[0, 1].text(0.02, 0.97, "study: no numbers for the basic RNN\n(\"below LSTM/GRU; falls as units fall\")",
                        transform=axes[0, 1].transAxes, fontsize=8, va="top", color="0.3")
    c = runs[0]["config"] if runs else {}
    fig.suptitle(f"{CELL_LABELS[cell]} on MNIST rows (28 steps x 28 inputs): {c.get('optimizer', '')} "
                 f"lr {c.get('learning_rate', '')} ({c.get('lr_schedule', 'constant')}), "
                 f"batch {c.get('batch_size', '')}")
    fig.tight_layout()
    return save_figure(fig, path)


def plot_summary(rows: list[dict], path: Path) -> Path:
    """Final test accuracy per cell and hidden size, ours beside the study's (missing shown as missing)."""
    cells = [c for c in CELLS if any(r["cell"] == c for r in rows)]
    fig, axes = plt.subplots(1, len(cells), figsize=(4.2 * len(cells) + 0.5, 4.3), sharey=True, squeeze=False)
    for ax, cell in zip(axes[0], cells):
        cell_rows = sorted((r for r in rows if r["cell"] == cell), key=lambda r: -r["hidden_units"])
        x = np.arange(len(cell_rows))
        ours = np.array([r["final_test_accuracy"] for r in cell_rows], dtype=float)
        study = np.array([np.nan if r["study_test_accuracy"] is None else r["study_test_accuracy"]
                          for r in cell_rows], dtype=float)
        b1 = ax.bar(x - 0.2, np.nan_to_num(ours), 0.4, label="ours (final test)", color=CELL_COLORS[cell])
        b2 = ax.bar(x + 0.2, np.nan_to_num(study), 0.4, label="study (reported test)", color="0.65",
                    hatch="//", edgecolor="white")
        ax.bar_label(b1, labels=["diverged" if r["status"] == "diverged" else f"{100 * v:.1f}"
                                 for r, v in zip(cell_rows, ours)], fontsize=8, padding=1)
        ax.bar_label(b2, labels=["n/a" if np.isnan(v) else f"{100 * v:.0f}" for v in study], fontsize=8, padding=1)
        ax.set_xticks(x, [str(r["hidden_units"]) for r in cell_rows])
        ax.set(xlabel="hidden units", title=CELL_LABELS[cell], ylim=(0, 1.08))
        ax.grid(axis="y", alpha=0.3)
        if cell == "rnn":
            ax.text(0.5, 0.97, "study: no numbers (n/a); reported\n\"below LSTM/GRU; falls as units fall\"",
                    transform=ax.transAxes, ha="center", va="top", fontsize=7.5, color="0.3")
    axes[0, 0].set_ylabel("test accuracy")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles[:1] + handles[1:], ["ours (final test accuracy)", "study (reported, approx.)"],
               loc="lower center", ncols=2, fontsize=9, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle("Final test accuracy on MNIST by recurrent cell and hidden size")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return save_figure(fig, path)


def plot_cnn_comparison(models: list[dict], path: Path) -> Path:
    """Train and test accuracy against iterations and against training seconds."""
    fig, axes = plt.subplots(2, 2, figsize=(11.5, 7.5), sharey=True)
    for m in models:
        cell, hidden = m["config"]["cell"], m["config"]["hidden_units"]
        params = m.get("num_params", CNN_NUM_PARAMS if cell == "cnn" else expected_params(cell, hidden))
        label = f"{CELL_LABELS[cell]}" + ("" if cell == "cnn" else f", {hidden} units") + f" ({params:,} params)"
        for row, key in enumerate(("train_accuracy", "test_accuracy")):
            hist = [h for h in m["history"] if key in h]
            its = [h["iteration"] for h in hist]
            secs = [h.get("train_time_s", np.nan) for h in hist]
            vals = [h[key] for h in hist]
            axes[row, 0].plot(its, vals, color=CELL_COLORS[cell], lw=1.6, label=label)
            # log time axis: the CNN trains ~10x longer than the RNNs; t = 0 (untrained) is left out
            timed = [(t, v) for t, v in zip(secs, vals) if t > 0]
            axes[row, 1].plot(*zip(*timed), color=CELL_COLORS[cell], lw=1.6, label=label)
    for row, what in enumerate(("train accuracy (interval mean)", "test accuracy")):
        for col, xlabel in enumerate(("iteration (batch)",
                                      "training seconds, log scale (model.fit incl. graph building; evaluation excluded)")):
            ax = axes[row, col]
            ax.set(xlabel=xlabel, ylim=(0, 1.02), title=f"{what} vs {'iterations' if col == 0 else 'time'}")
            ax.grid(alpha=0.3)
        axes[row, 1].set_xscale("log")
        axes[row, 0].set_ylabel("accuracy")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncols=2, fontsize=9, bbox_to_anchor=(0.5, -0.01))
    fig.suptitle("Part C: the study's CNN vs the best basic RNN, LSTM and GRU (same data, batch and iterations)")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return save_figure(fig, path)


# ---------------------------------------------------------------- tables

CSV_FIELDS = ("cell", "hidden_units", "num_params", "status", "iterations", "learning_rate", "batch_size",
              "final_train_accuracy", "final_test_accuracy", "final_train_loss", "final_test_loss",
              "train_seconds", "wall_seconds", "study_test_accuracy")


def _fmt(v, pct=False, digits=3):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{100 * v:.1f}%" if pct else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def summary_csv(rows: list[dict]) -> str:
    buf = stringio.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r[k] is None or (isinstance(r[k], float) and math.isnan(r[k])) else
                             round(r[k], 5) if isinstance(r[k], float) else r[k]) for k in CSV_FIELDS})
    return buf.getvalue()


def summary_markdown(rows: list[dict], runs: dict[str, dict], comparison: list[dict]) -> str:
    lines = ["# Task 3: RNNs on MNIST", "",
             "Each image is 28 time steps of 28 pixels (row r at step r), one recurrent layer, a dense",
             "10-way softmax. Final = the last evaluation (train: mean over the last interval; test: all",
             "test images). Training seconds exclude evaluation. Study: the report's approximate test accuracy.", "",
             "| cell | hidden units | params | status | iterations | final train acc | final test acc "
             "| final train loss | final test loss | training time | wall time | study test acc |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r["cell"] == "cnn":
            continue
        study = (f"~{100 * r['study_test_accuracy']:.0f}%" if r["study_test_accuracy"] is not None
                 else "n/a (below LSTM/GRU)" if r["cell"] == "rnn" else "n/a")
        lines.append(f"| {CELL_LABELS[r['cell']]} | {r['hidden_units']} | {r['num_params']:,} | {r['status']} "
                     f"| {r['iterations']} | {_fmt(r['final_train_accuracy'], True)} "
                     f"| {_fmt(r['final_test_accuracy'], True)} | {_fmt(r['final_train_loss'])} "
                     f"| {_fmt(r['final_test_loss'])} | {format_duration(r['train_seconds'])} "
                     f"| {format_duration(r['wall_seconds'])} | {study} |")
    settings = sorted({(runs[r["run"]]["config"]["optimizer"], r["learning_rate"],
                        runs[r["run"]]["config"].get("lr_schedule", "constant"), r["batch_size"], r["iterations"])
                       for r in rows if r["cell"] != "cnn"})
    lines += ["", "Settings: "
              + "; ".join(f"{opt} lr {lr} ({sched}), batch {bs}, {it} iterations"
                          for opt, lr, sched, bs, it in settings)
              + (" -- runs differ in settings, compare with care." if len(settings) > 1 else ""), ""]
    if comparison:
        lines += ["## Part C: the study's CNN against the best RNN, LSTM and GRU", "",
                  "Same training images, batch size and iteration budget. \"To 95% train\": first evaluation",
                  "at which the interval's mean train accuracy reached 95% (iteration / training seconds).", "",
                  "| model | params | optimizer, lr | final train acc | final test acc | to 95% train "
                  "| training time | images/s |",
                  "|---|---:|---|---:|---:|---:|---:|---:|"]
        for m in comparison:
            c = m["config"]
            label = CELL_LABELS[c["cell"]] + ("" if c["cell"] == "cnn" else f", {c['hidden_units']} units")
            params = m.get("num_params", CNN_NUM_PARAMS if c["cell"] == "cnn"
                           else expected_params(c["cell"], c["hidden_units"]))
            it95, s95 = first_reaching(m, "train_accuracy", 0.95)
            reach = "not reached" if it95 is None else f"{it95} / {s95:.0f}s"
            ips = m.get("images_per_sec")
            lines.append(f"| {label} | {params:,} | {c['optimizer']} {c['learning_rate']} ({c.get('lr_schedule')}) "
                         f"| {_fmt(final_value(m, 'train_accuracy'), True)} "
                         f"| {_fmt(final_value(m, 'test_accuracy'), True)} | {reach} "
                         f"| {format_duration(train_seconds(m))} | {'-' if ips is None else f'{ips:,.0f}'} |")
        lines += ["", "Study: the CNN reached ~100% training accuracy faster than every RNN; LSTM and GRU came",
                  "close to it, the basic RNN did not.", ""]
    diverged = [n for n, m in runs.items() if m["status"] == "diverged"]
    if diverged:
        lines += [f"Diverged (non-finite training loss; no final numbers): {', '.join(sorted(diverged))}.", ""]
    return "\n".join(lines)


def write_summary(cfg: Config, log=print) -> list[Path]:
    """Rebuilds every figure and table from all metrics.json files in ``cfg.runs_dir``."""
    runs = load_runs(Path(cfg.runs_dir))
    out = Path(cfg.out_dir)
    written = []
    rnn_runs = {n: m for n, m in runs.items() if m["config"]["cell"] in CELLS}
    if not rnn_runs:
        log(f"no finished RNN runs in {cfg.runs_dir}; nothing to summarize")
        return written
    for cell in CELLS:
        cell_runs = [m for m in rnn_runs.values() if m["config"]["cell"] == cell]
        if cell_runs:
            written.append(plot_cell_curves(cell, cell_runs, out / f"{cell}_curves.png"))
    rows = grid_rows(runs)
    written.append(plot_summary([r for r in rows if r["cell"] != "cnn"], out / "summary.png"))
    comparison = []
    if "cnn" in runs and runs["cnn"]["status"] == "finished":
        best = best_per_cell(runs)
        comparison = [runs["cnn"]] + [best[c] for c in CELLS if c in best]
        written.append(plot_cnn_comparison(comparison, out / "cnn_comparison.png"))
    io.write_text(out / "summary.md", summary_markdown(rows, runs, comparison))
    io.write_text(out / "summary.csv", summary_csv(rows))
    written += [out / "summary.md", out / "summary.csv"]
    return written


# ---------------------------------------------------------------- command line

def parse_args(argv=None) -> tuple[Config, bool]:
    d = Config()
    p = argparse.ArgumentParser(
        description="Task 3: basic RNN / LSTM / GRU on MNIST read row by row, plus Part C's CNN comparison. "
                    "Finished runs are skipped, interrupted runs resume; figures and tables are rebuilt "
                    "from every metrics.json in --runs-dir.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--cells", nargs="+", type=comma_list(choice_of(CELLS)), default=[d.cells], metavar="CELL",
                   help=f"recurrent cells to train, comma-separated, any of: {', '.join(CELLS)}")
    p.add_argument("--hidden", nargs="+", type=comma_list(positive_int), default=[d.hidden], metavar="UNITS",
                   help="hidden sizes, comma-separated positive integers")
    p.add_argument("--iterations", type=positive_int, default=d.iterations, help="training batches per run")
    p.add_argument("--batch-size", type=positive_int, default=d.batch_size)
    p.add_argument("--learning-rate", type=positive_float, default=d.learning_rate, help="the RNNs' learning rate")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=d.lr_schedule,
                   help="cosine: decay every learning rate to 0 over --iterations; constant: no decay")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="the RNNs' optimizer")
    p.add_argument("--eval-every", type=positive_int, default=d.eval_every,
                   help="iterations between evaluations (train/test loss and accuracy)")
    p.add_argument("--checkpoint-every", type=positive_int, default=d.checkpoint_every,
                   help="iterations between resume checkpoints (rounded to a multiple of --eval-every)")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--unroll", action=argparse.BooleanOptionalAction, default=d.unroll,
                   help="unroll the 28 time steps (faster on CPU)")
    p.add_argument("--cnn", action=argparse.BooleanOptionalAction, default=d.cnn,
                   help="Part C: also train the study's CNN with the same batch size and iterations")
    p.add_argument("--cnn-learning-rate", type=positive_float, default=d.cnn_learning_rate,
                   help="the CNN's Adam learning rate")
    p.add_argument("--data-dir", default=d.data_dir,
                   help="folder holding MNIST/{Train,Test} (default: $DATA_DIR, ./data, ../shared/data)")
    p.add_argument("--out-dir", default=d.out_dir, help="figures and summary tables")
    p.add_argument("--runs-dir", default=d.runs_dir, help="one folder per run: metrics.json, model, checkpoint")
    p.add_argument("--summary-only", action="store_true",
                   help="train nothing; rebuild figures and tables from the runs in --runs-dir")
    a = p.parse_args(argv)
    cfg = replace(d, cells=flatten(a.cells), hidden=flatten(a.hidden),
                  iterations=a.iterations, batch_size=a.batch_size, learning_rate=a.learning_rate,
                  lr_schedule=a.lr_schedule, optimizer=a.optimizer, eval_every=a.eval_every,
                  checkpoint_every=a.checkpoint_every,
                  seed=a.seed, unroll=a.unroll, cnn=a.cnn, cnn_learning_rate=a.cnn_learning_rate,
                  data_dir=a.data_dir, out_dir=a.out_dir, runs_dir=a.runs_dir)
    return cfg, a.summary_only


def main(argv=None) -> None:
    cfg, summary_only = parse_args(argv)
    if not summary_only:
        try:
            ds = load_mnist(cfg.data_dir)
        except DataError as err:
            sys.exit(f"error: {err}")
        data = {"seq_train": as_sequences(ds.x_train), "seq_test": as_sequences(ds.x_test),
                "img_train": as_float_images(ds.x_train), "img_test": as_float_images(ds.x_test),
                "y_train": ds.y_train, "y_test": ds.y_test}
        jobs = [(c, h) for c in cfg.cells for h in cfg.hidden] + ([("cnn", None)] if cfg.cnn else [])
        print(f"MNIST from {ds.source}: {len(ds.x_train):,} train / {len(ds.x_test):,} test images. "
              f"{len(jobs)} runs x {cfg.iterations} iterations, batch {cfg.batch_size}, {cfg.optimizer} "
              f"lr {cfg.learning_rate} (CNN: adam lr {cfg.cnn_learning_rate}); runs in {cfg.runs_dir}", flush=True)
        t0 = time.time()
        try:
            for k, (cell, hidden) in enumerate(jobs, 1):
                name = run_name(cell, hidden)
                params = CNN_NUM_PARAMS if cell == "cnn" else expected_params(cell, hidden)
                print(f"--- [{k}/{len(jobs)}] {name} ({params:,} params), {format_duration(time.time() - t0)} "
                      "elapsed", flush=True)
                m = run_one(cfg, cell, hidden, data, log=lambda s: print(s, flush=True))
                print(f"    {name}: {m['status']}, final test accuracy "
                      f"{_fmt(final_value(m, 'test_accuracy'), True)}", flush=True)
        except KeyboardInterrupt:
            print(f"\ninterrupted; rerun the same command to resume (finished runs are skipped, "
                  f"the interrupted one continues from its last checkpoint in {cfg.runs_dir}).", flush=True)
            raise SystemExit(130)
        print(f"all runs done in {format_duration(time.time() - t0)}", flush=True)
    for path in write_summary(cfg):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
