"""The report's numbers, written once: means and spreads over seeds, standard errors and noise verdicts, curves,
which records are a run's, and how each is written (percent, gaps, "mean ± std", Markdown, CSV, a CPU's name)."""

from __future__ import annotations

import csv
import io as stringio
import math
import re

import numpy as np

from common import io, runs, study
from common.cli import format_duration, pct  # noqa: F401  (the tables' durations and percents, written once)

NOISE = 2.0  # standard errors a difference must exceed to count as real (about a 95% interval)
ROWS = {r.study_row: r for r in study.RUNS.values() if r.study_row}  # the study's table, row by row
DEFAULT_IMAGES = 1000  # the study's own test set, 100 images per class: the error of the study's numbers
PM_KEY = (
    '"±": beside an accuracy, the sample standard deviation over the seeds; beside a difference, its standard '
    f'error; "beyond noise": a difference of more than {NOISE:g} standard errors.'
)
MISSING = "not in the records"  # a cell the records cannot give: tests/test_readme.py fails on it in figures/
DEFAULT_SETTINGS = ("precision", "fused_adam", "onednn")  # identity keys present only off the defaults


def finite(x) -> bool:
    return isinstance(x, (int, float, np.floating)) and math.isfinite(x)


def mean_std(values) -> tuple[float, float, int]:
    """Mean, sample standard deviation (ddof 1; NaN for one value) and count of the finite values."""
    v, nan = np.asarray([x for x in values if finite(x)], dtype=float), float("nan")
    return float(v.mean()) if len(v) else nan, float(v.std(ddof=1)) if len(v) > 1 else nan, len(v)


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n) if n and finite(p) else float("nan")


def finished(records: list[dict]) -> list[dict]:
    return [r for r in records if r["status"] == "finished"]


def final(records: list[dict], key: str = "test_accuracy") -> tuple[float, float, int]:
    """Mean, std and count over the finished seeds of a run's final ``key``."""
    return mean_std([r["final"].get(key) for r in finished(records)])


def images_evaluated(record: dict, split: str = "test", among: list[dict] = ()) -> int | None:
    """The images a record's final accuracy was measured on: its confusion matrix's total, or that of a record of
    ``among`` on the same images (an older record kept none); None where none says."""
    key = f"{split}_confusion"
    images = lambda r: (r["identity"]["data"], r["identity"].get("split") if split == "val" else None)  # noqa: E731
    for r in [record, *among]:
        if r["final"].get(key) is not None and (r is record or images(r) == images(record)):
            return int(np.sum(r["final"][key]))
    return None


def se_of_mean(records: list[dict], key: str = "test_accuracy", among: list[dict] = ()) -> float:
    """A run's mean final ``key``'s standard error: std / sqrt(n) over its seeds; one seed: sqrt(p (1 - p) / images)."""
    mean, std, n = final(records, key)
    if n >= 2 and finite(std):
        return std / math.sqrt(n)
    split = key.removesuffix("_accuracy")
    return binomial_se(mean, images_evaluated(records[0], split, among)) if records else float("nan")


def compare(a: list[dict], b: list[dict], key: str = "test_accuracy", among: list[dict] = ()) -> tuple:
    """(mean a - mean b, its standard error, whether the difference is beyond noise): two independent means."""
    diff = final(a, key)[0] - final(b, key)[0]
    se = math.hypot(se_of_mean(a, key, among), se_of_mean(b, key, among))
    return diff, se, abs(diff) > NOISE * se


def difference(diff: float, se: float) -> str:
    """ "+1.5 ± 1.1 points, within noise": a difference of fractions, its standard error, the verdict."""
    return f"{gap(diff)} ± {pct(se)} points, {'beyond' if abs(diff) > NOISE * se else 'within'} noise"


