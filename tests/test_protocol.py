"""The protocol's decisions (common/protocol.py): paired repeats, two standard errors, the chain and the ablations,
from records alone; no test number reaches a choice; the fresh seeds are disjoint from every seed a choice used."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from common import protocol, study

REPO = Path(__file__).resolve().parent.parent


def record(run, seed, views, test=None):
    """A finished validation record of ``run`` with the accuracies ``views`` ({view set: accuracy})."""
    final = {"val_accuracy": views[protocol.views_of(run)], "val_accuracy_views": views}
    if test is not None:
        final["test_accuracy"] = test
    return {
        "name": run.name,
        "seed": seed,
        "status": "finished",
        "identity": {"config": run.identity()},
        "final": final,
    }


def train(needed, score, rng=None):
    """Records for the runs ``needed`` asks for; ``score(run, seed)`` -> their accuracy without views."""
    out = []
    for run, seed in needed:
        base = score(run, seed)
        views = {"none": base, "flip": base + 0.01, "flip_shift1": base + 0.015, "flip_shift2": base + 0.012}
        out.append(record(run, seed, views, test=None if rng is None else float(rng.random())))
    return out


def run_design(design, score, rng=None):
    records = []
    for _ in range(40):
        w = protocol.walk(design, protocol.val_lookup(records))
        if not w.needed:
            return w, records
        records += train(w.needed, score, rng)
    raise AssertionError("the walk never ended")


def test_a_decision_keeps_an_ingredient_only_beyond_two_standard_errors():
    step = protocol.Step("x", "x", {})
    clear = protocol.Decision(step, None, None, [0.03, 0.04, 0.05])
    assert clear.kept and clear.repeats_needed == 3 and clear.verdict == "kept"
    noise = protocol.Decision(step, None, None, [0.01, -0.01, 0.005])
    assert not noise.kept and noise.repeats_needed == 3 and "inside the noise" in noise.verdict
    unclear = protocol.Decision(step, None, None, [0.02, -0.005, 0.01])  # 1 to 3 standard errors: two more
    assert 1 <= unclear.mean / unclear.se <= 3 and unclear.repeats_needed == 5
    worse = protocol.Decision(step, None, None, [-0.05, -0.04, -0.06])
    assert not worse.kept and worse.verdict == "dropped"
    assert clear.se == pytest.approx(np.std([0.03, 0.04, 0.05], ddof=1) / np.sqrt(3))


def test_the_chain_holds_exactly_the_kept_rungs_and_a_view_step_trains_nothing():
    design = protocol.DESIGNS["lenet"]
    gains = {"augment": 0.04, "adamw": 0.03, "smooth": 0.0, "long": 0.08, "shift4": -0.01}

    def score(run, seed):  # each ingredient's gain, plus a seed's noise shared by the pair (paired repeats)
        return 0.5 + sum(g for k, g in gains.items() if f"+{k}" in run.name) + 0.002 * ((seed * 7) % 5)

    w, records = run_design(design, score)
    assert [d.step.key for d in w.decisions] == [s.key for s in (*design.steps, *design.then)]
    assert [d.kept for d in w.decisions] == [True, True, False, True, True, False, False, True, False, False]
    assert w.chosen.name == "run7+augment+adamw+flip+long+views10" and w.chosen.validation == 0
    assert w.chosen.augment == "flip_shift" and w.chosen.label_smoothing == 0 and w.chosen.tta_shift == 1
    assert [r.name for r in w.tested] == ["run7+augment+adamw+flip+long", w.chosen.name]  # train alike: one run
    assert w.chosen.iterations == 3 * study.RUNS[design.start].iterations
    assert w.chosen.warmup == round(0.05 * w.chosen.iterations)  # the cosine schedule's share, after the 3x
    # the flip step read the views of the runs before it: one run per training, per seed
    keys = [
        (protocol.training_key(study.RunConfig(**{**r["identity"]["config"], "name": "x"})), r["seed"]) for r in records
    ]
    assert len(keys) == len(set(keys)) and all(r["seed"] in range(protocol.MORE_REPEATS) for r in records)


def test_the_ablations_drop_what_is_inside_the_noise_together_then_check_it():
    design = protocol.DESIGNS["airbench"]
    losses = {"whiten": 0.03, "lookahead": 0.0, "smooth": 0.0}  # what taking each ingredient out costs

    def score(run, seed):
        return 0.8 - sum(g for k, g in losses.items() if f"-{k}" in run.name) + 0.001 * seed

    w, records = run_design(design, score)
    ablations = w.decisions[: len(design.steps)]
    dropped = [d.step.key for d in ablations if not d.kept]
    assert "whiten" not in dropped and {"lookahead", "smooth"} <= set(dropped)
    last, wide, smooth = w.decisions[len(design.steps) :]
    assert last.step.key == "+".join(dropped) and not last.kept
    # then the chain step, on the recipe the ablations chose: wider is no better here, so the simpler stays
    assert wide.step.key == "wide" and wide.simpler == last.simpler and not wide.kept
    assert smooth.simpler == wide.simpler and not smooth.kept  # each chain step on the recipe kept so far
    assert w.chosen.ema == 0 and w.chosen.label_smoothing == 0 and w.chosen.whiten and w.chosen.validation == 0
    assert w.tested == [w.chosen]
    wider, _ = run_design(design, lambda run, seed: score(run, seed) + 0.02 * ("+wide" in run.name))
    assert wider.chosen.arch == "airbench" and wider.chosen.name.endswith("+wide")
    assert wider.tested == [w.chosen, wider.chosen]  # both the ablations' choice and the wider one are tested
    both, _ = run_design(design, lambda run, seed: score(run, seed) + 0.02 * run.name.count("+"))
    assert [r.name.removeprefix(w.chosen.name) for r in both.tested] == ["", "+wide", "+wide+smooth"]  # each step


def test_the_rebuilt_ladder_is_the_start_then_each_recipe_a_decision_moved_to():
    from common.report.protocol import rungs

    lenet = protocol.DESIGNS["lenet"]
    gains = {"augment": 0.04, "adamw": 0.03, "long": 0.08}
    w, records = run_design(lenet, lambda run, seed: 0.5 + sum(g for k, g in gains.items() if f"+{k}" in run.name))
    ladder = rungs(lenet, w)
    labels = ["run7", "+augment", "+adamw", "+flip", "+long", "+views10"]  # train() gives views
    assert [label for label, _ in ladder] == labels
    assert ladder[-1][1].name == "run7+augment+adamw+flip+long+views10" and ladder[0][1].name == "run7"
    finals = protocol.finals(records, ladder[1][1])  # one per seed, whatever views the record was read at
    assert len(finals) == w.decisions[0].n and all("val_accuracy_views" in f for f in finals)
    airbench = protocol.DESIGNS["airbench"]
    w, _ = run_design(airbench, lambda run, seed: 0.8 - 0.03 * ("-whiten" in run.name) + 0.001 * seed)
    dropped = [d for d in w.decisions[: len(airbench.steps)] if not d.kept]  # all but whiten and the views
    assert len(dropped) == len(airbench.steps) - 2
    assert [label for label, _ in rungs(airbench, w)] == ["airbench", f"without the {len(dropped)} dropped"]


def test_no_test_number_reaches_a_choice():
    def score(run, seed):
        return 0.6 + 0.03 * run.name.count("+") + 0.002 * seed

    chosen = [run_design(protocol.DESIGNS["lenet"], score, np.random.default_rng(k))[0] for k in (0, 1)]
    assert chosen[0].chosen == chosen[1].chosen
    assert [d.diffs for d in chosen[0].decisions] == [d.diffs for d in chosen[1].decisions]
    runs_ = [record(replace(study.RUNS["airbench"], validation=100), 0, dict.fromkeys(protocol.VIEWS.values(), 0.5))]
    del runs_[0]["final"]["val_accuracy_views"]  # a record without validation views is not a candidate's
    assert protocol.val_lookup(runs_)(replace(study.RUNS["airbench"], validation=100), 0) is None


def test_the_fresh_seeds_are_disjoint_from_every_seed_a_choice_used():
    chose = {
        json.loads(line)["seed"]
        for line in (REPO / "figures/cifar/results.jsonl").read_text().splitlines()
        if "split" in json.loads(line)["identity"]
    }
    chose |= set(range(protocol.MORE_REPEATS))
    assert chose and not chose & set(protocol.FRESH_SEEDS)


def test_recipes_that_differ_by_their_views_share_their_fresh_runs():
    base = replace(study.RUNS["relu_adam_normal"], name="base")
    views10 = replace(base, name="base+views10", tta=True, tta_shift=1)
    other = replace(base, name="other", learning_rate=0.1)
    tested = [views10, base, other]
    # of the two that train alike, the one without views trains (views at every evaluation cost their passes)
    assert protocol.fresh_needed([], tested) == [(r, s) for r in (base, other) for s in protocol.FRESH_SEEDS]
    fresh = lambda run, views=None: [  # noqa: E731
        {**record(run, s, {"none": 0.5}, test=0.5 + s / 1000), "final": {"test_accuracy": 0.5 + s / 1000}}
        | (
            {"final": {"test_accuracy": 0.5, "test_accuracy_views": views, "train_clean_accuracy": 0.9}}
            if views
            else {}
        )
        for s in protocol.FRESH_SEEDS
    ]
    # recorded without every view set (an older record), it trains again: the recipe read at its views lacks them
    assert protocol.fresh_needed(fresh(base) + fresh(other), tested) == [(base, s) for s in protocol.FRESH_SEEDS]
    records = fresh(base, {"none": 0.5, "flip": 0.6, "flip_shift1": 0.7, "flip_shift2": 0.65}) + fresh(other)
    assert protocol.fresh_needed(records, tested) == []
    read = protocol.fresh_records(records, views10)
    assert [r["name"] for r in read] == ["base"] * 5 and {r["final"]["test_accuracy"] for r in read} == {0.7}
    assert not any("train_clean_accuracy" in r["final"] for r in read)  # read at the base's views: not this one's
    assert [r["final"]["test_accuracy"] for r in protocol.fresh_records(records, base)] == [0.5] * 5
    assert protocol.fresh_records(records, replace(other, tta=True)) == []  # no view set that was not recorded
