"""A benchmark's saved record (``--save figures/speed/<name>.json``): what it printed, as numbers, with the
machine, the versions and the command line, so that a page can quote a table drawn from the file and never a number
typed from a terminal."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path

from common import cpu, io


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
