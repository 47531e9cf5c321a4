"""The weight update alone: Keras' optimizers against TensorFlow's fused kernels, in one process.

    python benchmarks/optimizer_update.py [--updates 500] [--repeats 3]

Times ``optimizer.apply`` on the LeNet-5's weights (3.3M) with fixed gradients, inside one
``tf.function``, interleaved ``--repeats`` times: Keras' Adam against ``common.backend.FusedAdam``
(``--fused-adam``), and Keras' SGD with momentum against ``common.backend.FusedMomentumSGD`` (always
used on TensorFlow). Prints the median milliseconds per update and the ratios. Timings only.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import cpu  # noqa: E402

cpu.configure()  # as the scripts do: oneDNN where TensorFlow leaves it off

import keras  # noqa: E402

from benchmarks import record  # noqa: E402
from common import backend, config, models  # noqa: E402


def ms_per_update(make_optimizer, updates: int) -> float:
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    weights = models.build_lenet5().trainable_variables
    grads = [tf.random.normal(w.shape, stddev=1e-3) for w in weights]
    optimizer = make_optimizer()
    optimizer.build(weights)
    step = tf.function(lambda: optimizer.apply(grads, weights))
    for _ in range(20):  # trace and warm up
        step()
    return record.best_seconds(lambda: [step() for _ in range(updates)]) / updates * 1e3


@dataclass(frozen=True)
class Settings:
    updates: int = config.setting(500, "timed updates per measurement", min=1)
    repeats: int = record.REPEATS(3)


def main(argv=None):
    s = config.parse(Settings, argv, description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    if backend.name() != "tensorflow":
        sys.exit(
            "benchmarks/optimizer_update.py measures TensorFlow's fused kernels: run it with KERAS_BACKEND=tensorflow"
        )
    print(f"{backend.banner()}; {os.cpu_count()} CPU(s); LeNet-5, {models.NUM_PARAMS:,} weights")
    pairs = {  # Keras' optimizer and the fused kernel's, built alike
        "Adam": [partial(c, 1e-3) for c in (keras.optimizers.Adam, backend.FusedAdam)],
        "SGD, momentum 0.9": [partial(c, 1e-2, momentum=0.9) for c in (keras.optimizers.SGD, backend.FusedMomentumSGD)],
    }
    kinds = ("Keras", "fused")
    measure = lambda: {f"{n} {k}": ms_per_update(make, s.updates) for n in pairs for k, make in zip(kinds, pairs[n])}
    _, medians = record.interleaved(measure, s.repeats, "ms per update", digits=2)
    for name in pairs:
        k, f = (medians[f"{name} {kind}"] for kind in kinds)
        print(f"  {name:<18}: Keras {k:6.2f} ms, fused kernel {f:6.2f} ms per update: {k / f:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
