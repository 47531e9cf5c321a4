"""Task 3: recurrent networks on MNIST, and Part C's comparison with the study's CNN.

    python rnn_mnist.py                               # the grid (3 cells x 4 sizes) + the CNN, seed 0
    python rnn_mnist.py --seeds 0,1,2                 # the committed results
    python rnn_mnist.py --seeds 0,1,2 --workers 2     # two runs at a time, each trained once (common/cli.py)
    python rnn_mnist.py --cells lstm,gru --hidden 20,10 --set learning_rate=5e-3
    python rnn_mnist.py --dataset MYSET               # any <data-dir>/MYSET/{Train,Test}/<class>/*.png set
    python rnn_mnist.py --summary-only                # redraw figures and tables from saved results

Each image is read as a sequence of its rows (28 time steps of 28 pixels for MNIST): one recurrent layer (basic RNN =
Keras' SimpleRNN, LSTM or GRU), then a dense softmax over the classes (common/recurrent.py). Every ``--eval-every``
iterations a run records the interval's mean train loss and accuracy, the test loss and accuracy on all test images, and
the cumulative training seconds. Part C trains the study's CNN (the LeNet-5 of common/) on the same images with the same
batch size and iteration budget.

Outputs: runs/rnn/<cell>_<units>/seed<k>-<id>/ (and runs/rnn/cnn/...); figures/rnn/<cell>_curves.png, summary.png,
cnn_comparison.png, train_test_gap.png, summary.md, summary.csv, results.jsonl. Finished runs are skipped, an
interrupted one resumes exactly, and the summary is rebuilt from every finished run in --runs-dir and the results index.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, fields, replace
from pathlib import Path

from common import cpu  # noqa: E402  (first: the CPU's settings must precede TensorFlow's loading)

cpu.configure()  # oneDNN where TensorFlow leaves it off, TensorFlow's start-up chatter quiet: common/cpu.py

from common import cli, config, recurrent, runs  # noqa: E402
from common.data import as_float_images, figures_folder, load_dataset  # noqa: E402
from common.recurrent import CELLS, SIZES, Grid, as_sequences, cnn_run, run_config, run_name  # noqa: E402


# Settings: edit the defaults and rerun, or override them with flags (see --help). The grid's settings every run
# shares (optimizer, learning rates, schedule, batch size, iterations, unroll) are common/recurrent.py's Grid.
@dataclass(frozen=True)
class Settings(Grid):
    cells: tuple[str, ...] = config.setting(CELLS, "recurrent cells, comma-separated", choices=CELLS)
    hidden: tuple[int, ...] = config.setting(SIZES, "hidden sizes, comma-separated", min=1, metavar="UNITS")
    eval_every: int = config.EVAL_EVERY(recurrent.EVAL_EVERY)
    checkpoint_every: int = config.CHECKPOINT_EVERY(500)
    seeds: tuple[int, ...] = config.SEEDS((0,))
    workers: int = config.WORKERS(1)
    cnn: bool = config.setting(True, "Part C: also train the study's CNN with the same batch size and iterations")
    set: tuple[str, ...] = config.SET(())
    precision: str = config.PRECISION("float32")
    fused_adam: bool = config.FUSED_ADAM(False)
    dataset: str = config.DATASET(recurrent.STUDY_DATASET)
    data_dir: Path | None = config.DATA_DIR(None)
    color: str | None = config.COLOR(None)
    image_size: str | None = config.IMAGE_SIZE(None)
    runs_dir: Path = config.RUNS_DIR(Path("runs/rnn"))
    out_dir: Path | None = config.OUT_DIR(
        None,
        "where figures and summary tables go (default: figures/rnn for MNIST, figures/rnn_<dataset>[_<color>][_<HxW>] "
        "for other sets or another --color/--image-size)",
    )
    summary_only: bool = config.setting(False, "train nothing: redraw figures and tables from the saved results")

    def overrides(self) -> dict:
        """The grid's fields --set changes (they are also flags: --set is one way to spell them all)."""
        return config.parse_overrides(Grid, self.set, [f.name for f in fields(Grid)])

    def grid(self) -> Grid:
        """The settings every run of this command shares: the flags, then --set."""
        return Grid(**{f.name: getattr(self, f.name) for f in fields(Grid)} | self.overrides())


