"""The study's claims, one by one, checked against our saved results: ``figures/claims.md``.

Built from the results indexes of the two training scripts (``<figures>/cifar/results.jsonl`` and
``<figures>/rnn/results.jsonl``) by whichever script summarizes last, so rerunning either rebuilds
the table. Every claim gets a row: the evidence (our numbers with their spread over seeds) and a
verdict: holds, partly, does not hold, or cannot be tested (the evidence is missing, and the row
says which results would provide it). The rule behind each verdict is stated in the row.

"Within noise": a difference smaller than twice its standard error, the error of a mean over seeds
taken from the seeds' spread (with one seed, from the test set's binomial error).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common import io, runs, study

HOLDS, PARTLY, FAILS, UNTESTED = "holds", "partly", "does not hold", "cannot be tested"
N_TEST = 1000  # the study's test set
RNN_SIZES = (20, 15, 10, 5)


@dataclass
class Claim:
    topic: str
    claim: str
    evidence: str
    verdict: str


# ---------------------------------------------------------------------------
# Choosing the results: for each configuration the group with the most seeds.
def cifar_groups(records: list[dict]) -> dict[int, list[dict]]:
    """Study row -> the records (seeds) of that run with today's constants, on the study's data."""
    out = {}
    for run in study.STUDY_RUNS:
        cands = [
            r
            for r in records
            if r["name"] == run.name
            and r["identity"]["config"] == run.identity()
            and r["identity"]["data"]["name"] == study.STUDY_DATASET
        ]
        if cands:
            out[run.study_row] = _largest_group(cands)
    return out


def rnn_groups(records: list[dict]) -> dict[tuple[str, int | None], list[dict]]:
    """(cell, units) -> the records of the configuration with the most seeds, on MNIST."""
    by_key: dict = {}
    for r in records:
        c = r["identity"]["config"]
        if r["identity"]["data"]["name"] == "MNIST":
            by_key.setdefault((c["cell"], c["hidden_units"]), []).append(r)
    return {k: _largest_group(v) for k, v in by_key.items()}


def _largest_group(records: list[dict]) -> list[dict]:
    groups = runs.groups(records)
    return max(groups.values(), key=lambda g: (sum(r["status"] == "finished" for r in g), len(g)))


# ---------------------------------------------------------------------------
# Numbers
def final(recs: list[dict], key: str = "test_accuracy") -> tuple[float, float, int]:
    return runs.mean_std([r["final"].get(key) for r in recs if r["status"] == "finished"])


def at(recs: list[dict], iteration: int, key: str) -> float:
    """The mean over seeds of ``key`` at ``iteration`` (NaN where not recorded)."""
    vals = [next((h.get(key) for h in r["history"] if h["iteration"] == iteration), None) for r in recs]
    vals = [v for v in vals if v is not None]
    return float(np.mean(vals)) if vals else float("nan")


def curve(recs: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(iterations, mean over seeds) of ``key`` where every seed recorded it."""
    its = sorted(set.intersection(*[{h["iteration"] for h in r["history"] if key in h} for r in recs]))
    return np.array(its), np.array([at(recs, it, key) for it in its])


def se_of_mean(recs: list[dict], key: str = "test_accuracy") -> float:
    mean, std, n = final(recs, key)
    if n >= 2 and math.isfinite(std):
        return std / math.sqrt(n)
    return runs.binomial_se(mean, N_TEST)


def pct(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.1f}"


def show(recs: list[dict], key: str = "test_accuracy") -> str:
    mean, std, n = final(recs, key)
    return f"{runs.fmt_pct(mean, std)}% (n={n})"


def compare(a: list[dict], b: list[dict]) -> tuple[float, float, bool]:
    """(mean a - mean b, its standard error, whether the difference is beyond noise)."""
    diff = final(a)[0] - final(b)[0]
    se = math.hypot(se_of_mean(a), se_of_mean(b))
    return diff, se, abs(diff) > 2 * se


def _missing(topic, claim, what) -> Claim:
    return Claim(topic, claim, f"no results of {what} in the results index; run it to test this claim", UNTESTED)


