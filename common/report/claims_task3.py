"""The study's Task 3 claims (the RNN grid and Part C's CNN), each checked against the grid's records with its
rule; see ``common/report/claims.py`` for how a claim is registered and read."""

from __future__ import annotations

import math

import numpy as np

from common.recurrent import CELLS, SIZES
from common.report.claims import FAILS, HOLDS, PARTLY, Missing, acc, claim, need, num
from common.report.stats import compare, curve, se_of_mean
from common.report.tables import show

RNN_SIZES = SIZES


def grid(g, cells=CELLS) -> None:
    """Stops a check unless every cell of ``cells`` has all four sizes."""
    need(g, [(c, h) for c in cells for h in RNN_SIZES], "the whole grid (python rnn_mnist.py)")


@claim("Task 3", "Fewer hidden units, lower accuracy, for every cell")
def fewer_units_lower(g):
    grid(g)
    steps = list(zip(RNN_SIZES, RNN_SIZES[1:]))
    noise = lambda c, a, b: 2 * math.hypot(se_of_mean(g[(c, a)]), se_of_mean(g[(c, b)]))
    mono = all(acc(g[(c, a)]) >= acc(g[(c, b)]) for c in CELLS for a, b in steps)
    near = all(acc(g[(c, a)]) >= acc(g[(c, b)]) - noise(c, a, b) for c in CELLS for a, b in steps)
    return (
        "; ".join(f"{c}: " + " / ".join(num(acc(g[(c, h)])) for h in RNN_SIZES) for c in CELLS)
        + " % test at 20/15/10/5 units; rule: holds if every cell falls at every step, partly if every "
        "rise is within noise"
    ), HOLDS if mono else PARTLY if near else FAILS


@claim("Task 3", "LSTM: 10, 15 and 20 units about equal (~90-95%), about 20 points lower at 5")
def lstm_sizes(g):
    grid(g, ("lstm",))
    top = [acc(g[("lstm", h)]) for h in (20, 15, 10)]
    drop = float(np.mean(top)) - acc(g[("lstm", 5)])
    verdict = HOLDS if max(top) - min(top) <= 0.05 and drop >= 0.12 else PARTLY if drop >= 0.08 else FAILS
    return (
        f"LSTM 20/15/10: {' / '.join(show(g[('lstm', h)]) for h in (20, 15, 10))}; "
        f"5 units: {show(g[('lstm', 5)])}, {num(drop)} points below their mean; rule: holds if 10-20 lie "
        "within 5 points and 5 units falls >= 12 points, partly if it falls >= 8"
    ), verdict


@claim("Task 3", "GRU equals LSTM at 15 and 20 units, and is below it at 10 and 5")
def gru_against_lstm(g):
    grid(g, ("lstm", "gru"))
    d = {h: compare(g[("gru", h)], g[("lstm", h)]) for h in RNN_SIZES}
    equal = all(not d[h][2] for h in (20, 15))
    below = [h for h in (10, 5) if d[h][0] < 0]
    beyond_noise = len(below) == 2 and all(d[h][2] for h in below)
    verdict = HOLDS if equal and beyond_noise else PARTLY if equal or below else FAILS
    return (
        "GRU - LSTM test accuracy: "
        + ", ".join(f"{h} units {num(d[h][0])} ± {num(d[h][1])}" for h in RNN_SIZES)
        + " points; rule: holds if equal within noise at 15/20 and below beyond noise at 10 and 5, partly if "
        "one half holds"
    ), verdict


@claim("Task 3", "The basic RNN is below LSTM and GRU (and falls as units fall)")
def basic_rnn_below(g):
    grid(g)
    a = lambda c, h: acc(g[(c, h)])
    below = [h for h in RNN_SIZES if a("rnn", h) < min(a("lstm", h), a("gru", h))]
    return (
        "basic RNN / LSTM / GRU test: "
        + ", ".join(f"{h}: {num(a('rnn', h))} / {num(a('lstm', h))} / {num(a('gru', h))}" for h in RNN_SIZES)
        + f"; below both at {len(below)} of 4 sizes"
    ), HOLDS if len(below) == 4 else PARTLY if below else FAILS


@claim("Task 3", "Train and test accuracy are about equal for LSTM and GRU")
def train_equals_test(g):
    keys = [(c, h) for c in ("lstm", "gru") for h in RNN_SIZES if (c, h) in g]
    if not keys:
        raise Missing("LSTM/GRU runs")
    gaps = {k: acc(g[k], "train_accuracy") - acc(g[k]) for k in keys}
    close = [k for k, v in gaps.items() if abs(v) <= 0.05]
    verdict = HOLDS if len(close) == len(keys) else PARTLY if len(close) >= len(keys) / 2 else FAILS
    return (
        "train - test: "
        + ", ".join(f"{c} {h} {num(v)}" for (c, h), v in gaps.items())
        + f" points; within 5 points: {len(close)} of {len(keys)}"
    ), verdict


@claim("Task 3", "The CNN reaches ~100% training accuracy in fewer iterations than every RNN")
def cnn_first(g):
    rnns = {k: v for k, v in g.items() if k[0] in CELLS}
    if ("cnn", None) not in g or not rnns:
        raise Missing("the CNN and the RNN grid")

    def reach(recs, level=0.98):
        its, train = curve(recs, "train_accuracy")
        hit = [it for it, v in zip(its, train) if it and v >= level]
        return hit[0] if hit else None

    r_cnn = reach(g[("cnn", None)])
    r_rnn = {k: reach(v) for k, v in rnns.items()}
    reached = {k: v for k, v in r_rnn.items() if v is not None}
    first = r_cnn is not None and all(r_cnn < v for v in reached.values())
    return (
        f"first iteration with a mean train accuracy >= 98%: CNN {r_cnn}; the RNNs that got there: "
        + (", ".join(f"{k[0]} {k[1]}: {v}" for k, v in reached.items()) or "none")
        + f" ({len(r_rnn) - len(reached)} of {len(r_rnn)} never did)"
    ), HOLDS if first else PARTLY if r_cnn is not None else FAILS


@claim("Task 3", "LSTM and GRU come close to the CNN; the basic RNN does not")
def gated_close_to_cnn(g):
    need(g, [("cnn", None)], "the CNN and the whole grid")
    grid(g)
    best = {c: max(acc(g[(c, h)]) for h in RNN_SIZES) for c in CELLS}
    cnn = g[("cnn", None)]
    close = all(acc(cnn) - best[c] <= 0.05 for c in ("lstm", "gru"))
    far = acc(cnn) - best["rnn"] >= 0.10
    return (
        f"test: CNN {show(cnn)}; best LSTM {num(best['lstm'])}, GRU {num(best['gru'])}, "
        f"basic RNN {num(best['rnn'])}; rule: holds if LSTM and GRU are within 5 points of the CNN and the "
        "basic RNN is >= 10 below"
    ), HOLDS if close and far else PARTLY if close or far else FAILS
