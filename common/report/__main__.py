"""Rebuild every committed table and figure from the committed records, training nothing and reading no image.

    python -m common.report                      # figures/, and the README's and docs' generated blocks
    python -m common.report --figures-dir /tmp/fig   # the same into another folder (a copy of figures/)
    python -m common.report --prune              # and delete every figure or table it did not redraw

Reads ``<figures>/cifar/results.jsonl``, ``<figures>/rnn/results.jsonl``, each search's folder under
``<figures>/cifar/search/`` and the deconvnet's saved arrays, and writes what the scripts' summaries write; then
``figures/reproduction.md``, ``figures/speed.md`` and ``figures/results.md`` (the README's table, drawn here). Finally
the README's and ``docs/``'s quoted tables are copied from the files (``common/report/docs.py``). Nothing here
imports a deep-learning framework (tests/test_report_records.py checks it).
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common import cli, io, protocol, recurrent, runs, study
from common import search as hpsearch
from common.config import parse, setting
from common.report import beyond, claims, deconvnet, docs, search, speed, stats, task1
from common.report import protocol as protocol_report
from common.report import rnn as rnn_report
from common.report.stats import MISSING, NOISE, PM_KEY, compare, difference, final, pct, pm


@dataclass(frozen=True)
class Settings:
    figures_dir: Path = setting(Path("figures"), "the figures folder holding cifar/ and rnn/ with their results.jsonl")
    run_figures: bool = setting(True, "also redraw every run's own figures (curves, statistics, filters)")
    docs: bool = setting(True, "also copy the regenerated tables into the README's and docs/' quoted blocks")
    prune: bool = setting(False, "delete every figure and table (.png, .md, .csv) under the folder not redrawn")


# figures/results.md, the README's one table: per task, the study's number beside ours, each cell from the records
TASK1, TASK3, BEYOND = (speed.COMMANDS[kind][0] for kind in ("study", "rnn", "beyond"))  # as reproduction.md says
TASK2 = "python dconvnet.py && python dconvnet_visualizations.py"
BEST = study.RUNS[hpsearch.RIVALS["study"]]  # the study's best run, row 7: every row beyond it is set against it
# each space's search as the records hold it: its trials, the iterations of a trial, the seeds its winner is
# retrained on (the airbench space's on the fresh seeds, which no choice used; the earlier ones on 0,1,2)
SEARCHES = {"study": (40, 3000, "0,1,2"), "all": (40, 3000, "0,1,2"), "airbench": (20, 1500, "100,101,102,103,104")}


def ours(recs: list[dict], command: str, key: str = "test_accuracy") -> list[str]:
    """The cells ours, seeds, command and CPU of a row, from its seeds' records."""
    if not recs:
        return [f"{MISSING} ({command})", "-", f"`{command}`", "-"]
    return [pm(*final(recs, key)[:2]), stats.seeds(recs), f"`{command}`", stats.cpus(recs)]


