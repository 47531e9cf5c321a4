"""The study's claims, one by one, checked against our saved results: ``figures/claims.md``.

Built from the results indexes of the two training scripts (``<figures>/cifar/results.jsonl`` and
``<figures>/rnn/results.jsonl``) by whichever script summarizes last (and by ``python -m common.report``),
so rerunning either rebuilds the table. Each claim is one function below, registered with the study's
words by ``@claim``: it takes the runs it needs (``need`` stops it with "cannot be tested" and names the
results that would test it: the one missing-evidence branch) and returns its evidence, with the rule
behind the verdict, and the verdict: holds, partly, or does not hold.

"Within noise": a difference smaller than twice its standard error, the error of a mean over seeds
taken from the seeds' spread (with one seed, from the test set's binomial error).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common import io, recurrent, runs, study
from common.report.stats import at, compare, curve, final, largest_group, records_of, se_of_mean
from common.report.tables import pct, show

HOLDS, PARTLY, FAILS, UNTESTED = "holds", "partly", "does not hold", "cannot be tested"
N_TEST = 1000  # the study's test set
RNN_SIZES = (20, 15, 10, 5)
ROWS = {r.study_row: r for r in study.RUNS.values() if r.study_row}  # the study's table, row by row
ADAM_ROWS = [row for row, r in ROWS.items() if r.optimizer == "adam" and row != 8]


@dataclass
class Claim:
    topic: str
    claim: str
    evidence: str
    verdict: str


class Missing(Exception):
    """A claim's evidence is not in the results index; the message names what would provide it."""


CLAIMS: list[tuple[str, str, Callable]] = []  # (task, the study's words, its check), in the table's order


def claim(topic: str, words: str):
    """Registers ``check(groups) -> (evidence, verdict)`` for the study's claim ``words``."""

    def register(check):
        CLAIMS.append((topic, words, check))
        return check

    return register


def need(groups: dict, keys, what: str) -> None:
    """Stops a check whose runs ``keys`` are not all in ``groups``: "cannot be tested", run ``what``."""
    if any(k not in groups for k in keys):
        raise Missing(what)


# ---------------------------------------------------------------------------
# Choosing the results: for each configuration the group with the most seeds.
def cifar_groups(records: list[dict]) -> dict[int, list[dict]]:
    """Study row -> the records (seeds) of that run as defined, on the study's data."""
    found = {row: records_of(records, run.name, run.identity(), study.STUDY_DATASET) for row, run in ROWS.items()}
    return {row: recs for row, recs in found.items() if recs}


def rnn_groups(records: list[dict]) -> dict[tuple[str, int | None], list[dict]]:
    """(cell, units) -> the records of the configuration with the most seeds, on MNIST."""
    by_key: dict = {}
    for r in records:
        c = r["identity"]["config"]
        if r["identity"]["data"]["name"] == recurrent.STUDY_DATASET:
            by_key.setdefault((c["cell"], c["hidden_units"]), []).append(r)
    return {k: largest_group(v) for k, v in by_key.items()}


def num(x: float) -> str:
    """A fraction in percent for the evidence: "52.3", "n/a" where missing."""
    return pct(x, missing="n/a")


acc = lambda recs, key="test_accuracy": final(recs, key)[0]  # noqa: E731  (a run's mean final accuracy)
label = lambda row: f"run {row}"  # noqa: E731


# ---------------------------------------------------------------------------
# Task 1
@claim("Task 1", "Test accuracy never went beyond ~55-58% (the ceiling of the hand tuning)")
def ceiling(g):
    need(g, ROWS, f"runs {[row for row in ROWS if row not in g]} (python cifar_v2.py)")
    best = max(g, key=lambda row: acc(g[row]))
    m = acc(g[best])
    verdict = HOLDS if 0.52 <= m <= 0.60 else PARTLY if 0.48 <= m <= 0.63 else FAILS
    return (
        f"best run: {label(best)} `{ROWS[best].name}`, test {show(g[best])}; rule: holds if the "
        "best mean test accuracy is 52-60%, partly 48-63%"
    ), verdict


@claim("Task 1", "The network overfits the 10,000 training images (train accuracy far above test)")
def overfits(g):
    rows = [row for row in (1, 2, 4, 5) if row in g]
    if not rows:
        raise Missing("runs 1, 2, 4, 5")
    gaps = [acc(g[row], "train_accuracy") - acc(g[row]) for row in rows]
    m = float(np.mean(gaps))
    verdict = HOLDS if m >= 0.30 else PARTLY if m >= 0.15 else FAILS
    return (
        "train - test accuracy of the unregularized Adam runs "
        + ", ".join(f"{label(r)} {num(x)}" for r, x in zip(rows, gaps))
        + f" points (mean {num(m)}); rule: holds if the mean gap is >= 30 points, partly >= 15"
    ), verdict


