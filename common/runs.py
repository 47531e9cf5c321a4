"""Run identities, run folders and the results index that every summary is drawn from (docs/reliability.md, "Runs
you can trust"). A run's folder is ``<runs-dir>/<run name>/seed<seed>-<group>``, ``<group>`` a hash of the identity
without the seed; ``<out-dir>/results.jsonl`` holds one line per finished run.

The numbers a run records (the section at the end), in NumPy alone: ``common.evaluation`` computes them during
training, ``common.report`` recomputes what a figure derives: one definition of each number for both.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from filelock import FileLock

from common import io

FINISHED = ("finished", "diverged", "pruned")  # a run in one of these states is never trained again


def make_identity(task: str, config: dict, seed: int, dataset, eval_every: int) -> dict:
    """``dataset``: a :class:`common.data.Dataset`."""
    from common import backend, cpu  # the training side's: the report reads identities, never makes them

    platform = backend.describe()
    identity = {"task": task, "config": config, "eval_every": eval_every, "seed": seed, "data": dataset.identity()}
    identity |= {"backend": platform["backend"], "device": platform["device"]}
    # The rest only where it is not the default, so that the runs made before each existed keep their identity
    if backend.precision() != "float32":
        identity["precision"] = backend.precision()
    if backend.fused_adam() and config.get("optimizer") == "adam":  # the fused momentum kernel is Keras' arithmetic
        identity["fused_adam"] = True
    if config.get("validation"):  # the images a run holds out of its training to choose on
        identity["split"] = dataset.split_identity(config["validation"], seed)
    if platform["backend"] == "tensorflow" and cpu.onednn() is False:  # its own kernels round unlike oneDNN's
        identity["onednn"] = False
    if platform["backend"] == "tensorflow" and cpu.intra_op_threads():  # the thread count changes the rounding
        identity["intra_op_threads"] = cpu.intra_op_threads()
    return identity


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def run_id(name: str, identity: dict) -> str:
    """A finished run's key in the index: name and identity (a search's trial and its retrained best share one)."""
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
    precision += f"/{identity['intra_op_threads']}-thread" if "intra_op_threads" in identity else ""
    return f"{identity['data']['name']}, {identity['backend']}/{identity['device']}{precision}, #{group_id(identity)}"


def compact(metrics: dict, hist_every: int | None = None) -> dict:
    """A run's record for the index: its metrics without histograms but at multiples of ``hist_every`` and the end."""
    last = metrics["history"][-1]["iteration"] if metrics["history"] else 0
    keep_hist = lambda h: hist_every and (h["iteration"] % hist_every == 0 or h["iteration"] == last)
    history = [{k: v for k, v in h.items() if keep_hist(h) or not k.endswith("_hist")} for h in metrics["history"]]
    return {**{k: v for k, v in metrics.items() if k != "history"}, "history": history}


class ResultsIndex:
    """``results.jsonl``, one JSON line per finished run, written atomically under a file lock (processes sharing an
    out-dir keep each other's rows). A line that is no record (cut short, edited by hand) is moved, byte for byte,
    to ``results.jsonl.unreadable`` beside it by the next write, and kept there."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.unreadable = self.path.with_name(f"{self.path.name}.unreadable")
        self._lock = FileLock(str(self.path.with_name(f".{self.path.name}.lock")))

    def _lines(self) -> tuple[list[dict], list[tuple[int, bytes]]]:
        """The records (lines holding what the index keys and orders by), and the other lines, numbered from 1."""
        records, bad = [], []
        lines = self.path.read_bytes().splitlines() if self.path.exists() else []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError:  # not JSON, or not UTF-8
                r = None
            identity = r.get("identity") if isinstance(r, dict) else None
            if isinstance(identity, dict) and "seed" in identity and {"name", "run_id"} <= r.keys():
                records.append(r)
            else:
                bad.append((n, line))
        return records, bad

    def read(self, log=print) -> list[dict]:
        records, bad = self._lines()
        for n, _ in bad:
            log(
                f"warning: {self.path} line {n} is not a record (cut short or edited by hand?): left out here; the "
                f"next run that writes the index moves it to {self.unreadable.name}, where it is kept."
            )
        return records

    def upsert(self, records: list[dict], log=print) -> list[dict]:
        """Adds ``records``, replacing those of the same name and identity (whatever run id they stored)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = lambda r: run_id(r["name"], r["identity"])
        with self._lock:
            found, bad = self._lines()
            if bad:  # kept before the index is rewritten without them: a kill in between leaves them in both
                kept = self.unreadable.read_bytes() if self.unreadable.exists() else b""
                kept += b"\n" if kept and not kept.endswith(b"\n") else b""
                if new := b"".join(line + b"\n" for _, line in bad if line not in kept.splitlines()):
                    with io.atomic(self.unreadable) as tmp:
                        tmp.write_bytes(kept + new)
                for n, _ in bad:
                    log(
                        f"warning: {self.path} line {n} is not a record (cut short or edited by hand?): moved to "
                        f"{self.unreadable}, where it is kept. Mend it there and put it back, or delete it."
                    )
            by_id = {key(r): r for r in [*found, *records]}
            ordered = sorted(by_id.values(), key=lambda r: (r["name"], r["identity"]["seed"], r["run_id"]))
            io.write_text(self.path, "".join(json.dumps(r, sort_keys=True, allow_nan=True) + "\n" for r in ordered))
        return ordered


