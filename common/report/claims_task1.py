"""The study's Task 1 claims (the LeNet-5 sweep), each checked against the sweep's records with its rule; see
``common/report/claims.py`` for how a claim is registered and read."""

from __future__ import annotations

import math

import numpy as np

from common import study
from common.report.claims import (
    FAILS,
    HOLDS,
    PARTLY,
    ROWS,
    Missing,
    acc,
    claim,
    label,
    need,
    num,
)
from common.report.stats import at, compare, curve
from common.report.tables import show

ADAM_ROWS = [row for row, r in ROWS.items() if r.optimizer == "adam" and r.length_factor == 1]
READ = study.READ_EVERY  # the study read its curves every 1,100 iterations: "early" and the read-out points


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
    points = [it for it in curve(g[3], "train_accuracy")[0] if it and it % READ == 0]
    slowest = [it for it in points if all(train(3, it) < train(r, it) for r in others)]
    verdict = HOLDS if points and len(slowest) == len(points) else PARTLY if slowest else FAILS
    return (
        f"run 3's train accuracy is the lowest of the Adam runs (rows {', '.join(map(str, others))} and 3) at "
        f"{len(slowest)} of {len(points)} read-out points (every {READ:,} iterations); at {READ:,}: sigmoid "
        f"{num(train(3, READ))}, the others {num(min(train(r, READ) for r in others))}-"
        f"{num(max(train(r, READ) for r in others))}; final train {show(g[3], 'train_accuracy')}"
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
        (
            f"best regularized: {label(reg_best)} {show(g[reg_best])}; best unregularized: "
            f"{label(rival)} {show(g[rival])}; difference {num(diff)} ± {num(se)} points; rule: holds if a "
            "regularized run is the best and beats the best unregularized one beyond noise, partly if it "
            "is the best or level within noise"
        ),
        verdict,
        [(f"run {reg_best} - run {rival} (best regularized - best unregularized)", diff, se)],
    )


@claim("Task 1", "More iterations (run 8) are not better than run 7")
def longer_not_better(g):
    need(g, (7, 8), "runs 7 and 8")
    diff, se, real = compare(g[8], g[7])
    its = lambda row: g[row][0]["identity"]["config"]["iterations"]
    return (
        (
            f"run 8 ({its(8)} it) {show(g[8])} vs run 7 ({its(7)} it) {show(g[7])}: {num(diff)} ± {num(se)} "
            "points; rule: holds unless run 8 is better beyond noise"
        ),
        FAILS if real and diff > 0 else HOLDS,
        [("run 8 - run 7 (twice as long)", diff, se)],
    )


@claim("Task 1", "Momentum 0.8 (lr 1e-2) > 0.7 (lr 1e-2) > 0.9 (lr 1e-3), with dropout + L2 (runs 9, 10, 11)")
def momentum_order(g):
    need(g, (9, 10, 11), "runs 9, 10, 11")
    a, b = compare(g[9], g[10]), compare(g[10], g[11])
    order = a[0] > 0 and b[0] > 0
    verdict = HOLDS if order and a[2] and b[2] else PARTLY if order or (a[0] > 0) != (b[0] > 0) else FAILS
    return (
        (
            f"test: run 9 {show(g[9])}, run 10 {show(g[10])}, run 11 {show(g[11])}; 9-10 "
            f"{num(a[0])} ± {num(a[1])}, 10-11 {num(b[0])} ± {num(b[1])} points; rule: holds if both steps "
            "of the order hold beyond noise, partly if the order holds or one step does"
        ),
        verdict,
        [
            ("run 9 - run 10 (momentum 0.8 - 0.7)", a[0], a[1]),
            ("run 10 - run 11 (0.7, lr 1e-2 - 0.9, lr 1e-3)", b[0], b[1]),
        ],
    )


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
        a0, a1, a_end = at(recs, 0, "test_accuracy"), at(recs, READ, "test_accuracy"), acc(recs)
        if math.isfinite(a1) and a_end != a0 and (a1 - a0) / (a_end - a0) >= 0.5:
            early.append(row)
    verdict = HOLDS if len(early) >= 0.7 * len(g) else PARTLY if early else FAILS
    return (
        f"in {len(early)} of {len(g)} runs at least half of the whole change of test accuracy "
        f"happened by iteration {READ:,} (runs {', '.join(map(str, sorted(early))) or 'none'}); rule: holds "
        "in >= 70% of the runs"
    ), verdict


@claim("Task 1", "ReLU activations have a minimum of 0")
def relu_minimum(g):
    relu = [row for row in g if ROWS[row].activation == "relu"]
    if not relu:
        raise Missing("ReLU runs")
    layers = ("conv1", "conv2")
    mins = [h[f"{k}_min"] for row in relu for r in g[row] for h in r["history"] for k in layers if f"{k}_min" in h]
    if not mins:
        raise Missing("ReLU runs with activation statistics")
    rest = [r for row in g if row not in relu for r in g[row]]
    others = [h["conv1_min"] for r in rest for h in r["history"][1:] if "conv1_min" in h]
    return (
        f"conv1/conv2 minimum over all test images, at all {len(mins)} evaluations of the "
        f"{len(relu)} ReLU runs: {min(mins):g} to {max(mins):g}; the tanh and leaky-ReLU runs go "
        f"negative (down to {min(others, default=float('nan')):.2f})"
    ), HOLDS if mins and min(mins) == 0 and max(mins) == 0 else FAILS
