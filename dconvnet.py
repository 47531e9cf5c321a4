"""Task 2, step 1: train a Task 1 network on CIFAR-10 for the deconvnet figures.

    python dconvnet.py                                    # the study's best run, relu_adam_normal_dropout_l2
    python dconvnet.py --run tanh_adam_normal --iterations 1000 --seed 1

Trains the run (its config from common/study.py, the one place the runs are defined) and saves, in its run folder
``runs/dconvnet/<run>/seed<k>-<id>/``: ``model.keras`` (the final network), ``metrics.json`` (config, identity, curves)
and snapshots at log-spaced iterations (0, 10, 30, 100, 300, 1000, ..., final) in ``snapshots/`` for the
feature-evolution figure of ``dconvnet_visualizations.py``, which finds the folder from the same --run and --seed.
Rerunning skips a finished run, resumes an interrupted one exactly, and trains again a finished run whose model or a
snapshot is missing or unreadable (the old files moved aside).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from common import cpu  # noqa: E402  (first: the CPU's settings must precede TensorFlow's loading)

cpu.configure()  # oneDNN where TensorFlow leaves it off, TensorFlow's start-up chatter quiet: common/cpu.py

from common import cli, config, io, study  # noqa: E402
from common.data import as_float_images, load_dataset  # noqa: E402

TASK = "dconvnet"
SNAPSHOT_DIR = "snapshots"
EVAL_EVERY = 10  # iterations between snapshot checks (the snapshot grid 10, 30, 100, ... needs 10-iteration steps)
TEST_EVERY = 100  # iterations between test evaluations: every 10 would cost more than training


@dataclass(frozen=True)
class Settings:
    run: str = config.setting(
        "relu_adam_normal_dropout_l2",
        "the run to train (a name of cifar_v2.py --list)",
        choices=tuple(study.RUNS),
        metavar="RUN",
    )
    iterations: int | None = config.ITERATIONS(None, "iterations to train (default: the run's own)")
    set: tuple[str, ...] = config.SET(())
    seed: int = config.SEED(0)
    checkpoint_every: int = config.CHECKPOINT_EVERY(500)
    dataset: str = config.DATASET(study.STUDY_DATASET)
    data_dir: Path | None = config.DATA_DIR(None)
    color: str | None = config.COLOR(None)
    image_size: str | None = config.IMAGE_SIZE(None)
    runs_dir: Path = config.RUNS_DIR(
        Path("runs/dconvnet"), "where the run's folder goes (model.keras, snapshots/, metrics.json)"
    )


def snapshot_iterations(final: int) -> list[int]:
    """0, 10, 30, 100, 300, 1000, ... below ``final``, then ``final``: log-spaced, early ones included."""
    points, scale = [0], 10
    while scale < final:
        points += [p for p in (scale, 3 * scale) if p < final]
        scale *= 10
    return points + [final]


def snapshot_path(run_dir: Path, iteration: int) -> Path:
    return Path(run_dir) / SNAPSHOT_DIR / f"iter_{iteration:06d}.keras"


@cli.entry_point
def main(argv=None) -> int:
    cli.line_buffered()
    s = config.parse(Settings, argv, description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    with cpu.quiet_import():  # Keras' side after the flags: --help and a wrong flag answer at once
        import keras

        from common import backend, evaluation, training
    overrides = config.parse_overrides(study.RunConfig, s.set, study.KNOBS)
    run = study.with_overrides(study.RUNS[s.run], s.iterations, **overrides)
    cli.writable_dir(s.runs_dir, "--runs-dir")
    data = load_dataset(s.dataset, s.data_dir, color=s.color, image_size=s.image_size)
    cli.check_run(run.name, run.iterations, EVAL_EVERY, run.batch_size, len(data.x_train))
    print(f"{data.describe()}\n{backend.banner()}")
    x_train, x_test = as_float_images(data.x_train), as_float_images(data.x_test)
    snapshots = set(snapshot_iterations(run.iterations))
    test_metrics = evaluation.make_test_evaluator(x_test, data.y_test, run.tta, run.tta_shift, run.iterations)

    def evaluate(model, iteration):
        # Snapshots ride on the evaluation hook: train_run calls it every eval_every iterations.
        if iteration in snapshots:  # weights and architecture, no optimizer state: a third of a checkpoint
            bare = keras.Model.from_config(model.get_config())
            bare.set_weights(model.get_weights())
            io.save_model(bare, snapshot_path(run_dir, iteration))
        if iteration % TEST_EVERY and iteration != run.iterations:
            return {}
        return test_metrics(model, iteration)

    every = (EVAL_EVERY, s.checkpoint_every)
    # what dconvnet_visualizations.py reads: a finished run without a whole model or snapshot is trained again
    needs = ("model.keras", *(str(snapshot_path(".", i)) for i in sorted(snapshots)))
    spec = training.make_spec(
        run, TASK, s.seed, data, x_train, data.y_train, s.runs_dir, *every, evaluate, overrides, needs
    )
    run_dir = spec.run_dir
    print(f"[dconvnet] training {run.name} ({run.describe()}), seed {s.seed} -> {run_dir}")
    metrics = training.train_run(spec, wait=True)
    if metrics["status"] != "finished":
        print(f"[dconvnet] run {metrics['status']}; no model for the visualizations.", file=sys.stderr)
        return 1
    final = metrics["final"]
    saved = [str(i) for i in sorted(snapshots) if snapshot_path(run_dir, i).exists()]
    print(
        f"[dconvnet] final: train acc {final.get('train_accuracy', float('nan')):.3f}, "
        f"test acc {final.get('test_accuracy', float('nan')):.3f}\n"
        f"[dconvnet] saved model: {run_dir / 'model.keras'}\n"
        f"[dconvnet] saved {len(saved)} snapshots in {run_dir / SNAPSHOT_DIR}: iterations {', '.join(saved)}\n"
        f"[dconvnet] next: python dconvnet_visualizations.py --run {run.name} --seed {s.seed}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