def table(root: Path, cifar: list[dict], rnn: list[dict]) -> tuple[list[list[str]], list[str]]:
    """The rows, and the lines on the searches (each against the hand-tuned run it replaces)."""
    tested = lambda name: beyond.tested(cifar, study.RUNS[name])  # noqa: E731
    best = f"~{pct(BEST.study_accuracy[1])} (its best run, 7)"
    rows = [["1", f"the study's best run (row 7, `{BEST.name}`): test accuracy", best, *ours(tested(BEST.name), TASK1)]]
    what, cells = "the deconvnet's network", ours([], TASK2)
    if (path := root / "deconvnet" / "deconvnet.json").is_file():  # the network the deconvnet reads, as recorded
        meta = io.read_json(path)
        cpu = re.search(r"CPU: (.*?), oneDNN", meta.get("backend", ""))  # the CPU that computed the arrays
        what = f"the deconvnet's network (`{meta['run']['name']}`): test accuracy, one view"
        cells = [pct(meta["test_accuracy"]), str(meta["run"]["seed"]), f"`{TASK2}`", stats.short_cpu(cpu and cpu[1])]
    rows.append(["2", what, "no number (figures)", *cells])
    cells = stats.rnn_cells(rnn)
    for cell, label in (("lstm", "LSTM"), ("gru", "GRU"), ("rnn", "basic RNN")):
        number = recurrent.STUDY_TEST_ACCURACY.get(cell, {}).get(20)
        shown = f"~{pct(number, 0)}" if number else "no number (below LSTM/GRU)"
        rows.append(["3", f"{label}, 20 units: test accuracy", shown, *ours(cells.get((cell, 20), []), TASK3)])
    cnn = cells.get(("cnn", None), [])
    rows.append(["3", "Part C's CNN (LeNet-5): train accuracy", "~100", *ours(cnn, TASK3, "train_accuracy")])
    for key, what in (("lenet", "the study's LeNet-5, the ladder's recipe"), ("net", "the best network")):
        name = study.TEST_CHOSEN[key]
        what += f", chosen on seed 0's test accuracy (`{name}`): test accuracy"
        rows.append(["beyond", what, best, *ours(tested(name), BEYOND)])
    lines = []
    for name, walk in protocol_report.walks(cifar).items():  # chosen by paired repeats on validation
        command = f"python cifar_v2.py --protocol {name}"
        for run in walk.tested:
            what = f"{protocol.DESIGNS[name].what}, chosen on validation (`{run.name}`): test accuracy, fresh seeds"
            if not (fresh := protocol_report.fresh(cifar, run)):  # chosen, its test runs still to train
                lines.append(f"{what}: not trained yet (`{command}`).")
                continue
            rows.append(["beyond", what, best, *ours(fresh, command)])
    for space, (trials, iterations, seeds) in SEARCHES.items():  # the spaces of common/search.py, in its order
        folder = root / "cifar" / "search" / hpsearch.study_name(study.STUDY_DATASET, space, iterations)
        flags = f"--search {trials}" + f" --search-space {space}" * (space != "study")
        flags += f" --search-iterations {iterations}" * (iterations != 3000)
        command = f"python cifar_v2.py {flags}, then --search-report --seeds {seeds}"
        if not (folder / "results.jsonl").is_file():  # a search not run yet: no row to fill
            lines.append(f"Search, space `{space}`: not run yet (`{command}`).")
            continue
        rival = study.RUNS[hpsearch.RIVALS[space]]
        mine = search.retrains(search.read(folder, study.RUNS), rival)
        what = f"the Optuna search's winner, space `{space}`: test accuracy"
        rows.append(["search", what, best, *ours(mine, command)])
        if mine and (base := tested(rival.name)):
            diff = difference(*compare(mine, base, among=cifar)[:2])
            lines.append(
                f"Search, space `{space}`: its winner minus `{rival.name}`, the hand-tuned run it replaces: "
                f"{diff}. {search.images_seen(mine, base, cifar, study.STUDY_DATASET)}"
            )
    return rows, lines


def sweep_line(cifar: list[dict]) -> str:
    """The 11 runs against the study's table: the mean absolute gaps, and how many test gaps are within noise."""
    groups = stats.study_rows(cifar)
    if len(groups) < 11:
        return f"Task 1, the study's 11 runs: {MISSING} (only {len(groups)} of them: {TASK1})."
    refs = [(recs, study.RUNS[recs[0]["name"]].study_accuracy) for recs in groups.values()]
    gaps = [[final(recs, f"{k}_accuracy")[0] - ref[i] for recs, ref in refs] for i, k in enumerate(("train", "test"))]
    noise = [NOISE * math.hypot(stats.se_of_mean(recs), stats.binomial_se(ref[1], 1000)) for recs, ref in refs]
    near = sum(abs(g) <= n for g, n in zip(gaps[1], noise))
    mean = lambda i: pct(np.mean(np.abs(gaps[i])))  # noqa: E731
    return (
        f"Task 1, the study's 11 runs against its table: mean absolute gap train {mean(0)}, test {mean(1)} "
        f"points; {near} of 11 test gaps within noise (the study's number taken as one run on the 1,000 test images). "
        "The unstated constants were fitted to this gap on seed 0 (`cifar/constants_fit.md`): not independent evidence."
    )


