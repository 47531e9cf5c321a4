"""The study's Task 3 claims (the RNN grid and Part C's CNN), each checked against the grid's records with its
rule; see ``common/report/claims.py`` for how a claim is registered and read.

Each rule's thresholds are named once here (fractions: 0.05 is 5 points); the figures that draw a rule
(``common/report/rnn_figures.py``) import them, and decide with the same functions."""

from __future__ import annotations

import math

import numpy as np

from common.recurrent import CELLS, SIZES
from common.report import claims_task1  # noqa: F401  (Task 1's claims register first: the table's order)
from common.report.claims import FAILS, HOLDS, PARTLY, Missing, acc, claim, need, num
from common.report.stats import NOISE, compare, curve, se_of_mean
from common.report.tables import show

# "LSTM: 10, 15 and 20 units about equal, about 20 points lower at 5"
LSTM_EQUAL_SIZES, LSTM_SMALL = SIZES[:-1], SIZES[-1]
LSTM_EQUAL_WITHIN = 0.05  # the larger sizes' test accuracies lie within this of each other
LSTM_DROP = 0.12  # the smallest size falls at least this below their mean (holds)...
LSTM_DROP_PARTLY = 0.08  # ...or at least this (partly)
# "GRU equals LSTM at 15 and 20 units, and is below it at 10 and 5"
GRU_EQUAL_SIZES, GRU_BELOW_SIZES = (20, 15), (10, 5)
# "Train and test accuracy are about equal for LSTM and GRU"
GAP_CELLS = ("lstm", "gru")
GAP_RULE = 0.05  # "about equal": |mean train - mean test| <= this
GAP_PARTLY_SHARE = 0.5  # partly: at least this share of the runs is about equal
# "The CNN reaches ~100% training accuracy in fewer iterations than every RNN"
REACH_LEVEL = 0.98  # "~100% training accuracy": a mean train accuracy >= this
# "LSTM and GRU come close to the CNN; the basic RNN does not"
CLOSE_TO_CNN = 0.05  # the best LSTM and GRU are within this of the CNN's test accuracy
FAR_FROM_CNN = 0.10  # the best basic RNN is at least this below it
GATED, BASIC = ("lstm", "gru"), "rnn"


def points(x: float) -> str:
    """A rule's threshold in points for the evidence: 0.05 -> "5"."""
    return f"{100 * x:g}"


def grid(g, cells=CELLS) -> None:
    """Stops a check unless every cell of ``cells`` has all four sizes."""
    need(g, [(c, h) for c in cells for h in SIZES], "the whole grid (python rnn_mnist.py)")


def train_test_gap(records: list[dict]) -> float:
    """Claim 15's number for one run: mean final train accuracy - mean final test accuracy (finished seeds)."""
    return acc(records, "train_accuracy") - acc(records)


def about_equal(gap: float) -> bool:
    """Claim 15's rule for one run's ``train_test_gap`` (NaN: no)."""
    return abs(gap) <= GAP_RULE


def first_reach(records: list[dict], level: float = REACH_LEVEL) -> int | None:
    """Claim 16's number: the first iteration (after the start) where the seeds' mean train accuracy is >=
    ``level``, or None."""
    its, train = curve(records, "train_accuracy")
    hit = [int(it) for it, v in zip(its, train) if it and v >= level]
    return hit[0] if hit else None


@claim("Task 3", "Fewer hidden units, lower accuracy, for every cell")
def fewer_units_lower(g):
    grid(g)
    steps = list(zip(SIZES, SIZES[1:]))
    noise = lambda c, a, b: NOISE * math.hypot(se_of_mean(g[(c, a)]), se_of_mean(g[(c, b)]))
    mono = all(acc(g[(c, a)]) >= acc(g[(c, b)]) for c in CELLS for a, b in steps)
    near = all(acc(g[(c, a)]) >= acc(g[(c, b)]) - noise(c, a, b) for c in CELLS for a, b in steps)
    return (
        "; ".join(f"{c}: " + " / ".join(num(acc(g[(c, h)])) for h in SIZES) for c in CELLS)
        + f" % test at {'/'.join(map(str, SIZES))} units; rule: holds if every cell falls at every step, partly if "
        "every rise is within noise"
    ), HOLDS if mono else PARTLY if near else FAILS


@claim("Task 3", "LSTM: 10, 15 and 20 units about equal (~90-95%), about 20 points lower at 5")
def lstm_sizes(g):
    grid(g, ("lstm",))
    top = [acc(g[("lstm", h)]) for h in LSTM_EQUAL_SIZES]
    drop = float(np.mean(top)) - acc(g[("lstm", LSTM_SMALL)])
    flat = max(top) - min(top) <= LSTM_EQUAL_WITHIN
    verdict = HOLDS if flat and drop >= LSTM_DROP else PARTLY if drop >= LSTM_DROP_PARTLY else FAILS
    sizes = "/".join(map(str, LSTM_EQUAL_SIZES))
    return (
        f"LSTM {sizes}: {' / '.join(show(g[('lstm', h)]) for h in LSTM_EQUAL_SIZES)}; "
        f"{LSTM_SMALL} units: {show(g[('lstm', LSTM_SMALL)])}, {num(drop)} points below their mean; rule: holds if "
        f"{min(LSTM_EQUAL_SIZES)}-{max(LSTM_EQUAL_SIZES)} lie within "
        f"{points(LSTM_EQUAL_WITHIN)} points and {LSTM_SMALL} units falls >= {points(LSTM_DROP)} points, partly if it "
        f"falls >= {points(LSTM_DROP_PARTLY)}"
    ), verdict


