"""Run identity, run folders and the results index that every summary is built from.

**Identity.** Everything that shapes a run's numbers: the task, the run's config, the
evaluation interval, the seed, the data set (its name and a fingerprint of its pixels and
labels), the Keras backend with the device kind (CPU or GPU: they round differently), and the
precision where it is not float32 (``--precision mixed_bfloat16``), the fused Adam kernel where
a run uses it (``--fused-adam``), and TensorFlow's oneDNN kernels where they are off (common/cpu.py).
A run's folder is ``<runs-dir>/<run name>/seed<seed>-<group>``, where ``<group>`` is a hash
of the identity without the seed, so different identities never share a folder and the
seeds of one configuration sit side by side. A finished run is never retrained or
overwritten by a run of another identity: that run gets a folder of its own.

**The results index.** ``<out-dir>/results.jsonl`` holds one line per finished run
(identity, final numbers, a compact history): every figure and table of a summary is
drawn from it. Each script adds every finished run it finds in its runs folder, so a
partial rerun (a fresh clone training two runs) adds rows and never shrinks a summary.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
from filelock import FileLock

from common import backend, cpu, io
from common.cli import format_duration

FINISHED = ("finished", "diverged", "pruned")  # a run in one of these states is never trained again


def make_identity(task: str, config: dict, seed: int, dataset, eval_every: int) -> dict:
    """``dataset``: a :class:`common.data.Dataset` (its name and fingerprint are recorded)."""
    platform = backend.describe()
    identity = {
        "task": task,
        "config": config,
        "eval_every": eval_every,
        "seed": seed,
        "data": dataset.identity(),
        "backend": platform["backend"],
        "device": platform["device"],
    }
    # recorded only where it is not float32, so the float32 runs keep the identity (and folders) they
    # had before the precision setting existed
    if backend.precision() != "float32":
        identity["precision"] = backend.precision()
    # likewise the fused Adam kernel (--fused-adam), and only where it changes the arithmetic: the runs
    # it trains with Adam (the fused momentum kernel computes Keras' numbers exactly; common/backend.py)
    if backend.fused_adam() and config.get("optimizer") == "adam":
        identity["fused_adam"] = True
    # TensorFlow's own kernels where oneDNN is off round differently from the oneDNN kernels that made the
    # committed results (common/cpu.py); recorded only when off, so those runs keep their identity
    if platform["backend"] == "tensorflow" and cpu.onednn() is False:
        identity["onednn"] = False
    return identity


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def run_id(name: str, identity: dict) -> str:
    """The key of one finished run in the results index: its name and identity (two names may train
    the same configuration, e.g. a search's trial and its best configuration retrained)."""
    return _digest({"name": name, **identity})[:12]


def group_id(identity: dict) -> str:
    """The identity without its seed: the runs one summary row averages over."""
    return _digest({k: v for k, v in identity.items() if k != "seed"})[:8]


def run_folder(runs_dir: Path, name: str, identity: dict) -> Path:
    return Path(runs_dir) / name / f"seed{identity['seed']}-{group_id(identity)}"


def identity_label(identity: dict) -> str:
    """Short text for tables: data set, backend/device and the group hash."""
    precision = f"/{identity['precision']}" if "precision" in identity else ""
    precision += "/fused-adam" if identity.get("fused_adam") else ""
    precision += "/no-onednn" if identity.get("onednn") is False else ""
    return f"{identity['data']['name']}, {identity['backend']}/{identity['device']}{precision}, #{group_id(identity)}"


def finished_metrics(runs_dir: Path, log=print) -> list[dict]:
    """Every finished (or diverged) run's metrics.json under ``runs_dir``; unreadable ones are named
    and skipped (their runs retrain when asked for)."""
    out = []
    for path in sorted(Path(runs_dir).glob("*/seed*/metrics.json")):
        try:
            m = io.read_json(path)
        except io.CorruptFile as err:
            log(f"warning: {err} Skipped; rerun that run to remake it.")
            continue
        if m.get("status") in FINISHED and "identity" in m:
            out.append(m)
    return out


# ---------------------------------------------------------------------------
# The index
def compact(metrics: dict, hist_every: int | None = None) -> dict:
    """A finished run's record for the index: its metrics without the bulky histograms, except at
    multiples of ``hist_every`` iterations and at the end (where the summaries read them)."""
    history = []
    last = metrics["history"][-1]["iteration"] if metrics["history"] else 0
    for h in metrics["history"]:
        keep_hist = hist_every and (h["iteration"] % hist_every == 0 or h["iteration"] == last)
        history.append({k: v for k, v in h.items() if keep_hist or not k.endswith("_hist")})
    return {**{k: v for k, v in metrics.items() if k != "history"}, "history": history}


class ResultsIndex:
    """``results.jsonl``: one JSON line per finished run, keyed by its run id; written atomically
    under a file lock, so processes sharing an out-dir add to it without losing each other's rows."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = FileLock(str(self.path.with_name(f".{self.path.name}.lock")))

    def read(self, log=print) -> list[dict]:
        if not self.path.exists():
            return []
        records = []
        for n, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                log(f"warning: {self.path} line {n} is not valid JSON (edited by hand?); skipped.")
        return records

    def upsert(self, records: list[dict], log=print) -> list[dict]:
        """Adds ``records`` (replacing those with the same run id); returns the whole index."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            by_id = {r["run_id"]: r for r in self.read(log)}
            by_id.update({r["run_id"]: r for r in records})
            ordered = sorted(by_id.values(), key=lambda r: (r["name"], r["identity"]["seed"], r["run_id"]))
            io.write_text(self.path, "".join(json.dumps(r, sort_keys=True, allow_nan=True) + "\n" for r in ordered))
        return ordered


def update_index(out_dir: Path, runs_dir: Path, task: str, hist_every: int | None = None, log=print) -> list[dict]:
    """Adds every finished run of ``task`` in ``runs_dir`` to ``out_dir/results.jsonl``; returns
    the index's records of that task."""
    found = [compact(m, hist_every) for m in finished_metrics(runs_dir, log) if m["identity"]["task"] == task]
    index = ResultsIndex(Path(out_dir) / "results.jsonl")
    return [r for r in index.upsert(found, log) if r["identity"]["task"] == task]


# ---------------------------------------------------------------------------
# Statistics over seeds
def groups(records: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """Records by (run name, group id): the seeds of one configuration, in seed order."""
    out: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        out.setdefault((r["name"], r["group_id"]), []).append(r)
    return {k: sorted(v, key=lambda r: r["identity"]["seed"]) for k, v in out.items()}


def mean_std(values) -> tuple[float, float, int]:
    """Mean, sample standard deviation (ddof 1; NaN for one value) and count of the finite values."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v)


def binomial_se(p: float, n: int) -> float:
    """The standard error of an accuracy ``p`` measured on ``n`` test images: sqrt(p(1-p)/n)."""
    return math.sqrt(p * (1 - p) / n) if n and math.isfinite(p) else float("nan")


def fmt_pct(mean: float, std: float = float("nan"), digits: int = 1) -> str:
    """ "52.3 ± 1.1" (percent); "52.3" for one seed; "-" for none."""
    if mean is None or not math.isfinite(mean):
        return "-"
    out = f"{100 * mean:.{digits}f}"
    return out + (f" ± {100 * std:.{digits}f}" if std is not None and math.isfinite(std) else "")


# ---------------------------------------------------------------- the speed settings against float32
# the identity keys of the opt-in speed settings (README, "Speed"), and how fast_settings.md names them
FAST_KEYS = {"precision": "bfloat16", "fused_adam": "fused Adam"}


def write_fast_settings(records: list[dict], out: Path, order: list[str], script: str) -> list[Path]:
    """``<out>/fast_settings.md``: each run trained under an opt-in speed setting (``--precision
    mixed_bfloat16``, ``--fused-adam``) beside the same run in float32 with Keras' Adam (otherwise the same
    identity): what the setting does to the accuracy, and to the time. ``order``: the run names in table
    order; ``script``: the script that writes it. Nothing is written (and [] returned) without such a pair."""
    by_group = groups(records)
    pairs = []
    for (name, _), recs in by_group.items():
        ident = recs[0]["identity"]
        if not any(k in ident for k in FAST_KEYS):
            continue
        base = group_id({k: v for k, v in ident.items() if k not in FAST_KEYS})
        if (name, base) in by_group:
            setting = " + ".join(label for k, label in FAST_KEYS.items() if k in ident)
            pairs.append((name, setting, by_group[(name, base)], recs))
    if not pairs:
        return []
    rank = {n: i for i, n in enumerate(order)}
    pairs.sort(key=lambda p: (p[1], rank.get(p[0], len(rank)), p[0]))

    def acc(recs):
        return mean_std([r["final"].get("test_accuracy") for r in recs if r["status"] == "finished"])

    def overhead(recs):
        o = mean_std([r["wall_time_s"] / r["train_time_s"] - 1 for r in recs if r.get("train_time_s")])[0]
        return "-" if not math.isfinite(o) else f"{100 * o:.1f}%"

    def gap(v):
        return "-" if not math.isfinite(v) else f"{100 * v:+.1f}"

    lines = [
        "# The speed settings against float32 (`--precision mixed_bfloat16`, `--fused-adam`)",
        "",
        f"Generated by `{script}` from `results.jsonl`: every run trained under an opt-in speed setting and in "
        "float32 with Keras' Adam, with otherwise the same identity (the fused Adam kernel is recorded only for "
        "the Adam runs; the momentum runs compute the same numbers with or without it). Test accuracy in percent "
        "(mean ± std over the seeds), training time per run (mean); Δ test = setting - float32; overhead = a run's "
        "wall time over its training time (evaluations, statistics, checkpoints, set-up), mean over the seeds.",
        "",
        "| run | setting | float32 seeds | float32 test acc | setting's seeds | setting's test acc | Δ test "
        "| float32 time | setting's time | speed-up | float32 overhead | setting's overhead |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    deltas: dict[str, list[float]] = {}
    for name, setting, f32, fast in pairs:
        a, b = acc(f32), acc(fast)
        t32 = mean_std([r["train_time_s"] for r in f32])[0]
        tfast = mean_std([r["train_time_s"] for r in fast])[0]
        deltas.setdefault(setting, []).append(b[0] - a[0])
        seeds = lambda recs: ",".join(str(r["identity"]["seed"]) for r in recs)
        lines.append(
            f"| `{name}` | {setting} | {seeds(f32)} | {fmt_pct(*a[:2])} | {seeds(fast)} | {fmt_pct(*b[:2])} "
            f"| {gap(b[0] - a[0])} | {format_duration(t32)} | {format_duration(tfast)} | {t32 / tfast:.2f}x "
            f"| {overhead(f32)} | {overhead(fast)} |"
        )
    lines.append("")
    for setting, ds in deltas.items():
        d = mean_std(ds)
        lines.append(f"Mean Δ test of {setting} over {d[2]} run(s): {gap(d[0])} points (std {fmt_pct(d[1])}).")
    io.write_text(Path(out) / "fast_settings.md", "\n".join(lines) + "\n")
    return [Path(out) / "fast_settings.md"]