# ---------------------------------------------------------------------------
# Task 1
def task1_claims(g: dict[int, list[dict]]) -> list[Claim]:
    topic = "Task 1"
    out = []
    name = {r.study_row: r.name for r in study.STUDY_RUNS}
    adam_rows = [r.study_row for r in study.STUDY_RUNS if r.optimizer == "adam" and r.study_row != 8]
    missing = [row for row in range(1, 12) if row not in g]
    label = lambda row: f"run {row}"

    c = "Test accuracy never went beyond ~55-58% (the ceiling of the hand tuning)"
    if missing:
        out.append(_missing(topic, c, f"runs {missing} (python cifar_v2.py)"))
    else:
        best = max(g, key=lambda row: final(g[row])[0])
        m = final(g[best])[0]
        verdict = HOLDS if 0.52 <= m <= 0.60 else PARTLY if 0.48 <= m <= 0.63 else FAILS
        out.append(
            Claim(
                topic,
                c,
                f"best run: {label(best)} `{name[best]}`, test {show(g[best])}; rule: holds if the "
                "best mean test accuracy is 52-60%, partly 48-63%",
                verdict,
            )
        )

    c = "The network overfits the 10,000 training images (train accuracy far above test)"
    rows = [row for row in (1, 2, 4, 5) if row in g]
    if not rows:
        out.append(_missing(topic, c, "runs 1, 2, 4, 5"))
    else:
        gaps = [final(g[row], "train_accuracy")[0] - final(g[row])[0] for row in rows]
        m = float(np.mean(gaps))
        verdict = HOLDS if m >= 0.30 else PARTLY if m >= 0.15 else FAILS
        out.append(
            Claim(
                topic,
                c,
                "train - test accuracy of the unregularized Adam runs "
                + ", ".join(f"{label(r)} {pct(x)}" for r, x in zip(rows, gaps))
                + f" points (mean {pct(m)}); rule: holds if the mean gap is >= 30 points, partly >= 15",
                verdict,
            )
        )

    c = "Sigmoid is the slowest learner of the Adam runs"
    if 3 not in g or len([r for r in adam_rows if r in g]) < 3:
        out.append(_missing(topic, c, "run 3 and the other Adam runs"))
    else:
        others = [r for r in adam_rows if r in g and r != 3]
        points = [it for it in curve(g[3], "train_accuracy")[0] if it and it % 1100 == 0]
        slowest = [
            it for it in points if all(at(g[3], it, "train_accuracy") < at(g[r], it, "train_accuracy") for r in others)
        ]
        verdict = HOLDS if points and len(slowest) == len(points) else PARTLY if slowest else FAILS
        out.append(
            Claim(
                topic,
                c,
                f"run 3's train accuracy is the lowest of the Adam runs (rows "
                f"{', '.join(map(str, others))} and 3) at {len(slowest)} of {len(points)} read-out points "
                f"(every 1,100 iterations); at 1,100: sigmoid {pct(at(g[3], 1100, 'train_accuracy'))}, the "
                f"others {pct(min(at(g[r], 1100, 'train_accuracy') for r in others))}-"
                f"{pct(max(at(g[r], 1100, 'train_accuracy') for r in others))}; "
                f"final train {show(g[3], 'train_accuracy')}",
                verdict,
            )
        )

    c = "Regularization (dropout + L2) gives the best test accuracy (run 7: 58.5%)"
    if missing:
        out.append(_missing(topic, c, f"runs {missing}"))
    else:
        reg_best = max((7, 8), key=lambda row: final(g[row])[0])
        unreg = [row for row in range(1, 12) if row not in (7, 8, 9, 10, 11)]
        rival = max(unreg, key=lambda row: final(g[row])[0])
        diff, se, real = compare(g[reg_best], g[rival])
        best_all = max(g, key=lambda row: final(g[row])[0])
        verdict = (
            HOLDS
            if best_all in (7, 8) and real and diff > 0
            else PARTLY
            if best_all in (7, 8) or (diff > -2 * se)
            else FAILS
        )
        out.append(
            Claim(
                topic,
                c,
                f"best regularized: {label(reg_best)} {show(g[reg_best])}; best unregularized: "
                f"{label(rival)} {show(g[rival])}; difference {pct(diff)} ± {pct(se)} points; rule: holds if a "
                "regularized run is the best and beats the best unregularized one beyond noise, partly if it "
                "is the best or level within noise",
                verdict,
            )
        )

    c = "More iterations (run 8) are not better than run 7"
    if 7 not in g or 8 not in g:
        out.append(_missing(topic, c, "runs 7 and 8"))
    else:
        diff, se, real = compare(g[8], g[7])
        verdict = FAILS if real and diff > 0 else HOLDS
        out.append(
            Claim(
                topic,
                c,
                f"run 8 ({g[8][0]['identity']['config']['iterations']} it) {show(g[8])} vs run 7 "
                f"({g[7][0]['identity']['config']['iterations']} it) {show(g[7])}: {pct(diff)} ± {pct(se)} "
                "points; rule: holds unless run 8 is better beyond noise",
                verdict,
            )
        )

    c = "Momentum 0.8 (lr 1e-2) > 0.7 (lr 1e-2) > 0.9 (lr 1e-3), with dropout + L2 (runs 9, 10, 11)"
    if not all(r in g for r in (9, 10, 11)):
        out.append(_missing(topic, c, "runs 9, 10, 11"))
    else:
        a, b = compare(g[9], g[10]), compare(g[10], g[11])
        order = a[0] > 0 and b[0] > 0
        verdict = HOLDS if order and a[2] and b[2] else PARTLY if order or (a[0] > 0) != (b[0] > 0) else FAILS
        out.append(
            Claim(
                topic,
                c,
                f"test: run 9 {show(g[9])}, run 10 {show(g[10])}, run 11 {show(g[11])}; 9-10 "
                f"{pct(a[0])} ± {pct(a[1])}, 10-11 {pct(b[0])} ± {pct(b[1])} points; rule: holds if both steps "
                "of the order hold beyond noise, partly if the order holds or one step does",
                verdict,
            )
        )

    c = "Many first-layer filters detect gradients"
    have = [row for row in g if "conv1_gradient_filters" in g[row][0]["history"][-1]]
    if not have:
        out.append(_missing(topic, c, "runs that record conv1_gradient_filters (retrain with this version)"))
    else:
        start = np.mean([at(g[r], 0, "conv1_gradient_filters") for r in have])
        end = {r: final(g[r], "conv1_gradient_filters")[0] for r in have}
        best = max(end, key=end.get)
        mean_end = float(np.mean(list(end.values())))
        verdict = (
            HOLDS
            if max(end.values()) >= 0.25 and max(end.values()) >= 2 * max(start, 0.01)
            else (PARTLY if mean_end > start else FAILS)
        )
        out.append(
            Claim(
                topic,
                c,
                f"share of the 32 conv1 filters a plane (an intensity ramp) fits with R^2 >= 0.5: "
                f"{pct(start)}% at initialization, {pct(mean_end)}% at the end on average over {len(have)} runs, "
                f"most in {label(best)} `{name[best]}` ({pct(end[best])}%); see "
                f"`figures/cifar/{name[best]}/filters.png`; rule: holds if some run ends with >= 25% and at least "
                "twice its start, partly if the share grows",
                verdict,
            )
        )

    c = "The standard deviation of both conv layers' activations drops early, then slowly rises"
    have = [row for row in g if "conv2_std" in g[row][0]["history"][-1]]
    if not have:
        out.append(_missing(topic, c, "runs with activation statistics"))
    else:
        both = []
        for row in have:
            ok = True
            for layer in ("conv1", "conv2"):
                its, std = curve(g[row], f"{layer}_std")
                k = int(np.argmin(std))
                ok &= k > 0 and its[k] <= 0.5 * its[-1] and std[-1] >= 1.05 * std[k]
            if ok:
                both.append(row)
        verdict = HOLDS if len(both) >= 0.7 * len(have) else PARTLY if both else FAILS
        out.append(
            Claim(
                topic,
                c,
                f"in {len(both)} of {len(have)} runs ({', '.join(map(str, sorted(both))) or 'none'}) "
                "both layers' std reach their minimum in the first half of the run and end >= 5% above it "
                "(seed-mean curves, `activation_stats.png`); rule: holds in >= 70% of the runs, partly in some",
                verdict,
            )
        )

    c = "Most change happens in the first ~1,100 iterations"
    if not g:
        out.append(_missing(topic, c, "any run"))
    else:
        early = []
        for row, recs in g.items():
            a0, a1, a_end = at(recs, 0, "test_accuracy"), at(recs, 1100, "test_accuracy"), final(recs)[0]
            if math.isfinite(a1) and a_end != a0 and (a1 - a0) / (a_end - a0) >= 0.5:
                early.append(row)
        verdict = HOLDS if len(early) >= 0.7 * len(g) else PARTLY if early else FAILS
        out.append(
            Claim(
                topic,
                c,
                f"in {len(early)} of {len(g)} runs at least half of the whole change of test accuracy "
                f"happened by iteration 1,100 (runs {', '.join(map(str, sorted(early))) or 'none'}); rule: holds "
                "in >= 70% of the runs",
                verdict,
            )
        )

    c = "ReLU activations have a minimum of 0"
    relu = [row for row in g if study.RUNS[name[row]].activation == "relu"]
    if not relu:
        out.append(_missing(topic, c, "ReLU runs"))
    else:
        mins = [
            h[f"{layer}_min"]
            for row in relu
            for r in g[row]
            for h in r["history"]
            for layer in ("conv1", "conv2")
            if f"{layer}_min" in h
        ]
        others = [
            h["conv1_min"] for row in g if row not in relu for r in g[row] for h in r["history"][1:] if "conv1_min" in h
        ]
        verdict = HOLDS if mins and min(mins) == 0 and max(mins) == 0 else FAILS
        out.append(
            Claim(
                topic,
                c,
                f"conv1/conv2 minimum over all test images, at all {len(mins)} evaluations of the "
                f"{len(relu)} ReLU runs: {min(mins):g} to {max(mins):g}; the tanh and leaky-ReLU runs go "
                f"negative (down to {min(others, default=float('nan')):.2f})",
                verdict,
            )
        )
    return out