def update_index(out_dir: Path, runs_dir: Path, task: str, hist_every: int | None = None, names=None) -> list[dict]:
    """Adds every finished run of ``task`` (``names``: of these names) in ``runs_dir`` to ``out_dir/results.jsonl``;
    returns the index's records of that task. An unreadable metrics.json is named and skipped."""
    found = []
    for path in sorted(Path(runs_dir).glob("*/seed*/metrics.json")):
        try:
            m = io.read_json(path)
        except io.CorruptFile as err:
            print(f"warning: {err} Skipped; rerun that run to remake it.")
            continue
        wanted = names is None or m.get("name") in names
        if m.get("status") in FINISHED and m.get("identity", {}).get("task") == task and wanted:
            found.append(compact(m, hist_every))
    return [r for r in ResultsIndex(Path(out_dir) / "results.jsonl").upsert(found) if r["identity"]["task"] == task]


def groups(records: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """Records by (run name, group id): the seeds of one configuration, in seed order."""
    out: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        out.setdefault((r["name"], r["group_id"]), []).append(r)
    return {k: sorted(v, key=lambda r: r["identity"]["seed"]) for k, v in out.items()}


def _cut_key(record: dict, iterations: int) -> str:
    identity = {k: v for k, v in record["identity"].items() if k != "eval_every"}
    identity["config"] = {**identity["config"], "iterations": iterations}
    return _digest({"name": record["name"], **identity})


def merge_early(records: list[dict], early_iterations: int, log=print) -> list[dict]:
    """``records`` with each run's dense early rerun (``cifar_v2.py --early``: the same identity cut to its first
    ``early_iterations``, evaluated after every one) merged into its history and left out itself, where its last
    evaluation gives the full run's test accuracy and conv statistics there (else it is named and skipped)."""
    dense = {
        _cut_key(r, r["identity"]["config"]["iterations"]): r
        for r in records
        if r["identity"].get("eval_every") == 1 and r["status"] == "finished"
    }
    if not dense:
        return records
    out, used = [], set()
    for r in records:
        skip = r["identity"].get("eval_every") == 1 or r["status"] not in ("finished", "diverged")
        e = None if skip else dense.get(_cut_key(r, min(r["identity"]["config"]["iterations"], early_iterations)))
        if e is None:
            out.append(r)
            continue
        end = e["history"][-1]
        at = next((h for h in r["history"] if h["iteration"] == end["iteration"]), None)
        keys = [k for k in ("test_accuracy", "conv1_std", "conv2_std") if k in end]
        if at is None or any(abs(at.get(k, float("nan")) - end[k]) > 1e-4 * max(abs(end[k]), 1e-6) for k in keys):
            log(
                f"warning: {r['name']} seed {r['seed']}: its dense early rerun is not the same run at iteration "
                f"{end['iteration']} (another CPU's rounding?); its history is drawn without it."
            )
            out.append(r)
            continue
        by_iteration = {h["iteration"]: h for h in e["history"] + r["history"]}  # the full run's where both have one
        history = sorted(by_iteration.values(), key=lambda h: h["iteration"])
        out.append({**r, "history": history, "dense_until": end["iteration"]})
        used.add(e["run_id"])
    return [r for r in out if r["run_id"] not in used]


# The numbers a run records, computed by common.evaluation and recomputed by common.report
CONV_LAYERS = ("conv1", "conv2")  # the layers whose activations the statistics describe
GRADIENT_R2 = 0.5  # a conv1 filter "detects a gradient" if a plane (a linear ramp) explains this much of it
HIST_IMAGES = 10  # test images whose every activation goes into the histograms
HIST_BINS = 60
# Reliability diagrams: equal-width bins of the top-class probability, 15 as in Guo et al. (2017), "On
# Calibration of Modern Neural Networks", whose expected calibration error (ECE) the report computes from them
RELIABILITY_BINS = 15
# The test-time views a run that chooses compares on its validation images at its last evaluation (the ones
# the ladder's CNN tried): none, the mirror, and the mirror with 1- or 2-pixel shifts (10 views each)
VIEW_CANDIDATES = {"none": (False, 0), "flip": (True, 0), "flip_shift1": (True, 1), "flip_shift2": (True, 2)}
KERNEL_DIGITS = 7  # significant digits of a recorded kernel weight (float32 carries 7-8)


def view_probabilities(logits: np.ndarray, *other_views: np.ndarray | None) -> np.ndarray:
    """The class probabilities of a run's prediction: the softmax outputs of its views averaged."""
    views = [np.asarray(v, dtype=np.float64) for v in (logits, *other_views) if v is not None]
    e = [np.exp(z - z.max(axis=1, keepdims=True)) for z in views]
    return sum(x / x.sum(axis=1, keepdims=True) for x in e) / len(views)


def logits_metrics(
    logits: np.ndarray, labels: np.ndarray, *other_views: np.ndarray | None, split: str = "test"
) -> dict:
    """``{split}_loss`` (mean cross-entropy) and ``{split}_accuracy`` in float64, the views' probabilities averaged."""
    p = view_probabilities(logits, *other_views)
    true = np.clip(p[np.arange(len(labels)), labels], 1e-300, None)
    return {f"{split}_loss": float(-np.mean(np.log(true))), f"{split}_accuracy": float(np.mean(p.argmax(1) == labels))}


def confusion(logits: np.ndarray, labels: np.ndarray, *other_views: np.ndarray) -> np.ndarray:
    """Counts of true class (row) against predicted class (column), the views averaged as in :func:`logits_metrics`."""
    p = view_probabilities(logits, *other_views)
    k = p.shape[1]
    return np.bincount(labels * k + p.argmax(1), minlength=k * k).reshape(k, k)


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = RELIABILITY_BINS) -> dict:
    """Per equal-width bin of the top-class probability (1 in the last): its images, confidence sum, right ones."""
    p = np.asarray(probabilities, dtype=np.float64)
    conf, correct = p.max(axis=1), p.argmax(axis=1) == np.asarray(labels)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    return {
        "bins": bins,
        "count": np.bincount(which, minlength=bins).tolist(),
        "confidence_sum": [round(float(s), 6) for s in np.bincount(which, weights=conf, minlength=bins)],
        "correct": np.bincount(which, weights=correct, minlength=bins).astype(int).tolist(),
    }


