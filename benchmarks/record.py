"""What the benchmarks share: their timing, and their saved record (``--save figures/speed/<name>.json``): what
a benchmark printed, as numbers, with the machine, the versions and the command line, so that a page can quote a
table drawn from the file and never a number typed from a terminal."""

from __future__ import annotations

import json
import os
import shlex
import statistics
import sys
import time
from pathlib import Path

from common import cpu, io


def best_seconds(fn, repeats: int = 1) -> float:
    """The fewest seconds of ``repeats`` calls of ``fn``: the call least disturbed by other work."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def interleaved(measure, repeats: int, unit: str, digits: int = 0) -> tuple[dict, dict]:
    """``measure()`` (``{name: value}``, every contender once, in turn) ``repeats`` times, so that a slow spell of
    a shared machine falls on all of them alike; prints each repeat. Returns every value and the median by name."""
    values: dict[str, list[float]] = {}
    for r in range(repeats):
        for name, value in measure().items():
            values.setdefault(name, []).append(float(value))
        print(f"repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:,.{digits}f}" for k, v in values.items()) + f" {unit}")
    return values, {k: statistics.median(v) for k, v in values.items()}


def save(path: str | Path, benchmark: str, settings: dict, results: dict) -> Path:
    """Write ``path``: the benchmark's name, the command that ran it, when, on which CPU (``cpu.summary()``,
    the core count, oneDNN), the library versions (``io.versions()``), its settings and its ``results``
    (every median, every repeat and every ratio it printed)."""
    record = {
        "benchmark": benchmark,
        "command": "python " + shlex.join([os.path.relpath(sys.argv[0]), *sys.argv[1:]]),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu": cpu.summary(),
        "cpu_count": os.cpu_count(),
        "onednn": cpu.onednn(),
        "onednn_note": cpu.onednn_note(),
        "versions": io.versions(),
        "settings": settings,
        "results": results,
    }
    path = Path(path)
    io.write_text(path, json.dumps(record, indent=1, sort_keys=False) + "\n")
    print(f"saved {path}")
    return path