# How a run is built: a cell and a size (or Part C's CNN) under the grid's settings and a seed.
def run_spec(s: Settings, cell: str, hidden: int | None, seed: int, data, arrays: dict):
    from common import evaluation, models, training

    g, name = s.grid(), run_name(cell, hidden)
    identity = runs.make_identity(recurrent.TASK, run_config(g, cell, hidden), seed, data, s.eval_every)
    x_train, x_test = arrays["cnn" if cell == "cnn" else "rnn"]
    if cell == "cnn":
        build = lambda: models.build_model(cnn_run(g), data.num_classes, x_train.shape[1:])
    else:

        def build():
            lr = models.learning_rate_schedule(g.learning_rate, g.lr_schedule, g.iterations)
            model = models.build_rnn(cell, hidden, g.unroll, *x_train.shape[1:], data.num_classes)
            return models.compile_classifier(model, models.make_optimizer(g.optimizer, lr))

    return training.RunSpec(
        name=name,
        identity=identity,
        run_dir=runs.run_folder(s.runs_dir, name, identity),
        build=build,
        x=x_train,
        y=data.y_train,
        iterations=g.iterations,
        batch_size=g.batch_size,
        eval_every=s.eval_every,
        checkpoint_every=s.checkpoint_every,
        evaluate=evaluation.make_test_evaluator(x_test, data.y_test, final_at=g.iterations),
        overrides=s.overrides() or None,
    )


def report_line(spec, m: dict) -> None:
    test = m["final"].get("test_accuracy") if m["status"] == "finished" else None
    print(f"    {spec.label}: {m['status']}, final test accuracy {cli.pct(test)}%")


@cli.entry_point
def main(argv=None) -> int:
    cli.line_buffered()
    s = config.parse(Settings, argv, description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    cli.watch_parent()  # in a worker (--workers): stop when the parent does
    g = s.grid()  # a wrong --set stops here, before anything is loaded
    folder = figures_folder("rnn", s.dataset, recurrent.STUDY_DATASET, s.color, s.image_size)
    out = cli.writable_dir(s.out_dir or folder, "--out-dir")
    cli.writable_dir(s.runs_dir, "--runs-dir")
    data = load_dataset(s.dataset, s.data_dir, color=s.color, image_size=s.image_size)
    cli.check_run("the grid", g.iterations, s.eval_every, g.batch_size, len(data.x_train))
    print(data.describe())
    if s.workers > 1 and not s.summary_only:  # the runs in worker processes; this one then only reports them,
        if rc := cli.run_workers(__file__, argv, s.workers):  # without Keras (as cifar_v2.py)
            return rc
        s = replace(s, summary_only=True)
    if not s.summary_only:
        with cpu.quiet_import():  # Keras' side after the flags: --help and a wrong flag answer at once
            from common import backend, training
        backend.set_precision(s.precision)  # before any model is built: Keras' dtype policy is global
        backend.set_fused_adam(s.fused_adam)  # likewise before any optimizer is built
        print(backend.banner())
        # (train, test) inputs: the RNNs' images as sequences of rows, the CNN's as images
        arrays = {"rnn": (as_sequences(data.x_train), as_sequences(data.x_test))}
        arrays["cnn"] = as_float_images(data.x_train), as_float_images(data.x_test)
        jobs = [(c, h, seed) for c in s.cells for h in s.hidden for seed in s.seeds]
        jobs += [("cnn", None, seed) for seed in s.seeds] if s.cnn else []
        print(
            f"{len(jobs)} runs x {g.iterations} iterations, batch {g.batch_size}, {g.optimizer} lr "
            f"{g.learning_rate} (CNN: adam lr {g.cnn_learning_rate}), {g.lr_schedule}; runs in {s.runs_dir}"
        )
        t0 = time.time()
        training.train_all([run_spec(s, c, h, seed, data, arrays) for c, h, seed in jobs], done=report_line)
        print(f"all runs done in {cli.format_duration(time.time() - t0)}")
        if cli.worker_index():  # a worker trains; its parent writes the summary
            return 0
    # The report: every figure and table from the results index alone (the records say what they were measured on),
    # as python -m common.report draws it (common/report/rnn.py)
    from common.report import rnn as report

    records = runs.update_index(out, s.runs_dir, recurrent.TASK)
    records = [r for r in records if r["identity"]["data"]["name"] == s.dataset]
    for path in report.summarize(records, g, [(c, h) for c in s.cells for h in s.hidden], out, print):
        print(f"wrote {path}")
    print(f"index: {out / 'results.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
