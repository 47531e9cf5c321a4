"""The constants the study did not state (Adam's learning rate, the run length, run 6's momentum, the dropout rate
and L2 weight, run 8's "more iterations"), chosen by their fit to its table (``cifar_v2.py --calibrate``). The
calibration trains every combination of ``GRID`` once at the longest length (the shorter lengths and run 7, run 8
stopped earlier, are read off its curves, which a constant learning rate allows) and scores each by its mean absolute
gap to the study's 11 train and test accuracies (``common/report/task1.py``). The winner is the defaults of
``common.study.RunConfig``; ``ROUND1`` keeps the first guesses reachable (``cifar_v2.py --constants round1``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

from common import study


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
# max_step), a heavier L2, run 8 twice as long. These are the values common/study.py's runs are written with.
CALIBRATED = Constants(iterations=5500, adam_lr=1e-3, run6=(1e-3, 0.9), dropout=0.5, l2=5e-4, long_factor=2)
CONSTANTS = {"calibrated": CALIBRATED, "round1": ROUND1}
GRID = {  # the candidate values
    "adam_lr": (1e-4, 1e-3),  # the template's rate, and Keras' (the GPU lead: 1e-3)
    "l2": (1e-4, 5e-4),
    "run6": ((1e-3, 0.9), (1e-2, 0.9)),  # run 6's (learning rate, momentum)
    "iterations": (3000, 4000, 5500),  # 5,500: the course template's max_step
    "long_factor": (1.5, 2.0),  # run 8 "more iterations"
}


def runs_with(c: Constants) -> list[study.RunConfig]:
    """The study's 11 runs with the constants ``c`` (runs 9-11 keep the rates and momenta the study stated)."""
    out = []
    for run in (r for r in study.RUNS.values() if r.study_row):
        new = {"iterations": int(round(c.iterations * c.long_factor)) if run.study_row == 8 else c.iterations}
        if run.optimizer == "adam":
            new["learning_rate"] = c.adam_lr
        if run.dropout:
            new.update(dropout=c.dropout, l2=c.l2)
        if run.study_row == 6:
            new.update(learning_rate=c.run6[0], momentum=c.run6[1])
        out.append(replace(run, **new))
    return out


def candidates(batch_size: int | None = None) -> list[tuple[tuple, dict[int, study.RunConfig]]]:
    """((Adam lr, L2, run 6), {study row: the run whose curve gives it}) per combination, at the longest length."""
    longest, factor = max(GRID["iterations"]), max(GRID["long_factor"])
    out = []
    for lr, l2, run6 in itertools.product(GRID["adam_lr"], GRID["l2"], GRID["run6"]):
        c = Constants(longest, lr, run6, ROUND1.dropout, l2, factor)
        by_row = {r.study_row: study.with_overrides(r, batch_size=batch_size) for r in runs_with(c)}
        by_row[7] = by_row[8]  # run 7 is run 8's config, stopped earlier: read off run 8's curve
        out.append(((lr, l2, run6), by_row))
    return out


def calibration_runs(batch_size=None) -> list[study.RunConfig]:
    """Every distinct run the grid needs (run 7 excepted), Keras' Adam rate first (the likeliest winner)."""
    seen = {}
    for _, by_row in candidates(batch_size):
        for row, run in by_row.items():
            if row != 7:
                seen[(run.name, tuple(sorted(run.identity().items())))] = run
    template_adam = lambda r: r.optimizer == "adam" and r.learning_rate == min(GRID["adam_lr"])
    return sorted(seen.values(), key=template_adam)


def constants_of(row: dict) -> Constants:
    """The :class:`Constants` of one row of the calibration table."""
    run6 = (row["run6_lr"], row["run6_momentum"])
    return Constants(row["iterations"], row["adam_lr"], run6, ROUND1.dropout, row["l2"], row["long_factor"])
