"""The numbers the README's and ``docs/``' prose cite, each computed from the committed records and named:
``figures/facts.json``. A page cites one as ``<!-- fact NAME -->value<!-- /fact -->``; ``make readme``
(``common/report/docs.py``) writes the value between the markers and ``tests/test_readme.py`` fails when a
cited value differs from its fact, or when a page states a result (a number with %, "points" or "±") outside
a fact or a generated table. So no result in the prose is typed by hand.

Each fact is one small function of :class:`Sources` (the records and what the report derives from them),
registered with its name by ``@fact``; it returns the text as the prose shows it ("54.7 ± 1.4%"). The facts
the README and several pages share are here; a page's own are in ``facts_<page>.py`` beside it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from common import io, recurrent, runs, study
from common.report import claims, summary, validation
from common.report.stats import NOISE, compare, final, se_of_mean
from common.report.tables import pm

FACTS: dict[str, Callable] = {}


def fact(name: str):
    def register(fn):
        FACTS[name] = fn
        return fn

    return register


class Sources:
    """The records under a figures folder, read once, and what several facts share."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @functools.cached_property
    def cifar(self) -> list[dict]:
        recs = runs.ResultsIndex(self.root / "cifar" / "results.jsonl").read()
        return runs.merge_early([r for r in recs if r["identity"]["task"] == study.TASK], study.EARLY_ITERATIONS)

    @functools.cached_property
    def rnn(self) -> list[dict]:
        return runs.ResultsIndex(self.root / "rnn" / "results.jsonl").read()

    @functools.cached_property
    def rows(self) -> dict[str, dict]:
        """The sweep's and the ladder's current rows (``summary.summary_rows``), by run name."""
        current = summary.current_groups(self.cifar, list(study.RUNS.values()), study.STUDY_DATASET)
        fingerprint = next(r["identity"]["data"]["fingerprint"] for r in self.cifar)
        return {r["run"]: r for r in summary.summary_rows(self.cifar, current, fingerprint) if r["current"]}

    @functools.cached_property
    def claims(self) -> list[claims.Claim]:
        return claims.build(self.cifar, self.rnn)

    def tested(self, name: str) -> list[dict]:
        return validation.tested(self.cifar, study.RUNS[name])


def acc(recs: list[dict], key: str = "test_accuracy") -> str:
    """ "54.7 ± 1.4%" over a run's seeds (one seed: "54.7%")."""
    mean, std, _ = final(recs, key)
    return f"{pm(mean, std)}%"


def points(x: float) -> str:
    return f"{100 * x:.1f}"


def study_rows(s: Sources) -> list[dict]:
    return [r for r in s.rows.values() if r["row"] and r["test_gap"] is not None]


# --- Task 1: the sweep against the study's table ------------------------------------------------------
@fact("sweep.train_gap")
def sweep_train_gap(s):
    return points(np.mean([abs(r["train_gap"]) for r in study_rows(s)]))


@fact("sweep.test_gap")
def sweep_test_gap(s):
    return points(np.mean([abs(r["test_gap"]) for r in study_rows(s)]))


@fact("sweep.within")
def sweep_within(s):
    rows = study_rows(s)
    return f"{sum(abs(r['test_gap']) <= study.GAP_GOALS['test'] for r in rows)} of {len(rows)}"


@fact("sweep.seeds")
def sweep_seeds(s):
    return ",".join(sorted({r["seeds"] for r in study_rows(s)}))


# --- the claims --------------------------------------------------------------------------------------
def verdicts(s, verdict: str) -> str:
    return str(sum(c.verdict == verdict for c in s.claims))


@fact("claims.n")
def claims_n(s):
    return str(len(s.claims))


for _verdict in (claims.HOLDS, claims.PARTLY, claims.FAILS, claims.UNTESTED):
    FACTS[f"claims.{_verdict.replace(' ', '_')}"] = functools.partial(verdicts, verdict=_verdict)


# --- beyond the study ----------------------------------------------------------------------------------
# every named run's test accuracy over its seeds and its train - test gap: test.<run>, gap.<run>
for _name in study.RUNS:
    FACTS[f"test.{_name}"] = lambda s, n=_name: acc(s.tested(n)) if s.tested(n) else "-"
    FACTS[f"gap.{_name}"] = lambda s, n=_name: points(final(s.tested(n), "train_accuracy")[0] - final(s.tested(n))[0])


@fact("beyond.best_lenet")
def best_lenet(s):
    return acc(s.tested(study.TEST_CHOSEN["lenet"]))


