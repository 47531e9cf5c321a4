"""The records are the one source: the report imports no deep-learning framework, a run's record holds what
its figures need, the report's statistics are the ones it says, and a clean clone redraws every committed
figure and table byte for byte."""

import json
import math
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import REPO
from processes import PROCESS_TIMEOUT, finish, spawn

# What the report must never load: a framework, or the training side's modules that bring one in
BLOCKER = textwrap.dedent(
    """
    import sys
    BLOCKED = ("keras", "tensorflow", "jax", "torch")
    OURS = ("common.models", "common.backend", "common.training", "common.evaluation", "common.deconvnet")
    class Blocker:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED or name in OURS:
                raise ImportError(f"the report imported {name}")
    sys.meta_path.insert(0, Blocker())
    """
)


def run_blocked(code: str, cwd=REPO, timeout=PROCESS_TIMEOUT) -> subprocess.CompletedProcess:
    """``code`` in a Python of its own with the frameworks blocked (its output captured)."""
    program = BLOCKER + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", program], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_the_report_imports_no_framework():
    done = run_blocked(
        """
        import pkgutil, importlib
        import common.report
        names = [m.name for m in pkgutil.iter_modules(common.report.__path__) if m.name != "__main__"]
        for name in names:
            importlib.import_module(f"common.report.{name}")
        importlib.import_module("common.report.__main__")
        print(*names)
        """
    )
    assert done.returncode == 0, done.stderr
    pages = {"task1", "runfigs", "overview", "beyond", "search", "deconvnet", "rnn", "claims", "speed"}
    assert pages <= set(done.stdout.split())  # every page's module, and the helpers they share


def test_expected_calibration_error_of_hand_made_probabilities():
    from common.runs import expected_calibration_error, reliability

    # 4 images at confidence 0.95 (bin 14), 3 right; 4 at 0.55 (bin 8), 2 right:
    # ECE = 4/8 |0.75 - 0.95| + 4/8 |0.5 - 0.55| = 0.1 + 0.025
    p = np.array([[0.95, 0.05]] * 4 + [[0.55, 0.45]] * 4)
    labels = np.array([0, 0, 0, 1, 0, 0, 1, 1])
    table = reliability(p, labels, bins=15)
    assert table["count"][14] == 4 and table["correct"][14] == 3 and table["count"][8] == 4
    assert expected_calibration_error(table) == pytest.approx(0.125)
    perfect = reliability(np.eye(3)[[0, 1, 2]], np.array([0, 1, 2]))  # confidence 1, all right: the last bin
    assert perfect["count"][-1] == 3 and expected_calibration_error(perfect) == pytest.approx(0.0)


def test_packed_correctness_round_trips_and_pairs():
    from common.report.stats import paired_compare
    from common.runs import pack_correct, unpack_correct

    rng = np.random.default_rng(0)
    a = rng.random(1000) < 0.6
    assert np.array_equal(unpack_correct(pack_correct(a), 1000), a)
    b = a.copy()
    b[:30] = ~b[:30]  # 30 images differ
    rec = lambda c: {
        "seed": 0,
        "status": "finished",
        "final": {"val_accuracy": c.mean(), "val_correct": pack_correct(c), "val_confusion": [[1000]]},
    }  # noqa: E501, E731
    diff, se, n = paired_compare([rec(a)], [rec(b)])
    d = a.astype(float) - b.astype(float)
    assert n == 1 and diff == pytest.approx(d.mean()) and se == pytest.approx(d.std(ddof=1) / math.sqrt(1000))
    assert se < math.hypot(*(math.sqrt(c.mean() * (1 - c.mean()) / 1000) for c in (a, b)))  # pairing pays


