"""Rebuild every committed table and figure from the committed records, training nothing and reading no image.

    python -m common.report                      # figures/, and the README's and docs' generated blocks
    python -m common.report --figures-dir /tmp/fig   # the same into another folder (a copy of figures/)
    python -m common.report --prune              # and delete every figure or table it did not redraw

Reads ``<figures>/cifar/results.jsonl``, ``<figures>/rnn/results.jsonl``, each search's folder under
``<figures>/cifar/search/`` and the deconvnet's saved arrays under ``<figures>/deconvnet/``, and writes what the
scripts' summaries write: the sweep's summary, per-run figures, overviews, ladder, choices on validation, the
constants' fit, speed settings, the RNN grid's summary and figures, the searches, the deconvnet figures and the
claims; then ``figures/reproduction.md`` and ``figures/speed.md`` (what every result took) and
``figures/results.md`` (the README's table). Finally the README's and ``docs/``'s quoted tables are copied from the
files (``common/report/docs.py``). ``--prune`` deletes the figures and tables under the folder that this rebuild did
not write: what an older version drew, which the records can no longer give. Nothing here imports a deep-learning
framework (tests/test_report_records.py checks it).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from common import cli, recurrent, runs, study
from common.config import parse, setting
from common.report import deconvnet, docs, results, rnn, search, speed, task1


@dataclass(frozen=True)
class Settings:
    figures_dir: Path = setting(Path("figures"), "the figures folder holding cifar/ and rnn/ with their results.jsonl")
    run_figures: bool = setting(True, "also redraw every run's own figures (curves, statistics, filters)")
    docs: bool = setting(True, "also copy the regenerated tables into the README's and docs/' quoted blocks")
    prune: bool = setting(False, "delete every figure and table (.png, .md, .csv) under the folder not redrawn")


DRAWN = (".png", ".md", ".csv")  # what --prune may delete: the drawn files, never a record


def prune(root: Path, written: list[Path], log=print) -> list[Path]:
    """Delete the drawn files under ``root`` that are not in ``written``; returns them."""
    keep = {p.resolve() for p in written}
    stale = [p for p in sorted(root.rglob("*")) if p.suffix in DRAWN and p.is_file() and p.resolve() not in keep]
    for p in stale:
        p.unlink()
        log(f"pruned {p} (not redrawn from the records)")
    return stale


def rebuild_cifar(s: Settings, log=print) -> list[Path]:
    out = s.figures_dir / "cifar"
    info = task1.study_info()
    records = [
        r
        for r in runs.ResultsIndex(out / "results.jsonl").read(log)
        if r["identity"]["task"] == study.TASK and r["identity"]["data"]["name"] == info.name
    ]
    named = list(study.RUNS.values())
    chose = {"validation": study.VALIDATION}  # the runs that chose on validation: their figures too
    drawn = [(r, None) for r in named] + [(study.with_overrides(r, **chose), chose) for r in named]
    written = task1.summarize(records, info, drawn if s.run_figures else [], named, out, study.READ_EVERY, log)
    rows = task1.calibration_table(records, 0, study.EVAL_EVERY)
    written += task1.write_calibration(records, rows, out, 0)
    for folder in sorted(p.parent for p in (out / "search").glob("*/results.jsonl")):
        written += search.rebuild(folder, records)
    return written


def rebuild_deconvnet(s: Settings, log=print) -> list[Path]:
    folders = sorted({p.parent for p in (s.figures_dir / "deconvnet").rglob("deconvnet.json")})
    return [p for folder in folders for p in deconvnet.rebuild(folder)]


def rebuild_rnn(s: Settings, log=print) -> list[Path]:
    out = s.figures_dir / "rnn"
    records = [
        r
        for r in runs.ResultsIndex(out / "results.jsonl").read(log)
        if r["identity"]["task"] == recurrent.TASK and r["identity"]["data"]["name"] == recurrent.STUDY_DATASET
    ]
    grid = [(c, h) for c in recurrent.CELLS for h in recurrent.SIZES]
    return rnn.summarize(records, recurrent.Grid(), grid, out, log)


@cli.entry_point
def main(argv=None) -> int:
    s = parse(Settings, argv, __doc__.split("\n\n")[0], __doc__.split("\n\n", 1)[1], prog="python -m common.report")
    written = rebuild_cifar(s) + rebuild_rnn(s) + rebuild_deconvnet(s)
    written += [speed.write_reproduction(s.figures_dir), speed.write_speed(s.figures_dir), results.write(s.figures_dir)]
    for path in written:
        print(f"wrote {path}")
    if s.prune:
        prune(s.figures_dir, written)
    if s.docs and s.figures_dir.resolve() == (docs.ROOT / "figures").resolve():
        for page in docs.pages():
            for path in docs.sync(page):
                print(f"updated {page.name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
