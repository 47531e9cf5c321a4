"""The Keras backend and the device: the one place for backend-specific calls.

Everything else is Keras 3 (``keras``, ``keras.ops``), so the scripts run under
``KERAS_BACKEND=tensorflow`` (the default) and ``KERAS_BACKEND=jax`` (the GPU path).
What differs by backend, and why:

- determinism: TensorFlow needs ``enable_op_determinism`` for bitwise-repeatable runs;
  JAX on the CPU is deterministic as it is.
- the training batches (:func:`batch_source`): under TensorFlow a ``tf.data`` pipeline
  that gathers each batch from the data kept as tensors, with tf.data's autotuning off.
  Measured on the 2-core CPU: with autotuning on (Keras' default pipeline for NumPy
  arrays) every ``fit`` call that tears its iterator down waited ~1.8 s for tf.data's
  autotune thread in about one call in three: the "bimodal" 1,550 / 970 images/s epochs.
  Other backends get a ``keras.utils.PyDataset`` over the same indices.
- precision (:func:`set_precision`): float32, or Keras' ``mixed_bfloat16`` policy (bfloat16
  matmuls and convolutions, float32 weights and optimizer). A CPU with AMX or AVX512-BF16
  units (this repository's 2-core Xeon has both) runs oneDNN's bfloat16 matmuls at about 5x
  the float32 rate (997 against ~200 GFLOP/s, measured); whole training steps gain much less
  (``benchmarks/train_throughput.py --precision mixed_bfloat16``; README, "Speed"). bfloat16
  keeps 8 bits of mantissa, so the numbers change: a run's identity records the precision.
"""

from __future__ import annotations

import functools

import keras
import numpy as np


def name() -> str:
    return keras.backend.backend()


@functools.cache
def describe() -> dict:
    """{"backend", "device" ("cpu" or "gpu"), "device_name"}: saved with every result, and the
    backend and device kind are part of a run's identity (they change the numbers)."""
    backend = name()
    device, device_name = "cpu", "cpu"
    if backend == "jax":
        import jax

        d = jax.devices()[0]
        device = "gpu" if d.platform in ("gpu", "cuda", "rocm") else d.platform
        device_name = getattr(d, "device_kind", d.platform)
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            device = "gpu"
            device_name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "gpu")
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            device, device_name = "gpu", torch.cuda.get_device_name(0)
    return {"backend": backend, "device": device, "device_name": device_name}


PRECISIONS = ("float32", "mixed_bfloat16")


def set_precision(policy: str) -> None:
    """Keras' global dtype policy for the models built after this call (one of ``PRECISIONS``)."""
    if policy not in PRECISIONS:
        raise ValueError(f"unknown precision {policy!r}; choose one of {', '.join(PRECISIONS)}")
    keras.config.set_dtype_policy(policy)


def precision() -> str:
    return keras.config.dtype_policy().name


def banner() -> str:
    d = describe()
    text = f"Keras {keras.__version__}, backend {d['backend']} on {d['device']} ({d['device_name']})"
    return text + (f", precision {precision()}" if precision() != "float32" else "")


def seed_everything(seed: int) -> None:
    """Python, NumPy and backend seeds; deterministic kernels where the backend needs asking."""
    keras.utils.set_random_seed(seed)
    if name() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def steps_per_execution(eval_every: int) -> int:
    """Training steps per host call. TensorFlow runs a whole evaluation interval in one call (a
    ``tf.while_loop``; about 10% faster than one call per step on the 2-core CPU, same numbers, see
    tests/test_training.py); Keras' JAX trainer unrolls the steps into one XLA program, so there
    it stays 1 (100 unrolled steps would cost minutes of compilation)."""
    return eval_every if name() == "tensorflow" else 1


class _IndexedBatches(keras.utils.PyDataset):
    """Batch ``i`` = (x[indices[i]], y[indices[i]]), for backends other than TensorFlow."""

    def __init__(self, x, y, indices):
        super().__init__()
        self.x, self.y, self.indices = x, y, indices

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, i):
        idx = self.indices[i]
        return self.x[idx], self.y[idx]


def batch_source(x: np.ndarray, y: np.ndarray, indices: np.ndarray):
    """Training input for ``model.fit``: batch ``i`` holds ``x[indices[i]]``, ``y[indices[i]]``.
    ``indices`` is (steps, batch_size); the batches come in that order, nothing is shuffled."""
    if name() != "tensorflow":
        return _IndexedBatches(x, y, indices)
    import tensorflow as tf

    xt, yt = _as_tensors(x, y)
    ds = tf.data.Dataset.from_tensor_slices(indices.astype(np.int32))
    ds = ds.map(lambda i: (tf.gather(xt, i), tf.gather(yt, i)))
    options = tf.data.Options()
    options.autotune.enabled = False  # see the module docstring: a 1.8 s stall otherwise
    options.deterministic = True
    return ds.with_options(options)


_TENSORS: dict = {}


def _as_tensors(x, y):
    """The training arrays as TensorFlow constants, made once per array pair (31 MB for CIFAR)."""
    import tensorflow as tf

    key = (id(x), id(y))
    if key not in _TENSORS:
        _TENSORS.clear()
        _TENSORS[key] = (tf.constant(x), tf.constant(y), x, y)  # x, y kept alive: their ids stay unique
    return _TENSORS[key][:2]
