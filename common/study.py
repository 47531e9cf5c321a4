"""The study's Task 1 runs and the runs beyond it: one :class:`RunConfig` per run.

Each of the study's runs is a literal below with every value it changes from :class:`RunConfig`'s defaults; each run
beyond it is the run it builds on with the fields it changes, so a rung reads as what it adds (and editing a run changes
the runs built on it, as it would their recipe). ``--set FIELD=VALUE`` changes a field for one command: that run gets
an identity and a folder of its own, beside the committed one.

The defaults are the study's plain training with the constants it did not state, as ``cifar_v2.py --calibrate`` chose
them (Adam 1e-3, 5,500 iterations; its table in ``figures/cifar/constants_fit.md``); the calibration at the end
varies them. Each run also carries what its reports need (the fields before ``builds_on``). Adding a run, or a rung
of the ladder, is one line here; every table finds it.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import asdict, dataclass, field, replace

from common.config import knob

# The names a run's fields may take, without the code that builds them (common/models.py does), so that the run
# definitions (here, common/recurrent.py) and the report read them without loading a deep-learning framework
ACTIVATIONS = ("relu", "tanh", "sigmoid", "leaky_relu")
INITS = ("normal", "glorot_uniform", "he_normal")
OPTIMIZERS = ("adam", "momentum", "sgd", "adagrad", "rmsprop", "adamw", "nesterov")
SCHEDULES = ("constant", "cosine", "triangle")
AUGMENTATIONS = ("none", "flip_shift", "flip_shift4", "flip_shift4_erase", "altflip_shift")
ARCHS = ("lenet5", "vgg", "vgg_wide", "airbench", "airbench_small")  # common.models.build_model builds each
CELLS = ("rnn", "lstm", "gru")  # Task 3's recurrent cells (common.models.build_rnn)
SIZES = (20, 15, 10, 5)  # Task 3's hidden sizes, the study's (common/recurrent.py)
# the search's spaces (common/search.py): the study's knobs, with the ladder's, airbench's
SEARCH_SPACES = ("study", "all", "airbench")
PROTOCOLS = ("lenet", "airbench")  # the protocol's designs (common/protocol.py), cifar_v2.py --protocol's choices
DECONVNET_LAYERS = ("conv1", "conv2")  # the layers the deconvnet projects from (common/deconvnet.py)

TASK = "cifar_v2"  # the sweep's runs (their identity's task; their index figures/cifar/results.jsonl)
STUDY_DATASET = "CIFAR10"
GROUPS = ("study", "beyond")  # `cifar_v2.py --runs study` trains the study's 11 rows; `beyond` the ladder and CNNs
EVAL_EVERY = 100  # iterations between evaluations: part of every run's identity
READ_EVERY = 1100  # the study read its TensorBoard every 1,100 iterations (its template's log step)
# Claim 8's "early drop" of the conv std happens inside the first evaluation interval (100 iterations), so
# `cifar_v2.py --early` trains each run's first EARLY_ITERATIONS again with an evaluation after every one: the
# same batches and weights up to there (the report checks it against the full run at EARLY_ITERATIONS)
EARLY_ITERATIONS = 100
REPORT = {"report": True}  # a RunConfig field that says how the reports show a run, not what shapes its numbers


@dataclass(frozen=True)
class RunConfig:
    """One run: the fields after ``builds_on`` shape its numbers (its identity, with the seed, the data
    and the backend); the ones before only say how the reports show it."""

    name: str = field(metadata=REPORT)  # the run's name: its folder, its table row
    group: str = field(default="study", metadata=REPORT)  # study: a row of the study's table; beyond: the rest
    study_row: int | None = field(default=None, metadata=REPORT)  # the row of the study's Task 1 table
    # the study's (train, test) accuracy for that row
    study_accuracy: tuple[float, float] | None = field(default=None, metadata=REPORT)
    # the run's label in beyond/ladder.md ("0".."6", "CNN", ...); None: not a rung
    rung: str | None = field(default=None, metadata=REPORT)
    adds: str = field(default="", metadata=REPORT)  # what the rung adds to the run it builds on
    builds_on: str | None = field(default=None, metadata=REPORT)  # the run its "Δ" is measured from
    # `--iterations N` trains it N x this (run 8, "more iterations": 2)
    length_factor: float = field(default=1.0, metadata=REPORT)
    # --- what shapes the numbers --------------------------------------------------------------------
    activation: str = knob("relu", "activation of every conv and fc layer", choices=ACTIVATIONS)
    optimizer: str = knob("adam", "the optimizer", choices=OPTIMIZERS)
    learning_rate: float = knob(1e-3, "its learning rate (Keras' Adam default; calibrated)", above=0.0)
    momentum: float = knob(0.0, "momentum (momentum, nesterov, rmsprop)", min=0.0, below=1.0)
    init: str = knob("normal", "weight initialization (normal: the TF tutorial's)", choices=INITS)
    dropout: float = knob(0.0, "drop rate after fc1", min=0.0, below=1.0)
    l2: float = knob(0.0, "L2 penalty weight on every kernel, added to the cross-entropy", min=0.0)
    iterations: int = knob(5500, "training iterations (batches; the course template's max_step)", min=1)
    batch_size: int = knob(50, "images per batch (the study's)", min=1)
    arch: str = knob("lenet5", "the network (common/models.py: build_model)", choices=ARCHS)
    schedule: str = knob(
        "constant", "learning-rate schedule: constant, cosine decay to 0, or airbench's triangle", choices=SCHEDULES
    )
    warmup: int = knob(0, "warm-up iterations (cosine: linear from 0; triangle: its peak)", min=0)
    weight_decay: float = knob(0.0, "decoupled weight decay (adamw, nesterov)", min=0.0)
    label_smoothing: float = knob(0.0, "label smoothing of the cross-entropy's targets", min=0.0, below=1.0)
    augment: str = knob("none", "on-the-fly training augmentation", choices=AUGMENTATIONS)
    tta: bool = knob(False, "test-time averaging of the image and its mirror")
    tta_shift: int = knob(0, "with tta: also both moved this many pixels up, down, left, right", min=0)
    # choosing on validation: train on the training set minus this many images per class, evaluate on those
    # (common.data.SPLIT_SEED draws them; seed k holds out fold k mod 10 of them, the same for every run, so
    # two candidates' repeats pair by seed); 0 trains on every image, as the study did
    validation: int = knob(0, "images per class held out of training to choose on (0: none, the study's)", min=0)
    # --- airbench's ingredients (Keller Jordan's CIFAR-10 speed runs; common/models.py build_airbench) ---------
    whiten: bool = knob(False, "airbench: a frozen first layer that whitens 2x2 patches (else trained)")
    bn_momentum: float = knob(0.99, "batch norm's moving-average momentum (Keras' convention)", min=0.0, below=1.0)
    bias_lr_scale: float = knob(1.0, "airbench: the batch-norm biases' rate over the others' (SGD)", above=0.0)
    logit_scale: float = knob(1.0, "airbench: the logits multiplied by this", above=0.0)
    ema: float = knob(
        0.0, "moving average of the weights, momentum per step, copied in every 5 steps (0: off)", min=0.0, below=1.0
    )

    def identity(self) -> dict:
        """The fields that shape the numbers. A field added after runs were recorded (LATER_FIELDS) is
        left out at its default, so those runs keep their identity (and stay finished)."""
        return {k: v for k, v in asdict(self).items() if k in KNOBS and (k not in LATER_FIELDS or v != LATER_FIELDS[k])}

    def describe(self) -> str:
        """The network and optimizer; the regularization; the test-time views; the length. For example
        ``relu, adam lr 0.001, normal init; dropout 0.5 + L2 0.0005; batch 50, 5500 it``."""
        opt = f"{self.optimizer} lr {self.learning_rate:g}" + (f" m {self.momentum:g}" if self.momentum else "")
        if self.schedule != "constant":
            opt += f" {self.schedule}" + (f" (warm-up {self.warmup})" if self.warmup else "")
        regularization = {
            f"dropout {self.dropout:g}": self.dropout,
            f"L2 {self.l2:g}": self.l2,
            f"weight decay {self.weight_decay:g}": self.weight_decay,
            f"label smoothing {self.label_smoothing:g}": self.label_smoothing,
            f"augment {self.augment}": self.augment != "none",
        }
        # the VGG-style CNNs ignore ``init`` and ``activation`` (He-normal convs, ReLU; models.build_vgg)
        net = f"{self.activation}, {opt}, {self.init} init" if self.arch == "lenet5" else f"{self.arch}, {opt}"
        extras = {
            " + whitening": self.whiten,
            f" + lookahead {self.ema:g}": self.ema,
            f" + BN momentum {self.bn_momentum:g}": self.bn_momentum != 0.99,
            f" + BN biases x{self.bias_lr_scale:g} rate": self.bias_lr_scale != 1,
            f" + logits x{self.logit_scale:.3g}": self.logit_scale != 1,
        }
        net += "".join(text for text, on in extras.items() if on)
        parts = [net, " + ".join(text for text, on in regularization.items() if on) or "no regularization"]
        if self.tta:
            parts.append("flip test-time views" if not self.tta_shift else f"flip x {self.tta_shift}-pixel-shift views")
        return "; ".join(parts + [f"batch {self.batch_size}, {self.iterations} it"])


# The protocol for every choice beyond the study: 100 training images per class held out (1,000 of 10,000)
VALIDATION = 100
# RunConfig fields added after results existed, and their defaults
LATER_FIELDS = dict(
    tta_shift=0, validation=0, whiten=False, bn_momentum=0.99, bias_lr_scale=1.0, logit_scale=1.0, ema=0.0
)
KNOBS = {f.name: f for f in dataclasses.fields(RunConfig) if not f.metadata.get("report")}  # what --set may change

# The study's regularization (runs 7-11): dropout 0.5 (the template's keep_prob) and L2 5e-4 (calibrated)
REGULARIZED = dict(dropout=0.5, l2=5e-4)
RUNS_LIST = [
    # --- the study's table, row by row (ORIGINAL_STUDY.md, Task 1) ---------------------------------------
    RunConfig("relu_adam_normal", study_row=1, study_accuracy=(0.96, 0.525)),
    RunConfig("tanh_adam_normal", study_row=2, study_accuracy=(0.96, 0.543), activation="tanh"),
    RunConfig("sigmoid_adam_normal", study_row=3, study_accuracy=(0.66, 0.49), activation="sigmoid"),
    RunConfig("leaky_relu_adam_normal", study_row=4, study_accuracy=(0.92, 0.528), activation="leaky_relu"),
    RunConfig("relu_adam_glorot_uniform", study_row=5, study_accuracy=(0.96, 0.533), init="glorot_uniform"),
    # "ReLU, momentum": the rate and momentum calibrated ((1e-2, 0.9) did not learn at all)
    RunConfig("relu_momentum_normal", study_row=6, study_accuracy=(0.92, 0.454), optimizer="momentum", momentum=0.9),
    RunConfig(
        "relu_adam_normal_dropout_l2",
        study_row=7,
        study_accuracy=(0.92, 0.585),
        rung="0",
        adds="the study's best run (row 7): dropout + L2",
        **REGULARIZED,
    ),
    # "more iterations": twice run 7's (calibrated: 1.5x and 2x scored alike)
    RunConfig(
        "relu_adam_normal_dropout_l2_long",
        study_row=8,
        study_accuracy=(0.92, 0.56),
        length_factor=2,
        iterations=11000,
        **REGULARIZED,
    ),
    RunConfig(
        "relu_momentum08_lr1e-2_dropout_l2",
        study_row=9,
        study_accuracy=(0.72, 0.53),
        optimizer="momentum",
        learning_rate=1e-2,
        momentum=0.8,
        **REGULARIZED,
    ),
    RunConfig(
        "relu_momentum07_lr1e-2_dropout_l2",
        study_row=10,
        study_accuracy=(0.52, 0.52),
        optimizer="momentum",
        learning_rate=1e-2,
        momentum=0.7,
        **REGULARIZED,
    ),
    RunConfig(
        "relu_momentum09_lr1e-3_dropout_l2",
        study_row=11,
        study_accuracy=(0.50, 0.48),
        optimizer="momentum",
        momentum=0.9,
        **REGULARIZED,
    ),
]
RUNS = {r.name: r for r in RUNS_LIST}
# rung 2's recipe: AdamW's decoupled weight decay instead of the L2 penalty, a 5% linear warm-up, a cosine decay
ADAMW = dict(optimizer="adamw", weight_decay=0.05, schedule="cosine")
# CNN-SGD's: the usual optimizer of batch-normed CNNs on CIFAR-10, SGD with Nesterov momentum 0.9 at rate 0.1.
# Keras' weight decay is decoupled and scaled by the rate (w -= lr * wd * w): wd 5e-3 at lr 0.1 shrinks like the
# common coupled L2 of 5e-4 under momentum 0.9
NESTEROV = dict(optimizer="nesterov", learning_rate=0.1, momentum=0.9, weight_decay=5e-3, schedule="cosine")
# Keller Jordan's airbench (CIFAR-10 to 94% in seconds on a GPU), its network and recipe for 28x28 gray images: a frozen
# whitening first layer, blocks of conv-pool-BN-GELU, norms learning a bias only at 64x the rate, logits scaled by 1/9,
# batch-norm momentum 0.4 (airbench's 0.6 in PyTorch's convention), Nesterov SGD with decoupled weight decay on a
# triangular schedule, lookahead (a moving average of the weights copied in every 5 steps), label smoothing 0.2, flips
# alternating by pass, and 10 test-time views. Its rate and decay are airbench's per image (lr 11.5 / 1024 images / (1 +
# 1 / (1 - 0.85)), decay 0.0153 per 1024 images, taken through Keras' decoupled decay)
AIRBENCH = dict(arch="airbench_small", optimizer="nesterov", learning_rate=0.37, momentum=0.85, weight_decay=0.009)
AIRBENCH |= dict(schedule="triangle", batch_size=250, augment="altflip_shift", label_smoothing=0.2)
AIRBENCH |= dict(tta=True, tta_shift=1, whiten=True, bn_momentum=0.4, bias_lr_scale=64.0, logit_scale=1 / 9, ema=0.95)
# --- beyond the study: the improvement ladder on its own LeNet-5 (the same layers), one ingredient per rung,
# from its best run (row 7, rung 0); then small modern CNNs with rung 4's recipe. Each is the run it builds on
# with the fields its rung changes: (builds on, name, rung, what it adds, the fields it changes)
BEYOND = [
    (
        "relu_adam_normal_dropout_l2",
        "beyond_1_augment",
        "1",
        "+ random flips and 2-pixel shifts",
        dict(augment="flip_shift"),
    ),
    (
        "beyond_1_augment",
        "beyond_2_adamw_cosine",
        "2",
        "+ AdamW, weight decay, warm-up and cosine decay",
        dict(**ADAMW, l2=0.0, warmup=275),
    ),
    ("beyond_2_adamw_cosine", "beyond_3_label_smoothing", "3", "+ label smoothing 0.1", dict(label_smoothing=0.1)),
    ("beyond_3_label_smoothing", "beyond_4_tta", "4", "+ test-time flip averaging", dict(tta=True)),
    ("beyond_4_tta", "beyond_5_long", "5", "+ 3x longer training", dict(iterations=16500, warmup=825)),
    # the longer-trained networks still overfit (train - test 16-22 points): shifts of up to 4 pixels
    ("beyond_5_long", "beyond_6_shift4", "6", "+ shifts of up to 4 pixels", dict(augment="flip_shift4")),
    # a small VGG-style CNN (models.build_vgg) with rung 4's recipe: 4,500 iterations of batch 100, about
    # 15 minutes of training on the 2-core CPU (measured); larger batches use the CPU better
    (
        "beyond_4_tta",
        "beyond_vgg",
        "CNN",
        "a small VGG-style CNN (batch norm, 3x3 convs) with rung 4's recipe",
        dict(arch="vgg", learning_rate=2e-3, iterations=4500, warmup=225, batch_size=100, dropout=0.0),
    ),
    ("beyond_vgg", "beyond_vgg_shift4", "CNN+", "the same CNN + shifts of up to 4 pixels", dict(augment="flip_shift4")),
    # wider stages pooled after their first conv: 2.2x the weights in the same CPU time (1.5x faster per image)
    (
        "beyond_vgg",
        "beyond_vgg_wide",
        "wide CNN",
        "the CNN, wider (48/96/192) and pooled after each first conv",
        dict(arch="vgg_wide", iterations=7000, warmup=350),
    ),
    # trained 70 epochs, it memorizes the flips and 2-pixel shifts (train accuracy 99.9%, seed 0)
    (
        "beyond_vgg_wide",
        "beyond_vgg_wide_shift4",
        "wide CNN+",
        "the wide CNN + shifts of up to 4 pixels",
        dict(augment="flip_shift4"),
    ),
    (
        "beyond_vgg_wide_shift4",
        "beyond_vgg_wide_erase",
        "wide CNN++",
        "the wide CNN+ + random erasing",
        dict(augment="flip_shift4_erase"),
    ),
    # the CNN with SGD-Nesterov (NESTEROV above) instead of AdamW
    ("beyond_vgg", "beyond_vgg_nesterov", "CNN-SGD", "the CNN with SGD-Nesterov (lr 0.1) instead of AdamW", NESTEROV),
    # its predictions averaged over 1-pixel shifts too: 10 views (the test-time augmentation of airbench)
    (
        "beyond_vgg_nesterov",
        "beyond_vgg_nesterov_tta10",
        "CNN-SGD+",
        "CNN-SGD, its predictions averaged over 10 views (flips x 1-pixel shifts)",
        dict(tta_shift=1),
    ),
    # CNN-SGD trained longer, within about 15 minutes of training: it trains about 650 images/s on a 2-core AMD
    # EPYC (580 on the Xeon; 1,090 on another EPYC host), so 5,500 iterations take about 14 minutes
    (
        "beyond_vgg_nesterov",
        "beyond_vgg_nesterov_long",
        "CNN-SGD long",
        "CNN-SGD trained 1.2x longer (5,500 iterations, the 15-minute budget)",
        dict(iterations=5500, warmup=275),
    ),
    # airbench's label smoothing (0.2): CNN-SGD fits its training images (train accuracy 98%)
    (
        "beyond_vgg_nesterov_long",
        "beyond_vgg_nesterov_long_ls2",
        "CNN-SGD long+",
        "+ label smoothing 0.2 (airbench's)",
        dict(label_smoothing=0.2),
    ),
    # airbench's network and recipe, in place of every training field of the CNN-SGD+ it is compared with
    (
        "beyond_vgg_nesterov_tta10",
        "airbench",
        "airbench",
        "airbench's network and recipe",
        dict(**AIRBENCH, iterations=1500, warmup=300),
    ),
]


for builds_on, name, rung, adds, fields in BEYOND:
    report = dict(group="beyond", study_row=None, study_accuracy=None, rung=rung, adds=adds, length_factor=1.0)
    RUNS[name] = replace(RUNS[builds_on], name=name, builds_on=builds_on, **report, **fields)
RUNS_LIST = list(RUNS.values())

# The recipes first reported beyond the study, chosen by looking at seed 0's test accuracy, before the protocol
# chose on validation: kept to measure the selection effect (beyond/validation.md)
TEST_CHOSEN = {"lenet": "beyond_6_shift4", "net": "beyond_vgg_nesterov_tta10"}


def selected(names) -> list[RunConfig]:
    """Run names and groups (``study``, ``beyond``: every run of that group, in table order) -> the runs;
    `beyond` starts from the ladder's rung 0, the study's best run, which it builds on."""
    out: dict[str, RunConfig] = {}
    for name in names:
        if name in GROUPS:
            out.update((r.name, r) for r in RUNS_LIST if r.group == name or (name == "beyond" and r.rung is not None))
        else:
            out[name] = RUNS[name]
    return list(out.values())


def with_overrides(run: RunConfig, iterations: int | None = None, batch_size: int | None = None, **fields):
    """``run`` with a command's --iterations (times its ``length_factor``; the warm-up keeps its share), its
    --batch-size and its ``--set FIELD=VALUE`` fields (``fields``)."""
    if iterations is not None:
        new = int(round(iterations * run.length_factor))
        run = replace(run, iterations=new, warmup=round(run.warmup * new / run.iterations))
    if batch_size is not None:
        fields = {"batch_size": batch_size, **fields}
    return replace(run, **fields)


def warmup_share(run: RunConfig) -> RunConfig:
    """``run`` with a cosine schedule's 5% warm-up (the ladder's), a triangle's 20% (airbench's), else none."""
    share = {"cosine": 0.05, "triangle": 0.2}.get(run.schedule, 0)
    return replace(run, warmup=round(share * run.iterations))


def changed_fields(run: RunConfig) -> dict:
    """The fields that shape the numbers in which ``run`` differs from the literal of its name (a command's
    --set, --iterations, --batch-size or other constants): its figures and its table row are named by them, so a
    changed run never draws over the committed one's figures."""
    return {k: getattr(run, k) for k in KNOBS if getattr(run, k) != getattr(RUNS[run.name], k)}


