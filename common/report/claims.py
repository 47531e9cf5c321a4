"""The study's claims checked against the two training scripts' records (``figures/claims.md``) and the differences
they rest on (``figures/forest.png``). Each check in :data:`CLAIMS` returns its evidence with its rule, the verdict
and its differences, or raises :class:`Missing`, naming what would test it. The rules' thresholds are named here."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from common import data, io, runs, study
from common.report import stats
from common.report.plots import plt, save_figure
from common.report.stats import NOISE, PM_KEY, ROWS, compare, curve, difference, final, pct, show
from common.study import CELLS, SIZES

VERDICTS = HOLDS, PARTLY, FAILS, UNTESTED = "holds", "partly", "does not hold", "cannot be tested"
ADAM_ROWS = [row for row, r in ROWS.items() if r.optimizer == "adam" and r.length_factor == 1]
READ = study.READ_EVERY  # the study read its curves every 1,100 iterations: "early" and the read-out points
RAMP_SHARE = 0.25  # claim 7 holds if some run ends with this share of ramp filters (and twice its start)
LSTM_EQUAL_SIZES, LSTM_SMALL = (20, 15, 10), 5  # "LSTM: 10, 15 and 20 units about equal, about 20 points lower at 5"
LSTM_EQUAL_WITHIN = 0.05  # the larger sizes' test accuracies lie within this of each other
LSTM_DROP, LSTM_DROP_PARTLY = 0.12, 0.08  # the smallest size falls at least this below their mean (holds, partly)
GRU_EQUAL_SIZES, GRU_BELOW_SIZES = (20, 15), (10, 5)  # "GRU equals LSTM at 15 and 20 units, below it at 10 and 5"
GAP_CELLS = ("lstm", "gru")  # "Train and test accuracy are about equal for LSTM and GRU"
GAP_RULE = 0.05  # "about equal": |mean train - mean test| <= this
GAP_PARTLY_SHARE = 0.5  # partly: at least this share of the runs is about equal
REACH_LEVEL = 0.98  # "The CNN reaches ~100% training accuracy first": a mean train accuracy >= this
CLOSE_TO_CNN, FAR_FROM_CNN = 0.05, 0.10  # "LSTM and GRU come close to the CNN (within this); the basic RNN does not"
GATED, BASIC = ("lstm", "gru"), "rnn"
acc = lambda recs, key="test_accuracy": final(recs, key)[0]  # noqa: E731  (a run's mean final accuracy)
points = lambda x: f"{100 * x:g}"  # noqa: E731  (a rule's threshold in points: 0.05 -> "5")


@dataclass
class Claim:
    topic: str
    claim: str
    evidence: str
    verdict: str
    # the differences the verdict rests on, (what, difference, its standard error): the forest plot draws them
    differences: list[tuple[str, float, float]] = field(default_factory=list)


class Missing(Exception):
    """A claim's evidence is not in the records; the message names what would provide it."""


def need(ok, what: str) -> None:
    if not ok:
        raise Missing(what)


# Task 1: the LeNet-5 sweep
def ceiling(g):
    need(g.keys() >= ROWS.keys(), f"runs {[row for row in ROWS if row not in g]} (python cifar_v2.py)")
    best = max(g, key=lambda row: acc(g[row]))
    m = acc(g[best])
    return (
        f"best run: run {best} `{ROWS[best].name}`, test {show(g[best])}; rule: holds if the "
        "best mean test accuracy is 52-60%, partly 48-63%"
    ), HOLDS if 0.52 <= m <= 0.60 else PARTLY if 0.48 <= m <= 0.63 else FAILS


