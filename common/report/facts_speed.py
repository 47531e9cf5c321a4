"""The numbers ``docs/speed.md`` cites, from the run records' own times (``common/report/facts.py``).

A run record holds its training time (``model.fit``, evaluation excluded), its wall time (everything) and its
training images/s, with the CPU that made it (``versions.cpu``; older records lack it: "not recorded"). Times
compare only on one CPU, so every figure here is by CPU. What only a benchmark measures (the ratio to PyTorch,
the roofline) is in no run record: ``benchmarks/train_throughput.py --save figures/speed/<name>.json`` writes
one, and until such a record is committed the page cites nothing of it.

The project's speed goal is stated here, once, and the page cites it from here.
"""

from __future__ import annotations

import statistics

from common import study
from common.cli import format_duration
from common.report import reproduction
from common.report.facts import FACTS, fact
from common.report.speed import FAST_KEYS
from common.report.stats import final, mean_std
from common.runs import group_id, groups

# --- the goal, on a 2-core CPU ---------------------------------------------------------------------------
GOAL_MINUTES = 40  # `make reproduce`: all four scripts, one seed
GOAL_VS_TORCH = 1.2  # a run's training against PyTorch eager on the same network, batches and optimizer
GOAL_OVERHEAD = 0.10  # a run's evaluation, statistics, checkpoints and set-up over its training time

NOT_RECORDED = "not recorded"
FLOAT32 = "float32"


@fact("speed.goal.minutes")
def goal_minutes(s):
    return f"{GOAL_MINUTES:g}"


@fact("speed.goal.vs_torch")
def goal_vs_torch(s):
    return f"{GOAL_VS_TORCH:g}x"


@fact("speed.goal.overhead")
def goal_overhead(s):
    return f"{100 * GOAL_OVERHEAD:g}%"


# --- the records -----------------------------------------------------------------------------------------
def cpu(r: dict) -> str:
    return r.get("versions", {}).get("cpu") or NOT_RECORDED


def setting(r: dict) -> str:
    """ "float32", "bfloat16" or "bfloat16 + fused Adam", as ``fast_settings.md`` names them."""
    return " + ".join(label for k, label in FAST_KEYS.items() if k in r["identity"]) or FLOAT32


def sweep(s) -> list[dict]:
    """The study's 11 runs as the study defines them, in float32 and under the speed settings."""
    out = []
    for r in s.cifar:
        run = study.RUNS.get(r["name"])
        if run is not None and run.group == "study" and reproduction.kind(r) in ("study", "fast"):
            out += [r] if r["identity"]["config"] == run.identity() else []
    return out


def as_fast(r: dict) -> bool:
    """Whether ``make reproduce FAST=1`` makes this record: bfloat16, with the fused Adam kernel where the run uses
    Adam (the identity records the kernel only there)."""
    ident = r["identity"]
    return "precision" in ident and ("fused_adam" in ident or ident["config"].get("optimizer") != "adam")


def overhead(r: dict) -> float:
    return r["wall_time_s"] / r["train_time_s"] - 1


def span(values, fmt: str = "{:,.0f}", unit: str = "") -> str:
    lo, hi = min(values), max(values)
    one = fmt.format(lo)
    return one + unit if one == fmt.format(hi) else f"{one}-{fmt.format(hi)}{unit}"


@fact("speed.by_cpu")
def by_cpu(s):
    """A table: per setting and CPU, the sweep's runs, their training images/s and their overhead."""
    rows: dict[tuple[str, str], list[dict]] = {}
    order = [FLOAT32, FAST_KEYS["precision"], " + ".join(FAST_KEYS.values())]
    for r in sorted(sweep(s), key=lambda r: (order.index(setting(r)), cpu(r) == NOT_RECORDED, cpu(r))):
        rows.setdefault((setting(r), cpu(r)), []).append(r)
    lines = [
        "| setting | CPU | runs | seeds | training images/s per run (median) | overhead per run |",
        "|---|---|---|---|---|---|",
    ]
    for (name, machine), recs in rows.items():
        ips = [r["images_per_sec"] for r in recs]
        seeds = ",".join(str(k) for k in sorted({r["seed"] for r in recs}))
        median = f" ({statistics.median(ips):,.0f})" if len(ips) > 1 else ""
        lines.append(
            f"| {name} | {machine} | {len(recs)} | {seeds} | {span(ips)}{median} "
            f"| {span([100 * overhead(r) for r in recs], '{:.1f}', '%')} |"
        )
    return "\n" + "\n".join(lines) + "\n\n"


@fact("speed.wander")
def wander(s):
    """How far one run's float32 seeds (the same work) lie apart in training speed on one CPU: fastest over slowest,
    the largest over the runs and their median."""
    by_run: dict[tuple[str, str], list[float]] = {}
    for r in sweep(s):
        if setting(r) == FLOAT32:
            by_run.setdefault((r["name"], cpu(r)), []).append(r["images_per_sec"])
    ratios = [max(v) / min(v) for v in by_run.values() if len(v) >= 2]
    return f"up to {max(ratios):.2f}x (median {statistics.median(ratios):.2f}x over {len(ratios)} runs)"


@fact("speed.overhead")
def overhead_span(s):
    return span([100 * overhead(r) for r in sweep(s)], "{:.1f}", "%")


@fact("speed.overhead.verdict")
def overhead_verdict(s):
    recs = sweep(s)
    within = sum(overhead(r) <= GOAL_OVERHEAD for r in recs)
    return (
        f"all {len(recs)} runs within the goal" if within == len(recs) else f"{within} of {len(recs)} within the goal"
    )


