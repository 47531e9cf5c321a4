"""Rebuild every committed table and figure from the results indexes, training nothing.

    python -m common.report                      # figures/cifar, figures/rnn, figures/claims.md, the docs' tables
    python -m common.report --figures-dir /tmp/fig   # the same into another folder (a copy of figures/)

Reads ``<figures>/cifar/results.jsonl`` and ``<figures>/rnn/results.jsonl`` (and the data sets, for their
fingerprints and class counts), and writes what the scripts' summaries write: the sweep's summary, per-run
figures, ladder, calibration, speed settings, the RNN grid's summary and figures, and the claims. A run's
filters figure needs its saved model (``runs/``, not committed): without it the committed figure stays.
The search reports need the search's Optuna storage: without it they stay. Finally the README's and
``docs/``'s quoted tables are copied from the files (``common/report/docs.py``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from common import cpu

cpu.configure()  # before TensorFlow loads (common/cpu.py)

from common import cli, recurrent, runs, study  # noqa: E402
from common.config import DATA_DIR, RUNS_DIR, parse, setting  # noqa: E402
from common.data import load_dataset  # noqa: E402
from common.report import calibration, cifar, docs, rnn  # noqa: E402


@dataclass(frozen=True)
class Settings:
    figures_dir: Path = setting(Path("figures"), "the figures folder holding cifar/ and rnn/ with their results.jsonl")
    run_figures: bool = setting(True, "also redraw every run's own figures (curves, statistics, filters)")
    runs_dir: Path = RUNS_DIR(Path("runs"), "the runs folder (cifar/, rnn/): where saved models give the filters")
    data_dir: Path | None = DATA_DIR(None)
    docs: bool = setting(True, "also copy the regenerated tables into the README's and docs/' quoted blocks")


def rebuild_cifar(s: Settings, log=print) -> list[Path]:
    out = s.figures_dir / "cifar"
    data = load_dataset(study.STUDY_DATASET, s.data_dir, allow_download=False)
    records = [
        r
        for r in runs.ResultsIndex(out / "results.jsonl").read(log)
        if r["identity"]["task"] == study.TASK and r["identity"]["data"]["name"] == data.name
    ]
    named = list(study.RUNS.values())
    chose = {"validation": study.VALIDATION}  # the runs that chose on validation: their figures too
    drawn = [(r, None) for r in named] + [(study.with_overrides(r, **chose), chose) for r in named]
    written = cifar.summarize(
        records,
        data,
        drawn if s.run_figures else [],
        named,
        out,
        s.runs_dir / "cifar",
        study.EVAL_EVERY,
        study.READ_EVERY,
        log,
    )
    rows = calibration.calibration_table(records, data, 0, study.EVAL_EVERY)
    return written + calibration.write_calibration(rows, out, 0)


def rebuild_rnn(s: Settings, log=print) -> list[Path]:
    out = s.figures_dir / "rnn"
    data = load_dataset(recurrent.STUDY_DATASET, s.data_dir, allow_download=False)
    records = [
        r
        for r in runs.ResultsIndex(out / "results.jsonl").read(log)
        if r["identity"]["task"] == recurrent.TASK and r["identity"]["data"]["name"] == data.name
    ]
    grid = [(c, h) for c in recurrent.CELLS for h in recurrent.SIZES]
    return rnn.summarize(records, data, recurrent.Grid(), grid, out, recurrent.EVAL_EVERY, log)


@cli.entry_point
def main(argv=None) -> int:
    s = parse(Settings, argv, __doc__.split("\n\n")[0], __doc__.split("\n\n", 1)[1], prog="python -m common.report")
    written = rebuild_cifar(s) + rebuild_rnn(s)
    for path in written:
        print(f"wrote {path}")
    if s.docs and s.figures_dir.resolve() == (docs.ROOT / "figures").resolve():
        for page in docs.pages():
            for path in docs.sync(page):
                print(f"updated {page.name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
