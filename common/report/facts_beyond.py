"""The facts ``docs/beyond.md`` cites: the ladder's changes and whether they are beyond noise, the choices made
on validation, the goals against their results, and the chosen recipes' classes; each from the records."""

from __future__ import annotations

import functools

import numpy as np

from common import data, selection, study
from common.report import validation
from common.report.facts import FACTS, acc, against_goal, difference, fact, points
from common.report.stats import binomial_se, compare, final, images_evaluated, paired_compare, se_of_mean
from common.report.tables import format_duration, gap, pct

RUN7 = next(n for n, r in study.RUNS.items() if r.rung == "0")  # the study's best run, the ladder's rung 0
RUN8 = next(
    n for n, r in study.RUNS.items() if r.study_row == 8
)  # run 7 trained longer (the study's "more iterations")
LADDER = [n for n, r in study.RUNS.items() if r.rung is not None]
GOAL_KEYS = dict(zip(("lenet", "net"), study.GOALS))  # validation.chosen()'s keys -> study.GOALS' labels


def plural(name: str) -> str:
    return name if name == "deer" else name + "s"


def need(recs: list[dict]) -> list[dict]:
    """``recs``, or ValueError (the fact reads "-") where there are none."""
    if not recs:
        raise ValueError("no records")
    return recs


def tested(s, name: str) -> list[dict]:
    return need(s.tested(name))


def noise_word(beyond: bool) -> str:
    return "beyond noise" if beyond else "within noise"


def mean_pct(recs: list[dict], key: str = "test_accuracy") -> str:
    return f"{pct(final(need(recs), key)[0])}%"