def overfits(g):
    rows = [row for row in (1, 2, 4, 5) if row in g]
    need(rows, "runs 1, 2, 4, 5")
    gaps = [acc(g[row], "train_accuracy") - acc(g[row]) for row in rows]
    m = float(np.mean(gaps))
    return (
        "train - test accuracy of the unregularized Adam runs "
        + ", ".join(f"run {r} {pct(x)}" for r, x in zip(rows, gaps))
        + f" points (mean {pct(m)}); rule: holds if the mean gap is >= 30 points, partly >= 15"
    ), HOLDS if m >= 0.30 else PARTLY if m >= 0.15 else FAILS


def sigmoid_slowest(g):
    others = [r for r in ADAM_ROWS if r in g and r != 3]
    need(3 in g and len(others) >= 2, "run 3 and the other Adam runs")
    train = lambda row, it: stats.at(g[row], it, "train_accuracy")
    points_ = [it for it in curve(g[3], "train_accuracy")[0] if it and it % READ == 0]
    slowest = [it for it in points_ if all(train(3, it) < train(r, it) for r in others)]
    # the last evaluation at which run 3's mean test accuracy is within noise of chance (one class in ten)
    its, test = curve(g[3], "test_accuracy")
    chance = 1 / len(data.CIFAR10_CLASS_NAMES)
    until = int(its[np.argmax(test > chance + NOISE * stats.binomial_se(chance, stats.DEFAULT_IMAGES)) - 1])
    rest = min(stats.at(g[row], until, "test_accuracy") for row in g if row != 3)
    return (
        f"run 3's train accuracy is the lowest of the Adam runs (rows {', '.join(map(str, others))} and 3) at "
        f"{len(slowest)} of {len(points_)} read-out points (every {READ:,} iterations); at {READ:,}: sigmoid "
        f"{pct(train(3, READ))}, the others {pct(min(train(r, READ) for r in others))}-"
        f"{pct(max(train(r, READ) for r in others))}; final train {show(g[3], 'train_accuracy')}; its test accuracy "
        f"is within noise of chance up to iteration {until:,}, where every other run's is {pct(rest)}% or more"
    ), HOLDS if points_ and len(slowest) == len(points_) else PARTLY if slowest else FAILS


def regularization_best(g):
    need(g.keys() >= ROWS.keys(), f"runs {[row for row in ROWS if row not in g]}")
    reg_best = max((7, 8), key=lambda row: acc(g[row]))
    rival = max((row for row in ROWS if row not in (7, 8, 9, 10, 11)), key=lambda row: acc(g[row]))
    diff, se, real = compare(g[reg_best], g[rival])
    top = max(g, key=lambda row: acc(g[row])) in (7, 8)
    verdict = HOLDS if top and real and diff > 0 else PARTLY if top or diff > -2 * se else FAILS
    evidence = (
        f"best regularized: run {reg_best} {show(g[reg_best])}; best unregularized: run {rival} "
        f"{show(g[rival])}; difference {difference(diff, se)}; rule: holds if a regularized run is the best "
        "and beats the best unregularized one beyond noise, partly if it is the best or level within noise"
    )
    return evidence, verdict, [(f"run {reg_best} - run {rival} (best regularized - best unregularized)", diff, se)]


def longer_not_better(g):
    need(g.keys() >= {7, 8}, "runs 7 and 8")
    diff, se, real = compare(g[8], g[7])
    its = lambda row: g[row][0]["identity"]["config"]["iterations"]
    evidence = (
        f"run 8 ({its(8)} it) {show(g[8])} vs run 7 ({its(7)} it) {show(g[7])}: {difference(diff, se)}; "
        "rule: holds unless run 8 is better beyond noise"
    )
    return evidence, FAILS if real and diff > 0 else HOLDS, [("run 8 - run 7 (twice as long)", diff, se)]