def test_forest_intervals_are_the_claims_compare(tmp_path):
    """The forest plot draws each claim's differences as the claims computed them with stats.compare."""
    from common import runs, study
    from common.report import claims, stats
    from common.report.stats import compare

    root = tmp_path / "figures"
    recs = []
    for run in (r for r in study.RUNS.values() if r.study_row):
        for seed in (0, 1, 2):
            acc = 0.4 + 0.01 * run.study_row + 0.005 * seed
            identity = {"task": study.TASK, "config": run.identity(), "eval_every": 100, "seed": seed}
            identity |= {"data": {"name": "CIFAR10", "fingerprint": "f"}, "backend": "tensorflow", "device": "cpu"}
            final = {"iteration": run.iterations, "train_accuracy": acc + 0.3, "test_accuracy": acc}
            recs.append(
                {
                    "name": run.name,
                    "identity": identity,
                    "seed": seed,
                    "status": "finished",
                    "run_id": runs.run_id(run.name, identity),
                    "group_id": runs.group_id(identity),
                    "final": final,
                    "history": [{"iteration": 0, "test_accuracy": 0.1}, final],
                }
            )
    runs.ResultsIndex(root / "cifar" / "results.jsonl").upsert(recs)
    checked = claims.build(runs.ResultsIndex(root / "cifar" / "results.jsonl").read(), [])
    groups = stats.study_rows(recs)
    run8_minus_7 = next(d for c in checked for d in c.differences if d[0].startswith("run 8 - run 7"))
    assert run8_minus_7[1:] == pytest.approx(compare(groups[8], groups[7])[:2])
    assert claims.update(root) == [root / "claims.md", root / "forest.png"] and (root / "forest.png").stat().st_size > 0


def test_a_runs_figures_come_from_its_record_alone(tmp_path, quickstart):
    """The quick start's run (tests/conftest.py): only its index row is copied to a folder of its own (no runs
    folder, no model there) and its figures, the filters included, are drawn from it with the frameworks blocked."""
    folder, code, output = quickstart
    assert code == 0, output[-3000:]
    index = folder / "runs" / "quickstart" / "figures" / "results.jsonl"  # cifar_v2.py --quick's --out-dir
    final = json.loads(index.read_text().splitlines()[0])["final"]
    assert {"conv1_kernel", "test_reliability", "test_correct", "test_confusion", "train_ce"} <= set(final)
    out = tmp_path / "redrawn"
    out.mkdir()
    shutil.copy(index, out / "results.jsonl")
    done = run_blocked(
        f"""
        from pathlib import Path
        from common import runs, study
        from common.report import runfigs
        recs = runs.ResultsIndex(Path({str(out)!r}) / "results.jsonl").read()
        run = study.with_overrides(study.RUNS["relu_adam_normal_dropout_l2"], study.READ_EVERY)  # as --quick
        for p in runfigs.write_run_figures(run, recs, Path({str(out)!r}) / "run", study.READ_EVERY, True):
            print(p.name)
        """
    )
    assert done.returncode == 0, done.stderr
    drawn = set(done.stdout.split())
    assert {"curves.png", "activation_stats.png", "filters.png", "filters_init_vs_trained.png"} <= drawn


def test_a_clean_clone_redraws_every_committed_figure(tmp_path):
    """Clone the repository, delete every PNG under figures/, redraw with the frameworks blocked: git status
    is empty (every figure and table comes back byte for byte, and nothing else changes)."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(clone)], check=True)
    pngs = list((clone / "figures").rglob("*.png"))
    assert len(pngs) > 100  # every figure of the four scripts: a clone without them would test nothing
    for p in pngs:
        p.unlink()
    proc = spawn(
        [
            sys.executable,
            "-c",
            BLOCKER + "import sys, runpy; sys.argv = ['common.report']; "
            "runpy.run_module('common.report', run_name='__main__', alter_sys=True)",
        ],
        tmp_path / "redraw.log",
        cwd=clone,
    )
    assert finish(proc) == 0, proc.output()[-3000:]
    status = subprocess.run(["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True).stdout
    assert status == "", f"the redraw changed or missed these files:\n{status[:3000]}"


def test_a_rerun_replaces_its_record_also_under_a_stale_run_id(tmp_path):
    """A record whose stored run id an older version computed otherwise is still the same run (its name and
    identity): retraining it replaces it instead of adding a second seed 0 to its group."""
    from common import runs

    identity = {"task": "t", "seed": 0, "config": {"lr": 0.1}}
    old = {"name": "a", "identity": identity, "run_id": "stale0000000", "final": {"test_accuracy": 0.5}}
    other = {"name": "a", "identity": {**identity, "seed": 1}, "run_id": "x", "final": {"test_accuracy": 0.6}}
    index = runs.ResultsIndex(tmp_path / "results.jsonl")
    index.upsert([old, other])
    new = {**old, "run_id": runs.run_id("a", identity), "final": {"test_accuracy": 0.7}}
    kept = index.upsert([new])
    assert sorted((r["identity"]["seed"], r["final"]["test_accuracy"]) for r in kept) == [(0, 0.7), (1, 0.6)]
