"""The claims table and the calibration table, on small saved metrics made here (no training)."""

import math

import numpy as np
import pytest

from common import runs, study
from common.report import claims
from common.report import task1 as calibration_report

STUDY_RUNS = [r for r in study.RUNS.values() if r.study_row]  # the study's table, row by row
STUDY = {r.study_row: r.study_accuracy for r in STUDY_RUNS}  # its (train, test) accuracies


def record(name, config, seed, curve, data="CIFAR10", task="cifar_v2", extra=None):
    """A results-index record: ``curve`` maps iteration -> (train accuracy, test accuracy)."""
    identity = {
        "task": task,
        "config": config,
        "eval_every": 100,
        "seed": seed,
        "data": {"name": data, "fingerprint": "f" * 16},
        "backend": "tensorflow",
        "device": "cpu",
    }
    history = []
    for it, (train, test) in sorted(curve.items()):
        h = {"iteration": it, "test_accuracy": test, **(extra(it) if extra else {})}
        if it:
            h["train_accuracy"] = train
        history.append(h)
    return {
        "name": name,
        "run_id": runs.run_id(name, identity),
        "group_id": runs.group_id(identity),
        "identity": identity,
        "status": "finished",
        "final": history[-1],
        "history": history,
        "train_time_s": 1.0,
        "images_per_sec": 1.0,
        "best_test_accuracy": history[-1]["test_accuracy"],
    }


def stats(it):
    # std drops to its minimum at 1,100, then rises: the study's observation
    std = 0.3 - 0.1 * min(it, 1100) / 1100 + 0.05 * max(it - 1100, 0) / 4400
    return {
        "conv1_std": std,
        "conv2_std": std,
        "conv1_min": 0.0,
        "conv2_min": 0.0,
        "conv1_gradient_filters": 0.05 + 0.4 * it / 5500,
    }


def study_records(test_of_row, seeds=(0, 1, 2), train=0.95):
    out = []
    for run in STUDY_RUNS:
        for seed in seeds:
            t = test_of_row[run.study_row] + 0.002 * seed
            tr = 0.6 if run.study_row == 3 else train
            curve = {
                0: (0.1, 0.1),
                1100: (tr * 0.7 if run.study_row != 3 else 0.2, 0.1 + 0.8 * (t - 0.1)),
                run.iterations: (tr, t),
            }
            out.append(record(run.name, run.identity(), seed, curve, extra=stats))
    return out


STUDY_LIKE = {1: 0.52, 2: 0.54, 3: 0.49, 4: 0.53, 5: 0.53, 6: 0.45, 7: 0.58, 8: 0.56, 9: 0.53, 10: 0.51, 11: 0.48}


def test_claims_hold_on_results_like_the_study():
    table = claims.build(study_records(STUDY_LIKE), [])
    by_claim = {c.claim: c for c in table}
    assert by_claim["Test accuracy never went beyond ~55-58% (the ceiling of the hand tuning)"].verdict == claims.HOLDS
    reg = next(c for c in table if c.claim.startswith("Regularization"))
    assert reg.verdict == claims.HOLDS and "run 7" in reg.evidence
    assert next(c for c in table if c.claim.startswith("More iterations")).verdict == claims.HOLDS
    assert next(c for c in table if c.claim.startswith("Momentum 0.8")).verdict == claims.HOLDS
    assert next(c for c in table if c.claim.startswith("Sigmoid")).verdict == claims.HOLDS
    assert next(c for c in table if c.claim.startswith("The standard deviation")).verdict == claims.HOLDS
    assert next(c for c in table if c.claim.startswith("ReLU")).verdict == claims.HOLDS
    assert next(c for c in table if c.claim.startswith("Many first-layer")).verdict == claims.HOLDS


def test_claims_that_the_numbers_refute_are_said_so():
    worse = {**STUDY_LIKE, 7: 0.50, 8: 0.50, 9: 0.45, 10: 0.50, 11: 0.52}
    table = claims.build(study_records(worse), [])
    assert next(c for c in table if c.claim.startswith("Regularization")).verdict == claims.FAILS
    assert next(c for c in table if c.claim.startswith("Momentum 0.8")).verdict == claims.FAILS


