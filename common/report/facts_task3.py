"""The facts ``docs/task3.md`` cites (``common/report/facts.py``): the RNN grid on MNIST rows and Part C's CNN,
from the grid's records, with the claims' own rules (``common/report/claims_task3.py``)."""

from __future__ import annotations

import functools

import numpy as np

from common.recurrent import CELLS, SIZES
from common.report import claims
from common.report.claims_task3 import GAP_RULE, GATED, REACH_LEVEL, about_equal, first_reach, train_test_gap
from common.report.facts import FACTS, acc, difference, fact, points, verdict
from common.report.rnn import TABLE_REACH, first_reaching
from common.report.stats import compare, final

LABELS = {"rnn": "basic RNN", "lstm": "LSTM", "gru": "GRU", "cnn": "CNN"}


@functools.cache
def groups(s) -> dict:
    """(cell, units) -> the grid's records of that configuration (its seeds); the CNN is ("cnn", None)."""
    return claims.rnn_groups(s.rnn)


def mean(s, key, what: str = "test_accuracy") -> float:
    return final(groups(s)[key], what)[0]


def best(s, cell: str) -> tuple:
    """The (cell, units) of the cell's best size by test accuracy (Part C's row for it)."""
    return max(((cell, h) for h in SIZES), key=lambda k: mean(s, k))


def name(key) -> str:
    return LABELS[key[0]] if key[1] is None else f"the {key[1]}-unit {LABELS[key[0]]}"


for _cell in CELLS:
    for _h in SIZES:
        FACTS[f"task3.test.{_cell}.{_h}"] = lambda s, k=(_cell, _h): acc(groups(s)[k])


# --- how accuracy falls with the units, and GRU against LSTM ------------------------------------------------
@fact("task3.lstm_spread")
def lstm_spread(s):
    """The spread (max - min) of the LSTM's test accuracy over all sizes but the smallest, in points."""
    top = [mean(s, ("lstm", h)) for h in SIZES[:-1]]
    return points(max(top) - min(top))


@fact("task3.lstm_drop")
def lstm_drop(s):
    """How far the smallest LSTM falls below the mean of the larger ones, in points (claim 12)."""
    return points(np.mean([mean(s, ("lstm", h)) for h in SIZES[:-1]]) - mean(s, ("lstm", SIZES[-1])))


def gru_minus_lstm(s, h: int) -> str:
    a, b = groups(s)[("gru", h)], groups(s)[("lstm", h)]
    return f"{difference(a, b)} points, {verdict(a, b)}"


for _h in SIZES:
    FACTS[f"task3.gru_lstm.{_h}"] = lambda s, h=_h: gru_minus_lstm(s, h)


@fact("task3.gru_below_at_10")
def gru_below_at_10(s):
    """The study's "GRU below LSTM at 10 units", by our data: confirmed, not resolved (within noise) or contradicted."""
    d, _, real = compare(groups(s)[("gru", 10)], groups(s)[("lstm", 10)])
    return "not resolved" if not real else "confirmed" if d < 0 else "contradicted"


def max_std(s, cells) -> str:
    """The largest spread over seeds (std) of a final test accuracy among ``cells``' runs, in points."""
    return points(max(final(groups(s)[(c, h)])[1] for c in cells for h in SIZES))


FACTS["task3.rnn_max_std"] = lambda s: max_std(s, ("rnn",))
FACTS["task3.gated_max_std"] = lambda s: max_std(s, GATED)


# --- train against test (claim 15) --------------------------------------------------------------------------
def gated_gaps(s) -> list[float]:
    return [train_test_gap(groups(s)[(c, h)]) for c in GATED for h in SIZES]


FACTS["task3.gated_gaps"] = lambda s: f"{points(min(gated_gaps(s)))}-{points(max(gated_gaps(s)))}"
FACTS["task3.gated_within"] = lambda s: f"{sum(map(about_equal, gated_gaps(s)))} of {len(gated_gaps(s))}"
FACTS["task3.gap_rule"] = lambda s: f"{100 * GAP_RULE:g}"


# --- Part C: the CNN against the best of each cell ----------------------------------------------------------
FACTS["task3.reach_level"] = lambda s: f"{100 * REACH_LEVEL:g}%"
FACTS["task3.error_level"] = lambda s: f"{100 * (1 - REACH_LEVEL):g}%"
FACTS["task3.table_reach"] = lambda s: f"{100 * TABLE_REACH:g}%"


def reach(s, key) -> str:
    it = first_reach(groups(s)[key])
    return f"{it:,}" if it is not None else "never"


FACTS["task3.reach.cnn"] = lambda s: reach(s, ("cnn", None))
for _cell in GATED:
    FACTS[f"task3.reach.{_cell}"] = lambda s, c=_cell: reach(s, best(s, c))


@fact("task3.never_reach")
def never_reach(s):
    keys = [(c, h) for c in CELLS for h in SIZES]
    return f"{sum(first_reach(groups(s)[k]) is None for k in keys)} of {len(keys)}"


for _cell in CELLS:
    FACTS[f"task3.cnn_minus.{_cell}"] = lambda s, c=_cell: points(mean(s, ("cnn", None)) - mean(s, best(s, c)))
    FACTS[f"task3.train_error_ratio.{_cell}"] = lambda s, c=_cell: (
        f"{(1 - mean(s, best(s, c), 'train_accuracy')) / (1 - mean(s, ('cnn', None), 'train_accuracy')):.0f}"
    )


@fact("task3.first_in_seconds")
def first_in_seconds(s):
    """Of the CNN and each cell's best, the one that reaches Part C's train accuracy in the fewest seconds."""

    def seconds(key):
        hit = [first_reaching(r, "train_accuracy", TABLE_REACH) for r in groups(s)[key]]
        return np.inf if any(it is None for it, _ in hit) else float(np.median([t for _, t in hit]))

    return name(min([("cnn", None), *(best(s, c) for c in CELLS)], key=seconds))