def momentum_order(g):
    need(g.keys() >= {9, 10, 11}, "runs 9, 10, 11")
    a, b = compare(g[9], g[10]), compare(g[10], g[11])
    order = a[0] > 0 and b[0] > 0
    evidence = (
        f"test: run 9 {show(g[9])}, run 10 {show(g[10])}, run 11 {show(g[11])}; 9-10 {difference(*a[:2])}; "
        f"10-11 {difference(*b[:2])}; rule: holds if both steps of the order hold beyond noise, partly if the "
        "order holds or one step does"
    )
    steps = [("run 9 - run 10 (momentum 0.8 - 0.7)", *a[:2]), ("run 10 - run 11 (0.7, lr 1e-2 - 0.9, lr 1e-3)", *b[:2])]
    return evidence, HOLDS if order and a[2] and b[2] else PARTLY if order or (a[0] > 0) != (b[0] > 0) else FAILS, steps


def gradient_filters(g):
    have = [row for row in g if "conv1_gradient_filters" in g[row][0]["history"][-1]]
    need(have, "runs that record conv1_gradient_filters (retrain with this version)")
    start = {r: stats.at(g[r], 0, "conv1_gradient_filters") for r in have}
    end = {r: acc(g[r], "conv1_gradient_filters") for r in have}
    top2 = sorted(end, key=end.get, reverse=True)[:2]
    mean_start, mean_end, top = float(np.mean([*start.values()])), float(np.mean([*end.values()])), max(end.values())
    ramps = top >= RAMP_SHARE and top >= 2 * max(mean_start, 0.01)
    return (
        f"share of the 32 conv1 filters a plane (an intensity ramp) fits with R^2 >= 0.5: {pct(mean_start)}% at "
        f"initialization, {pct(mean_end)}% at the end on average over {len(have)} runs; it grows in "
        f"{sum(end[r] > start[r] for r in have)} of {len(have)} runs, most in "
        + " and ".join(f"run {r} `{ROWS[r].name}` ({pct(end[r])}%)" for r in top2)
        + f"; see `figures/cifar/{ROWS[top2[0]].name}/filters.png`; rule: holds if some run ends with >= "
        f"{points(RAMP_SHARE)}% and at least twice its start, partly if the share grows"
    ), HOLDS if ramps else PARTLY if mean_end > mean_start else FAILS


def std_dips(g):
    have = [row for row in g if "conv2_std" in g[row][0]["history"][-1]]
    need(have, "runs with activation statistics")
    std = {(row, layer): curve(g[row], f"{layer}_std") for row in have for layer in ("conv1", "conv2")}

    def dip(row, layer):
        its, s = std[(row, layer)]
        k = int(np.argmin(s))
        return k > 0 and its[k] <= 0.5 * its[-1] and s[-1] >= 1.05 * s[k]

    def half_drop(row, layer):  # the iteration by which half of the fall from the start to the minimum is done
        its, s = std[(row, layer)]
        return int(its[np.argmax(s <= s[0] - 0.5 * (s[0] - s[int(np.argmin(s))]))])

    both = [row for row in have if dip(row, "conv1") and dip(row, "conv2")]
    dense = [row for row in both if all(r.get("dense_until") for r in g[row])]
    when = ""
    if dense:  # evaluated after every early iteration (cifar_v2.py --early): how early "early" is
        h = {layer: sorted(half_drop(row, layer) for row in dense) for layer in ("conv1", "conv2")}
        when = (
            f"; half of the fall to the minimum is done by iteration {int(np.median(h['conv2']))} in conv2 and "
            f"{int(np.median(h['conv1']))} in conv1 (medians over the {len(dense)} runs evaluated after every "
            f"iteration up to {g[dense[0]][0]['dense_until']}; ranges {h['conv2'][0]}-{h['conv2'][-1]} and "
            f"{h['conv1'][0]}-{h['conv1'][-1]})"
        )
    rises = []  # conv2's std first rising more than 5% above its start before it falls to its minimum
    for row in have:
        its, s = std[(row, "conv2")]
        k = int(np.argmin(s))
        if s[: k + 1].max() > 1.05 * s[0]:
            rises.append(f"run {row} (peak at {its[int(np.argmax(s[: k + 1]))]:,}, minimum at {its[k]:,})")
    return (
        f"in {len(both)} of {len(have)} runs ({', '.join(map(str, sorted(both))) or 'none'}) "
        f"both layers' std reach their minimum in the first half of the run and end >= 5% above it{when}; conv2's "
        f"std first rises, then falls, in {', '.join(rises) or 'no run'} (seed-mean curves, `activation_stats.png`, "
        "`overlay_conv_std.png`); rule: holds in >= 70% of the runs, partly in some"
    ), HOLDS if len(both) >= 0.7 * len(have) else PARTLY if both else FAILS


