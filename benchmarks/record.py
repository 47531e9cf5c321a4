"""What the benchmarks share: their timing, their flags ``--repeats`` and ``--save``, and their saved record
(``--save figures/speed/<name>.json``): what a benchmark printed, as numbers, with the machine, the versions and the
command line, so that a page can quote a table drawn from the file and never a number typed from a terminal."""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import statistics
import sys
import time
import timeit
from pathlib import Path

from common import cpu, io
from common.config import Spec

REPEATS = Spec("interleaved repeats, so that a slow spell of a shared machine falls on every contender alike", min=1)
SAVE = Spec("also write what it prints as a JSON record here (figures/speed/)", metavar="PATH")


def best_seconds(fn, repeats: int = 1) -> float:
    """The fewest seconds of ``repeats`` calls of ``fn``: the call least disturbed by other work."""
    return min(timeit.repeat(fn, "gc.enable()", number=1, repeat=repeats))  # garbage collection on, as in a run


def interleaved(measure, repeats: int, unit: str, digits: int = 0) -> tuple[dict, dict]:
    """``measure()`` (``{name: value}``, every contender once, in turn) ``repeats`` times, so that a slow spell of
    a shared machine falls on all of them alike; prints each repeat. Returns every value and the median by name."""
    values: dict[str, list[float]] = {}
    for r in range(repeats):
        for name, value in measure().items():
            values.setdefault(name, []).append(float(value))
        print(f"repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:,.{digits}f}" for k, v in values.items()) + f" {unit}")
    print(f"\nmedians of {repeats} ({time.strftime('%Y-%m-%d')}):")
    return values, {k: statistics.median(v) for k, v in values.items()}


def save(s, benchmark: str, results: dict, **more) -> None:
    """With ``--save``, write ``s.save``: the benchmark's name, the command that ran it, when, on which CPU
    (``cpu.summary()``, the core count, oneDNN), the library versions (``io.versions()``), its settings ``s`` (a
    dataclass; ``more`` added) and its ``results`` (every median, every repeat and every ratio it printed)."""
    if not s.save:
        return
    settings = {k: v for k, v in dataclasses.asdict(s).items() if k not in ("data_dir", "save")} | more
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
    io.write_text(Path(s.save), json.dumps(record, indent=1, sort_keys=False) + "\n")
    print(f"saved {s.save}")