def pack_correct(correct: np.ndarray) -> str:
    """Which images a prediction got right, in the split's order, as hex (4 a character): for paired comparisons."""
    return np.packbits(np.asarray(correct, dtype=bool)).tobytes().hex()


def unpack_correct(packed: str, n: int) -> np.ndarray:
    """The inverse of :func:`pack_correct` for ``n`` images."""
    return np.unpackbits(np.frombuffer(bytes.fromhex(packed), dtype=np.uint8))[:n].astype(bool)


def expected_calibration_error(table: dict) -> float:
    """ECE = sum over bins of (its images / all) x |its accuracy - its mean confidence| (Guo et al. 2017, eq. 3)."""
    count = np.asarray(table["count"], dtype=np.float64)
    gap = np.abs(np.asarray(table["correct"], dtype=np.float64) - np.asarray(table["confidence_sum"]))
    return float(gap.sum() / max(count.sum(), 1))


def kernel_record(kernel: np.ndarray) -> list:
    """A conv kernel (kh, kw, channels, maps) as nested lists at :data:`KERNEL_DIGITS` significant digits."""
    return np.vectorize(lambda v: float(f"{v:.{KERNEL_DIGITS}g}"))(np.asarray(kernel, dtype=np.float64)).tolist()


def plane_r2(kernel: np.ndarray) -> np.ndarray:
    """Per first-layer filter, the R^2 of the plane a*x + b*y + c fitted to it by least squares: how much it looks
    like an intensity gradient (a random 5x5 filter's is about 2/24 = 0.08). A color filter gets a plane per channel,
    its R^2 from the residuals and variances summed over them."""
    kernel = np.asarray(kernel, dtype=np.float64)  # (kh, kw, channels, maps)
    kh, kw, channels = kernel.shape[:3]
    yy, xx = np.mgrid[0:kh, 0:kw]
    design = np.stack([xx.ravel(), yy.ravel(), np.ones(kh * kw)], axis=1)
    w = kernel.reshape(kh * kw, -1)  # one column per (channel, filter)
    coef, *_ = np.linalg.lstsq(design, w, rcond=None)
    ss_res = ((w - design @ coef) ** 2).sum(axis=0).reshape(channels, -1).sum(axis=0)
    ss_tot = ((w - w.mean(axis=0)) ** 2).sum(axis=0).reshape(channels, -1).sum(axis=0)
    return 1 - ss_res / np.maximum(ss_tot, 1e-30)
