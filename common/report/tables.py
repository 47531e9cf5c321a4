"""How numbers are written in every table: percent, gaps, mean ± std over seeds, CSV and Markdown."""

from __future__ import annotations

import csv
import io as stringio
import math

import numpy as np

from common.cli import format_duration  # noqa: F401  (the tables' durations: "3m36s")


def finite(x) -> bool:
    return x is not None and isinstance(x, (int, float, np.floating)) and math.isfinite(x)


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


def mean_std(values) -> tuple[float, float, int]:
    """Mean, sample standard deviation (ddof 1; NaN for one value) and count of the finite values."""
    v = np.asarray([x for x in values if finite(x)], dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan"), 0
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else float("nan"), len(v)


def binomial_se(p: float, n: int) -> float:
    """The standard error of an accuracy ``p`` measured on ``n`` test images: sqrt(p(1-p)/n)."""
    return math.sqrt(p * (1 - p) / n) if n and finite(p) else float("nan")


def final(records: list[dict], key: str = "test_accuracy") -> tuple[float, float, int]:
    """Mean, std and count over the finished seeds of a run's final ``key``."""
    return mean_std([r["final"].get(key) for r in records if r["status"] == "finished"])


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
