"""Runs as data: every run is one literal (common/study.py), `--set FIELD=VALUE` makes a run of its own,
a new rung is one literal that every table finds, and `python -m common.report --no-run-figures` draws no run's
own figures."""

import json
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

import cifar_v2
import dconvnet
import rnn_mnist
from common import runs, study
from common.config import parse
from common.report import __main__ as report_main
from common.report import task1 as report_cifar

REPO = Path(__file__).resolve().parent.parent
FIGURES = REPO / "figures"
SHORT = ["--iterations", "20", "--eval-every", "10"]


def dirs(tmp):
    return ["--runs-dir", str(tmp / "runs"), "--out-dir", str(tmp / "fig")]


def test_every_named_run_has_its_committed_results():
    """The literals are the runs that made the committed tables: a change to one retrains that run alone. A
    candidate that validation dropped may have only its validation runs (trained on 9,000 images)."""
    index = [json.loads(line) for line in (FIGURES / "cifar" / "results.jsonl").read_text().splitlines()]
    trained = {(r["name"], json.dumps(r["identity"]["config"], sort_keys=True)) for r in index}
    for run in study.RUNS.values():
        defined = [run, study.with_overrides(run, validation=study.VALIDATION)]
        assert any((run.name, json.dumps(r.identity(), sort_keys=True)) in trained for r in defined), (
            f"{run.name}: no committed result of its definition; retrain it "
            f"(python cifar_v2.py --runs {run.name} --seeds 0,1,2) and commit its results"
        )


def test_a_run_changes_alone():
    """Run 7's dropout is written in run 7: the runs that share its value do not share the literal."""
    seven = study.RUNS["relu_adam_normal_dropout_l2"]
    changed = replace(seven, dropout=0.3)
    assert changed.identity() != seven.identity()
    for name in ("relu_adam_normal_dropout_l2_long", "beyond_1_augment", "beyond_6_shift4"):
        assert study.RUNS[name].dropout == 0.5  # untouched by the edit of run 7


def test_set_trains_a_run_of_its_own_beside_the_defined_one(tmp_path, data_root, capsys):
    flags = ["--data-dir", str(data_root), *dirs(tmp_path), "--runs", "relu_adam_normal_dropout_l2", *SHORT]
    assert cifar_v2.main(flags) == 0
    assert cifar_v2.main([*flags, "--set", "dropout=0.3", "--set", "learning_rate=3e-4"]) == 0
    found = {}
    for path in (tmp_path / "runs" / "relu_adam_normal_dropout_l2").glob("seed0-*/metrics.json"):
        m = json.loads(path.read_text())
        found[json.dumps(m.get("overrides"), sort_keys=True)] = m
    # the fields each command changed (SHORT's --iterations as well): two folders
    short, both = {"iterations": 20}, {"dropout": 0.3, "iterations": 20, "learning_rate": 0.0003}
    assert set(found) == {json.dumps(short), json.dumps(both)}
    changed = found[json.dumps(both)]
    assert changed["identity"]["config"]["dropout"] == 0.3 and changed["identity"]["config"]["learning_rate"] == 3e-4
    defined = found[json.dumps(short)]
    assert defined["identity"]["config"] == study.with_overrides(study.RUNS[changed["name"]], 20).identity()
    md = (tmp_path / "fig" / "summary.md").read_text()
    assert "| 7 | `relu_adam_normal_dropout_l2 [iterations=20]` |" in md
    assert "| 7 | `relu_adam_normal_dropout_l2 [dropout=0.3, iterations=20, learning_rate=0.0003]` |" in md
    fig = tmp_path / "fig"
    assert (fig / "relu_adam_normal_dropout_l2@iterations=20" / "curves.png").exists()
    assert (fig / "relu_adam_normal_dropout_l2@dropout=0.3@iterations=20@learning_rate=0.0003" / "curves.png").exists()
    out = capsys.readouterr().out
    assert cifar_v2.main([*flags, "--set", "dropout=0.3", "--set", "learning_rate=3e-4"]) == 0  # a rerun: finished
    assert "already finished" in capsys.readouterr().out and out