def paired_compare(a: list[dict], b: list[dict], split: str = "val") -> tuple[float, float, int]:
    """(mean a - mean b, its standard error, pairs) for two runs with the same seeds on the same images: the spread of
    the per-seed differences; with one seed, of the per-image differences (``<split>_correct``: McNemar's pairing,
    far below two independent binomial errors where both get most right)."""
    by_seed = {r["seed"]: r for r in finished(b)}
    pairs = [(r, by_seed[r["seed"]]) for r in finished(a) if r["seed"] in by_seed]
    if not pairs:
        return float("nan"), float("nan"), 0
    diffs = [ra["final"][f"{split}_accuracy"] - rb["final"][f"{split}_accuracy"] for ra, rb in pairs]
    if len(pairs) >= 2:
        return float(np.mean(diffs)), float(np.std(diffs, ddof=1) / math.sqrt(len(diffs))), len(pairs)
    ra, rb = pairs[0]
    key = f"{split}_correct"
    if key not in ra["final"] or key not in rb["final"]:  # no pairing recorded: two independent binomial errors
        return diffs[0], compare([ra], [rb], f"{split}_accuracy")[1], 1
    n = images_evaluated(ra, split)
    ca, cb = (runs.unpack_correct(r["final"][key], n) for r in (ra, rb))
    d = ca.astype(float) - cb.astype(float)
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(n)), 1


def at(records: list[dict], iteration: int, key: str) -> float:
    """The mean over seeds of ``key`` at ``iteration`` (NaN where not recorded)."""
    return mean_std([next((h.get(key) for h in r["history"] if h["iteration"] == iteration), None) for r in records])[0]


def series(records: list[dict], key: str, x_key: str = "iteration") -> tuple[np.ndarray, np.ndarray]:
    """(x, values: seeds x points) of ``key`` where every seed has it; x: the iteration or the seeds' mean ``x_key``."""
    its = sorted(set.intersection(*[{h["iteration"] for h in r["history"] if key in h} for r in records]))
    at_ = [{h["iteration"]: h for h in r["history"]} for r in records]
    vals = np.array([[a[it][key] for it in its] for a in at_], dtype=float)
    if x_key == "iteration":
        return np.asarray(its), vals
    return np.array([[a[it].get(x_key, np.nan) for it in its] for a in at_], dtype=float).mean(axis=0), vals


