"""The facts ``docs/task1.md``, ``docs/claims.md`` and ``docs/reliability.md`` cite (``common/report/facts.py``):
the calibration of the unstated constants, the sweep against the study's table, run 7's classes and filters, the
curves, and each claim's verdict, all from the sweep's records."""

from __future__ import annotations

import functools
import math

import numpy as np

from common import calibration, study
from common.data import CIFAR10_CLASS_NAMES as CLASSES
from common.report import claims, claims_task1, claims_task3  # noqa: F401  (the claims register, in order)
from common.report.constants import calibration_table
from common.report.facts import FACTS, difference, fact, points, study_rows, verdict
from common.report.stats import DEFAULT_IMAGES, NOISE, at, binomial_se, curve, final
from common.report.tables import gap, pct

ROWS = claims.ROWS  # study row -> its run
GAPS = ("train", "test")
READ = study.READ_EVERY


@functools.cache
def groups(s) -> dict[int, list[dict]]:
    """Study row -> the sweep's records of that run (its seeds); none: ValueError (the fact reads "-")."""
    g = claims.cifar_groups(s.cifar)
    if not g:
        raise ValueError("no records of the sweep")
    return g


@functools.cache
def fit(s) -> list[dict]:
    """The calibration's rows (seed 0), best first, as ``constants_fit.md`` tables them (ValueError if none scored)."""
    rows = calibration_table(s.cifar, 0, study.EVAL_EVERY)
    if not any(math.isfinite(r["score"]) for r in rows):
        raise ValueError("no combination of the calibration has all 11 runs")
    return rows


def fit_row(s, constants: calibration.Constants) -> dict:
    return next(r for r in fit(s) if calibration.constants_of(r) == constants)


def row_label(rows) -> str:
    """[3, 7] -> "runs 3 and 7"; [] -> "none"."""
    rows = [str(r) for r in rows]
    if not rows:
        return "none"
    return ("run " if len(rows) == 1 else "runs ") + (", ".join(rows[:-1]) + " and " if rows[1:] else "") + rows[-1]


def noise_word(a: list[dict], b: list[dict]) -> str:
    """ "+1.5 ± 1.1 points, within noise": mean a - mean b in test accuracy, and whether beyond noise."""
    return f"{difference(a, b)} points, {verdict(a, b)}"


def seed0(s, row: int) -> dict:
    return next(r for r in groups(s)[row] if r["seed"] == 0)


# --- the constants the study did not state ---------------------------------------------------------
@fact("task1.params")
def params(s):
    return f"{seed0(s, 7)['num_params']:,}"


@fact("task1.fit_complete")
def fit_complete(s):
    return f"{sum(math.isfinite(r['score']) for r in fit(s))} of {len(fit(s))}"


for _name, _c in (("round1", calibration.ROUND1), ("calibrated", calibration.CALIBRATED)):
    for _key in ("train", "test"):
        FACTS[f"task1.{_name}_{_key}_gap"] = lambda s, c=_c, k=_key: points(fit_row(s, c)[f"{k}_gap"])


@fact("task1.calibrated_rank")
def calibrated_rank(s):
    """The adopted constants' rank by the calibration's score, of the combinations that have all 11 runs."""
    scored = [r for r in fit(s) if math.isfinite(r["score"])]
    return f"{scored.index(fit_row(s, calibration.CALIBRATED)) + 1} of {len(scored)}"


@fact("task1.fit_lr_lengths")
def fit_lr_lengths(s):
    """At how many lengths both of Adam 1e-4's settings score worse than both of Adam 1e-3's (each at its best)."""
    best = lambda lr, l2, it: min(
        r["score"] for r in fit(s) if (r["adam_lr"], r["l2"], r["iterations"]) == (lr, l2, it)
    )
    lo, hi = calibration.GRID["adam_lr"]
    l2s, lengths = calibration.GRID["l2"], calibration.GRID["iterations"]
    worse = [it for it in lengths if min(best(lo, l2, it) for l2 in l2s) > max(best(hi, l2, it) for l2 in l2s)]
    return f"{len(worse)} of {len(lengths)}"


@fact("task1.run6_fast_best")
def run6_fast_best(s):
    """Run 6 at lr 1e-2 (the calibration's other run-6 setting): its best test accuracy at any evaluation."""
    run = study.with_overrides(ROWS[6], learning_rate=calibration.GRID["run6"][1][0])
    recs = [r for r in s.cifar if r["name"] == run.name and r["identity"]["config"] == run.identity()]
    return f"{pct(max(h['test_accuracy'] for r in recs for h in r['history']))}%"


