"""The Keras backend and the device: the one place for backend-specific calls. Everything else is Keras 3, so the
scripts run under ``KERAS_BACKEND=tensorflow`` (the default) and ``KERAS_BACKEND=jax`` (the GPU path). What differs:

- determinism: TensorFlow needs ``enable_op_determinism``; JAX on the CPU is deterministic as it is.
- the training batches (:func:`batch_source`): under TensorFlow a ``tf.data`` pipeline that gathers each batch from
  the data kept as tensors, autotuning off. With it on (Keras' default for NumPy arrays), a ``fit`` call that tore
  its iterator down waited ~1.8 s for the autotune thread about one call in three on the 2-core CPU: the
  "bimodal" 1,550 / 970 images/s epochs. Other backends get a ``keras.utils.PyDataset`` over the same indices.
- precision (:func:`set_precision`): float32, or Keras' ``mixed_bfloat16`` policy (bfloat16 matmuls and
  convolutions, float32 weights and optimizer). With AMX or AVX512-BF16 (the 2-core Xeon has both) oneDNN's
  bfloat16 matmuls run at about 5x the float32 rate (997 against ~200 GFLOP/s, measured); whole training steps
  gain much less (``benchmarks/train_throughput.py``). bfloat16 changes the numbers: a run's identity records it.
- the weight update (:func:`adam_class`, :func:`momentum_class`): Keras' optimizers make about 12 element-wise
  passes over each weight tensor, 11 ms per Adam step for the LeNet-5's 3.3M weights on the 2-core CPU (4 ms for
  momentum), as much as the bfloat16 forward and backward pass; TensorFlow's fused kernels make one (3 ms). The
  momentum kernel computes Keras' arithmetic exactly (tests/test_fused.py), so TensorFlow always uses it; the Adam
  kernel rounds ``1 - beta`` differently, so it is opt-in (``--fused-adam``) and a run's identity records it.
  JAX compiles Keras' update into one XLA program already.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from common import cpu
from common.cli import UserError

with cpu.quiet_import():  # TensorFlow's C++ start-up lines (common/cpu.py), not ours to show
    import keras


def name() -> str:
    return keras.backend.backend()


# JAX compiles every train and predict function when a process first calls it (5 s of a 100-iteration run
# on the 2-core CPU); its persistent cache keeps the compiled programs on disk, so the next run of the same
# network starts at once (27 -> 23 s measured for that run). A program depends on the network and the
# shapes only, never on the data or the seed: the numbers are the same (tests/test_jax_backend.py).
JAX_CACHE = Path(__file__).resolve().parent.parent / "runs" / ".jax-cache"  # git-ignored with runs/
if name() == "jax" and "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import jax

    jax.config.update("jax_compilation_cache_dir", str(JAX_CACHE))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


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


def set_precision(policy: str, log=print) -> None:
    """Keras' global dtype policy for the models built after this call (one of ``PRECISIONS``). bfloat16 on
    a CPU without bfloat16 hardware is slower than float32: that gets a warning (common/cpu.py)."""
    if policy not in PRECISIONS:
        raise ValueError(f"unknown precision {policy!r}; choose one of {', '.join(PRECISIONS)}")
    if policy == "mixed_bfloat16" and describe()["device"] == "cpu" and cpu.bf16_warning():
        log(cpu.bf16_warning())
    keras.config.set_dtype_policy(policy)


def precision() -> str:
    return keras.config.dtype_policy().name


def banner() -> str:
    """``Keras 3.15.1, backend tensorflow on cpu (cpu); CPU: Intel Xeon ... (x86_64: AVX2, AVX-512, ...),
    oneDNN on (TensorFlow's default)``: what a run's numbers and speed depend on."""
    d = describe()
    text = f"Keras {keras.__version__}, backend {d['backend']} on {d['device']} ({d['device_name']})"
    text += f", precision {precision()}" if precision() != "float32" else ""
    text += ", fused Adam" if fused_adam() else ""
    if d["device"] == "cpu":
        text += f"\nCPU: {cpu.summary()}" + (f", {cpu.onednn_note()}" if cpu.onednn_note() else "")
    return text


# Fused weight updates (see the module docstring). One setting, like the dtype policy: the
# scripts set it once from --fused-adam, before any optimizer is built.
_FUSED_ADAM = [False]


def set_fused_adam(on: bool) -> None:
    """Build Adam optimizers on TensorFlow's fused kernel from now on (TensorFlow only)."""
    if on and name() != "tensorflow":
        raise UserError(
            f"--fused-adam needs the TensorFlow backend (this is {name()}): under JAX, XLA compiles "
            "Keras' Adam update into one fused program already; leave the flag off"
        )
    _FUSED_ADAM[0] = bool(on)


def fused_adam() -> bool:
    return _FUSED_ADAM[0]


def _plain(variable):
    """The backend variable under a Keras variable (the tf.Variable whose handle the kernels update)."""
    return variable.value if isinstance(variable, keras.Variable) else variable


@keras.saving.register_keras_serializable(package="common")
class FusedAdam(keras.optimizers.Adam):
    """Keras' Adam with its update in TensorFlow's fused ``ResourceApplyAdam`` kernel: the same
    formula, one pass over each weight tensor. It multiplies by ``1 - beta`` computed in float32,
    where Keras multiplies by the float32 rounding of ``1 - beta`` (for beta 0.9: 0.10000002 against
    0.1), so the weights drift apart from Keras' Adam by rounding (about 1e-7 after 50 steps).
    Weight decay, learning-rate schedules and checkpoints work as in Keras' Adam (the same variables)."""

    def update_step(self, gradient, variable, learning_rate):
        import tensorflow as tf

        if self.amsgrad:  # the kernel has no AMSGrad; none of our runs uses it
            return super().update_step(gradient, variable, learning_rate)
        var = _plain(variable)
        i = self._get_variable_index(variable)
        dtype = var.dtype
        step = tf.cast(self.iterations + 1, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=var.handle,
            m=_plain(self._momentums[i]).handle,
            v=_plain(self._velocities[i]).handle,
            beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step),
            beta2_power=tf.pow(tf.cast(self.beta_2, dtype), step),
            lr=tf.cast(learning_rate, dtype),
            beta1=tf.cast(self.beta_1, dtype),
            beta2=tf.cast(self.beta_2, dtype),
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )


