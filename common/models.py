"""The networks (the study's LeNet-5, the VGG-style and airbench CNNs beyond it, Task 3's recurrent ones) and the
training recipe's parts: optimizers, learning-rate schedules, label smoothing, on-the-fly augmentation.

Layer names ``conv1``, ``pool1``, ``conv2``, ``fc1``, ``logits`` are an interface: the activation statistics and
the deconvnet look layers up by name. The models output logits; the loss applies the softmax.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
from keras import layers, ops

from common import backend
from common.study import ACTIVATIONS, ARCHS, AUGMENTATIONS, CELLS, INITS, OPTIMIZERS, SCHEDULES  # noqa: F401

# the VGG-style CNNs by name: build_vgg's stage widths, and whether each stage pools after its first conv
VGG_ARCHS = {
    "vgg": dict(widths=(32, 64, 128), pool_first=False),
    "vgg_wide": dict(widths=(48, 96, 192), pool_first=True),
}
# the airbench-style networks by name: build_airbench's block widths
AIRBENCH_WIDTHS = {"airbench": (64, 128, 256), "airbench_small": (32, 64, 128)}
INPUT_SHAPE = (28, 28, 1)
NUM_PARAMS = 3_274_634  # 832 + 51,264 + 3,212,288 + 10,250
# the largest shift of each kind, in pixels of 28, each direction: "small shifts", and the stronger
# 4 (a 14% shift, like the 4-of-32-pixel crops usual on CIFAR-10) for networks trained longer
SHIFT_PIXELS = {"flip_shift": 2, "flip_shift4": 4, "flip_shift4_erase": 4, "altflip_shift": 2}
# "_erase" adds random erasing (Zhong et al. 2017, Keras' RandomErasing): with probability ERASE_PROB, a
# rectangle of 2-25% of the image is filled with noise; for networks that still memorize the flips and shifts
ERASE_PROB, ERASE_AREA = 0.5, (0.02, 0.25)
# the logits layer computes in float32 under every dtype policy: under --precision mixed_bfloat16 the softmax, the loss
# and the test accuracy then see float32 logits (the usual advice for mixed precision; a no-op for float32 runs)
LOGITS_DTYPE = "float32"
LOOKAHEAD_EVERY = 5  # steps between copies of the weights' moving average into the network (airbench's)


def initializers(init: str):
    """(kernel, bias) initializers. "normal" is the TF tutorial's: truncated normal
    stddev 0.1 (cut at 2 stddev, as tf.truncated_normal) and biases 0.1."""
    if init == "normal":
        return keras.initializers.TruncatedNormal(stddev=0.1), keras.initializers.Constant(0.1)
    if init in ("glorot_uniform", "he_normal"):
        return init, "zeros"
    raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")


def augmentation(kind: str, image_shape) -> list[layers.Layer]:
    """Keras preprocessing layers (active in ``fit`` only; their seed generators are checkpointed): random flips
    (none for "altflip_*": the batches arrive mirrored on alternate passes, common.training.stream_indices),
    zero-filled shifts of up to SHIFT_PIXELS[kind] pixels, and for "*_erase" random erasing."""
    if kind == "none":
        return []
    if kind not in SHIFT_PIXELS:
        raise ValueError(f"unknown augmentation {kind!r}; choose one of {', '.join(AUGMENTATIONS)}")
    h, w = image_shape[:2]
    shift = SHIFT_PIXELS[kind]
    augs = [] if kind.startswith("altflip") else [layers.RandomFlip("horizontal", name="aug_flip")]
    augs.append(layers.RandomTranslation(shift / h, shift / w, fill_mode="constant", name="aug_shift"))
    if kind.endswith("_erase"):
        # a (p, p) factor erases each image with probability p; the noise is clipped to the [0, 1] pixel range
        augs.append(
            layers.RandomErasing((ERASE_PROB, ERASE_PROB), ERASE_AREA, value_range=(0.0, 1.0), name="aug_erase")
        )
    return augs


def image_input(input_shape, augment: str):
    """The image input, and it through :func:`augmentation`'s layers (the inputs, the output)."""
    inputs = x = keras.Input(input_shape, name="image")
    for layer in augmentation(augment, input_shape):
        x = layer(x)
    return inputs, x


