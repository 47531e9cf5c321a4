"""The study's Task 1 runs: one :class:`RunConfig` per row of its table, its reported numbers,
and the model a run config builds. Shared by ``cifar_v2.py`` (the sweep) and ``dconvnet.py``
(which trains one of these runs for the deconvnet).

The study did not state every constant. Those we had to choose are the ``UPPER_CASE``
constants below, each with the reason for its value.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

import keras

from common import models

# ---------------------------------------------------------------------------
# The constants the study did not state.
ITERATIONS = 3000  # batches per run (15 passes over the 10,000 training images at batch 50)
BATCH_SIZE = 50  # the study's batch size
ADAM_LR = 1e-4  # the TF tutorial template's Adam learning rate
MOMENTUM_RUN6 = (1e-3, 0.9)  # run 6 "ReLU, momentum": (learning rate, momentum)
DROPOUT = 0.5  # drop rate on fc1 for the regularized runs (the template's keep_prob 0.5)
L2 = 1e-4  # L2 weight: loss = cross-entropy + L2 * sum of squared kernel weights
LONG_FACTOR = 2  # run 8, "more iterations": this many times run 7's iterations


@dataclass(frozen=True)
class RunConfig:
    """Everything that shapes one run's numbers (with the seed, the data and the backend).
    The fields after ``batch_size`` are the "beyond the study" recipe; their defaults are the
    study's plain training."""

    name: str
    study_row: int | None = None  # the row of the study's table; None for runs beyond it
    activation: str = "relu"
    optimizer: str = "adam"
    learning_rate: float = ADAM_LR
    momentum: float = 0.0
    init: str = "normal"
    dropout: float = 0.0
    l2: float = 0.0
    iterations: int = ITERATIONS
    batch_size: int = BATCH_SIZE
    arch: str = "lenet5"  # lenet5 (the study's) or vgg (a small modern CNN)
    schedule: str = "constant"  # constant or cosine (decay to 0 at the last iteration)
    warmup: int = 0  # linear warm-up iterations (cosine schedule only)
    weight_decay: float = 0.0  # decoupled weight decay (adamw, nesterov)
    label_smoothing: float = 0.0
    augment: str = "none"  # none or flip_shift (random horizontal flips, shifts of 2 px)
    tta: bool = False  # test-time averaging of the image and its mirror image

    def identity(self) -> dict:
        """The fields that shape the numbers (not the name or the table row)."""
        return {k: v for k, v in asdict(self).items() if k not in ("name", "study_row")}

    def describe(self) -> str:
        opt = f"{self.optimizer} lr {self.learning_rate:g}" + (f" m {self.momentum:g}" if self.momentum else "")
        if self.schedule != "constant":
            opt += f" {self.schedule}" + (f" (warm-up {self.warmup})" if self.warmup else "")
        if self.weight_decay:
            opt += f" wd {self.weight_decay:g}"
        reg = f"dropout {self.dropout:g} + L2 {self.l2:g}" if self.dropout or self.l2 else "no regularization"
        extra = [
            e
            for e, on in (
                (f"label smoothing {self.label_smoothing:g}", self.label_smoothing),
                (f"augment {self.augment}", self.augment != "none"),
                ("flip TTA", self.tta),
            )
            if on
        ]
        arch = "" if self.arch == "lenet5" else f"{self.arch}, "
        return (
            f"{arch}{self.activation}, {opt}, {self.init} init, {reg}"
            + "".join(f", {e}" for e in extra)
            + f", batch {self.batch_size}, {self.iterations} it"
        )


def _regularized(name, row, **kw):
    return RunConfig(name, row, dropout=DROPOUT, l2=L2, **kw)


# The study's 11 runs, in the order of its table.
STUDY_RUNS = [
    RunConfig("relu_adam_normal", 1),
    RunConfig("tanh_adam_normal", 2, activation="tanh"),
    RunConfig("sigmoid_adam_normal", 3, activation="sigmoid"),
    RunConfig("leaky_relu_adam_normal", 4, activation="leaky_relu"),
    RunConfig("relu_adam_glorot_uniform", 5, init="glorot_uniform"),
    RunConfig(
        "relu_momentum_normal", 6, optimizer="momentum", learning_rate=MOMENTUM_RUN6[0], momentum=MOMENTUM_RUN6[1]
    ),
    _regularized("relu_adam_normal_dropout_l2", 7),
    _regularized("relu_adam_normal_dropout_l2_long", 8, iterations=LONG_FACTOR * ITERATIONS),
    _regularized("relu_momentum08_lr1e-2_dropout_l2", 9, optimizer="momentum", learning_rate=1e-2, momentum=0.8),
    _regularized("relu_momentum07_lr1e-2_dropout_l2", 10, optimizer="momentum", learning_rate=1e-2, momentum=0.7),
    _regularized("relu_momentum09_lr1e-3_dropout_l2", 11, optimizer="momentum", learning_rate=1e-3, momentum=0.9),
]
RUNS = {r.name: r for r in STUDY_RUNS}

# The study's reported accuracies (ORIGINAL_STUDY.md, Task 1 table), by table row: (train, test).
STUDY = {
    1: (0.96, 0.525),
    2: (0.96, 0.543),
    3: (0.66, 0.49),
    4: (0.92, 0.528),
    5: (0.96, 0.533),
    6: (0.92, 0.454),
    7: (0.92, 0.585),
    8: (0.92, 0.56),
    9: (0.72, 0.53),
    10: (0.52, 0.52),
    11: (0.50, 0.48),
}
STUDY_DATASET = "CIFAR10"


def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(RunConfig))


def with_overrides(run: RunConfig, iterations: int | None = None, batch_size: int | None = None) -> RunConfig:
    """``run`` with the sweep's --iterations / --batch-size; the long run keeps its ratio to the others."""
    if iterations is not None:
        run = replace(run, iterations=max(1, iterations * run.iterations // ITERATIONS))
    if batch_size is not None:
        run = replace(run, batch_size=batch_size)
    return run


def build_model(
    run: RunConfig, num_classes: int = 10, input_shape=models.INPUT_SHAPE, steps_per_execution: int = 1
) -> keras.Model:
    """The compiled network of ``run``: architecture, optimizer, schedule and loss."""
    if run.arch == "lenet5":
        model = models.build_lenet5(
            run.activation,
            run.init,
            dropout=run.dropout,
            l2=run.l2,
            num_classes=num_classes,
            input_shape=input_shape,
            augment=run.augment,
        )
    elif run.arch == "vgg":
        model = models.build_vgg(num_classes, input_shape, dropout=run.dropout, l2=run.l2, augment=run.augment)
    else:
        raise ValueError(f"unknown arch {run.arch!r}; choose one of {', '.join(models.ARCHITECTURES)}")
    lr = models.learning_rate_schedule(run.learning_rate, run.schedule, run.iterations, run.warmup)
    optimizer = models.make_optimizer(run.optimizer, lr, run.momentum, run.weight_decay)
    return models.compile_classifier(model, optimizer, run.label_smoothing, steps_per_execution)
