"""The report's statistics, written once and shared by the tables, the figures and the claims: means and
spreads over seeds, standard errors, differences and whether they are beyond noise, curves over iterations,
and which records are a run's.

"Beyond noise": a difference larger than :data:`NOISE` standard errors. The standard error of a mean over
seeds comes from the seeds' spread (std / sqrt(n)); with one seed, from the binomial error of one accuracy on
the images it was measured on, sqrt(p (1 - p) / n_images).
"""

from __future__ import annotations

import math

import numpy as np

from common import metrics, runs

NOISE = 2.0  # standard errors a difference must exceed to count as real (about a 95% interval)
DEFAULT_IMAGES = 1000  # the study's own test set, 100 images per class: the error of the study's numbers


def finite(x) -> bool:
    return x is not None and isinstance(x, (int, float, np.floating)) and math.isfinite(x)


def mean_std(values) -> tuple[float, float, int]:
    """Mean, sample standard deviation (ddof 1; NaN for one value) and count of the finite values."""
    v = np.asarray([x for x in values if finite(x)], dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v)


def binomial_se(p: float, n: int) -> float:
    """The standard error of an accuracy ``p`` measured on ``n`` images: sqrt(p(1-p)/n)."""
    return math.sqrt(p * (1 - p) / n) if n and finite(p) else float("nan")


def finished(records: list[dict]) -> list[dict]:
    return [r for r in records if r["status"] == "finished"]


def final(records: list[dict], key: str = "test_accuracy") -> tuple[float, float, int]:
    """Mean, std and count over the finished seeds of a run's final ``key``."""
    return mean_std([r["final"].get(key) for r in finished(records)])


def images_evaluated(record: dict, split: str = "test", among: list[dict] = ()) -> int | None:
    """How many images a record's final accuracy was measured on: its confusion matrix's total, or for a record made
    before records kept the matrix, that of a record of ``among`` measured on the same images (the same data
    fingerprint and validation split). None where none says: a report says so rather than assume a count."""
    key = f"{split}_confusion"
    if record["final"].get(key) is not None:
        return int(np.sum(record["final"][key]))
    images = lambda r: (r["identity"]["data"], r["identity"].get("split") if split == "val" else None)  # noqa: E731
    for r in among:
        if r["final"].get(key) is not None and images(r) == images(record):
            return int(np.sum(r["final"][key]))
    return None


def se_of_mean(records: list[dict], key: str = "test_accuracy", among: list[dict] = ()) -> float:
    """The standard error of a run's mean final ``key`` over its seeds (one seed: the binomial error, its count of
    images as :func:`images_evaluated` finds it among ``among``)."""
    mean, std, n = final(records, key)
    if n >= 2 and finite(std):
        return std / math.sqrt(n)
    split = key.removesuffix("_accuracy")
    return binomial_se(mean, images_evaluated(records[0], split, among)) if records else float("nan")


def compare(
    a: list[dict], b: list[dict], key: str = "test_accuracy", among: list[dict] = ()
) -> tuple[float, float, bool]:
    """(mean a - mean b, its standard error, whether the difference is beyond noise): two independent means."""
    diff = final(a, key)[0] - final(b, key)[0]
    se = math.hypot(se_of_mean(a, key, among), se_of_mean(b, key, among))
    return diff, se, abs(diff) > NOISE * se


def paired_compare(a: list[dict], b: list[dict], split: str = "val") -> tuple[float, float, int]:
    """(mean a - mean b, its standard error, pairs) for two runs evaluated on the same images with the same
    seeds: each seed's difference of accuracies, paired image by image (``<split>_correct``). The error is the
    seeds' spread of the per-seed differences where there are 2 or more; with one seed, the error of the mean of
    the per-image differences (+1, 0, -1: McNemar's paired comparison), far smaller than two independent
    binomial errors when the two runs get mostly the same images right."""
    by_seed = {r["seed"]: r for r in finished(b)}
    pairs = [(r, by_seed[r["seed"]]) for r in finished(a) if r["seed"] in by_seed]
    if not pairs:
        return float("nan"), float("nan"), 0
    diffs = [ra["final"][f"{split}_accuracy"] - rb["final"][f"{split}_accuracy"] for ra, rb in pairs]
    if len(pairs) >= 2:
        return float(np.mean(diffs)), float(np.std(diffs, ddof=1) / math.sqrt(len(diffs))), len(pairs)
    ra, rb = pairs[0]
    key = f"{split}_correct"
    if key not in ra["final"] or key not in rb["final"]:
        return (
            diffs[0],
            math.hypot(*(binomial_se(r["final"][f"{split}_accuracy"], images_evaluated(r, split)) for r in (ra, rb))),
            1,
        )
    n = images_evaluated(ra, split)
    ca, cb = (metrics.unpack_correct(r["final"][key], n) for r in (ra, rb))
    d = ca.astype(float) - cb.astype(float)
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(n)), 1


# ---------------------------------------------------------------------------
# Curves
def at(records: list[dict], iteration: int, key: str) -> float:
    """The mean over seeds of ``key`` at ``iteration`` (NaN where not recorded)."""
    vals = [next((h.get(key) for h in r["history"] if h["iteration"] == iteration), None) for r in records]
    vals = [v for v in vals if v is not None]
    return float(np.mean(vals)) if vals else float("nan")


def series(records: list[dict], key: str, x_key: str = "iteration") -> tuple[np.ndarray, np.ndarray]:
    """(x, values (seeds x points)) of ``key`` at the iterations every seed recorded; x is the iteration, or
    with ``x_key`` the seeds' mean of another recorded number (e.g. the training seconds)."""
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


# ---------------------------------------------------------------------------
# Which records are a run's
def largest_group(records: list[dict]) -> list[dict]:
    """Of records with one config, the group (identity but the seed) with the most finished seeds; a tie goes
    to the lower group id, so the choice never depends on the order of the index."""
    groups = runs.groups(records)
    return max(
        sorted(groups.items(), key=lambda kv: kv[0][1], reverse=True),
        key=lambda kv: (sum(r["status"] == "finished" for r in kv[1]), len(kv[1])),
    )[1]


DEFAULT_SETTINGS = ("precision", "fused_adam", "onednn")  # identity keys present only off the defaults


def records_of(records: list[dict], name: str, config: dict, data: str | None = None) -> list[dict]:
    """The seeds of the run ``name`` trained with ``config`` (its identity's config, e.g.
    ``RunConfig.identity()``) on the data set named ``data``, in float32 with the default kernels: the group
    with the most finished seeds (:func:`largest_group`), or [] where none."""
    found = [
        r
        for r in records
        if r["name"] == name
        and r["identity"]["config"] == config
        and (data is None or r["identity"]["data"]["name"] == data)
        and not any(k in r["identity"] for k in DEFAULT_SETTINGS)
    ]
    return largest_group(found) if found else []