def build_lenet5(
    activation="relu", init="normal", dropout=0.0, l2=0.0, num_classes=10, input_shape=INPUT_SHAPE, augment="none"
) -> keras.Model:
    """The study's CNN: ``dropout`` after fc1, an L2 penalty l2 * sum(w**2) on every kernel. Weights are drawn from
    Keras' global seed."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    kernel_init, bias_init = initializers(init)
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    weight_kwargs = dict(kernel_initializer=kernel_init, bias_initializer=bias_init, kernel_regularizer=regularizer)
    inputs, x = image_input(input_shape, augment)
    x = layers.Conv2D(32, 5, padding="same", activation=activation, name="conv1", **weight_kwargs)(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(64, 5, padding="same", activation=activation, name="conv2", **weight_kwargs)(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(1024, activation=activation, name="fc1", **weight_kwargs)(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="logits", dtype=LOGITS_DTYPE, **weight_kwargs)(x)
    return keras.Model(inputs, outputs, name=f"lenet5_{activation}_{init}")


def build_vgg(run, num_classes=10, input_shape=INPUT_SHAPE) -> keras.Model:
    """``run``'s small VGG-style CNN: per stage two 3x3 convs with batch norm and ReLU and a 2x2 max-pool; global
    average pooling and one dense layer (``conv2``: the second stage's first conv). ``pool_first`` pools after each
    stage's first conv (airbench's block), so the second runs at a quarter of the pixels: on the 2-core CPU (rung 4's
    recipe, batch 100, 1,500 iterations, seed 0) 48/96/192 pooled first trained at 852 images/s against 560 for
    32/64/128 pooled last, with 2.2x the weights and 76.1% test accuracy (flip-averaged) against 75.0%."""
    widths, pool_first = VGG_ARCHS[run.arch]["widths"], VGG_ARCHS[run.arch]["pool_first"]
    regularizer = keras.regularizers.L2(run.l2) if run.l2 > 0 else None
    conv = dict(padding="same", use_bias=False, kernel_initializer="he_normal", kernel_regularizer=regularizer)
    inputs, x = image_input(input_shape, run.augment)
    for stage, width in enumerate(widths, 1):
        for k in (1, 2):
            name = {(1, 1): "conv1", (2, 1): "conv2"}.get((stage, k), f"conv{stage}_{k}")
            x = layers.Conv2D(width, 3, name=name, **conv)(x)
            if pool_first and k == 1:
                x = layers.MaxPooling2D(2, name=f"pool{stage}")(x)
            x = layers.BatchNormalization(momentum=run.bn_momentum, name=f"{name}_bn")(x)
            x = layers.Activation("relu", name=f"{name}_relu")(x)
        if not pool_first:
            x = layers.MaxPooling2D(2, name=f"pool{stage}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    if run.dropout > 0:
        x = layers.Dropout(run.dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, kernel_regularizer=regularizer, name="logits", dtype=LOGITS_DTYPE)(x)
    return keras.Model(inputs, outputs, name=("vgg_wide_" if pool_first else "vgg_") + "_".join(map(str, widths)))


@keras.saving.register_keras_serializable(package="common")
class Bias(layers.Layer):
    """A learned bias per channel whose gradient is multiplied by ``lr_scale`` (the forward value is the bias
    itself): under SGD its rate is ``lr_scale`` times the other weights', its decoupled weight decay unchanged.
    Airbench trains its batch-norm biases so, at 64x the rate, with the norms' scales fixed at 1."""

    def __init__(self, lr_scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.lr_scale = lr_scale

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="bias")

    def call(self, x):
        b = self.bias + (self.lr_scale - 1.0) * (self.bias - ops.stop_gradient(self.bias))  # exactly the bias
        return x + ops.cast(b, x.dtype)

    def get_config(self):
        return {**super().get_config(), "lr_scale": self.lr_scale}


