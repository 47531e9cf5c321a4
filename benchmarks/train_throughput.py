"""Training throughput of a cifar_v2.py run (evaluation on the whole test set, conv
statistics, histograms, TensorBoard logs and checkpoints every interval, as the sweep
does) against a plain ``model.fit`` of the same network with no callbacks, in one process.

    python benchmarks/train_throughput.py [--iterations 600] [--repeats 2]

Prints images/s of both and their ratio; the sweep's bookkeeping may cost at most 10%.
"""

import argparse
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cifar_v2  # noqa: E402
from common import training  # noqa: E402
from common.data import as_float_images, load_cifar10  # noqa: E402
from common.models import build_lenet5, compile_classifier, make_optimizer  # noqa: E402
from common.tensorboard import SummaryWriter  # noqa: E402


def build(run):
    model = build_lenet5(run.activation, run.init, dropout=run.dropout, l2=run.l2)
    return compile_classifier(model, make_optimizer(run.optimizer, run.learning_rate, run.momentum))


def plain_fit(run, x, y, iterations, seed):
    training.seed_everything(seed)
    model = build(run)
    n = iterations * run.batch_size
    idx = training.stream_indices(seed, 0, iterations, run.batch_size, len(x))
    start = time.perf_counter()
    model.fit(x[idx], y[idx], batch_size=run.batch_size, shuffle=False, verbose=0)
    return n / (time.perf_counter() - start)


def sweep_run(run, x, y, x_test, y_test, iterations, seed, eval_every, checkpoint_every):
    with tempfile.TemporaryDirectory() as tmp:
        writer = SummaryWriter(Path(tmp) / "tensorboard")
        metrics = training.train_run(
            run.name, lambda: build(run), x, y, run_dir=Path(tmp), config=asdict(run), iterations=iterations,
            batch_size=run.batch_size, eval_every=eval_every, seed=seed,
            evaluate=cifar_v2.Evaluator(x_test, y_test, writer), checkpoint_every=checkpoint_every,
            log=lambda msg: None)
        writer.close()
    return iterations * run.batch_size / metrics["wall_time_s"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", default="relu_adam_normal", choices=list(cifar_v2.RUNS))
    p.add_argument("--iterations", type=int, default=600)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--repeats", type=int, default=2, help="alternating repeats; the best of each is reported")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    data = load_cifar10(args.data_dir)
    x, x_test = as_float_images(data.x_train), as_float_images(data.x_test)
    run = cifar_v2.RUNS[args.run]
    plain, sweep = [], []
    for r in range(args.repeats):
        plain.append(plain_fit(run, x, data.y_train, args.iterations, args.seed))
        sweep.append(sweep_run(run, x, data.y_train, x_test, data.y_test, args.iterations, args.seed,
                               args.eval_every, args.checkpoint_every))
        print(f"repeat {r + 1}: plain fit {plain[-1]:,.0f} img/s, cifar_v2 run {sweep[-1]:,.0f} img/s")
    best_plain, best_sweep = max(plain), max(sweep)
    print(f"\n{args.run}, batch {run.batch_size}, {args.iterations} iterations, eval every {args.eval_every}, "
          f"checkpoint every {args.checkpoint_every}:")
    print(f"  plain model.fit, no callbacks : {best_plain:8,.0f} images/s")
    print(f"  cifar_v2 run with statistics  : {best_sweep:8,.0f} images/s")
    print(f"  ratio (run / plain)           : {best_sweep / best_plain:8.3f}  "
          f"(overhead {100 * (1 - best_sweep / best_plain):.1f}%; budget 10%)")


if __name__ == "__main__":
    main()