@claim("Task 3", "GRU equals LSTM at 15 and 20 units, and is below it at 10 and 5")
def gru_against_lstm(g):
    grid(g, ("lstm", "gru"))
    d = {h: compare(g[("gru", h)], g[("lstm", h)]) for h in SIZES}
    equal = all(not d[h][2] for h in GRU_EQUAL_SIZES)
    below = [h for h in GRU_BELOW_SIZES if d[h][0] < 0]
    beyond_noise = len(below) == len(GRU_BELOW_SIZES) and all(d[h][2] for h in below)
    verdict = HOLDS if equal and beyond_noise else PARTLY if equal or below else FAILS
    return (
        "GRU - LSTM test accuracy: "
        + ", ".join(f"{h} units {num(d[h][0])} ± {num(d[h][1])}" for h in SIZES)
        + f" points; rule: holds if equal within noise at {'/'.join(map(str, sorted(GRU_EQUAL_SIZES)))} and below "
        f"beyond noise at {' and '.join(map(str, GRU_BELOW_SIZES))}, partly if one half holds"
    ), verdict


@claim("Task 3", "The basic RNN is below LSTM and GRU (and falls as units fall)")
def basic_rnn_below(g):
    grid(g)
    a = lambda c, h: acc(g[(c, h)])
    below = [h for h in SIZES if a(BASIC, h) < min(a(c, h) for c in GATED)]
    return (
        "basic RNN / LSTM / GRU test: "
        + ", ".join(f"{h}: " + " / ".join(num(a(c, h)) for c in (BASIC, *GATED)) for h in SIZES)
        + f"; below both at {len(below)} of {len(SIZES)} sizes"
    ), HOLDS if len(below) == len(SIZES) else PARTLY if below else FAILS


@claim("Task 3", "Train and test accuracy are about equal for LSTM and GRU")
def train_equals_test(g):
    keys = [(c, h) for c in GAP_CELLS for h in SIZES if (c, h) in g]
    if not keys:
        raise Missing("LSTM/GRU runs")
    gaps = {k: train_test_gap(g[k]) for k in keys}
    close = [k for k, v in gaps.items() if about_equal(v)]
    share = GAP_PARTLY_SHARE * len(keys)
    verdict = HOLDS if len(close) == len(keys) else PARTLY if len(close) >= share else FAILS
    return (
        "train - test: "
        + ", ".join(f"{c} {h} {num(v)}" for (c, h), v in gaps.items())
        + f" points; within {points(GAP_RULE)} points: {len(close)} of {len(keys)}"
    ), verdict


@claim("Task 3", "The CNN reaches ~100% training accuracy in fewer iterations than every RNN")
def cnn_first(g):
    rnns = {k: v for k, v in g.items() if k[0] in CELLS}
    if ("cnn", None) not in g or not rnns:
        raise Missing("the CNN and the RNN grid")
    r_cnn = first_reach(g[("cnn", None)])
    r_rnn = {k: first_reach(v) for k, v in rnns.items()}
    reached = {k: v for k, v in r_rnn.items() if v is not None}
    first = r_cnn is not None and all(r_cnn < v for v in reached.values())
    return (
        f"first iteration with a mean train accuracy >= {points(REACH_LEVEL)}%: CNN {r_cnn}; the RNNs that got "
        "there: "
        + (", ".join(f"{k[0]} {k[1]}: {v}" for k, v in reached.items()) or "none")
        + f" ({len(r_rnn) - len(reached)} of {len(r_rnn)} never did)"
    ), HOLDS if first else PARTLY if r_cnn is not None else FAILS


@claim("Task 3", "LSTM and GRU come close to the CNN; the basic RNN does not")
def gated_close_to_cnn(g):
    need(g, [("cnn", None)], "the CNN and the whole grid")
    grid(g)
    best = {c: max(acc(g[(c, h)]) for h in SIZES) for c in CELLS}
    cnn = g[("cnn", None)]
    close = all(acc(cnn) - best[c] <= CLOSE_TO_CNN for c in GATED)
    far = acc(cnn) - best[BASIC] >= FAR_FROM_CNN
    return (
        f"test: CNN {show(cnn)}; best LSTM {num(best['lstm'])}, GRU {num(best['gru'])}, "
        f"basic RNN {num(best[BASIC])}; rule: holds if LSTM and GRU are within {points(CLOSE_TO_CNN)} points of the "
        f"CNN and the basic RNN is >= {points(FAR_FROM_CNN)} below"
    ), HOLDS if close and far else PARTLY if close or far else FAILS