# ---------------------------------------------------------------------------
# Task 3
def task3_claims(g: dict[tuple, list[dict]]) -> list[Claim]:
    topic = "Task 3"
    out = []
    acc = lambda cell, h: final(g[(cell, h)])[0]
    have = lambda cell: all((cell, h) in g for h in RNN_SIZES)

    c = "Fewer hidden units, lower accuracy, for every cell"
    cells = [cell for cell in ("rnn", "lstm", "gru") if have(cell)]
    if len(cells) < 3:
        out.append(_missing(topic, c, "the whole grid (python rnn_mnist.py)"))
    else:
        mono = {cell: all(acc(cell, a) >= acc(cell, b) for a, b in zip(RNN_SIZES, RNN_SIZES[1:])) for cell in cells}
        near = {
            cell: all(
                acc(cell, a) >= acc(cell, b) - 2 * math.hypot(se_of_mean(g[(cell, a)]), se_of_mean(g[(cell, b)]))
                for a, b in zip(RNN_SIZES, RNN_SIZES[1:])
            )
            for cell in cells
        }
        verdict = HOLDS if all(mono.values()) else PARTLY if all(near.values()) else FAILS
        out.append(
            Claim(
                topic,
                c,
                "; ".join(f"{cell}: " + " / ".join(pct(acc(cell, h)) for h in RNN_SIZES) for cell in cells)
                + " % test at 20/15/10/5 units; rule: holds if every cell falls at every step, partly if every "
                "rise is within noise",
                verdict,
            )
        )

    c = "LSTM: 10, 15 and 20 units about equal (~90-95%), about 20 points lower at 5"
    if not have("lstm"):
        out.append(_missing(topic, c, "LSTM 20/15/10/5"))
    else:
        top = [acc("lstm", h) for h in (20, 15, 10)]
        drop = float(np.mean(top)) - acc("lstm", 5)
        verdict = HOLDS if max(top) - min(top) <= 0.05 and drop >= 0.12 else PARTLY if drop >= 0.08 else FAILS
        out.append(
            Claim(
                topic,
                c,
                f"LSTM 20/15/10: {' / '.join(show(g[('lstm', h)]) for h in (20, 15, 10))}; "
                f"5 units: {show(g[('lstm', 5)])}, {pct(drop)} points below their mean; rule: holds if 10-20 lie "
                "within 5 points and 5 units falls >= 12 points, partly if it falls >= 8",
                verdict,
            )
        )

    c = "GRU equals LSTM at 15 and 20 units, and is below it at 10 and 5"
    if not (have("lstm") and have("gru")):
        out.append(_missing(topic, c, "LSTM and GRU at 20/15/10/5"))
    else:
        d = {h: compare(g[("gru", h)], g[("lstm", h)]) for h in RNN_SIZES}
        equal = all(not d[h][2] for h in (20, 15))
        below = [h for h in (10, 5) if d[h][0] < 0]
        verdict = (
            HOLDS
            if equal and len(below) == 2 and all(d[h][2] for h in below)
            else (PARTLY if equal or below else FAILS)
        )
        out.append(
            Claim(
                topic,
                c,
                "GRU - LSTM test accuracy: "
                + ", ".join(f"{h} units {pct(d[h][0])} ± {pct(d[h][1])}" for h in RNN_SIZES)
                + " points; rule: holds if equal within "
                "noise at 15/20 and below beyond noise at 10 and 5, partly if one half holds",
                verdict,
            )
        )

    c = "The basic RNN is below LSTM and GRU (and falls as units fall)"
    if not all(have(cell) for cell in ("rnn", "lstm", "gru")):
        out.append(_missing(topic, c, "the whole grid"))
    else:
        below = [h for h in RNN_SIZES if acc("rnn", h) < min(acc("lstm", h), acc("gru", h))]
        verdict = HOLDS if len(below) == 4 else PARTLY if below else FAILS
        out.append(
            Claim(
                topic,
                c,
                "basic RNN / LSTM / GRU test: "
                + ", ".join(
                    f"{h}: {pct(acc('rnn', h))} / {pct(acc('lstm', h))} / {pct(acc('gru', h))}" for h in RNN_SIZES
                )
                + f"; below both at {len(below)} of 4 sizes",
                verdict,
            )
        )

    c = "Train and test accuracy are about equal for LSTM and GRU"
    keys = [(cell, h) for cell in ("lstm", "gru") for h in RNN_SIZES if (cell, h) in g]
    if not keys:
        out.append(_missing(topic, c, "LSTM/GRU runs"))
    else:
        gaps = {k: final(g[k], "train_accuracy")[0] - final(g[k])[0] for k in keys}
        close = [k for k, v in gaps.items() if abs(v) <= 0.05]
        verdict = HOLDS if len(close) == len(keys) else PARTLY if len(close) >= len(keys) / 2 else FAILS
        out.append(
            Claim(
                topic,
                c,
                "train - test: "
                + ", ".join(f"{c_} {h} {pct(v)}" for (c_, h), v in gaps.items())
                + f" points; within 5 points: {len(close)} of {len(keys)}",
                verdict,
            )
        )

    c = "The CNN reaches ~100% training accuracy in fewer iterations than every RNN"
    cnn = g.get(("cnn", None))
    rnns = {k: v for k, v in g.items() if k[0] in ("rnn", "lstm", "gru")}
    if not cnn or not rnns:
        out.append(_missing(topic, c, "the CNN and the RNN grid"))
    else:

        def reach(recs, level=0.98):
            its, train = curve(recs, "train_accuracy")
            hit = [it for it, v in zip(its, train) if it and v >= level]
            return hit[0] if hit else None

        r_cnn = reach(cnn)
        r_rnn = {k: reach(v) for k, v in rnns.items()}
        reached = {k: v for k, v in r_rnn.items() if v is not None}
        first = r_cnn is not None and all(r_cnn < v for v in reached.values())
        verdict = HOLDS if first else PARTLY if r_cnn is not None else FAILS
        out.append(
            Claim(
                topic,
                c,
                f"first iteration with a mean train accuracy >= 98%: CNN {r_cnn}; the RNNs that got "
                f"there: "
                + (", ".join(f"{k[0]} {k[1]}: {v}" for k, v in reached.items()) or "none")
                + f" ({len(r_rnn) - len(reached)} of {len(r_rnn)} never did)",
                verdict,
            )
        )

    c = "LSTM and GRU come close to the CNN; the basic RNN does not"
    if not cnn or not all(have(cell) for cell in ("rnn", "lstm", "gru")):
        out.append(_missing(topic, c, "the CNN and the whole grid"))
    else:
        best = {cell: max(acc(cell, h) for h in RNN_SIZES) for cell in ("rnn", "lstm", "gru")}
        c_acc = final(cnn)[0]
        close = all(c_acc - best[cell] <= 0.05 for cell in ("lstm", "gru"))
        far = c_acc - best["rnn"] >= 0.10
        verdict = HOLDS if close and far else PARTLY if close or far else FAILS
        out.append(
            Claim(
                topic,
                c,
                f"test: CNN {show(cnn)}; best LSTM {pct(best['lstm'])}, GRU {pct(best['gru'])}, "
                f"basic RNN {pct(best['rnn'])}; rule: holds if LSTM and GRU are within 5 points of the CNN and the "
                "basic RNN is >= 10 below",
                verdict,
            )
        )
    return out


# ---------------------------------------------------------------------------
def build(cifar_records: list[dict], rnn_records: list[dict]) -> list[Claim]:
    return task1_claims(cifar_groups(cifar_records)) + task3_claims(rnn_groups(rnn_records))


def markdown(claims: list[Claim]) -> str:
    counts = {v: sum(c.verdict == v for c in claims) for v in (HOLDS, PARTLY, FAILS, UNTESTED)}
    lines = [
        "# The study's claims, checked",
        "",
        "Generated by `common/claims.py` from `figures/cifar/results.jsonl` and `figures/rnn/results.jsonl` "
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
    io.write_text(path, markdown(build(read("cifar"), read("rnn"))))
    return path
