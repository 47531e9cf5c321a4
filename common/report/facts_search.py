"""The facts ``docs/search.md`` cites, from the search folders' records (``figures/cifar/search/*/``): each
search's winner against its hand-tuned rival and what that comparison concludes, its pruning and its cost.
``search.<space>.*``: the searches chosen on validation; ``search.earlier.<space>.*``: those scored on the test set."""

from __future__ import annotations

import functools

from common import data, study
from common import search as hpsearch
from common.report import search as report
from common.report.facts import FACTS, acc, difference, fact
from common.report.stats import NOISE, at, binomial_se, compare, final, images_evaluated
from common.report.tables import format_duration, gap, pct

SPACES = ("study", "all")
TRAIN_IMAGES = len(data.CIFAR10_CLASS_NAMES) * data.STUDY_COUNTS[0]


@functools.cache
def searched(s, space: str, val: bool) -> report.Search:
    """The search of ``space``: the one chosen on validation (``val``) or the earlier one, scored on the test set."""
    folders = [f for f in s.root.glob(f"cifar/search/*-{space}-*") if f.name.endswith("-val") == val]
    return report.read(next(iter(folders)), study.RUNS)


def rival(s, space: str) -> list[dict]:
    return s.tested(hpsearch.RIVALS[space])


def winner(s, space: str, val: bool) -> list[dict]:
    """The best trial's configuration retrained at the rival's length with every seed."""
    recs = report.retrains(searched(s, space, val), study.RUNS[hpsearch.RIVALS[space]])
    if not recs:
        raise ValueError("no retrained winner")
    return recs


def outcome(s, space: str, val: bool) -> str:
    d, _, beyond = compare(winner(s, space, val), rival(s, space))
    return "ties" if not beyond else "beats" if d > 0 else "loses to"


def noise(s, space: str, val: bool) -> str:
    return "beyond noise" if compare(winner(s, space, val), rival(s, space))[2] else "within noise"


def met(s, space: str) -> str:
    """The search's aim: to beat its hand-tuned rival by more than NOISE standard errors."""
    return "met" if outcome(s, space, True) == "beats" else "not met"


def vs_warm(s, space: str) -> str:
    x = searched(s, space, True)
    return gap(x.complete[0].value - x.warm.last)


def warm_rank(s, space: str) -> str:
    x = searched(s, space, True)
    rank = x.trials.index(x.warm) + 1
    return f"{rank}{'th' if 10 <= rank % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(rank % 10, 'th')}"


def pruned(s, space: str, val: bool) -> str:
    """How many trials stopped at each pruning point."""
    stops = [t.curve[-1][0] for t in searched(s, space, val).trials if not t.complete and t.curve]
    parts = [f"{stops.count(it)} at {it:,}" for it in sorted(set(stops))]
    return (" and ".join([", ".join(parts[:-1]), parts[-1]]) if len(parts) > 1 else parts[0]) + " iterations"


def chance(s, space: str, val: bool) -> str:
    """How many trials ended at chance (within NOISE binomial errors of one in ten)."""
    x = searched(s, space, val)
    p, n = 1 / len(data.CIFAR10_CLASS_NAMES), images_evaluated(x.records[0], x.split, [*x.records, *s.cifar])
    return str(sum(t.last <= p + NOISE * binomial_se(p, n) for t in x.trials))


def iterations(s, space: str, val: bool) -> str:
    return f"{sum(r['iterations_done'] for r in searched(s, space, val).records):,}"


def full_trials(s, space: str, val: bool) -> str:
    """The search's iterations as a number of full-length trials."""
    x = searched(s, space, val)
    return f"{sum(r['iterations_done'] for r in x.records) / x.iterations:.0f}"


def vs_study(s, space: str, val: bool) -> str:
    """The winner minus the test accuracy the study reported for run 7, in points."""
    return gap(final(winner(s, space, val))[0] - study.RUNS[hpsearch.RIVALS["study"]].study_accuracy[1])