@fact("task1.run7_on_run8")
def run7_on_run8(s):
    """Of run 7's evaluations (seed 0), how many give run 8's train and test accuracy exactly."""
    r7, r8 = seed0(s, 7), {h["iteration"]: h for h in seed0(s, 8)["history"]}
    keys = ("train_accuracy", "test_accuracy")
    its = [h for h in r7["history"] if h["iteration"] % study.EVAL_EVERY == 0]
    same = [h for h in its if all(h.get(k) == r8.get(h["iteration"], {}).get(k) for k in keys)]
    return f"{len(same)} of {len(its)}"


@fact("task1.run7_seed0")
def run7_seed0(s):
    f = seed0(s, 7)["final"]
    return f"{pct(f['test_accuracy'])}% test, {pct(f['train_accuracy'], 2)}% train"


# --- the sweep against the study's table -------------------------------------------------------------
def met(train_gap: float, test_gap: float) -> str:
    """Whether mean absolute gaps to the study's table meet the project's goals (``study.GAP_GOALS``)."""
    ok = [k for k, g in zip(GAPS, (train_gap, test_gap)) if g <= study.GAP_GOALS[k]]
    return {2: "meets both", 0: "meets neither"}.get(len(ok)) or f"meets the {ok[0]} goal only"


def unseen(s) -> list[float]:
    """The mean absolute train and test gaps of the seeds the calibration never saw (all but seed 0)."""
    g = {row: [r for r in recs if r["seed"] != 0] for row, recs in groups(s).items()}
    if not all(g.values()):
        raise ValueError("a run has no seed but 0")
    gap_ = lambda row, i, k: abs(final(g[row], f"{k}_accuracy")[0] - ROWS[row].study_accuracy[i])
    return [float(np.mean([gap_(row, i, k) for row in g])) for i, k in enumerate(GAPS)]


FACTS["task1.goals_met"] = lambda s: met(*[np.mean([abs(r[f"{k}_gap"]) for r in study_rows(s)]) for k in GAPS])
FACTS["task1.unseen_gaps"] = lambda s: " / ".join(map(points, unseen(s)))
FACTS["task1.unseen_goals_met"] = lambda s: met(*unseen(s))


# each study row's numbers: train accuracy over seeds, its gaps to the study's, and the study's numbers
for _row, _run in ROWS.items():
    FACTS[f"task1.train.{_row}"] = lambda s, n=_run.name: f"{pct(s.rows[n]['train_acc_mean'])}%"
    FACTS[f"task1.train_gap.{_row}"] = lambda s, n=_run.name: gap(s.rows[n]["train_gap"])
    FACTS[f"task1.test_gap.{_row}"] = lambda s, n=_run.name: gap(s.rows[n]["test_gap"])
    FACTS[f"task1.study_train.{_row}"] = lambda s, r=_run: f"{100 * r.study_accuracy[0]:g}%"
    FACTS[f"task1.study_test.{_row}"] = lambda s, r=_run: f"{100 * r.study_accuracy[1]:g}%"


def test_gaps(s) -> dict[int, float]:
    return {run.study_row: s.rows[run.name]["test_gap"] for run in ROWS.values()}


@fact("task1.test_above")
def test_above(s):
    return row_label(row for row, g in test_gaps(s).items() if g > study.GAP_GOALS["test"])


@fact("task1.test_below")
def test_below(s):
    return row_label(row for row, g in test_gaps(s).items() if g < -study.GAP_GOALS["test"])


def farthest(s, pick) -> str:
    """The run whose train accuracy is farthest above (``max``) or below (``min``) the study's, with its gap."""
    row = pick(ROWS, key=lambda row: s.rows[ROWS[row].name]["train_gap"])
    return f"run {row} ({gap(s.rows[ROWS[row].name]['train_gap'])} points)"


FACTS["task1.train_farthest_above"] = lambda s: farthest(s, max)
FACTS["task1.train_farthest_below"] = lambda s: farthest(s, min)


@fact("task1.best_test")
def best_test(s):
    best = max(ROWS, key=lambda row: s.rows[ROWS[row].name]["test_acc_mean"])
    return f"run {best} (`{ROWS[best].name}`)"