@keras.saving.register_keras_serializable(package="common")
class FusedMomentumSGD(keras.optimizers.SGD):
    """Keras' SGD with momentum (plain or Nesterov) in TensorFlow's fused ``ResourceApplyKerasMomentum``
    kernel: ``m = m * momentum - g * lr; w += m`` (Nesterov: ``w += m * momentum - g * lr``), Keras'
    own arithmetic in one pass, bit for bit (tests/test_fused.py checks it on the LeNet-5)."""

    def update_step(self, gradient, variable, learning_rate):
        import tensorflow as tf

        if not self.momentum:
            return super().update_step(gradient, variable, learning_rate)
        var = _plain(variable)
        dtype = var.dtype
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=var.handle,
            accum=_plain(self.momentums[self._get_variable_index(variable)]).handle,
            lr=tf.cast(learning_rate, dtype),
            grad=tf.cast(gradient, dtype),
            momentum=tf.cast(self.momentum, dtype),
            use_nesterov=self.nesterov,
        )


def adam_class() -> type:
    """The Adam to build: :class:`FusedAdam` under ``--fused-adam``, else Keras' own."""
    return FusedAdam if fused_adam() and name() == "tensorflow" else keras.optimizers.Adam


def momentum_class() -> type:
    """SGD with momentum: on TensorFlow the fused kernel (the same numbers), elsewhere Keras' SGD."""
    return FusedMomentumSGD if name() == "tensorflow" else keras.optimizers.SGD


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
