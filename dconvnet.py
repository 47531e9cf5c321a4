"""Task 2, step 1: train the Task 1 network on CIFAR-10 for the deconvnet figures.

    python dconvnet.py                                    # the best run, relu_adam_normal_dropout_l2
    python dconvnet.py --run tanh_adam_normal --iterations 1000

Saves the final model to ``runs/dconvnet/model.keras`` (its config as ``config.json``
beside it) and snapshots at log-spaced iterations (0, 10, 30, 100, 300, 1000, ..., final)
to ``runs/dconvnet/snapshots/`` for the feature-evolution figure of
``dconvnet_visualizations.py``. Rerunning skips a finished run and resumes an
interrupted one (``common.training.train_run``).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of the logs

import keras  # noqa: E402

from common import io, training  # noqa: E402
from common.data import DataError, as_float_images, load_cifar10  # noqa: E402
from common.models import build_lenet5, compile_classifier, make_optimizer  # noqa: E402


# ---------------------------------------------------------------------------
@dataclass
class Config:
    run: str = "relu_adam_normal_dropout_l2"   # the study's best run (row 7)
    iterations: int | None = None              # None: the run's own
    seed: int = 0
    data_dir: str | None = None
    runs_dir: Path = Path("runs/dconvnet")
    eval_every: int = 10        # the snapshot grid (10, 30, 100, ...) needs 10-iteration steps
    test_every: int = 100       # test accuracy only this often: evaluating every 10 would cost more than training
    checkpoint_every: int = 500


SNAPSHOT_DIR = "snapshots"


def snapshot_iterations(final: int) -> list[int]:
    """0, 10, 30, 100, 300, 1000, ... below ``final``, then ``final``: log-spaced, early ones included."""
    points, scale = [0], 10
    while scale < final:
        points += [p for p in (scale, 3 * scale) if p < final]
        scale *= 10
    return points + [final]


def snapshot_path(run_dir: Path, iteration: int) -> Path:
    return Path(run_dir) / SNAPSHOT_DIR / f"iter_{iteration:06d}.keras"


def save_snapshot(model: keras.Model, run_dir: Path, iteration: int) -> Path:
    """Weights and architecture only (no optimizer state): a third of a full checkpoint."""
    bare = keras.Model.from_config(model.get_config())   # uncompiled: no optimizer state saved
    bare.set_weights(model.get_weights())
    path = snapshot_path(run_dir, iteration)
    io.save_model(bare, path)
    return path


def load_run_config(name: str):
    """The study's run ``name``: its configs live in cifar_v2.RUNS, the one place they are defined."""
    from cifar_v2 import RUNS
    if name not in RUNS:
        raise SystemExit(f"error: unknown --run {name!r}; choose one of: {', '.join(RUNS)}")
    return RUNS[name]


# ---------------------------------------------------------------------------
def parse_args(argv=None) -> Config:
    d = Config()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    p.add_argument("--run", default=d.run, help=f"a run name of cifar_v2.RUNS (default {d.run})")
    p.add_argument("--iterations", type=int, default=d.iterations, help="batches to train (default: the run's own)")
    p.add_argument("--seed", type=int, default=d.seed, help=f"weights and batch order (default {d.seed})")
    p.add_argument("--data-dir", default=d.data_dir, help="folder holding CIFAR10/ (default: searched, see common/data.py)")
    p.add_argument("--runs-dir", type=Path, default=d.runs_dir, help=f"where model.keras, config.json, snapshots/ and metrics go (default {d.runs_dir})")
    a = p.parse_args(argv)
    if a.iterations is not None and a.iterations < 1:
        p.error("--iterations must be >= 1")
    return Config(run=a.run, iterations=a.iterations, seed=a.seed, data_dir=a.data_dir, runs_dir=a.runs_dir)


def main(argv=None) -> int:
    cfg = parse_args(argv)
    run = load_run_config(cfg.run)
    iterations = cfg.iterations or run.iterations
    run_dir = cfg.runs_dir
    try:
        data = load_cifar10(cfg.data_dir)
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    x_train, x_test = as_float_images(data.x_train), as_float_images(data.x_test)
    config = {f.name: getattr(run, f.name) for f in fields(run)}
    config.update(iterations=iterations, seed=cfg.seed, data=data.source)
    snapshots = set(snapshot_iterations(iterations))

    def build():
        model = build_lenet5(run.activation, run.init, run.dropout, run.l2)
        compile_classifier(model, make_optimizer(run.optimizer, run.learning_rate, run.momentum))
        save_snapshot(model, run_dir, 0)          # the untrained network is the evolution's first column
        return model

    def evaluate(model, iteration):
        # Snapshots ride on the evaluation hook: train_run calls it every eval_every iterations.
        if iteration in snapshots:
            save_snapshot(model, run_dir, iteration)
        if iteration % cfg.test_every and iteration != iterations:
            return {}
        loss, acc = model.evaluate(x_test, data.y_test, batch_size=500, verbose=0)
        return {"test_loss": float(loss), "test_accuracy": float(acc)}

    def on_final(model, metrics):
        io.write_json(run_dir / "config.json", {"run": cfg.run, **config,
                                                "snapshots": sorted(snapshots), "versions": io.versions()})

    print(f"[dconvnet] training {cfg.run} for {iterations} iterations -> {run_dir}")
    metrics = training.train_run(cfg.run, build, x_train, data.y_train, run_dir=run_dir, config=config,
                                 iterations=iterations, batch_size=run.batch_size, eval_every=cfg.eval_every,
                                 seed=cfg.seed, evaluate=evaluate, checkpoint_every=cfg.checkpoint_every,
                                 on_final=on_final)
    if metrics["status"] != "finished":
        print(f"[dconvnet] run {metrics['status']}; no model for the visualizations.", file=sys.stderr)
        return 1
    final = metrics["final"]
    print(f"[dconvnet] final: train acc {final.get('train_accuracy', float('nan')):.3f}, "
          f"test acc {final.get('test_accuracy', float('nan')):.3f}")
    print(f"[dconvnet] saved model:     {run_dir / 'model.keras'}")
    print(f"[dconvnet] saved config:    {run_dir / 'config.json'}")
    saved = [snapshot_path(run_dir, i) for i in sorted(snapshots) if snapshot_path(run_dir, i).exists()]
    print(f"[dconvnet] saved {len(saved)} snapshots in {run_dir / SNAPSHOT_DIR}: iterations "
          + ", ".join(str(i) for i in sorted(snapshots)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