def changes(overrides: dict | None) -> list[str]:
    """``{"dropout": 0.3}`` -> ``["dropout=0.3"]``: the fields ``--set`` changed, in name order."""
    return [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted((overrides or {}).items())]


def label(name: str, overrides: dict | None = None) -> str:
    """A run's name for the tables, with the fields ``--set`` changed: ``relu_adam_normal_dropout_l2 [dropout=0.3]``."""
    return f"{name} [{', '.join(changes(overrides))}]" if overrides else name


def short(run: RunConfig) -> str:
    """'3. sigmoid, Adam, normal init': a study row as a reader names it (the figures' labels)."""
    opt = {"adam": "Adam", "momentum": f"momentum {run.momentum:g}, lr {run.learning_rate:g}"}.get(run.optimizer)
    parts = [run.activation.replace("_", " "), opt or run.optimizer, f"{run.init.replace('_', ' ')} init"]
    if run.dropout or run.l2:
        parts.append("dropout + L2")
    if run.length_factor > 1:
        parts.append(f"{run.length_factor:g}x longer")
    return f"{run.study_row}. " + ", ".join(parts)


# --- the calibration (``cifar_v2.py --calibrate``): the constants the study did not state, chosen by their fit to its
# table. Every combination of ``GRID`` trains once at the longest length (the shorter lengths and run 7, run 8 stopped
# earlier, are read off its curves, which a constant learning rate allows), scored by its mean absolute gap to the
# study's 11 train and test accuracies (common/report/task1.py); ``--constants round1`` trains with ``ROUND1``.
@dataclass(frozen=True)
class Constants:
    iterations: int  # batches per run
    adam_lr: float  # Adam's learning rate (runs 1-5, 7, 8)
    run6: tuple[float, float]  # run 6 "ReLU, momentum": (learning rate, momentum)
    dropout: float  # drop rate on fc1 of the regularized runs 7-11
    l2: float  # their L2 weight: loss = cross-entropy + l2 * sum of squared kernel weights
    long_factor: float  # run 8, "more iterations": this many times the others' iterations