def change_early(g):
    need(g, "any run")
    early = []
    for row, recs in g.items():
        a0, a1, a_end = stats.at(recs, 0, "test_accuracy"), stats.at(recs, READ, "test_accuracy"), acc(recs)
        if math.isfinite(a1) and a_end != a0 and (a1 - a0) / (a_end - a0) >= 0.5:
            early.append(row)
    return (
        f"in {len(early)} of {len(g)} runs at least half of the whole change of test accuracy happened by iteration "
        f"{READ:,} (runs {', '.join(map(str, sorted(early))) or 'none'}); rule: holds in >= 70% of the runs"
    ), HOLDS if len(early) >= 0.7 * len(g) else PARTLY if early else FAILS


def relu_minimum(g):
    relu = [row for row in g if ROWS[row].activation == "relu"]
    layers = ("conv1", "conv2")
    mins = [h[f"{k}_min"] for row in relu for r in g[row] for h in r["history"] for k in layers if f"{k}_min" in h]
    need(mins, "ReLU runs with activation statistics")
    rest = [r for row in g if row not in relu for r in g[row]]
    others = [h["conv1_min"] for r in rest for h in r["history"][1:] if "conv1_min" in h]
    return (
        f"conv1/conv2 minimum over all test images, at all {len(mins)} evaluations of the "
        f"{len(relu)} ReLU runs: {min(mins):g} to {max(mins):g}; the tanh and leaky-ReLU runs go "
        f"negative (down to {min(others, default=float('nan')):.2f})"
    ), HOLDS if min(mins) == 0 and max(mins) == 0 else FAILS


# Task 3: the RNN grid and Part C's CNN
def grid(g, cells=CELLS) -> tuple[int, ...]:
    """The grid's hidden sizes once ``g`` has every run of ``cells``."""
    need(g.keys() >= {(c, h) for c in cells for h in SIZES}, "the whole grid (python rnn_mnist.py)")
    return SIZES


def about_equal(gap: float) -> bool:
    return abs(gap) <= GAP_RULE


def first_reach(records: list[dict]) -> int | None:
    """Claim 16's number: the first iteration after the start with a mean train accuracy >= REACH_LEVEL, or None."""
    its, train = curve(records, "train_accuracy")
    return next((int(it) for it, v in zip(its, train) if it and v >= REACH_LEVEL), None)


def fewer_units_lower(g):
    sizes = grid(g)
    steps = list(zip(sizes, sizes[1:]))
    noise = lambda c, a, b: NOISE * math.hypot(stats.se_of_mean(g[(c, a)]), stats.se_of_mean(g[(c, b)]))
    mono = all(acc(g[(c, a)]) >= acc(g[(c, b)]) for c in CELLS for a, b in steps)
    near = all(acc(g[(c, a)]) >= acc(g[(c, b)]) - noise(c, a, b) for c in CELLS for a, b in steps)
    return (
        "; ".join(f"{c}: " + " / ".join(pct(acc(g[(c, h)])) for h in sizes) for c in CELLS)
        + f" % test at {'/'.join(map(str, sizes))} units; rule: holds if every cell falls at every step, partly if "
        "every rise is within noise"
    ), HOLDS if mono else PARTLY if near else FAILS