def whitening_filters(x: np.ndarray, size: int = 2, eps: float = 5e-4) -> np.ndarray:
    """The (size, size, C, 2 * size * size * C) kernel that whitens the ``size`` x ``size`` patches of the images
    ``x`` (N, H, W, C): the patch covariance's eigenvectors over the square roots of their eigenvalues (plus
    ``eps``, in units of the pixels' variance), each also negated, so a ReLU-like activation keeps both signs
    (airbench's first layer, computed from the training images and never trained)."""
    x = np.asarray(x, np.float64)
    std = x.std()
    x = (x - x.mean()) / std
    h, w, c = x.shape[1:]
    patches = np.stack([x[:, i : h - size + 1 + i, j : w - size + 1 + j] for i in range(size) for j in range(size)], 3)
    patches = patches.reshape(-1, size * size * c)  # (i, j, channel) order: the kernel's
    eigenvalues, vectors = np.linalg.eigh(np.cov(patches, rowvar=False))
    filters = (vectors / np.sqrt(eigenvalues + eps)).T.reshape(-1, size, size, c) / std  # for the raw pixels
    return np.concatenate([filters, -filters]).transpose(1, 2, 3, 0).astype("float32")


def build_airbench(run, num_classes: int, input_shape, whiten=None) -> keras.Model:
    """Keller Jordan's airbench network for 28x28 images with ``run``'s widths, batch-norm momentum, bias rate, logit
    scale, dropout and augmentation: a 2x2 first layer frozen to ``whiten`` (trained where it is None); three blocks
    of conv, 2x2 max-pool, BN, GELU, conv, BN, GELU; a max over the last map; a bias-free dense layer times the logit
    scale. The norms learn a bias only (:class:`Bias`) and use Keras' momentum convention (airbench's PyTorch 0.6 is
    0.4 here); ``conv1``, ``conv2``: the first two blocks' first convs."""
    inputs, x = image_input(input_shape, run.augment)
    channels = 2 * 4 * input_shape[-1]
    stem = layers.Conv2D(channels, 2, use_bias=False, trainable=whiten is None, name="whiten")
    x = layers.Activation("gelu", name="whiten_act")(Bias(name="whiten_bias")(stem(x)))
    if whiten is not None:
        stem.set_weights([whiten])
    for block, width in enumerate(AIRBENCH_WIDTHS[run.arch], 1):
        for k in (1, 2):
            name = {(1, 1): "conv1", (2, 1): "conv2"}.get((block, k), f"conv{block}_{k}")
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer="he_normal", name=name)(x)
            if k == 1:
                x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
            x = layers.BatchNormalization(momentum=run.bn_momentum, center=False, scale=False, name=f"{name}_bn")(x)
            x = layers.Activation("gelu", name=f"{name}_act")(Bias(run.bias_lr_scale, name=f"{name}_bias")(x))
    x = layers.GlobalMaxPooling2D(name="pool_max")(x)
    if run.dropout > 0:
        x = layers.Dropout(run.dropout, name="dropout")(x)
    x = layers.Dense(num_classes, use_bias=False, name="dense")(x)
    outputs = layers.Rescaling(run.logit_scale, name="logits", dtype=LOGITS_DTYPE)(x)
    return keras.Model(inputs, outputs, name="airbench_" + "_".join(map(str, AIRBENCH_WIDTHS[run.arch])))