# Round 1's guesses: the TF tutorial template's Adam rate and dropout (keep_prob 0.5), 3,000 iterations to
# fit an 11-run sweep into an hour. They miss the study by 25.8 train / 6.6 test points (calibration.md).
ROUND1 = Constants(iterations=3000, adam_lr=1e-4, run6=(1e-3, 0.9), dropout=0.5, l2=1e-4, long_factor=2)
# The best of the grid's 48 combinations: Keras' Adam rate, the course template's 5,500 iterations (its
# max_step), a heavier L2, run 8 twice as long. The runs above are written with these values.
CALIBRATED = Constants(iterations=5500, adam_lr=1e-3, run6=(1e-3, 0.9), dropout=0.5, l2=5e-4, long_factor=2)
CONSTANTS = {"calibrated": CALIBRATED, "round1": ROUND1}
GRID = {  # the candidate values
    "adam_lr": (1e-4, 1e-3),  # the template's rate, and Keras' (the GPU lead: 1e-3)
    "l2": (1e-4, 5e-4),
    "run6": ((1e-3, 0.9), (1e-2, 0.9)),  # run 6's (learning rate, momentum)
    "iterations": (3000, 4000, 5500),  # 5,500: the course template's max_step
    "long_factor": (1.5, 2.0),  # run 8 "more iterations"
}