def lstm_sizes(g):
    grid(g, ("lstm",))
    top = [acc(g[("lstm", h)]) for h in LSTM_EQUAL_SIZES]
    drop = float(np.mean(top)) - acc(g[("lstm", LSTM_SMALL)])
    flat = max(top) - min(top) <= LSTM_EQUAL_WITHIN
    sizes = "/".join(map(str, LSTM_EQUAL_SIZES))
    return (
        f"LSTM {sizes}: {' / '.join(show(g[('lstm', h)]) for h in LSTM_EQUAL_SIZES)} (within {pct(max(top) - min(top))}"
        f" points); {LSTM_SMALL} units: {show(g[('lstm', LSTM_SMALL)])}, {pct(drop)} points below their mean; rule: "
        f"holds if {min(LSTM_EQUAL_SIZES)}-{max(LSTM_EQUAL_SIZES)} lie within {points(LSTM_EQUAL_WITHIN)} points and "
        f"{LSTM_SMALL} units falls >= {points(LSTM_DROP)} points, partly if it falls >= {points(LSTM_DROP_PARTLY)}"
    ), HOLDS if flat and drop >= LSTM_DROP else PARTLY if drop >= LSTM_DROP_PARTLY else FAILS


def gru_against_lstm(g):
    sizes = grid(g, ("lstm", "gru"))
    d = {h: compare(g[("gru", h)], g[("lstm", h)]) for h in sizes}
    equal = all(not d[h][2] for h in GRU_EQUAL_SIZES)
    below = [h for h in GRU_BELOW_SIZES if d[h][0] < 0]
    beyond_noise = len(below) == len(GRU_BELOW_SIZES) and all(d[h][2] for h in below)
    verdict = HOLDS if equal and beyond_noise else PARTLY if equal or below else FAILS
    evidence = (
        "GRU - LSTM test accuracy: "
        + "; ".join(f"{h} units {difference(*d[h][:2])}" for h in sizes)
        + f"; rule: holds if equal within noise at {'/'.join(map(str, sorted(GRU_EQUAL_SIZES)))} and below "
        f"beyond noise at {' and '.join(map(str, GRU_BELOW_SIZES))}, partly if one half holds"
    )
    return evidence, verdict, [(f"GRU - LSTM, {h} units", *d[h][:2]) for h in sizes]


def basic_rnn_below(g):
    sizes = grid(g)
    a = lambda c, h: acc(g[(c, h)])
    below = [h for h in sizes if a(BASIC, h) < min(a(c, h) for c in GATED)]
    spread = lambda cells: pct(max(final(g[(c, h)])[1] for c in cells for h in sizes))
    return (
        "basic RNN / LSTM / GRU test: "
        + ", ".join(f"{h}: " + " / ".join(pct(a(c, h)) for c in (BASIC, *GATED)) for h in sizes)
        + f"; below both at {len(below)} of {len(sizes)} sizes; std over the seeds up to {spread((BASIC,))} points "
        f"(basic RNN) against {spread(GATED)} (LSTM, GRU)"
    ), HOLDS if len(below) == len(sizes) else PARTLY if below else FAILS


def train_equals_test(g):
    keys = [(c, h) for c in GAP_CELLS for h in SIZES if (c, h) in g]
    need(keys, "LSTM/GRU runs")
    gaps = {k: acc(g[k], "train_accuracy") - acc(g[k]) for k in keys}
    close = [k for k, v in gaps.items() if about_equal(v)]
    return (
        "train - test: "
        + ", ".join(f"{c} {h} {stats.decided(v, GAP_RULE)}" for (c, h), v in gaps.items())
        + f" points; within {points(GAP_RULE)} points: {len(close)} of {len(keys)}"
    ), HOLDS if len(close) == len(keys) else PARTLY if len(close) >= GAP_PARTLY_SHARE * len(keys) else FAILS