def curve(records: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(iterations, mean over seeds) of ``key`` where every seed recorded it."""
    xs, vals = series(records, key)
    return xs, vals.mean(axis=0) if len(xs) else np.array([])


def largest_group(records: list[dict]) -> list[dict]:
    """The group (identity but the seed) with the most finished seeds; a tie goes to the lower group id, so the
    choice never depends on the order of the index."""
    groups = sorted(runs.groups(records).items(), key=lambda kv: kv[0][1], reverse=True)
    return max(groups, key=lambda kv: (sum(r["status"] == "finished" for r in kv[1]), len(kv[1])))[1]


def records_of(records: list[dict], name: str, config: dict, data: str | None = None) -> list[dict]:
    """The largest group of run ``name`` with ``config`` on ``data``, in float32, default kernels ([] if none)."""
    found = [r for r in records if r["name"] == name and r["identity"]["config"] == config]
    found = [r for r in found if data in (None, r["identity"]["data"]["name"])]
    found = [r for r in found if not r["identity"].keys() & DEFAULT_SETTINGS]
    return largest_group(found) if found else []


def study_rows(records: list[dict]) -> dict[int, list[dict]]:
    """Study row -> the records (seeds) of that run of the sweep as defined, on the study's data."""
    found = {row: records_of(records, run.name, run.identity(), study.STUDY_DATASET) for row, run in ROWS.items()}
    return {row: recs for row, recs in found.items() if recs}


def rnn_cells(records: list[dict]) -> dict[tuple[str, int | None], list[dict]]:
    """(cell, units) -> that configuration's records of Task 3's grid, on MNIST."""
    from common import recurrent  # the RNN grid's: a run of the CIFAR sweep never needs it

    mnist = [r for r in records if r["identity"]["data"]["name"] == recurrent.STUDY_DATASET]
    key = lambda r: (r["identity"]["config"]["cell"], r["identity"]["config"]["hidden_units"])  # noqa: E731
    return {k: largest_group([r for r in mnist if key(r) == k]) for k in dict.fromkeys(map(key, mnist))}


def gap(x, digits: int = 1) -> str:
    """A difference of fractions in points, signed: +3.8 (rounded first, so -0.03 prints +0.0)."""
    return f"{round(100 * x, digits) + 0.0:+.{digits}f}" if finite(x) else "-"


def pm(mean, std=float("nan"), digits: int = 1, scale: float = 100) -> str:
    """ "52.3 ± 1.1" (fractions in percent); "52.3" for one seed; "-" for none."""
    if not finite(mean):
        return "-"
    return f"{scale * mean:.{digits}f}" + (f" ± {scale * std:.{digits}f}" if finite(std) else "")


def show(records: list[dict], key: str = "test_accuracy") -> str:
    mean, std, n = final(records, key)
    return f"{pm(mean, std)}% (n={n})"


def seeds(records: list[dict]) -> str:
    return ",".join(str(r["identity"]["seed"]) for r in records)


def decided(x: float, limit: float) -> str:
    """``x`` in points with as many decimals as it takes to print it on its side of |x| <= ``limit`` (5.03, not 5.0)."""
    if not finite(x):
        return "-"
    for digits in range(1, 7):
        text = f"{100 * x:.{digits}f}"
        printed = abs(float(text) / 100)
        if (printed <= limit) == (abs(x) <= limit) and (printed != limit or abs(x) == limit):
            return text
    return text


def short_cpu(name: str | None) -> str:
    """A recorded CPU (``common.cpu.summary``) as a table shows it: ``Intel Xeon (AVX2, AVX-512, AMX)``."""
    if not name:
        return "not recorded"
    model, _, features = name.partition(" (")
    model = re.sub(r"\((R|TM)\)|\b\d+-Core\b|\bProcessor\b|\bCPU\b|@.*", "", model)
    kept = [f for f in re.findall(r"[\w-]+", features.split(":")[-1]) if f in ("AVX2", "AVX-512", "AMX", "NEON", "SVE")]
    return " ".join(model.split()) + (f" ({', '.join(kept)})" if kept else "")


def cpu(record: dict) -> str:
    """The record's CPU, and how many runs shared it (``--workers``) where more than one: its times are not a lone
    run's."""
    versions = record.get("versions", {})
    shared = versions.get("workers", 1)
    return short_cpu(versions.get("cpu")) + (f", shared by {shared} runs" if shared > 1 else "")


def cpus(records: list[dict]) -> str:
    return "; ".join(sorted({cpu(r) for r in records}))


def span(values, fmt="{:,.0f}", unit: str = "") -> str:
    """ "845-2,242", or one number where both ends print alike (``fmt``: a format string or a function)."""
    values = list(values)
    show = fmt.format if isinstance(fmt, str) else fmt
    lo, hi = show(min(values)), show(max(values))
    return lo + unit if lo == hi else f"{lo}-{hi}{unit}"


def markdown(header: list[str], rows: list[list]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(c) for c in row) + " |" for row in rows),
    ]


def page(*parts) -> str:
    """Markdown of ``parts`` (a line, or a list of lines), a blank line between two parts."""
    return "\n\n".join(part if isinstance(part, str) else "\n".join(part) for part in parts) + "\n"


def write_page(path, *parts):
    io.write_text(path, page(*parts))
    return path


def write_csv(path, rows: list[dict], fields, digits: int = 5, nan: str = ""):
    """``rows`` as CSV with the columns ``fields``: floats rounded to ``digits``, None empty, NaN ``nan``."""
    cell = lambda v: "" if v is None else (nan if math.isnan(v) else round(v, digits)) if isinstance(v, float) else v  # noqa: E731
    buf = stringio.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: cell(r.get(k)) for k in fields} for r in rows)
    io.write_text(path, buf.getvalue())
    return path