def forward_flops(model: keras.Model) -> int:
    """Floating-point operations of one image's forward pass through the convolutions and dense layers (a
    multiply-add counts 2; pooling, batch norm and activations, under 2% in these networks, are left out). A training
    step costs about 3x this per image (the forward pass and two backward products)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, layers.Conv2D):  # the kernel at every output pixel
            total += 2 * np.prod(layer.kernel.shape) * np.prod(layer.output.shape[1:3])
        elif isinstance(layer, layers.Dense):
            total += 2 * np.prod(layer.kernel.shape)
    return int(total)


def build_model(run, num_classes: int = 10, input_shape=INPUT_SHAPE, x_train=None) -> keras.Model:
    """The compiled network of ``run`` (a ``common.study.RunConfig``): architecture, optimizer, schedule, loss.
    Weights are drawn from Keras' global seed; ``x_train``: the images it trains on (airbench's whitening). A new
    network is one builder and one branch here, its first two convolutions ``conv1`` and ``conv2``."""
    if run.arch == "lenet5":
        model = build_lenet5(run.activation, run.init, run.dropout, run.l2, num_classes, input_shape, run.augment)
    elif run.arch in VGG_ARCHS:
        model = build_vgg(run, num_classes, input_shape)
    elif run.arch in AIRBENCH_WIDTHS:
        model = build_airbench(run, num_classes, input_shape, whitening_filters(x_train) if run.whiten else None)
    else:
        raise ValueError(f"unknown arch {run.arch!r}; choose one of {', '.join(ARCHS)}")
    lr = learning_rate_schedule(run.learning_rate, run.schedule, run.iterations, run.warmup)
    optimizer = make_optimizer(run.optimizer, lr, run.momentum, run.weight_decay, run.ema, run.iterations)
    return compile_classifier(model, optimizer, run.label_smoothing)


@keras.saving.register_keras_serializable(package="common")
class Triangle(keras.optimizers.schedules.LearningRateSchedule):
    """Airbench's schedule: linear from ``start`` x ``peak`` at step 0 to ``peak`` at step ``warmup``, then linear
    to 0 at ``iterations``."""

    def __init__(self, peak: float, warmup: int, iterations: int, start: float = 0.2):
        self.peak, self.warmup, self.iterations, self.start = peak, warmup, iterations, start

    def __call__(self, step):
        step = ops.cast(step, "float32")
        up = self.start + (1.0 - self.start) * step / max(self.warmup, 1)
        down = (self.iterations - step) / max(self.iterations - self.warmup, 1)
        return self.peak * ops.maximum(ops.minimum(up, down), 0.0)

    def get_config(self):
        return dict(peak=self.peak, warmup=self.warmup, iterations=self.iterations, start=self.start)


def learning_rate_schedule(learning_rate: float, schedule: str = "constant", iterations: int = 0, warmup: int = 0):
    """A constant rate; or a linear warm-up over ``warmup`` iterations to ``learning_rate``, then a cosine decay to 0 at
    ``iterations``; or :class:`Triangle` (driven by the optimizer's step count, which checkpoints save)."""
    if schedule == "triangle":
        return Triangle(learning_rate, warmup, iterations)
    if schedule == "constant":
        if warmup:
            raise ValueError("a warm-up needs the cosine schedule")
        return learning_rate
    if schedule != "cosine":
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if warmup:
        return keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps=max(iterations - warmup, 1), warmup_target=learning_rate, warmup_steps=warmup
        )
    return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(iterations, 1))