def test_missing_evidence_is_reported_never_dropped():
    table = claims.build([], [])
    assert len(table) == 17 and all(c.verdict == claims.UNTESTED for c in table)
    assert all("no results of" in c.evidence for c in table)
    partial = claims.build(study_records(STUDY_LIKE)[:6], [])  # runs 1 and 2 only
    assert next(c for c in partial if c.claim.startswith("Test accuracy never")).verdict == claims.UNTESTED
    md = claims.markdown(table)
    assert md.count("**cannot be tested**") == 17


def rnn_records(acc, n_seeds=2):
    out = []
    for (cell, h), (train, test) in acc.items():
        config = {"cell": cell, "hidden_units": h, "learning_rate": 0.01, "iterations": 3000, "batch_size": 100}
        for seed in range(n_seeds):
            first = 500 if cell == "cnn" else 1500
            curve = {0: (0.1, 0.1), first: (0.985 if train > 0.98 else train * 0.9, test - 0.02), 3000: (train, test)}
            out.append(record(f"{cell}_{h}", config, seed, curve, data="MNIST", task="rnn_mnist"))
    return out


def test_rnn_claims():
    acc = {
        ("lstm", 20): (0.96, 0.95),
        ("lstm", 15): (0.95, 0.945),
        ("lstm", 10): (0.92, 0.91),
        ("lstm", 5): (0.76, 0.75),
        ("gru", 20): (0.96, 0.95),
        ("gru", 15): (0.955, 0.948),
        ("gru", 10): (0.86, 0.85),
        ("gru", 5): (0.66, 0.65),
        ("rnn", 20): (0.80, 0.75),
        ("rnn", 15): (0.72, 0.70),
        ("rnn", 10): (0.66, 0.64),
        ("rnn", 5): (0.45, 0.44),
        ("cnn", None): (0.999, 0.97),
    }
    table = {c.claim: c for c in claims.build([], rnn_records(acc))}
    verdicts = [c.verdict for c in table.values() if c.topic == "Task 3"]
    assert verdicts.count(claims.HOLDS) >= 6, [(c.claim, c.verdict, c.evidence) for c in table.values()]
    assert table["The CNN reaches ~100% training accuracy in fewer iterations than every RNN"].verdict == claims.HOLDS


def test_calibration_table_scores_and_ranks(monkeypatch):
    """Candidate runs whose curves match the study's table at 4,000 iterations for one learning rate
    and miss it for the other: the table ranks the matching combination first, with the gaps it shows."""
    monkeypatch.setattr(
        study,
        "GRID",
        {
            "adam_lr": (1e-4, 1e-3),
            "l2": (1e-4,),
            "run6": ((1e-3, 0.9),),
            "iterations": (3000, 4000),
            "long_factor": (2.0,),
        },
    )

    class Data:
        fingerprint, name = "f" * 16, "CIFAR10"

        def identity(self):
            return {"name": "CIFAR10", "fingerprint": self.fingerprint}

    recs = []
    for run in study.calibration_runs():
        lr_good = run.optimizer != "adam" or run.learning_rate == 1e-3
        train, test = STUDY[run.study_row if run.study_row != 8 else 8]
        curve = {
            it: (
                train if (lr_good and it in (4000, 8000)) else train - 0.2,
                test if (lr_good and it in (4000, 8000)) else test - 0.1,
            )
            for it in range(0, run.iterations + 1, 100)
        }
        if run.study_row == 8:  # run 7 is read off run 8's curve at 4,000
            curve[4000] = STUDY[7] if lr_good else (0.5, 0.4)
        identity_rec = record(run.name, run.identity(), 0, curve)
        recs.append(identity_rec)
    monkeypatch.setattr(
        runs,
        "make_identity",
        lambda task, config, seed, data, every: {
            "task": task,
            "config": config,
            "eval_every": every,
            "seed": seed,
            "data": data.identity(),
            "backend": "tensorflow",
            "device": "cpu",
        },
    )
    rows = calibration_report.calibration_table(recs, 0, 100)
    best = rows[0]
    assert (best["adam_lr"], best["iterations"]) == (1e-3, 4000)
    assert best["test_gap"] == pytest.approx(0.0, abs=1e-9) and best["train_gap"] == pytest.approx(0.0, abs=1e-9)
    assert best["within_3_test_points"] == 11
    worst = [r for r in rows if r["adam_lr"] == 1e-4 and r["iterations"] == 3000][0]
    assert worst["score"] > best["score"] and math.isfinite(worst["score"])
    assert len(rows) == 4 and np.isfinite([r["score"] for r in rows]).all()