def cnn_first(g):
    rnns = {k: v for k, v in g.items() if k[0] in CELLS}
    need(("cnn", None) in g and rnns, "the CNN and the RNN grid")
    cnn = g[("cnn", None)]
    r_cnn, r_rnn = first_reach(cnn), {k: first_reach(v) for k, v in rnns.items()}
    reached = {k: v for k, v in r_rnn.items() if v is not None}
    first = r_cnn is not None and all(r_cnn < v for v in reached.values())
    ratios = ""
    if all((c, h) in g for c in GATED for h in SIZES):  # the final training error against the best LSTM's and GRU's
        best = {c: max((g[(c, h)] for h in SIZES), key=acc) for c in GATED}
        ratio = lambda c: (1 - acc(best[c], "train_accuracy")) / (1 - acc(cnn, "train_accuracy"))
        ratios = "; the CNN's final training error is " + " and ".join(f"{ratio(c):.0f}x" for c in GATED)
        ratios += " smaller than the best LSTM's and GRU's"
    return (
        f"first iteration with a mean train accuracy >= {points(REACH_LEVEL)}%: CNN {r_cnn}; the RNNs that got there: "
        + (", ".join(f"{k[0]} {k[1]}: {v}" for k, v in reached.items()) or "none")
        + f" ({len(r_rnn) - len(reached)} of {len(r_rnn)} never did){ratios}"
    ), HOLDS if first else PARTLY if r_cnn is not None else FAILS


def gated_close_to_cnn(g):
    need(("cnn", None) in g, "the CNN and the whole grid")
    sizes = grid(g)
    best = {c: max(acc(g[(c, h)]) for h in sizes) for c in CELLS}
    cnn = g[("cnn", None)]
    close = all(acc(cnn) - best[c] <= CLOSE_TO_CNN for c in GATED)
    far = acc(cnn) - best[BASIC] >= FAR_FROM_CNN
    return (
        f"test: CNN {show(cnn)}; best LSTM {pct(best['lstm'])}, GRU {pct(best['gru'])}, basic RNN {pct(best[BASIC])} "
        f"({', '.join(f'{pct(acc(cnn) - best[c])}' for c in ('lstm', 'gru', BASIC))} points below the CNN); rule: "
        f"holds if LSTM and GRU are within {points(CLOSE_TO_CNN)} points of the CNN and the basic RNN is >= "
        f"{points(FAR_FROM_CNN)} below"
    ), HOLDS if close and far else PARTLY if close or far else FAILS


CLAIMS = {  # the study's words and their checks, by task, in the table's order
    "Task 1": [
        ("Test accuracy never went beyond ~55-58% (the ceiling of the hand tuning)", ceiling),
        ("The network overfits the 10,000 training images (train accuracy far above test)", overfits),
        ("Sigmoid is the slowest learner of the Adam runs", sigmoid_slowest),
        ("Regularization (dropout + L2) gives the best test accuracy (run 7: 58.5%)", regularization_best),
        ("More iterations (run 8) are not better than run 7", longer_not_better),
        ("Momentum 0.8 (lr 1e-2) > 0.7 (lr 1e-2) > 0.9 (lr 1e-3), with dropout + L2 (runs 9, 10, 11)", momentum_order),
        ("Many first-layer filters detect gradients", gradient_filters),
        ("The standard deviation of both conv layers' activations drops early, then slowly rises", std_dips),
        ("Most change happens in the first ~1,100 iterations", change_early),
        ("ReLU activations have a minimum of 0", relu_minimum),
    ],
    "Task 3": [
        ("Fewer hidden units, lower accuracy, for every cell", fewer_units_lower),
        ("LSTM: 10, 15 and 20 units about equal (~90-95%), about 20 points lower at 5", lstm_sizes),
        ("GRU equals LSTM at 15 and 20 units, and is below it at 10 and 5", gru_against_lstm),
        ("The basic RNN is below LSTM and GRU (and falls as units fall)", basic_rnn_below),
        ("Train and test accuracy are about equal for LSTM and GRU", train_equals_test),
        ("The CNN reaches ~100% training accuracy in fewer iterations than every RNN", cnn_first),
        ("LSTM and GRU come close to the CNN; the basic RNN does not", gated_close_to_cnn),
    ],
}


