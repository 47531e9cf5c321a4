"""Task 1's report, from the results index alone: each run's figures (``runfigs``), the sweep's summary
(``summary``), the ladder (``ladder``), the choices made on validation (``validation``), the overviews of the
study's 11 runs (``overview``), the calibration of the chosen networks (``reliability``), the speed settings
(``speed``) and the claims (``claims``). Which rows a table shows follows the run definitions
(``common.study``) and the records: for each run, the group of seeds with its exact config (``stats.records_of``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from common import data, io, runs, study
from common.report import claims, forest, ladder, overview, reliability, runfigs, summary, validation
from common.report.speed import write_fast_settings
from common.report.stats import records_of


@dataclass(frozen=True)
class DataInfo:
    """What the report says of a data set: its name, whether it is the study's own (its numbers beside ours),
    its class names and sizes. ``study_info`` gives the study's; a script passes the set it loaded."""

    name: str
    study_data: bool
    class_names: tuple[str, ...]
    n_train: int
    n_test: int

    @property
    def label(self) -> str:
        return f"{self.name} ({self.n_train:,} train / {self.n_test:,} test)"

    @classmethod
    def of(cls, dataset) -> DataInfo:
        """From a loaded ``common.data.Dataset``."""
        is_study = dataset.is_study_data(study.STUDY_DATASET)
        return cls(dataset.name, is_study, dataset.class_names, len(dataset.y_train), len(dataset.y_test))


def study_info() -> DataInfo:
    """The study's CIFAR10 subset, as the records of its runs know it (no image needs to be read)."""
    n = len(data.CIFAR10_CLASS_NAMES)
    return DataInfo(
        study.STUDY_DATASET, True, data.CIFAR10_CLASS_NAMES, n * data.STUDY_COUNTS[0], n * data.STUDY_COUNTS[1]
    )


def write_per_run(records, drawn, out: Path, read_every: int, info: DataInfo, log) -> list[Path]:
    """Each asked-for run's own figures; a figure that fails is reported and never costs a result."""
    written = []
    for run, overrides in drawn:
        recs = sorted(records_of(records, run.name, run.identity(), info.name), key=lambda r: r["identity"]["seed"])
        if not recs:
            continue
        try:
            folder = runfigs.figure_folder(out, run.name, overrides)
            written += runfigs.write_run_figures(run, recs, folder, read_every, info.study_data)
        except Exception as err:  # noqa: BLE001  (a figure must never cost a result: report it, go on)
            log(f"error drawing figures of {run.name}: {type(err).__name__}: {err}. The results are saved.")
    return written


def confusion_runs(records: list[dict]) -> list[tuple[str, str]]:
    """The runs whose confusion matrices and reliability diagrams the report draws: the study's best run (rung
    0), and the best LeNet-5 and the best network beyond the study, as chosen on validation."""
    best = next(name for name, run in study.RUNS.items() if run.rung == "0")
    out = [(best, f"The study's best run (row {study.RUNS[best].study_row})")]
    for c in validation.chosen(records):
        if c["named"]:
            out.append((c["named"], f"{c['what'][:1].upper() + c['what'][1:]}, chosen on validation ({c['named']})"))
    return out


def summarize(
    records: list[dict],
    info: DataInfo,
    drawn: list[tuple[study.RunConfig, dict | None]],
    named: list[study.RunConfig],
    out: Path,
    read_every: int = study.READ_EVERY,
    log=print,
) -> list[Path]:
    """Every figure and table of the sweep from the index's ``records`` of the set ``info``. ``drawn``: the
    (run, its --set fields) whose per-run figures are drawn; ``named``: every named run under this command's
    settings, the current rows of the tables (with the ``drawn`` ones)."""
    io.remove_stale_temps(out, recursive=True)  # half-written figures of killed processes
    if not records:
        log(f"no finished runs of {info.name} in {out / 'results.jsonl'}; nothing to summarize.")
        return []
    records = runs.merge_early(records, study.EARLY_ITERATIONS, log)  # the --early reruns, in their runs' histories
    wanted = named + [run for run, fields in drawn if not (fields or {}).get("validation")]
    current = summary.current_groups(records, wanted, info.name)
    fingerprint = next(
        (r["identity"]["data"]["fingerprint"] for r in records if r["identity"]["data"]["name"] == info.name), None
    )
    rows = summary.summary_rows(records, current, fingerprint if info.study_data else None)
    written = write_per_run(records, drawn, out, read_every, info, log)
    written += summary.write_summary(rows, out, info.label, info.study_data)
    written += ladder.write_ladder(rows, records, out / "beyond")
    written += validation.write_validation(records, out / "beyond", len(info.class_names))
    written += write_fast_settings(records, out, list(study.RUNS), "cifar_v2.py")
    if info.study_data:  # the study's 11 runs side by side, and against the study's numbers
        written += overview.write_overview(records, out)
        chosen = confusion_runs(records)
        for name, title in chosen:
            recs = validation.tested(records, study.RUNS[name])
            written += overview.plot_confusion(recs, info.class_names, title, out)
        written += reliability.write_reliability(records, chosen, out)
    if info.study_data and out.name == "cifar":  # the standard layout <figures>/cifar beside <figures>/rnn
        written.append(claims.update(out.parent, log))
        written += forest.write_forest(out.parent)
    return [p for p in written if p is not None]