def recipe_line(cifar: list[dict]) -> str:
    """How the recipes beyond the study were chosen, and what choosing them again on validation changed."""
    decisions = beyond.ladder_decisions(beyond.choosing_records(cifar), study.VALIDATION * 10)
    chosen = {c["key"]: c["named"] for c in beyond.chosen(cifar)}
    same = "the same" if all(chosen.get(k) == name for k, name in study.TEST_CHOSEN.items()) else "other"
    kept = sorted({ingredient for name in study.TEST_CHOSEN.values() for ingredient in beyond.carried(decisions, name)})
    return (
        "Beyond the study: both recipes were first picked on seed 0's test accuracy (CNN-SGD+'s test-time views on "
        f"all three seeds'); every choice made again on a validation split picks {same} recipes, and both still hold "
        f"{' and '.join(kept) or 'nothing'}, which validation dropped (`cifar/beyond/validation.md`)."
    )


def write_results(root: Path, cifar: list[dict], rnn: list[dict]) -> Path:
    cifar = runs.merge_early(cifar, study.EARLY_ITERATIONS, log=lambda m: None)
    rows, lines = table(root, cifar, rnn)
    checked = claims.build(cifar, rnn)
    counts = ", ".join(f"{sum(c.verdict == v for c in checked)} {v}" for v in claims.VERDICTS)
    lines += [
        sweep_line(cifar),
        recipe_line(cifar),
        f"The study's claims: {len(checked)} checked, {counts} (`claims.md`).",
    ]
    return stats.write_page(
        root / "results.md",
        "# The results at a glance",
        "Generated by `python -m common.report` from the committed records. Accuracies in percent; the study's numbers "
        f"are read off its report (~). {PM_KEY} The CPU column names the machines that trained the seeds (the model "
        "and which of AVX2, AVX-512 and AMX it has); what each command took is in `reproduction.md`.",
        stats.markdown(["task", "what", "the study's", "ours", "seeds", "command", "CPU"], rows),
        [f"- {line}" for line in lines],
    )


@cli.entry_point
def main(argv=None) -> int:
    s = parse(Settings, argv, __doc__.split("\n\n")[0], __doc__.split("\n\n", 1)[1], prog="python -m common.report")
    out, cifar, info = s.figures_dir, s.figures_dir / "cifar", task1.study_info()
    sweep, rnn = speed.read(out)  # the sweep's task's records, the RNN grid's index
    ident = lambda r: (r["identity"]["task"], r["identity"]["data"]["name"])  # noqa: E731
    records = [r for r in sweep if ident(r) == (study.TASK, info.name)]
    named = list(study.RUNS.values())
    chose = {"validation": study.VALIDATION}  # the runs that chose on validation: their figures too
    drawn = [(r, None) for r in named] + [(study.with_overrides(r, **chose), chose) for r in named]
    written = task1.summarize(records, info, drawn if s.run_figures else [], named, cifar)
    written += task1.write_calibration(records, task1.calibration_table(records, 0, study.EVAL_EVERY), cifar, 0)
    for folder in sorted(p.parent for p in (cifar / "search").glob("*/results.jsonl")):
        written += search.rebuild(folder, records)
    mnist = [r for r in rnn if ident(r) == (recurrent.TASK, recurrent.STUDY_DATASET)]
    grid = [(c, h) for c in recurrent.CELLS for h in recurrent.SIZES]
    written += rnn_report.summarize(mnist, recurrent.Grid(), grid, out / "rnn", print)
    folders = sorted({p.parent for p in (out / "deconvnet").rglob("deconvnet.json")})
    written += [p for folder in folders for p in deconvnet.rebuild(folder)]
    written += [speed.write_reproduction(out, sweep, rnn), speed.write_speed(out, sweep, rnn)]
    written.append(write_results(out, sweep, rnn))
    for path in written:
        print(f"wrote {path}")
    if s.prune:
        keep = {p.resolve() for p in written}
        for p in sorted(out.rglob("*")):
            if p.suffix in (".png", ".md", ".csv") and p.is_file() and p.resolve() not in keep:  # drawn, not a record
                p.unlink()
                print(f"pruned {p} (not redrawn from the records)")
    if s.docs and out.resolve() == (docs.ROOT / "figures").resolve():
        docs.main([])  # the README's and docs/' quoted tables, copied from the files just written
    return 0


if __name__ == "__main__":
    sys.exit(main())
