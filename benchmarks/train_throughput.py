"""Training throughput of a cifar_v2.py run (evaluation on the whole test set, conv
statistics, histograms, TensorBoard logs and checkpoints every interval, as the sweep
does) against a plain ``model.fit`` of the same network with no callbacks, in one process.

    python benchmarks/train_throughput.py [--iterations 1000] [--repeats 3]

Prints images/s of each and the ratio of the run to the faster plain fit; the sweep's
evaluation and statistics may cost at most 10%. The plain fit runs both in one call and in
the sweep's interval-sized calls, as Keras is faster on the smaller arrays.
"""

import argparse
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import numpy as np  # noqa: E402
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import cifar_v2  # noqa: E402
from common import training  # noqa: E402
from common.data import as_float_images, load_cifar10  # noqa: E402
from common.models import build_lenet5, compile_classifier, make_optimizer  # noqa: E402
from common.tensorboard import SummaryWriter  # noqa: E402


def build(run):
    model = build_lenet5(run.activation, run.init, dropout=run.dropout, l2=run.l2)
    return compile_classifier(model, make_optimizer(run.optimizer, run.learning_rate, run.momentum))


def plain_fit(run, x, y, iterations, seed, chunk=None):
    """model.fit with no callbacks over the same batches: in one call, or in ``chunk``-iteration
    calls as the sweep makes them (Keras' array adapter is faster on the smaller arrays)."""
    training.seed_everything(seed)
    model = build(run)
    chunk = chunk or iterations
    start = time.perf_counter()
    for it in range(0, iterations, chunk):
        idx = training.stream_indices(seed, it, chunk, run.batch_size, len(x))
        model.fit(x[idx], y[idx], batch_size=run.batch_size, shuffle=False, verbose=0)
    return iterations * run.batch_size / (time.perf_counter() - start)


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
    p.add_argument("--iterations", type=int, default=1000)
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--repeats", type=int, default=3, help="alternating repeats; the median of each is reported")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    data = load_cifar10(args.data_dir)
    x, x_test = as_float_images(data.x_train), as_float_images(data.x_test)
    run = cifar_v2.RUNS[args.run]
    # Warm-up, not counted: the process's first model pays TensorFlow's one-time kernel set-up.
    plain_fit(run, x, data.y_train, args.eval_every, args.seed)
    plain, chunked, sweep = [], [], []
    for r in range(args.repeats):
        plain.append(plain_fit(run, x, data.y_train, args.iterations, args.seed))
        chunked.append(plain_fit(run, x, data.y_train, args.iterations, args.seed, chunk=args.eval_every))
        sweep.append(sweep_run(run, x, data.y_train, x_test, data.y_test, args.iterations, args.seed,
                               args.eval_every, args.checkpoint_every))
        print(f"repeat {r + 1}: plain fit {plain[-1]:,.0f} img/s, plain fit in {args.eval_every}-iteration calls "
              f"{chunked[-1]:,.0f} img/s, cifar_v2 run {sweep[-1]:,.0f} img/s")
    # Medians: this shared 2-core machine's throughput wanders by 10-20% from call to call.
    plain, chunked, sweep = (float(np.median(v)) for v in (plain, chunked, sweep))
    best_plain, best_sweep = max(plain, chunked), sweep
    print(f"\n{args.run}, batch {run.batch_size}, {args.iterations} iterations, eval every {args.eval_every}, "
          f"checkpoint every {args.checkpoint_every} (median of {args.repeats}):")
    print(f"  plain model.fit, no callbacks, one call     : {plain:8,.0f} images/s")
    print(f"  plain model.fit, no callbacks, {args.eval_every:>4}-it calls : {chunked:8,.0f} images/s")
    print(f"  cifar_v2 run with statistics                : {best_sweep:8,.0f} images/s")
    print(f"  ratio (run / faster plain fit)              : {best_sweep / best_plain:8.3f}  "
          f"(overhead {100 * (1 - best_sweep / best_plain):.1f}%; budget 10%)")


if __name__ == "__main__":
    main()