for _a, _b in ((9, 10), (10, 11)):
    FACTS[f"task1.run{_a}_vs_run{_b}"] = lambda s, a=_a, b=_b: noise_word(groups(s)[a], groups(s)[b])


@fact("task1.regularized_vs_not")
def regularized_vs_not(s):
    """Claim 4's comparison: the best regularized run (7 or 8) against the best unregularized one (1-6)."""
    g = groups(s)
    a = max((7, 8), key=lambda row: final(g[row])[0])
    b = max((row for row in ROWS if not ROWS[row].dropout), key=lambda row: final(g[row])[0])
    return f"run {a} against run {b}, {noise_word(g[a], g[b])}"


@fact("task1.gaps_within_noise")
def gaps_within_noise(s):
    """Of the 11 test gaps, how many are within noise: ours a mean over seeds, the study's one run on its images."""
    rows = [s.rows[run.name] for run in ROWS.values()]
    ours = lambda r: r["test_acc_std"] / math.sqrt(r["n"]) if r["n"] > 1 else r["test_acc_binomial_se"]
    se = lambda r: math.hypot(ours(r), binomial_se(r["study_test_acc"], DEFAULT_IMAGES))
    near = [r for r in rows if abs(r["test_gap"]) <= NOISE * se(r)]
    return f"{len(near)} of {len(rows)}"


@fact("task1.test_se")
def test_se(s):
    return points(np.mean([s.rows[run.name]["test_acc_binomial_se"] for run in ROWS.values()]))


# --- run 7's classes and filters (seed 0) ---------------------------------------------------------------
def confusion(s) -> np.ndarray:
    """Run 7's confusion matrix (seed 0), each row (true class) as shares of that class."""
    m = np.asarray(seed0(s, 7)["final"]["test_confusion"], dtype=float)
    return m / m.sum(axis=1, keepdims=True)


def classes(s, picked) -> str:
    share = np.diag(confusion(s))
    names = [CLASSES[k] for k in picked(np.argsort(-share))]
    span = sorted(share[CLASSES.index(n)] for n in names)
    return f"{', '.join(names[:-1])} and {names[-1]} ({pct(span[0], 0)}-{pct(span[-1], 0)}%)"


FACTS["task1.classes_best"] = lambda s: classes(s, lambda order: order[:4])
FACTS["task1.classes_worst"] = lambda s: classes(s, lambda order: order[-2:][::-1])


@fact("task1.confusions")
def confusions(s):
    """The four largest off-diagonal shares: true class taken for predicted class."""
    m = confusion(s) * (1 - np.eye(len(CLASSES)))
    top = np.dstack(np.unravel_index(np.argsort(-m, axis=None)[:4], m.shape))[0]
    return ", ".join(f"{CLASSES[t]} taken for {CLASSES[p]} ({pct(m[t, p], 0)}%)" for t, p in top)


@fact("task1.class_se")
def class_se(s):
    m = np.asarray(seed0(s, 7)["final"]["test_confusion"])
    return points(binomial_se(np.trace(m) / m.sum(), int(m.sum(axis=1).mean())))


for _when, _index in (("init", 0), ("end", -1)):
    FACTS[f"task1.ramps_{_when}"] = lambda s, i=_index: str(
        round(32 * seed0(s, 7)["history"][i]["conv1_gradient_filters"])
    )


# --- the curves ------------------------------------------------------------------------------------------
ADAM_OTHERS = [row for row in claims_task1.ADAM_ROWS if row != 3]


@fact("task1.sigmoid_train_at_read")
def sigmoid_train_at_read(s):
    return f"{pct(at(groups(s)[3], READ, 'train_accuracy'))}%"


@fact("task1.others_train_at_read")
def others_train_at_read(s):
    v = [at(groups(s)[row], READ, "train_accuracy") for row in ADAM_OTHERS]
    return f"{pct(min(v))}-{pct(max(v))}%"


@fact("task1.sigmoid_slowest_at")
def sigmoid_slowest_at(s):
    """At how many of the study's read-out points run 3's train accuracy is the lowest of the Adam runs."""
    g = groups(s)
    its = [it for it in curve(g[3], "train_accuracy")[0] if it and it % READ == 0]
    low = [
        it for it in its if all(at(g[3], it, "train_accuracy") < at(g[r], it, "train_accuracy") for r in ADAM_OTHERS)
    ]
    return f"{len(low)} of {len(its)}"


