"""The Keras backend and the device: the one place for backend-specific calls, so the scripts run under
``KERAS_BACKEND=tensorflow`` (the default) and ``KERAS_BACKEND=jax`` (the GPU path): determinism (TensorFlow needs
``enable_op_determinism``), the training batches (:func:`batch_source`: autotune off, for with it on a ``fit`` call
waited ~1.8 s for its thread about one call in three on the 2-core CPU), the precision (:func:`set_precision`;
bfloat16 matmuls ran at 997 against ~200 GFLOP/s float32 with AMX on the Xeon) and TensorFlow's fused weight updates
(one pass over the weights for Keras' ~12: 3 ms against 11 ms per Adam step of the LeNet-5 on the 2-core CPU). The
opt-in settings and what they change are docs/speed.md's "The opt-in speed settings".
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
    """{"backend", "device" ("cpu" or "gpu"), "device_name"}; backend and device change the numbers: identity."""
    backend = name()
    device, device_name = "cpu", "cpu"
    if backend == "jax":
        import jax

        d = jax.devices()[0]
        device = "gpu" if d.platform in ("gpu", "cuda", "rocm") else d.platform
        device_name = getattr(d, "device_kind", d.platform)
    elif backend == "tensorflow":
        import tensorflow as tf

        if gpus := tf.config.list_physical_devices("GPU"):
            device = "gpu"
            device_name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "gpu")
    return {"backend": backend, "device": device, "device_name": device_name}


PRECISIONS = ("float32", "mixed_bfloat16")


def set_precision(policy: str, log=print) -> None:
    """Keras' dtype policy for the models built from now on; bfloat16 without the hardware gets a warning."""
    if policy not in PRECISIONS:
        raise ValueError(f"unknown precision {policy!r}; choose one of {', '.join(PRECISIONS)}")
    if policy == "mixed_bfloat16" and describe()["device"] == "cpu" and cpu.bf16_warning():
        log(cpu.bf16_warning())
    keras.config.set_dtype_policy(policy)


def precision() -> str:
    return keras.config.dtype_policy().name


def banner() -> str:
    """What a run's numbers and speed depend on: ``Keras 3.15.1, backend tensorflow on cpu (cpu)\nCPU: ...``."""
    d = describe()
    text = f"Keras {keras.__version__}, backend {d['backend']} on {d['device']} ({d['device_name']})"
    text += f", precision {precision()}" if precision() != "float32" else ""
    text += ", fused Adam" if fused_adam() else ""
    if d["device"] == "cpu":
        text += f"\nCPU: {cpu.summary()}" + (f", {cpu.onednn_note()}" if cpu.onednn_note() else "")
    return text


_FUSED_ADAM = [False]  # one setting, like the dtype policy: set from --fused-adam before any optimizer is built


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


@keras.saving.register_keras_serializable(package="common")
class FusedAdam(keras.optimizers.Adam):
    """Keras' Adam in TensorFlow's fused ``ResourceApplyAdam`` kernel, on the same variables. It multiplies by
    ``1 - beta`` computed in float32, Keras by its float32 rounding (0.10000002 against 0.1 for beta 0.9), so the
    weights drift apart from Keras' Adam by rounding (about 1e-7 after 50 steps)."""

    def update_step(self, gradient, variable, learning_rate):
        import tensorflow as tf

        if self.amsgrad:  # the kernel has no AMSGrad; none of our runs uses it
            return super().update_step(gradient, variable, learning_rate)
        i = self._get_variable_index(variable)
        dtype = variable.dtype
        step = tf.cast(self.iterations + 1, dtype)
        tf.raw_ops.ResourceApplyAdam(  # a Keras variable's handle is its tf.Variable's, which the kernel updates
            var=variable.handle,
            m=self._momentums[i].handle,
            v=self._velocities[i].handle,
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
    """Keras' SGD with momentum (plain or Nesterov) in TensorFlow's fused ``ResourceApplyKerasMomentum`` kernel:
    Keras' own arithmetic in one pass, bit for bit (tests/test_fused.py)."""

    def update_step(self, gradient, variable, learning_rate):
        import tensorflow as tf

        if not self.momentum:
            return super().update_step(gradient, variable, learning_rate)
        dtype = variable.dtype
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=variable.handle,
            accum=self.momentums[self._get_variable_index(variable)].handle,
            lr=tf.cast(learning_rate, dtype),
            grad=tf.cast(gradient, dtype),
            momentum=tf.cast(self.momentum, dtype),
            use_nesterov=self.nesterov,
        )


def seed_everything(seed: int) -> None:
    """Python, NumPy and backend seeds; deterministic kernels where the backend needs asking."""
    keras.utils.set_random_seed(seed)
    if name() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def steps_per_execution(eval_every: int) -> int:
    """Training steps per host call: TensorFlow runs an evaluation interval in one ``tf.while_loop`` (about 10%
    faster on the 2-core CPU, same numbers); Keras' JAX trainer would unroll them (minutes of compilation)."""
    return eval_every if name() == "tensorflow" else 1


_TENSORS: dict = {}  # the training arrays as TensorFlow constants, made once per array pair (31 MB for CIFAR)


def batch_source(x: np.ndarray, y: np.ndarray, indices: np.ndarray):
    """Training input for ``model.fit``: batch ``i`` holds ``x[indices[i]]``, ``y[indices[i]]``, in that order."""
    if name() != "tensorflow":  # a generator: fit's steps_per_epoch carries one iterator across the epochs
        return ((x[i], y[i]) for i in indices)
    import tensorflow as tf

    if (id(x), id(y)) not in _TENSORS:
        _TENSORS.clear()
        _TENSORS[id(x), id(y)] = (tf.constant(x), tf.constant(y), x, y)  # x, y kept alive: their ids stay unique
    xt, yt = _TENSORS[id(x), id(y)][:2]
    ds = tf.data.Dataset.from_tensor_slices(indices.astype(np.int32))
    ds = ds.map(lambda i: (tf.gather(xt, i), tf.gather(yt, i)))
    options = tf.data.Options()
    options.autotune.enabled = False  # see the module docstring: a 1.8 s stall otherwise
    options.deterministic = True
    return ds.with_options(options)
