"""The study's LeNet-5: conv 5x5x32 -> pool -> conv 5x5x64 -> pool -> fc 1024 -> fc 10.

Layer names ``conv1``, ``pool1``, ``conv2``, ``pool2``, ``fc1``, ``logits`` are an
interface: the activation statistics and the deconvnet look layers up by name.
The model outputs logits; the loss applies the softmax.
"""

from __future__ import annotations

import keras
from keras import layers

ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu")
INITS = ("normal", "glorot_uniform", "he_normal")
INPUT_SHAPE = (28, 28, 1)
NUM_PARAMS = 3_274_634  # 832 + 51,264 + 3,212,288 + 10,250


def initializers(init: str):
    """(kernel, bias) initializers. "normal" is the TF tutorial's: truncated normal
    stddev 0.1 (cut at 2 stddev, as tf.truncated_normal) and biases 0.1."""
    if init == "normal":
        return keras.initializers.TruncatedNormal(stddev=0.1), keras.initializers.Constant(0.1)
    if init in ("glorot_uniform", "he_normal"):
        return init, "zeros"
    raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")


def build_lenet5(activation: str = "relu", init: str = "normal", dropout: float = 0.0,
                 l2: float = 0.0, num_classes: int = 10, input_shape=INPUT_SHAPE) -> keras.Model:
    """The study's CNN. ``dropout`` is the drop rate after fc1; ``l2`` the weight of
    an L2 penalty l2 * sum(w**2) on every kernel, added to the cross-entropy.
    Weights are drawn from Keras' global seed: call ``keras.utils.set_random_seed`` first."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    kernel_init, bias_init = initializers(init)
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None

    weight_kwargs = dict(kernel_initializer=kernel_init, bias_initializer=bias_init,
                        kernel_regularizer=regularizer)

    inputs = keras.Input(input_shape, name="image")
    x = layers.Conv2D(32, 5, padding="same", activation=activation, name="conv1", **weight_kwargs)(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(64, 5, padding="same", activation=activation, name="conv2", **weight_kwargs)(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(1024, activation=activation, name="fc1", **weight_kwargs)(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(num_classes, name="logits", **weight_kwargs)(x)
    return keras.Model(inputs, outputs, name=f"lenet5_{activation}_{init}")


def make_optimizer(name: str, learning_rate: float, momentum: float = 0.0) -> keras.optimizers.Optimizer:
    """The study's optimizers by name: adam, momentum, sgd, adagrad, rmsprop."""
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "momentum":
        return keras.optimizers.SGD(learning_rate, momentum=momentum)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate)
    if name == "adagrad":
        return keras.optimizers.Adagrad(learning_rate)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate, momentum=momentum)
    raise ValueError(f"unknown optimizer {name!r}; choose adam, momentum, sgd, adagrad or rmsprop")


def compile_classifier(model: keras.Model, optimizer: keras.optimizers.Optimizer) -> keras.Model:
    """Softmax cross-entropy on the logits, with accuracy."""
    model.compile(optimizer=optimizer,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model