def runs_with(c: Constants) -> list[RunConfig]:
    """The study's 11 runs with the constants ``c`` (runs 9-11 keep the rates and momenta the study stated)."""
    out = []
    for run in (r for r in RUNS.values() if r.study_row):
        new = {"iterations": int(round(c.iterations * c.long_factor)) if run.study_row == 8 else c.iterations}
        if run.optimizer == "adam":
            new["learning_rate"] = c.adam_lr
        if run.dropout:
            new.update(dropout=c.dropout, l2=c.l2)
        if run.study_row == 6:
            new.update(learning_rate=c.run6[0], momentum=c.run6[1])
        out.append(replace(run, **new))
    return out


def candidates(batch_size: int | None = None) -> list[tuple[tuple, dict[int, RunConfig]]]:
    """((Adam lr, L2, run 6), {study row: the run whose curve gives it}) per combination, at the longest length."""
    longest, factor = max(GRID["iterations"]), max(GRID["long_factor"])
    out = []
    for lr, l2, run6 in itertools.product(GRID["adam_lr"], GRID["l2"], GRID["run6"]):
        c = Constants(longest, lr, run6, ROUND1.dropout, l2, factor)
        by_row = {r.study_row: with_overrides(r, batch_size=batch_size) for r in runs_with(c)}
        by_row[7] = by_row[8]  # run 7 is run 8's config, stopped earlier: read off run 8's curve
        out.append(((lr, l2, run6), by_row))
    return out


def calibration_runs(batch_size=None) -> list[RunConfig]:
    """Every distinct run the grid needs (run 7 excepted), Keras' Adam rate first (the likeliest winner)."""
    seen = {}
    for _, by_row in candidates(batch_size):
        for row, run in by_row.items():
            if row != 7:
                seen[(run.name, tuple(sorted(run.identity().items())))] = run
    template_adam = lambda r: r.optimizer == "adam" and r.learning_rate == min(GRID["adam_lr"])
    return sorted(seen.values(), key=template_adam)


def constants_of(row: dict) -> Constants:
    run6 = (row["run6_lr"], row["run6_momentum"])
    return Constants(row["iterations"], row["adam_lr"], run6, ROUND1.dropout, row["l2"], row["long_factor"])