def chance_until(s) -> int:
    """The last evaluation at which run 3's mean test accuracy is within noise of chance (one class in ten)."""
    its, acc = curve(groups(s)[3], "test_accuracy")
    p = 1 / len(CLASSES)
    return int(its[np.argmax(acc > p + NOISE * binomial_se(p, DEFAULT_IMAGES)) - 1])


FACTS["task1.sigmoid_chance_until"] = lambda s: f"{chance_until(s):,}"
FACTS["task1.others_test_then"] = lambda s: (
    f"{pct(min(at(groups(s)[row], chance_until(s), 'test_accuracy') for row in ROWS if row != 3))}%"
)


@fact("task1.early_merged")
def early_merged(s):
    merged = sum(bool(r.get("dense_until")) for r in s.cifar)
    total = merged + sum(r["identity"].get("eval_every") == 1 for r in s.cifar)
    if not total:
        raise ValueError("no dense early reruns")
    return f"{merged} of {total}"


def half_drop(recs: list[dict], layer: str) -> int:
    """The iteration by which half of the std's fall from its start to its minimum is done (claim 8)."""
    its, std = curve(recs, f"{layer}_std")
    low = std[int(np.argmin(std))]
    return int(its[np.argmax(std <= std[0] - 0.5 * (std[0] - low))])


for _layer in ("conv1", "conv2"):
    FACTS[f"task1.half_drop.{_layer}"] = lambda s, layer=_layer: str(
        int(np.median([half_drop(recs, layer) for recs in groups(s).values() if recs[0].get("dense_until")]))
    )


def std_shape(s, row: int, layer: str) -> dict[str, str]:
    """A run's std curve: its peak before its minimum, its minimum, and its end over its start."""
    its, std = curve(groups(s)[row], f"{layer}_std")
    k = int(np.argmin(std))
    return {"peak": f"{its[int(np.argmax(std[: k + 1]))]:,}", "min": f"{its[k]:,}", "growth": f"{std[-1] / std[0]:.1f}"}


for _run, _row, _layer, _key in (
    ("tanh", 2, "conv2", "peak"),
    ("tanh", 2, "conv2", "min"),
    ("sigmoid", 3, "conv2", "peak"),
    ("sigmoid", 3, "conv2", "min"),
    ("sigmoid", 3, "conv1", "growth"),
):
    FACTS[f"task1.{_run}_{_layer}_{_key}"] = lambda s, r=_row, la=_layer, k=_key: std_shape(s, r, la)[k]


@fact("task1.conv2_rises_first")
def conv2_rises_first(s):
    """The runs whose conv2 std first rises more than 5% above its start before it falls to its minimum."""
    rises = lambda std: std[: int(np.argmin(std)) + 1].max() > 1.05 * std[0]
    return row_label(row for row, recs in groups(s).items() if rises(curve(recs, "conv2_std")[1]))


def ramp_ends(s) -> dict[int, float]:
    return {row: final(recs, "conv1_gradient_filters")[0] for row, recs in groups(s).items()}


@fact("task1.ramp_grows")
def ramp_grows(s):
    g = groups(s)
    grows = [row for row, end in ramp_ends(s).items() if end > at(g[row], 0, "conv1_gradient_filters")]
    return f"{len(grows)} of {len(g)}"


@fact("task1.ramp_top")
def ramp_top(s):
    end = ramp_ends(s)
    top = sorted(end, key=end.get, reverse=True)[:2]
    return " and ".join(f"run {row} ({pct(end[row])}%)" for row in top)


@fact("task1.ramp_most")
def ramp_most(s):
    return f"{pct(max(ramp_ends(s).values()))}%"


@fact("task1.ramp_rule")
def ramp_rule(s):
    return f"{100 * claims_task1.RAMP_SHARE:g}%"


@fact("task1.relu_min")
def relu_min(s):
    g = groups(s)
    mins = [h[k] for row in g if ROWS[row].activation == "relu" for r in g[row] for h in r["history"]
            for k in ("conv1_min", "conv2_min") if k in h]  # fmt: skip
    return f"{min(mins):g} to {max(mins):g}"


# --- each claim's verdict (docs/claims.md) -------------------------------------------------------------
for _k in range(1, len(claims.CLAIMS) + 1):
    FACTS[f"claims.verdict.{_k}"] = lambda s, k=_k: s.claims[k - 1].verdict
