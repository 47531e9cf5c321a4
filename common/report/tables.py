"""How numbers are written in every table: percent, gaps, mean ± std over seeds, CSV and Markdown."""

from __future__ import annotations

import csv
import io as stringio
import math

from common.cli import format_duration  # noqa: F401  (the tables' durations: "3m36s")
from common.report.stats import final, finite


def pct(x, digits: int = 1, missing: str = "-") -> str:
    """A fraction as percent: 0.5234 -> "52.3"; ``missing`` for None or NaN."""
    return f"{100 * x:.{digits}f}" if finite(x) else missing


def gap(x, digits: int = 1) -> str:
    """A difference of fractions in points, signed: +3.8 (rounded first, so -0.03 prints +0.0)."""
    return f"{round(100 * x, digits) + 0.0:+.{digits}f}" if finite(x) else "-"


def pm(mean, std=float("nan"), digits: int = 1) -> str:
    """ "52.3 ± 1.1" (percent); "52.3" for one seed; "-" for none."""
    if not finite(mean):
        return "-"
    return pct(mean, digits) + (f" ± {pct(std, digits)}" if finite(std) else "")


def show(records: list[dict], key: str = "test_accuracy") -> str:
    """ "54.7 ± 1.4% (n=3)": a run's final ``key`` over its seeds."""
    mean, std, n = final(records, key)
    return f"{pm(mean, std)}% (n={n})"


def seeds(records: list[dict]) -> str:
    """ "0,1,2": the seeds of a configuration's records."""
    return ",".join(str(r["identity"]["seed"]) for r in records)


def markdown(header: list[str], rows: list[list], align: str | None = None) -> list[str]:
    """A Markdown table's lines; ``align`` is its separator row (default: ``|---|`` for every column)."""
    return [
        "| " + " | ".join(header) + " |",
        align or "|" + "---|" * len(header),
        *("| " + " | ".join(str(c) for c in row) + " |" for row in rows),
    ]


def csv_text(rows: list[dict], fields, digits: int = 5, nan: str = "") -> str:
    """``rows`` as CSV with the columns ``fields``: floats rounded to ``digits``, None empty, NaN ``nan``."""
    buf = stringio.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        cells = {}
        for k in fields:
            v = r.get(k)
            if v is None:
                cells[k] = ""
            elif isinstance(v, float) and math.isnan(v):
                cells[k] = nan
            else:
                cells[k] = round(v, digits) if isinstance(v, float) else v
        writer.writerow(cells)
    return buf.getvalue()