@pytest.mark.parametrize(
    "item,message",
    [
        ("nope=1", "no field 'nope'; the fields are activation, optimizer"),
        ("dropout=abc", "'abc' is not a number"),
        ("dropout=1.5", "'1.5' must be < 1.0"),
        ("iterations=0", "'0' must be a positive integer"),
        ("optimizer=lbfgs", "invalid choice: 'lbfgs'"),
        ("tta=maybe", "'maybe' is not true or false"),
        ("dropout", "expected FIELD=VALUE"),
    ],
)
def test_a_wrong_set_is_one_line_and_exit_2(item, message, capsys, tmp_path):
    for main in (cifar_v2.main, dconvnet.main):
        assert main(["--set", item, "--runs-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and err.startswith(f"error: --set {item}") and "\n" not in err


def test_rnn_mnist_takes_set_for_its_grid(capsys, tmp_path):
    assert rnn_mnist.main(["--set", "learning_rate=-1", *dirs(tmp_path)]) == 2
    assert "'-1' must be > 0.0" in capsys.readouterr().err
    s = parse(rnn_mnist.Settings, ["--set", "learning_rate=5e-3", "--set", "unroll=false"])
    assert s.grid().learning_rate == 5e-3 and s.grid().unroll is False and s.overrides()["learning_rate"] == 5e-3


# ---------------------------------------------------------------------------
def committed_copy(tmp_path) -> Path:
    """figures/ as committed, without its images (the searches too: their reports are drawn from their records)."""
    out = tmp_path / "figures"
    shutil.copytree(FIGURES, out, ignore=shutil.ignore_patterns("*.png"))
    return out


def test_no_run_figures_draws_the_tables_without_the_runs_own_figures(monkeypatch):
    """`python -m common.report --no-run-figures` passes no run to draw; the tables and every figure coming back
    byte for byte is tests/test_report_records.py::test_a_clean_clone_redraws_every_committed_figure."""

    class Drawn(Exception):  # stops the report before it writes anything
        pass

    def summarize(records, info, drawn, *args, **kwargs):
        raise Drawn(drawn)

    monkeypatch.setattr(report_cifar, "summarize", summarize)
    seen = []
    for flag in ("--run-figures", "--no-run-figures"):
        with pytest.raises(Drawn) as caught:
            report_main.main(["--figures-dir", str(FIGURES), flag, "--no-docs"])
        seen.append(caught.value.args[0])
    assert len(seen[0]) >= 2 * len(study.RUNS) and seen[1] == []


def test_a_new_rung_is_one_literal_that_every_table_finds(tmp_path, monkeypatch):
    """A rung added as one RunConfig, with results in the index: the ladder and the summary show it."""
    six = study.RUNS["beyond_6_shift4"]
    rung = replace(six, name="beyond_7_smooth02", rung="7", adds="+ label smoothing 0.2", builds_on=six.name)
    rung = replace(rung, label_smoothing=0.2)  # the one ingredient it adds
    monkeypatch.setitem(study.RUNS, rung.name, rung)
    monkeypatch.setattr(study, "RUNS_LIST", [*study.RUNS_LIST, rung])
    root = committed_copy(tmp_path)
    committed = re.search(r"ladder's (\d+) run\(s\)", (root / "cifar" / "summary.md").read_text())
    index = runs.ResultsIndex(root / "cifar" / "results.jsonl")
    records = index.read()
    for r in [r for r in records if r["name"] == six.name and r["identity"]["config"] == six.identity()]:
        identity = {**r["identity"], "config": rung.identity()}
        fake = {**r, "name": rung.name, "identity": identity, "final": {**r["final"], "test_accuracy": 0.735}}
        records.append({**fake, "run_id": runs.run_id(rung.name, identity), "group_id": runs.group_id(identity)})
    info = report_cifar.study_info()  # the study's data, as its records know it: no image read
    records = [r for r in records if r["identity"]["task"] == study.TASK and r["identity"]["data"]["name"] == info.name]
    named = list(study.RUNS.values())
    out = root / "cifar"
    report_cifar.summarize(records, info, [], named, out, study.READ_EVERY, log=lambda m: None)
    ladder = (out / "beyond" / "ladder.md").read_text()
    (row,) = [line for line in ladder.splitlines() if line.startswith("| 7 |")]
    assert "+ label smoothing 0.2 (`beyond_7_smooth02`)" in row and "| 73.5 ± 0.0 |" in row
    assert f"The improvement ladder's {int(committed[1]) + 1} run(s) are tabled" in (out / "summary.md").read_text()
    assert "beyond_7_smooth02" in (out / "summary.csv").read_text()