def register(space: str, val: bool) -> None:
    p, args = f"search.{space}" if val else f"search.earlier.{space}", (space, val)
    FACTS[f"{p}.outcome"] = lambda s: outcome(s, *args)
    FACTS[f"{p}.pruned"] = lambda s: pruned(s, *args)
    FACTS[f"{p}.chance"] = lambda s: chance(s, *args)
    FACTS[f"{p}.iterations"] = lambda s: iterations(s, *args)
    FACTS[f"{p}.full_trials"] = lambda s: full_trials(s, *args)
    FACTS[f"{p}.trials"] = lambda s: str(len(searched(s, *args).trials))
    FACTS[f"{p}.wall"] = lambda s: format_duration(sum(r["wall_time_s"] for r in searched(s, *args).records))
    FACTS[f"{p}.retrain_time"] = lambda s: format_duration(final(winner(s, *args), "train_time_s")[0])
    FACTS[f"{p}.vs_study"] = lambda s: vs_study(s, *args)
    FACTS[f"{p}.vs_run7"] = lambda s: difference(winner(s, *args), s.tested(hpsearch.RIVALS["study"]))
    FACTS[f"{p}.vs_run7_noise"] = lambda s: (
        "beyond noise" if compare(winner(s, *args), s.tested(hpsearch.RIVALS["study"]))[2] else "within noise"
    )
    if val:
        FACTS[f"{p}.met"] = lambda s: met(s, space)
        FACTS[f"{p}.vs_warm"] = lambda s: vs_warm(s, space)
        FACTS[f"{p}.warm_rank"] = lambda s: warm_rank(s, space)
    else:  # the validation searches' winner, rival, difference and verdict are facts.py's search.<space>.*
        FACTS[f"{p}.verdict"] = lambda s: noise(s, space, False)
        FACTS[f"{p}.winner"] = lambda s: acc(winner(s, space, False))
        FACTS[f"{p}.rival"] = lambda s: acc(rival(s, space))
        FACTS[f"{p}.diff"] = lambda s: difference(winner(s, space, False), rival(s, space))


for _space in SPACES:
    for _val in (True, False):
        register(_space, _val)


# --- what the all-space search found: a larger batch, so more passes over the data ------------------------
def batch(t: report.Trial) -> int:
    return t.knobs.get("batch_size", study.RunConfig("default").batch_size)


@fact("search.all.batch")
def all_batch(s):
    """The all-space winner's batch size."""
    return str(batch(searched(s, "all", True).complete[0]))


@fact("search.all.batch_share")
def all_batch_share(s):
    """How many complete trials above the warm start train on the winner's batch size."""
    x = searched(s, "all", True)
    above = [t for t in x.complete if t.value > x.warm.last]
    return f"{sum(batch(t) == batch(x.complete[0]) for t in above)} of {len(above)}"


def passes(config: dict) -> str:
    return f"{config['iterations'] * config['batch_size'] / TRAIN_IMAGES:g}"


@fact("search.all.passes")
def all_passes(s):
    """The passes over the training images of the all-space winner, retrained, and of its rival."""
    mine, theirs = winner(s, "all", True)[0], rival(s, "all")[0]
    return f"{passes(mine['identity']['config'])} against {passes(theirs['identity']['config'])}"


@fact("search.all.rival_time")
def all_rival_time(s):
    return format_duration(final(rival(s, "all"), "train_time_s")[0])


@fact("search.all.same_cpu")
def all_same_cpu(s):
    """Whether the all-space winner's retrains and its rival ran on one recorded CPU (times compare only there)."""
    cpus = {r.get("versions", {}).get("cpu") for r in winner(s, "all", True) + rival(s, "all")}
    return "on one CPU" if len(cpus) == 1 and None not in cpus else "on CPUs that differ or were not recorded"


# --- why the earlier all-space search lost: it never drew a good augmented configuration ----------------
@fact("search.earlier.all.rival_at")
def earlier_rival_at(s):
    """The rival's (rung 4's) test accuracy at the trials' length, the range over its seeds."""
    it = searched(s, "all", False).iterations
    accs = [at([r], it, "test_accuracy") for r in rival(s, "all")]
    return f"{pct(min(accs))}-{pct(max(accs))}%"


@fact("search.earlier.all.rival_above")
def earlier_rival_above(s):
    """Whether every seed of the rival, at the trials' length, is above the search's best trial."""
    x = searched(s, "all", False)
    low = min(at([r], x.iterations, "test_accuracy") for r in rival(s, "all"))
    return "above every trial" if low > x.complete[0].value else "not above every trial"


def augmented(t: report.Trial) -> bool:
    return t.knobs.get("augment", "none") != "none"


@fact("search.earlier.all.augmented")
def earlier_augmented(s):
    trials = searched(s, "all", False).trials
    return f"{sum(map(augmented, trials))} of {len(trials)}"


@fact("search.earlier.all.augmented_best")
def earlier_augmented_best(s):
    """The best augmented trial's value (pruned ones at their last evaluation)."""
    return f"{pct(max(t.last for t in searched(s, 'all', False).trials if augmented(t)))}%"


@fact("search.earlier.all.plain_best")
def earlier_plain_best(s):
    return f"{pct(max(t.last for t in searched(s, 'all', False).trials if not augmented(t)))}%"


@fact("search.earlier.all.augmented_settings")
def earlier_augmented_settings(s):
    """The optimizers and learning rates of the augmented trials, best first."""
    trials = [t for t in searched(s, "all", False).trials if augmented(t)]
    return ", ".join(f"{t.knobs['optimizer']} at {t.knobs['learning_rate']:.2g}" for t in trials)