@claim("Task 1", "Sigmoid is the slowest learner of the Adam runs")
def sigmoid_slowest(g):
    if 3 not in g or len([r for r in ADAM_ROWS if r in g]) < 3:
        raise Missing("run 3 and the other Adam runs")
    others = [r for r in ADAM_ROWS if r in g and r != 3]
    train = lambda row, it: at(g[row], it, "train_accuracy")
    points = [it for it in curve(g[3], "train_accuracy")[0] if it and it % 1100 == 0]
    slowest = [it for it in points if all(train(3, it) < train(r, it) for r in others)]
    verdict = HOLDS if points and len(slowest) == len(points) else PARTLY if slowest else FAILS
    return (
        f"run 3's train accuracy is the lowest of the Adam runs (rows {', '.join(map(str, others))} and 3) at "
        f"{len(slowest)} of {len(points)} read-out points (every 1,100 iterations); at 1,100: sigmoid "
        f"{num(train(3, 1100))}, the others {num(min(train(r, 1100) for r in others))}-"
        f"{num(max(train(r, 1100) for r in others))}; final train {show(g[3], 'train_accuracy')}"
    ), verdict


@claim("Task 1", "Regularization (dropout + L2) gives the best test accuracy (run 7: 58.5%)")
def regularization_best(g):
    need(g, ROWS, f"runs {[row for row in ROWS if row not in g]}")
    reg_best = max((7, 8), key=lambda row: acc(g[row]))
    rival = max((row for row in ROWS if row not in (7, 8, 9, 10, 11)), key=lambda row: acc(g[row]))
    diff, se, real = compare(g[reg_best], g[rival])
    best_all = max(g, key=lambda row: acc(g[row]))
    top = best_all in (7, 8)
    verdict = HOLDS if top and real and diff > 0 else PARTLY if top or diff > -2 * se else FAILS
    return (
        f"best regularized: {label(reg_best)} {show(g[reg_best])}; best unregularized: "
        f"{label(rival)} {show(g[rival])}; difference {num(diff)} ± {num(se)} points; rule: holds if a "
        "regularized run is the best and beats the best unregularized one beyond noise, partly if it "
        "is the best or level within noise"
    ), verdict


@claim("Task 1", "More iterations (run 8) are not better than run 7")
def longer_not_better(g):
    need(g, (7, 8), "runs 7 and 8")
    diff, se, real = compare(g[8], g[7])
    its = lambda row: g[row][0]["identity"]["config"]["iterations"]
    return (
        f"run 8 ({its(8)} it) {show(g[8])} vs run 7 ({its(7)} it) {show(g[7])}: {num(diff)} ± {num(se)} "
        "points; rule: holds unless run 8 is better beyond noise"
    ), FAILS if real and diff > 0 else HOLDS


@claim("Task 1", "Momentum 0.8 (lr 1e-2) > 0.7 (lr 1e-2) > 0.9 (lr 1e-3), with dropout + L2 (runs 9, 10, 11)")
def momentum_order(g):
    need(g, (9, 10, 11), "runs 9, 10, 11")
    a, b = compare(g[9], g[10]), compare(g[10], g[11])
    order = a[0] > 0 and b[0] > 0
    verdict = HOLDS if order and a[2] and b[2] else PARTLY if order or (a[0] > 0) != (b[0] > 0) else FAILS
    return (
        f"test: run 9 {show(g[9])}, run 10 {show(g[10])}, run 11 {show(g[11])}; 9-10 "
        f"{num(a[0])} ± {num(a[1])}, 10-11 {num(b[0])} ± {num(b[1])} points; rule: holds if both steps "
        "of the order hold beyond noise, partly if the order holds or one step does"
    ), verdict


RAMP_SHARE = 0.25  # claim 7 holds if some run ends with this share of ramp filters (and twice its start)


@claim("Task 1", "Many first-layer filters detect gradients")
def gradient_filters(g):
    have = [row for row in g if "conv1_gradient_filters" in g[row][0]["history"][-1]]
    if not have:
        raise Missing("runs that record conv1_gradient_filters (retrain with this version)")
    start = np.mean([at(g[r], 0, "conv1_gradient_filters") for r in have])
    end = {r: acc(g[r], "conv1_gradient_filters") for r in have}
    best = max(end, key=end.get)
    mean_end = float(np.mean(list(end.values())))
    top = max(end.values())
    verdict = HOLDS if top >= RAMP_SHARE and top >= 2 * max(start, 0.01) else PARTLY if mean_end > start else FAILS
    return (
        f"share of the 32 conv1 filters a plane (an intensity ramp) fits with R^2 >= 0.5: "
        f"{num(start)}% at initialization, {num(mean_end)}% at the end on average over {len(have)} runs, "
        f"most in {label(best)} `{ROWS[best].name}` ({num(end[best])}%); see "
        f"`figures/cifar/{ROWS[best].name}/filters.png`; rule: holds if some run ends with >= 25% and at least "
        "twice its start, partly if the share grows"
    ), verdict