def listed(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"; "none" for none."""
    return " and ".join([", ".join(items[:-1]), items[-1]] if len(items) > 1 else items) or "none"


# --- the ladder on the test set (its runs trained on all 10,000 images) ---------------------------------
def delta(s, name: str) -> str:
    return difference(tested(s, name), tested(s, study.RUNS[name].builds_on), s.cifar)


def delta_noise(s, name: str) -> str:
    return noise_word(compare(tested(s, name), tested(s, study.RUNS[name].builds_on), among=s.cifar)[2])


for _name in LADDER:
    FACTS[f"beyond.train.{_name}"] = lambda s, n=_name: mean_pct(tested(s, n), "train_accuracy")
    FACTS[f"beyond.time.{_name}"] = lambda s, n=_name: format_duration(
        np.mean([r["train_time_s"] for r in tested(s, n)])
    )
    if study.RUNS[_name].builds_on:
        FACTS[f"beyond.delta.{_name}"] = functools.partial(delta, name=_name)
        FACTS[f"beyond.noise.{_name}"] = functools.partial(delta_noise, name=_name)


@fact("beyond.study_best")
def study_best(s):
    """The test accuracy the study reported for its best run (run 7)."""
    return f"{pct(study.RUNS[RUN7].study_accuracy[1])}%"


@fact("beyond.run8.diff")
def run8_diff(s):
    """Run 8 (run 7 trained longer, no augmentation) minus run 7, on the test set."""
    return difference(tested(s, RUN8), tested(s, RUN7))


@fact("beyond.run8.noise")
def run8_noise(s):
    return noise_word(compare(tested(s, RUN8), tested(s, RUN7))[2])


@fact("beyond.rung4_gain")
def rung4_gain(s):
    """Rung 4 (the LeNet-5 the deconvnet looks at) minus run 7, on the test set."""
    return difference(tested(s, "beyond_4_tta"), tested(s, RUN7))


@fact("beyond.param_ratio")
def param_ratio(s):
    """How many times fewer weights the CNN has than the LeNet-5."""
    return f"{tested(s, RUN7)[0]['num_params'] / tested(s, 'beyond_vgg')[0]['num_params']:.0f}"


def wide_rows(s) -> list[list[dict]]:
    return [tested(s, n) for n, r in study.RUNS.items() if r.arch == study.RUNS["beyond_vgg_wide"].arch]


@fact("beyond.wide.maxdiff")
def wide_maxdiff(s):
    """The largest test-accuracy difference of a wide CNN from the CNN, in points."""
    return points(max(abs(compare(w, tested(s, "beyond_vgg"), among=s.cifar)[0]) for w in need(wide_rows(s))))


@fact("beyond.wide.noise")
def wide_noise(s):
    """Whether the wide CNNs differ from the CNN beyond noise on the test set."""
    beyond = [compare(w, tested(s, "beyond_vgg"), among=s.cifar)[2] for w in need(wide_rows(s))]
    return "all within noise" if not any(beyond) else f"{sum(beyond)} of {len(beyond)} beyond noise"


def same_networks(s) -> tuple[list[dict], list[dict]]:
    """CNN-SGD+'s and CNN-SGD's seeds that are the same networks (the same train accuracy: the same machine)."""
    plus, sgd = tested(s, "beyond_vgg_nesterov_tta10"), {r["seed"]: r for r in tested(s, "beyond_vgg_nesterov")}
    same = lambda r: r["seed"] in sgd and r["final"]["train_accuracy"] == sgd[r["seed"]]["final"]["train_accuracy"]  # noqa: E731
    plus = [r for r in plus if same(r)]
    return plus, [sgd[r["seed"]] for r in plus]


@fact("beyond.tta10.same")
def tta10_same(s):
    """How many of CNN-SGD+'s seeds are CNN-SGD's networks, evaluated over 10 views."""
    return f"{len(same_networks(s)[0])} of {len(tested(s, 'beyond_vgg_nesterov_tta10'))}"


@fact("beyond.tta10.paired")
def tta10_paired(s):
    """The 10 views minus the mirror alone, seed by seed on those same networks."""
    d, se, _ = paired_compare(*same_networks(s), split="test")
    return f"{100 * d:+.1f} ± {100 * se:.1f}"


# --- the choices made on validation (validation.md) -------------------------------------------------------
@functools.cache
def choosing(s) -> dict[str, list[dict]]:
    return selection.choosing_records(s.cifar)


@functools.cache
def decisions(s) -> list[dict]:
    return need(selection.ladder_decisions(choosing(s), study.VALIDATION * len(data.CIFAR10_CLASS_NAMES)))


def decision(s, name: str) -> dict:
    return next(d for d in decisions(s) if d["run"] == name)


def decision_text(s, name: str) -> str:
    d = decision(s, name)
    return f"{gap(d['delta'])} points, {'kept' if d['kept'] else 'dropped'}, {noise_word(d['beyond_noise'])}"


def choosing_run(s, name: str) -> list[dict]:
    return need(choosing(s).get(name, []))


for _name in LADDER:
    FACTS[f"beyond.val.{_name}"] = lambda s, n=_name: f"{pct(selection.mean_val(choosing_run(s, n)))}%"
    FACTS[f"beyond.val_best.{_name}"] = lambda s, n=_name: f"{pct(selection.score(choosing_run(s, n)))}%"
    FACTS[f"beyond.val_train.{_name}"] = lambda s, n=_name: mean_pct(choosing_run(s, n), "train_accuracy")
    FACTS[f"beyond.val_time.{_name}"] = lambda s, n=_name: format_duration(choosing_run(s, n)[0]["train_time_s"])
    if study.RUNS[_name].builds_on:
        FACTS[f"beyond.decision.{_name}"] = functools.partial(decision_text, name=_name)


@fact("beyond.val.decisions")
def val_decisions(s):
    return str(len(decisions(s)))


def earlier_kept(s, d: dict) -> bool | None:
    """The decision seed 0's test accuracy made on the row (None: not made)."""
    now, before = validation.seed0_test(s.cifar, d["run"]), validation.seed0_test(s.cifar, d["builds_on"])
    return None if now is None or before is None else now > before


def reversed_rows(s) -> list[dict]:
    return [d for d in decisions(s) if earlier_kept(s, d) not in (None, d["kept"])]


@fact("beyond.val.reversed")
def val_reversed(s):
    """How many of the decisions seed 0's test accuracy also made validation reverses."""
    made = [d for d in decisions(s) if earlier_kept(s, d) is not None]
    return f"{len(reversed_rows(s))} of {len(made)}"


@fact("beyond.val.reversed_rungs")
def val_reversed_rungs(s):
    return listed([study.RUNS[d["run"]].rung for d in reversed_rows(s)])


@fact("beyond.val.reversal_noise")
def val_reversal_noise(s):
    """Whether the test-chosen recipe beats the validation-chosen one beyond noise on any reversed row."""
    beyond = [compare(tested(s, d["run"]), tested(s, d["builds_on"]))[2] for d in need(reversed_rows(s))]
    return "all within noise" if not any(beyond) else f"{sum(beyond)} of {len(beyond)} beyond noise"


@fact("beyond.val.se")
def val_se(s):
    """The typical binomial standard error of a decision's difference on the validation images, in points."""
    n = study.VALIDATION * len(data.CIFAR10_CLASS_NAMES)
    return points(np.mean([np.hypot(binomial_se(d["val"], n), binomial_se(d["prev"], n)) for d in decisions(s)]))


@fact("beyond.val.beyond_noise")
def val_beyond_noise(s):
    """The rows whose validation decision is beyond noise."""
    return listed([study.RUNS[d["run"]].rung for d in decisions(s) if d["beyond_noise"]])


@functools.cache
def chosen(s) -> dict[str, dict]:
    return {c["key"]: c for c in validation.chosen(s.cifar)}


def recipe(s, key: str) -> str:
    """The recipe chosen on validation ("the named run"), or ValueError where it has no named run yet."""
    name = chosen(s)[key]["named"]
    if not name:
        raise ValueError("not a named run")
    return name


for _key in GOAL_KEYS:
    FACTS[f"beyond.val.{_key}"] = lambda s, k=_key: f"{study.RUNS[recipe(s, k)].rung} (`{recipe(s, k)}`)"
    FACTS[f"beyond.val.{_key}_score"] = lambda s, k=_key: f"{pct(chosen(s)[k]['val'])}%"


@fact("beyond.val.same")
def val_same(s):
    """Whether validation chose the recipes seed 0's test accuracy had picked: "also" or "not"."""
    return "also" if all(recipe(s, k) == study.TEST_CHOSEN[k] for k in GOAL_KEYS) else "not"


def carried(s, key: str) -> str:
    """The ingredients validation dropped that the chosen recipe still holds (its chain of ``builds_on``)."""
    dropped = {d["run"] for d in decisions(s) if not d["kept"]}
    chain, name = [], recipe(s, key)
    while name:
        chain.append(name)
        name = study.RUNS[name].builds_on
    return listed(
        [f"rung {study.RUNS[n].rung}'s {study.RUNS[n].adds.removeprefix('+ ')}" for n in chain[::-1] if n in dropped]
    )


@fact("beyond.val.carried")
def val_carried(s):
    """The chosen recipes' ingredients that validation dropped, as a clause."""
    lenet, net = carried(s, "lenet"), carried(s, "net")
    if lenet == net:
        return f"both chosen recipes still hold {lenet}"
    return f"the chosen LeNet-5 recipe still holds {lenet}, and the chosen network {net}"


@fact("beyond.val.wide_best")
def val_wide_best(s):
    """The best wide CNN's validation accuracy at its best views."""
    wide = [n for n, r in study.RUNS.items() if r.arch == study.RUNS["beyond_vgg_wide"].arch]
    return f"{pct(max(selection.score(choosing_run(s, n)) for n in wide))}%"


# --- the goals (study.GOALS; their values are facts.py's goal.lenet and goal.net), against the recipes -----
def goal_recs(s, key: str, unseen: bool = False) -> list[dict]:
    """The chosen recipe's test seeds; ``unseen``: less seed 0, the seed the recipes were first chosen on."""
    return need([r for r in tested(s, recipe(s, key)) if not (unseen and r["seed"] == 0)])


def test_set_se(recs: list[dict]) -> float:
    """The binomial standard error of the seeds' mean accuracy on the one test set (its own noise)."""
    return binomial_se(final(recs)[0], images_evaluated(recs[0]))


def goal_facts(key: str) -> None:
    label, p = GOAL_KEYS[key], f"beyond.goal.{key}"
    diff = lambda s: final(goal_recs(s, key))[0] - study.GOALS[label]  # noqa: E731
    FACTS[f"{p}.result"] = lambda s: acc(goal_recs(s, key))
    FACTS[f"{p}.seeds"] = lambda s: ",".join(str(r["seed"]) for r in goal_recs(s, key))
    FACTS[f"{p}.verdict"] = lambda s: against_goal(goal_recs(s, key), label)
    FACTS[f"{p}.margin"] = lambda s: f"{100 * diff(s):+.1f} ± {100 * se_of_mean(goal_recs(s, key)):.1f}"
    FACTS[f"{p}.binomial"] = lambda s: points(test_set_se(goal_recs(s, key)))
    FACTS[f"{p}.unseen"] = lambda s: acc(goal_recs(s, key, unseen=True))
    FACTS[f"{p}.unseen_verdict"] = lambda s: against_goal(goal_recs(s, key, unseen=True), label)
    FACTS[f"{p}.longest"] = lambda s: format_duration(max(r["train_time_s"] for r in goal_recs(s, key)))


for _key in GOAL_KEYS:
    goal_facts(_key)


# --- the classes (the confusion matrices of seed 0, the figures' records) ---------------------------------
CLASS_RUNS = {"run7": RUN7, **study.TEST_CHOSEN}


def seed0(s, key: str) -> dict:
    return next(r for r in tested(s, CLASS_RUNS[key]) if r["seed"] == 0)


def per_class(s, key: str) -> tuple[np.ndarray, np.ndarray]:
    """Seed 0's per-class test accuracy and its row-normalized confusion matrix."""
    m = np.asarray(seed0(s, key)["final"]["test_confusion"], dtype=float)
    share = m / m.sum(axis=1, keepdims=True)
    return np.diag(share), share


def class_list(s, key: str, lowest: bool) -> str:
    accs = per_class(s, key)[0]
    idx = np.argsort(accs)[:3] if lowest else np.argsort(accs)[::-1][:3]
    return listed([f"{plural(data.CIFAR10_CLASS_NAMES[i])} ({100 * accs[i]:.0f}%)" for i in idx])


def confusions(s, key: str, n: int = 2) -> str:
    """The ``n`` largest shares of a class taken for another."""
    share = per_class(s, key)[1].copy()
    np.fill_diagonal(share, 0)
    top = np.dstack(np.unravel_index(np.argsort(share, axis=None)[::-1][:n], share.shape))[0]
    names = data.CIFAR10_CLASS_NAMES
    return listed([f"{plural(names[i])} taken for {plural(names[j])} ({100 * share[i, j]:.0f}%)" for i, j in top])


for _key in CLASS_RUNS:
    FACTS[f"beyond.classes.{_key}.seed0"] = lambda s, k=_key: f"{pct(seed0(s, k)['final']['test_accuracy'])}%"
    FACTS[f"beyond.classes.{_key}.weakest"] = functools.partial(class_list, key=_key, lowest=True)
    FACTS[f"beyond.classes.{_key}.strongest"] = functools.partial(class_list, key=_key, lowest=False)
    FACTS[f"beyond.classes.{_key}.confusions"] = functools.partial(confusions, key=_key)


@fact("beyond.classes.lenet.gains")
def classes_gains(s):
    """On how many classes rung 6 (seed 0) beats run 7 (seed 0)."""
    better, n = int(np.sum(per_class(s, "lenet")[0] > per_class(s, "run7")[0])), len(data.CIFAR10_CLASS_NAMES)
    return "every class" if better == n else f"{better} of {n} classes"


@fact("beyond.classes.net.lifts")
def classes_lifts(s):
    """The three classes the best network lifts most over rung 6 (seed 0 each)."""
    d = per_class(s, "net")[0] - per_class(s, "lenet")[0]
    return listed([f"{plural(data.CIFAR10_CLASS_NAMES[i])} {100 * d[i]:+.0f}" for i in np.argsort(d)[::-1][:3]])


@fact("beyond.classes.se")
def classes_se(s):
    """The range of the per-class binomial standard errors, in points (about 100 test images a class)."""
    n = images_evaluated(tested(s, RUN7)[0]) / len(data.CIFAR10_CLASS_NAMES)
    ses = [100 * binomial_se(p, n) for k in CLASS_RUNS for p in per_class(s, k)[0]]
    return f"{min(ses):.0f}-{max(ses):.0f}"