def number(check) -> int:
    return [c for checks in CLAIMS.values() for _, c in checks].index(check) + 1


def build(cifar_records: list[dict], rnn_records: list[dict]) -> list[Claim]:
    """Every claim's row, in order; a claim whose evidence is missing says what would provide it."""
    groups = {"Task 1": stats.study_rows(cifar_records), "Task 3": stats.rnn_cells(rnn_records)}
    out = []
    for topic, words, check in [(t, *c) for t, checks in CLAIMS.items() for c in checks]:
        try:
            out.append(Claim(topic, words, *check(groups[topic])))
        except Missing as m:
            evidence = f"no results of {m} in the results index; run it to test this claim"
            out.append(Claim(topic, words, evidence, UNTESTED))
    return out


def markdown(claims: list[Claim]) -> str:
    counts = {v: sum(c.verdict == v for c in claims) for v in VERDICTS}
    partly = [str(k) for k, c in enumerate(claims, 1) if c.verdict == PARTLY]
    drawn = [str(k) for k, c in enumerate(claims, 1) if c.differences]
    intro = (
        "Generated by `common/report/claims.py` from `figures/cifar/results.jsonl` and `figures/rnn/results.jsonl` "
        "(rebuilt by `cifar_v2.py` and `rnn_mnist.py` after every summary). Numbers are percent, mean ± std over "
        f"the seeds (n). {PM_KEY} " + ", ".join(f"{n} {v}" for v, n in counts.items()) + "; rated partly: claims "
        f"{', '.join(partly) or 'none'}. `forest.png` draws the differences of claims {', '.join(drawn) or 'none'}."
    )
    rows = [[k, c.topic, c.claim, c.evidence, f"**{c.verdict}**"] for k, c in enumerate(claims, 1)]
    table = stats.markdown(["#", "task", "the study's claim", "our evidence", "verdict"], rows)
    return stats.page("# The study's claims, checked", intro, table)


def plot_forest(checked: list[Claim], path: Path) -> Path | None:
    """One row per difference, its ± NOISE standard-error interval (filled where it excludes 0), by claim."""
    rows = [(k, what, d, se) for k, c in enumerate(checked, 1) for what, d, se in c.differences]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(rows) + 1.8))
    y = np.arange(len(rows))[::-1]
    for yi, (*_, d, se) in zip(y, rows):
        color, mfc = ("black", "black") if abs(d) > NOISE * se else ("0.55", "white")  # filled: beyond noise
        ax.errorbar([100 * d], [yi], xerr=[100 * NOISE * se], fmt="o", color=color, mfc=mfc, capsize=3, ms=5)
    ax.axvline(0, color="gray", ls="--", lw=0.8)
    ax.set_yticks(y, [f"claim {k}: {what}" for k, what, _, _ in rows], fontsize=8)
    ax.set_xlabel(f"difference (accuracy points), ± {NOISE:g} standard errors over the seeds")
    ax.set_title(
        "The claims that rest on a difference: each difference and its interval\n"
        "(filled: beyond noise, the interval excludes 0; open: within noise; claims as numbered in figures/claims.md)",
        fontsize=10,
    )
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path, tight=True)


def update(figures_root: Path, log=print) -> list[Path]:
    """``claims.md`` and ``forest.png`` under ``figures_root``, from its two indexes (the sweep's with --early's)."""
    read = lambda sub: runs.ResultsIndex(Path(figures_root) / sub / "results.jsonl").read(log)  # noqa: E731
    checked = build(runs.merge_early(read("cifar"), study.EARLY_ITERATIONS, log), read("rnn"))
    io.write_text(Path(figures_root) / "claims.md", markdown(checked))
    forest = plot_forest(checked, Path(figures_root) / "forest.png")
    return [Path(figures_root) / "claims.md", *([forest] if forest else [])]
