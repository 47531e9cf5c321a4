"""Choose on validation, report on test: the validation split, the choices read from it, and the search's
pruner and warm start. The last test shuffles the test labels and gets the same choices, trial by trial."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_SEARCH

from common import data as datamod
from common import runs, search, study
from common.report import beyond as selection

optuna = pytest.importorskip("optuna")
REPO = Path(__file__).resolve().parent.parent


def synthetic(per_class=(30, 30, 30), seed=0):
    rng = np.random.default_rng(seed)
    y = np.concatenate([np.full(n, c) for c, n in enumerate(per_class)])
    y = y[rng.permutation(len(y))]
    x = rng.integers(0, 255, (len(y), 8, 8), dtype=np.uint8)
    return datamod.Dataset("SYN", x, y, x[:6], np.arange(6) % len(per_class), tuple("abc"[: len(per_class)]), "tmp")


def test_the_split_is_stratified_disjoint_fixed_and_part_of_the_identity():
    d = synthetic((30, 40, 50))
    fit, held = d.validation_split(10)
    assert len(np.intersect1d(fit, held)) == 0 and len(fit) + len(held) == len(d.y_train)
    assert np.bincount(d.y_train[held]).tolist() == [10, 10, 10]  # stratified
    again_fit, again_held = d.validation_split(10)
    assert np.array_equal(held, again_held) and np.array_equal(fit, again_fit)  # the same for every run of a seed
    assert not np.array_equal(held, d.validation_split(10, seed=1)[1])  # drawn from the split's own seed
    # seed k holds out fold k mod 3 (the smallest class has 3 folds of 10): disjoint folds, fold 0 again at seed 3
    folds = [d.validation_split(10, run_seed)[1] for run_seed in range(4)]
    assert all(len(np.intersect1d(folds[i], folds[j])) == 0 for i in range(3) for j in range(i))
    assert np.array_equal(folds[3], folds[0])
    run = study.with_overrides(study.RUNS["relu_adam_normal"], validation=10)
    a, b, c = (runs.make_identity(study.TASK, run.identity(), seed, d, 100) for seed in (0, 1, 3))
    assert a["split"] == c["split"] == d.split_identity(10) != b["split"] == d.split_identity(10, 1)
    plain = runs.make_identity(study.TASK, study.RUNS["relu_adam_normal"].identity(), 0, d, 100)
    assert "split" not in plain and "validation" not in plain["config"]
    with pytest.raises(datamod.DataError, match="validation"):
        d.validation_split(30)  # nothing left to train on in the smallest class


def test_runs_without_a_split_keep_their_committed_identity(data_root, monkeypatch):
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)  # TensorFlow's default threads, as those runs had
    d = datamod.load_dataset("CIFAR10", data_root)
    committed = {}
    for line in (REPO / "figures/cifar/results.jsonl").read_text().splitlines():
        r = json.loads(line)
        committed.setdefault((r["name"], r["seed"]), []).append(r["identity"])
    for name in ("relu_adam_normal", "relu_adam_normal_dropout_l2", "beyond_4_tta", "beyond_vgg_nesterov_tta10"):
        ident = runs.make_identity(study.TASK, study.RUNS[name].identity(), 0, d, study.EVAL_EVERY)
        assert ident in committed[(name, 0)], name  # every committed result stays finished


def record(name, val=None, test=None, views=None, seed=0, per_class=study.VALIDATION):
    run = study.RUNS[name]
    final = {}
    if val is not None:
        run = study.with_overrides(run, validation=per_class)
        final["val_accuracy"] = val
    if test is not None:
        final["test_accuracy"] = test
    if views:
        final["val_accuracy_views"] = views
    ident = {"config": run.identity(), "seed": seed, **({"split": {"per_class": per_class}} if val is not None else {})}
    return {"name": name, "seed": seed, "status": "finished", "identity": ident, "final": final}


def test_choices_read_only_validation_numbers():
    recs = [
        record("relu_adam_normal_dropout_l2", val=0.55, test=0.99),  # a test number, if there were one, is ignored
        record("beyond_1_augment", val=0.60),
        record("beyond_2_adamw_cosine", val=0.58),
        record("beyond_4_tta", val=0.61, views={"none": 0.60, "flip": 0.61, "flip_shift1": 0.63, "flip_shift2": 0.62}),
        record("beyond_1_augment", test=0.70),  # a 10,000-image run: not a choosing run
        record("beyond_2_adamw_cosine", val=0.9, per_class=10),  # another split: not this protocol's
    ]
    chose = selection.choosing_records(recs)
    assert sorted(chose) == ["beyond_1_augment", "beyond_2_adamw_cosine", "beyond_4_tta", "relu_adam_normal_dropout_l2"]
    rows = {r["run"]: r for r in selection.ladder_decisions(chose, 1000)}
    assert rows["beyond_1_augment"]["kept"] and not rows["beyond_2_adamw_cosine"]["kept"]
    assert rows["beyond_1_augment"]["delta"] == pytest.approx(0.05)
    assert "beyond_4_tta" not in rows  # it builds on rung 3, which did not choose
    assert selection.best_scored(chose, ["beyond_1_augment", "beyond_2_adamw_cosine"]) == "beyond_1_augment"
    assert selection.best_views(chose["beyond_4_tta"])[0] == "flip_shift1"
    with pytest.raises(selection.NotValidation, match="validation"):
        selection.val_accuracy(record("beyond_1_augment", test=0.7))


def fake_train(iterations, eval_every, trained):
    """A trial's run without a network: its validation accuracy a smooth function of its learning rate,
    reported at every evaluation as a real run does (not at its last iteration, which it finishes)."""

    def train(run, should_stop, trial):
        trained.append(run)
        best = np.log10(run.learning_rate) + 3  # 0 at lr 1e-3
        acc = 0.6 - 0.1 * best**2 - 0.1 * (run.activation == "sigmoid")
        for it in range(eval_every, run.iterations, eval_every):
            if should_stop(it, {"val_accuracy": acc * it / run.iterations}):
                return {"status": "pruned", "iterations_done": it, "wall_time_s": 1.0}
        return {"status": "finished", "final": {"val_accuracy": acc}, "iterations_done": iterations, "wall_time_s": 2}

    return train


@pytest.mark.parametrize("space", search.SPACES)
def test_the_warm_start_is_the_hand_tuned_run_and_the_pruner_stops_at_its_rungs(tmp_path, space):
    iterations, every = 270, 10
    rung = search.first_rung(space, iterations, every)  # airbench: where batches of 125, 250 and 375 all evaluate
    rival = study.RUNS[search.RIVALS[space]]
    warm = search.params_of(rival, space, iterations)
    url = f"sqlite:///{tmp_path / 's.sqlite3'}"
    st = search.open_study("s", url, seed=0, min_resource=rung, warm_start=warm)
    trained = []
    search.run_trials(st, 30, space, iterations, fake_train(iterations, every, trained), 0.1, log=lambda *a: None)
    first = trained[0]
    for knob in study.KNOBS:  # the first trial is the person's configuration, at the trial's length
        if knob not in ("iterations", "warmup", "validation"):
            assert getattr(first, knob) == getattr(rival, knob), knob
    assert first.warmup == round(rival.warmup / rival.iterations * iterations)
    assert all(r.validation == study.VALIDATION for r in trained)  # every trial chooses on validation
    trials = st.get_trials()
    assert trials[0].user_attrs.get("warm_start") and trials[0].state == optuna.trial.TrialState.COMPLETE
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED]
    assert pruned, "successive halving pruned nothing in 30 trials"
    assert search.rungs(rung, iterations) == [30, 90]
    # a pruned trial stops at a rung: in the airbench space a step is the rival's batch of images, so every batch size
    # is compared with the others at equal images seen
    assert {max(t.intermediate_values) for t in pruned} <= set(search.rungs(rung, iterations))
    for t, run in zip(trials, trained):  # its first evaluation's step: the rival's batches in as many images
        images = every * (run.batch_size if space == "airbench" else rival.batch_size)
        assert min(t.intermediate_values) * rival.batch_size == images
    again = search.open_study("s", url, seed=0, min_resource=rung, warm_start=warm)
    assert len(again.get_trials()) == len(trials)  # reopening does not enqueue the warm start again


def test_no_choice_reads_the_test_set(tmp_path, data_root, monkeypatch, no_run_figures, tiny_search):
    """A search and the ladder's decisions on data whose test labels are shuffled: the same choices, trial by
    trial and number by number, as on the real data (whose search is conftest.py's ``tiny_search``)."""
    import cifar_v2

    real = cifar_v2.load_dataset

    def shuffled(*args, **kwargs):
        d = real(*args, **kwargs)
        return dataclasses.replace(d, y_test=np.random.default_rng(0).permutation(d.y_test))

    seen = {}
    for label in ("real", "shuffled"):
        if label == "shuffled":
            monkeypatch.setattr(cifar_v2, "load_dataset", shuffled)
        # the search and the ladder each in a folder of their own: neither reads the other's records
        found = tiny_search if label == "real" else tmp_path / "search"
        dirs = ["--data-dir", str(data_root), "--runs-dir", str(found / "runs"), "--out-dir", str(found / "fig")]
        if label == "shuffled":
            assert cifar_v2.main([*dirs, *TINY_SEARCH, "--search", "3"]) == 0  # the same command as tiny_search's
        st = optuna.load_study(
            study_name="cifar_v2-CIFAR10-study-20it-val", storage=f"sqlite:///{found / 'runs' / 'search.sqlite3'}"
        )
        trials = [(t.number, t.state.name, t.params, t.value, t.intermediate_values) for t in st.get_trials()]
        dirs = ["--data-dir", str(data_root), "--runs-dir", str(tmp_path / label)]
        dirs += ["--out-dir", str(tmp_path / f"f{label}")]
        ladder = ["--runs", "relu_adam_normal_dropout_l2,beyond_1_augment", "--iterations", "20"]
        assert cifar_v2.main([*dirs, *TINY_SEARCH, *ladder, "--set", f"validation={study.VALIDATION}"]) == 0
        index = [json.loads(line) for line in (tmp_path / f"f{label}" / "results.jsonl").read_text().splitlines()]
        chose = {}
        for r in index:  # the tiny runs' 20 iterations are an override, so read them by name
            if r["identity"].get("split"):
                chose.setdefault(r["name"], []).append(r)
        assert sorted(chose) == ["beyond_1_augment", "relu_adam_normal_dropout_l2"]
        assert all("test_accuracy" not in h for recs in chose.values() for r in recs for h in r["history"])
        acc = {n: selection.mean_val(recs) for n, recs in chose.items()}
        seen[label] = (trials, acc)
    assert seen["real"] == seen["shuffled"]


def test_a_network_and_its_views_are_chosen_together():
    views = {"none": 0.60, "flip": 0.61, "flip_shift1": 0.66, "flip_shift2": 0.62}
    chose = {
        "beyond_vgg": [record("beyond_vgg", val=0.63)],  # its own views (flip): 63%, the best own-view number
        "beyond_vgg_nesterov": [record("beyond_vgg_nesterov", val=0.61, views=views)],  # 66% at 1-pixel shifts
    }
    assert max(chose, key=lambda n: selection.mean_val(chose[n])) == "beyond_vgg"  # on its own views alone
    assert selection.best_scored(chose, list(chose)) == "beyond_vgg_nesterov"
    assert selection.score(chose["beyond_vgg_nesterov"]) == 0.66