@fact("beyond.best_net")
def best_net(s):
    return acc(s.tested(study.TEST_CHOSEN["net"]))


# --- Task 3 ------------------------------------------------------------------------------------------
@fact("rnn.cnn_test")
def rnn_cnn(s):
    return acc(claims.rnn_groups(s.rnn)[("cnn", None)])


@fact("rnn.gated_near_study")
def rnn_gated(s):
    g = claims.rnn_groups(s.rnn)
    keys = [(c, h) for c in ("lstm", "gru") for h in recurrent.SIZES if (c, h) in g]
    near = [k for k in keys if final(g[k])[0] >= recurrent.STUDY_TEST_ACCURACY[k[0]][k[1]] - study.GAP_GOALS["test"]]
    return f"{len(near)} of {len(keys)}"


def difference(a: list[dict], b: list[dict], among: list[dict] = ()) -> str:
    """ "+1.5 ± 1.1 points" (within noise or beyond it is the prose's to say; NOISE standard errors)."""
    d, se, _ = compare(a, b, among=among)
    return f"{100 * d:+.1f} ± {100 * se:.1f}"


def search_records(s: Sources, space: str) -> tuple[list[dict], list[dict]]:
    """The validation-chosen search of ``space``: its winner's retrained seeds, and its hand-tuned rival's."""
    from common.search import RIVALS, best_name

    folder = next(s.root.glob(f"cifar/search/*-{space}-*-val"))
    recs = runs.ResultsIndex(folder / "results.jsonl").read()
    winner = [r for r in recs if r["name"] == best_name(space) and r["status"] == "finished"]
    return winner, s.tested(RIVALS[space])


def verdict(a: list[dict], b: list[dict]) -> str:
    """ "beyond noise" or "within noise": whether |mean a - mean b| exceeds NOISE standard errors."""
    return "beyond noise" if compare(a, b)[2] else "within noise"


for _space in ("study", "all"):
    FACTS[f"search.{_space}.winner"] = lambda s, sp=_space: acc(search_records(s, sp)[0])
    FACTS[f"search.{_space}.rival"] = lambda s, sp=_space: acc(search_records(s, sp)[1])
    FACTS[f"search.{_space}.diff"] = lambda s, sp=_space: difference(*search_records(s, sp))
    FACTS[f"search.{_space}.verdict"] = lambda s, sp=_space: verdict(*search_records(s, sp))


# --- the project's goals, stated once (common/study.py) and whether the chosen runs meet them -----------
FACTS["goal.train_gap"] = lambda s: f"{100 * study.GAP_GOALS['train']:g}"
FACTS["goal.test_gap"] = lambda s: f"{100 * study.GAP_GOALS['test']:g}"
for _goal, _chosen in zip(study.GOALS, study.TEST_CHOSEN):  # the LeNet-5 goal -> "lenet", the network's -> "net"
    FACTS[f"goal.{_chosen}"] = lambda s, g=_goal: f"{100 * study.GOALS[g]:g}%"
    FACTS[f"goal.{_chosen}.met"] = lambda s, g=_goal, c=_chosen: against_goal(s.tested(study.TEST_CHOSEN[c]), g)


def against_goal(recs: list[dict], goal: str) -> str:
    """ "met" or "not met" where the seeds' mean test accuracy is NOISE standard errors above or below the goal,
    else "within noise of it"."""
    gap, se = final(recs)[0] - study.GOALS[goal], se_of_mean(recs)
    return "met" if gap > NOISE * se else "not met" if gap < -NOISE * se else "within noise of it"


@fact("noise")
def noise(s):
    return f"{NOISE:g}"


def load_all() -> None:
    """The facts of every page: this module's, and each ``common/report/facts_<page>.py``'s (one per docs page
    that cites facts of its own), registered on import."""
    import importlib
    import pkgutil

    import common.report

    for m in pkgutil.iter_modules(common.report.__path__):
        if m.name.startswith("facts_"):
            importlib.import_module(f"common.report.{m.name}")


def compute(root: Path) -> dict[str, str]:
    """Every fact's text, from the records under the figures folder ``root`` (a fact whose records are missing
    reads "-")."""
    load_all()
    s = Sources(root)
    out = {}
    for name, fn in sorted(FACTS.items()):
        try:
            out[name] = fn(s)
        except (KeyError, IndexError, StopIteration, ValueError, ZeroDivisionError):
            out[name] = "-"
    return out


def write(root: Path) -> Path:
    path = Path(root) / "facts.json"
    io.write_text(path, json.dumps(compute(root), indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    return path