class _Lookahead:
    """Airbench's lookahead on a Keras optimizer: Keras' moving average of the weights (``use_ema``), copied into the
    network every :data:`LOOKAHEAD_EVERY` steps, its momentum ramped from 0 to ``ema_momentum`` as (step / ``ramp``)^3,
    so early training runs free and the last steps are averaged. A fixed momentum of 0.95 from the first step held the
    airbench network at 74.0% validation accuracy against 83.5% without it (seed 0, 30 passes, the 2-core Xeon)."""

    def __init__(self, *args, ramp: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.ramp = ramp

    @property
    def ema_momentum(self):
        return self.peak * ops.minimum(ops.cast(self.iterations, "float32") / self.ramp, 1.0) ** 3

    @ema_momentum.setter
    def ema_momentum(self, value):
        self.peak = value

    def get_config(self):
        return {**super().get_config(), "ema_momentum": self.peak, "ramp": self.ramp}


@functools.cache
def lookahead(cls: type) -> type:
    """``cls`` with :class:`_Lookahead`, registered so that a saved model loads."""
    return keras.saving.register_keras_serializable("common")(type(f"Lookahead{cls.__name__}", (_Lookahead, cls), {}))


def make_optimizer(
    name: str, learning_rate, momentum: float = 0.0, weight_decay: float = 0.0, ema: float = 0.0, iterations: int = 1
) -> keras.optimizers.Optimizer:
    """The study's optimizers by name (adam, momentum, sgd, adagrad, rmsprop) and two modern ones: adamw (decoupled
    weight decay) and nesterov (SGD with Nesterov momentum and weight decay). ``ema`` > 0: airbench's lookahead
    (:class:`_Lookahead`, ramped over ``iterations``), so every evaluation sees the averaged weights."""
    kw = dict(weight_decay=weight_decay) if weight_decay else {}
    if name == "adam":  # Keras' Adam, or under --fused-adam TensorFlow's fused kernel (common/backend.py)
        cls = backend.FusedAdam if backend.fused_adam() and backend.name() == "tensorflow" else keras.optimizers.Adam
    elif name == "adamw":
        cls, kw = keras.optimizers.AdamW, {**kw, "weight_decay": weight_decay}
    elif name in ("momentum", "nesterov"):  # on TensorFlow's fused kernel where it has it: Keras' numbers
        cls = backend.FusedMomentumSGD if backend.name() == "tensorflow" else keras.optimizers.SGD
        kw = {**kw, "momentum": momentum, "nesterov": name == "nesterov"}
    elif name in ("sgd", "adagrad"):
        cls = {"sgd": keras.optimizers.SGD, "adagrad": keras.optimizers.Adagrad}[name]
    elif name == "rmsprop":
        cls, kw = keras.optimizers.RMSprop, {**kw, "momentum": momentum}
    else:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    if ema:
        cls, kw = lookahead(cls), {**kw, "ramp": iterations, "use_ema": True, "ema_momentum": ema}
        kw["ema_overwrite_frequency"] = LOOKAHEAD_EVERY
    return cls(learning_rate, **kw)


for _cls in (keras.optimizers.SGD, backend.FusedMomentumSGD):  # the optimizers a lookahead run saves
    lookahead(_cls)


class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Softmax cross-entropy on logits against integer labels smoothed by ``smoothing``:
    the target is (1 - s) on the true class plus s / K on every class."""

    def __init__(self, smoothing: float, name="smoothed_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.smoothing = smoothing

    def call(self, y_true, y_pred):
        k = ops.shape(y_pred)[-1]
        target = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), k)
        target = target * (1.0 - self.smoothing) + self.smoothing / ops.cast(k, y_pred.dtype)
        return -ops.sum(target * ops.log_softmax(y_pred, axis=-1), axis=-1)

    def get_config(self):
        return {**super().get_config(), "smoothing": self.smoothing}


def compile_classifier(model: keras.Model, optimizer: keras.optimizers.Optimizer, label_smoothing: float = 0.0):
    """Softmax cross-entropy on the logits (label-smoothed where asked), with accuracy and the plain
    cross-entropy (``ce``) as metrics."""
    loss = (
        SmoothedSparseCrossentropy(label_smoothing)
        if label_smoothing
        else keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    model.compile(
        optimizer=optimizer,
        loss=loss,
        # the cross-entropy alone beside the loss, which adds the L2 penalty (and smooths the labels where asked):
        # the curves compare it with the test cross-entropy (a metric: no effect on the gradients or checkpoints)
        metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
            keras.metrics.SparseCategoricalCrossentropy(from_logits=True, name="ce"),
        ],
    )
    return model


# Task 3's recurrent networks (common/recurrent.py defines the runs)
def build_rnn(
    cell: str, hidden: int, unroll: bool = True, steps: int = 28, inputs: int = 28, num_classes: int = 10
) -> keras.Model:
    """``steps`` x ``inputs`` -> one ``cell`` layer of ``hidden`` units -> dense logits."""
    if cell not in CELLS:
        raise ValueError(f"unknown cell {cell!r}; choose one of {', '.join(CELLS)}")
    rows = keras.Input((steps, inputs), name="rows")
    layer = {"rnn": layers.SimpleRNN, "lstm": layers.LSTM, "gru": layers.GRU}[cell]
    x = layer(hidden, unroll=unroll, name=cell)(rows)
    outputs = layers.Dense(num_classes, name="logits", dtype=LOGITS_DTYPE)(x)
    return keras.Model(rows, outputs, name=f"{cell}_{hidden}")