@fact("speed.onednn")
def onednn(s):
    """How many of the committed records were made with oneDNN on (a run with it off records "onednn": false)."""
    recs = [*s.cifar, *s.rnn]
    return f"{sum(r['identity'].get('onednn', True) is not False for r in recs)} of {len(recs)}"


# --- the whole reproduction: the runs' wall times, per seed ----------------------------------------------
def per_seed(recs: list[dict], names: set[str]) -> dict[int, float]:
    """Per seed whose records hold every run of ``names`` once, all on one CPU: their wall times summed."""
    by_seed: dict[int, list[dict]] = {}
    for r in recs:
        by_seed.setdefault(r["seed"], []).append(r)
    return {
        k: sum(r["wall_time_s"] for r in v)
        for k, v in sorted(by_seed.items())
        if sorted(r["name"] for r in v) == sorted(names) and len({cpu(r) for r in v}) == 1
    }


def reproduce(s, fast: bool) -> dict[str, dict[int, float]]:
    """The sweep's and the RNN grid's summed wall times per seed, under ``make reproduce`` or with ``FAST=1``, and
    their total over the seeds that have both."""
    pick = as_fast if fast else (lambda r: setting(r) == FLOAT32)
    names = {r.name for r in study.RUNS.values() if r.group == "study"}
    cifar = per_seed([r for r in sweep(s) if pick(r)], names)
    rnn_recs = [r for r in s.rnn if pick(r)]
    rnn = per_seed(rnn_recs, {r["name"] for r in s.rnn})
    return {"sweep": cifar, "rnn": rnn, "total": {k: cifar[k] + rnn[k] for k in cifar if k in rnn}}


def seconds(times: dict[int, float]) -> str:
    if not times:
        raise ValueError("no complete seed")
    seeds = ",".join(str(k) for k in times)
    what = f"seed {seeds}" if len(times) == 1 else f"seeds {seeds}"
    lo, hi = format_duration(min(times.values())), format_duration(max(times.values()))
    return f"{lo} ({what})" if lo == hi else f"{lo}-{hi} ({what})"


def verdict(times: dict[int, float]) -> str:
    goal = 60 * GOAL_MINUTES
    if not times:
        raise ValueError("no complete seed")
    if min(times.values()) > goal:
        return "over the goal already: not met"
    if max(times.values()) <= goal:
        spare = format_duration(goal - max(times.values()))
        return (
            f"under the goal by {spare}, left for the untimed rest: whether the whole meets it, the records do not show"
        )
    return "over the goal for some seeds and under it for others: not met for every seed"


for _fast, _mode in ((False, "float32"), (True, "fast")):
    for _part in ("sweep", "rnn", "total"):
        FACTS[f"speed.reproduce.{_mode}.{_part}"] = lambda s, f=_fast, p=_part: seconds(reproduce(s, f)[p])
    FACTS[f"speed.reproduce.{_mode}.verdict"] = lambda s, f=_fast: verdict(reproduce(s, f)["total"])


# --- the speed settings against float32: the pairs fast_settings.md tables --------------------------------
def pairs(recs: list[dict]) -> list[tuple[str, list[dict], list[dict]]]:
    """(run name, its float32 seeds, its seeds under a speed setting) for every such pair (as ``fast_settings.md``
    pairs them: the same identity but for the setting's keys)."""
    by_group = groups(recs)
    out = []
    for (name, _), fast in by_group.items():
        ident = fast[0]["identity"]
        if any(k in ident for k in FAST_KEYS):
            base = group_id({k: v for k, v in ident.items() if k not in FAST_KEYS})
            if (name, base) in by_group:
                out.append((name, by_group[(name, base)], fast))
    return out


def delta_max(recs: list[dict]) -> str:
    """The largest |test accuracy under a setting - float32| over the runs, in points."""
    found = pairs(recs)
    return f"{max(abs(final(fast)[0] - final(f32)[0]) for _, f32, fast in found) * 100:.1f}"


def f32_std(recs: list[dict]) -> str:
    """The float32 seeds' own spread (std) of the paired runs, in points."""
    stds = {id(f32): 100 * final(f32)[1] for _, f32, _ in pairs(recs) if len(f32) > 1}
    return span(stds.values(), "{:.1f}")


def speedups(recs: list[dict], keep) -> list[float]:
    """Training time in float32 over the setting's (float32 seeds on the setting's CPUs), per pair ``keep`` takes."""
    out = []
    for name, f32, fast in pairs(recs):
        if keep(name):
            cpus = {cpu(r) for r in fast}
            slow = mean_std([r["train_time_s"] for r in f32 if cpu(r) in cpus])[0]
            out.append(slow / mean_std([r["train_time_s"] for r in fast])[0])
    return out


FACTS["speed.fast.cifar.delta_max"] = lambda s: delta_max(sweep(s))
FACTS["speed.fast.cifar.f32_std"] = lambda s: f32_std(sweep(s))
FACTS["speed.fast.rnn.delta_max"] = lambda s: delta_max(s.rnn)
FACTS["speed.fast.rnn.f32_std"] = lambda s: f32_std(s.rnn)
FACTS["speed.fast.rnn.speedup"] = lambda s: span(speedups(s.rnn, lambda n: n != "cnn"), "{:.2f}", "x")
FACTS["speed.fast.rnn.cnn_speedup"] = lambda s: span(speedups(s.rnn, lambda n: n == "cnn"), "{:.2f}", "x")