@claim("Task 1", "The standard deviation of both conv layers' activations drops early, then slowly rises")
def std_drops_then_rises(g):
    have = [row for row in g if "conv2_std" in g[row][0]["history"][-1]]
    if not have:
        raise Missing("runs with activation statistics")

    def dip(row, layer):
        its, std = curve(g[row], f"{layer}_std")
        k = int(np.argmin(std))
        return k > 0 and its[k] <= 0.5 * its[-1] and std[-1] >= 1.05 * std[k]

    def half_drop(row, layer):  # the iteration by which half of the fall from the start to the minimum is done
        its, std = curve(g[row], f"{layer}_std")
        k = int(np.argmin(std))
        return int(its[np.argmax(std <= std[0] - 0.5 * (std[0] - std[k]))])

    both = [row for row in have if dip(row, "conv1") and dip(row, "conv2")]
    verdict = HOLDS if len(both) >= 0.7 * len(have) else PARTLY if both else FAILS
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
    return (
        f"in {len(both)} of {len(have)} runs ({', '.join(map(str, sorted(both))) or 'none'}) "
        f"both layers' std reach their minimum in the first half of the run and end >= 5% above it{when} "
        "(seed-mean curves, `activation_stats.png`, `overlay_conv_std.png`); rule: holds in >= 70% of the runs, "
        "partly in some"
    ), verdict


@claim("Task 1", "Most change happens in the first ~1,100 iterations")
def change_early(g):
    if not g:
        raise Missing("any run")
    early = []
    for row, recs in g.items():
        a0, a1, a_end = at(recs, 0, "test_accuracy"), at(recs, 1100, "test_accuracy"), acc(recs)
        if math.isfinite(a1) and a_end != a0 and (a1 - a0) / (a_end - a0) >= 0.5:
            early.append(row)
    verdict = HOLDS if len(early) >= 0.7 * len(g) else PARTLY if early else FAILS
    return (
        f"in {len(early)} of {len(g)} runs at least half of the whole change of test accuracy "
        f"happened by iteration 1,100 (runs {', '.join(map(str, sorted(early))) or 'none'}); rule: holds "
        "in >= 70% of the runs"
    ), verdict


@claim("Task 1", "ReLU activations have a minimum of 0")
def relu_minimum(g):
    relu = [row for row in g if ROWS[row].activation == "relu"]
    if not relu:
        raise Missing("ReLU runs")
    layers = ("conv1", "conv2")
    mins = [h[f"{k}_min"] for row in relu for r in g[row] for h in r["history"] for k in layers if f"{k}_min" in h]
    rest = [r for row in g if row not in relu for r in g[row]]
    others = [h["conv1_min"] for r in rest for h in r["history"][1:] if "conv1_min" in h]
    return (
        f"conv1/conv2 minimum over all test images, at all {len(mins)} evaluations of the "
        f"{len(relu)} ReLU runs: {min(mins):g} to {max(mins):g}; the tanh and leaky-ReLU runs go "
        f"negative (down to {min(others, default=float('nan')):.2f})"
    ), HOLDS if mins and min(mins) == 0 and max(mins) == 0 else FAILS


# ---------------------------------------------------------------------------
# Task 3
CELLS = ("rnn", "lstm", "gru")


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


# ---------------------------------------------------------------------------
def build(cifar_records: list[dict], rnn_records: list[dict]) -> list[Claim]:
    """Every claim's row, in order; a claim whose evidence is missing says what would provide it."""
    groups = {"Task 1": cifar_groups(cifar_records), "Task 3": rnn_groups(rnn_records)}
    out = []
    for topic, words, check in CLAIMS:
        try:
            evidence, verdict = check(groups[topic])
        except Missing as m:
            evidence, verdict = f"no results of {m} in the results index; run it to test this claim", UNTESTED
        out.append(Claim(topic, words, evidence, verdict))
    return out


def markdown(claims: list[Claim]) -> str:
    counts = {v: sum(c.verdict == v for c in claims) for v in (HOLDS, PARTLY, FAILS, UNTESTED)}
    lines = [
        "# The study's claims, checked",
        "",
        "Generated by `common/report/claims.py` from `figures/cifar/results.jsonl` and `figures/rnn/results.jsonl` "
        "(rebuilt by `cifar_v2.py` and `rnn_mnist.py` after every summary). Numbers are percent, mean ± std over "
        'the seeds (n); "noise" is twice the standard error of a difference. '
        + ", ".join(f"{n} {v}" for v, n in counts.items())
        + ".",
        "",
        "| # | task | the study's claim | our evidence | verdict |",
        "|---|---|---|---|---|",
    ]
    for k, c in enumerate(claims, 1):
        lines.append(f"| {k} | {c.topic} | {c.claim} | {c.evidence} | **{c.verdict}** |")
    return "\n".join(lines) + "\n"


def update(figures_root: Path, log=print) -> Path:
    """Rebuilds ``<figures_root>/claims.md`` from the two indexes under it."""
    figures_root = Path(figures_root)
    read = lambda sub: runs.ResultsIndex(figures_root / sub / "results.jsonl").read(log)
    path = figures_root / "claims.md"
    cifar = runs.merge_early(read("cifar"), study.EARLY_ITERATIONS, log)  # with the --early reruns' evaluations
    io.write_text(path, markdown(build(cifar, read("rnn"))))
    return path
