"""Choices beyond the study, made on the validation split only: the test set is read to report, never to decide.

The protocol (docs/beyond.md): every run that chooses holds out ``common.study.VALIDATION`` training images
per class (``--set validation=100``), trains on the rest and is evaluated on the held-out images only
(``val_accuracy``; it never computes a test number). The ladder's decisions are read from those runs:

- a rung is **kept** when its validation accuracy is above that of the run it builds on (and said to be
  within noise when the change is under twice the binomial standard error of a difference on the validation
  images): information about each ingredient; the ladder's candidates stay as defined;
- the best LeNet-5 and the best network are the highest validation accuracies among all the candidates
  (every rung; every other network);
- the test-time views are the view set of :data:`common.metrics.VIEW_CANDIDATES` with the highest
  validation accuracy at the chosen run's end; a network and its views are chosen together (:func:`score`).

The chosen recipes are then trained on all 10,000 images with 3 seeds and their test accuracy reported once.
Every function here reads ``val_*`` numbers and refuses a record without them, so a choice cannot fall
back on the test set (tests/test_selection.py shuffles the test labels and gets the same choices).
"""

from __future__ import annotations

import numpy as np

from common import study


class NotValidation(ValueError):
    """A record without validation numbers was handed to a choice."""


def val_accuracy(record: dict) -> float:
    final = record["final"]
    if "val_accuracy" not in final:
        raise NotValidation(
            f"{record['name']}: no validation accuracy; choices read only runs trained with a validation split "
            f"(--set validation={study.VALIDATION})"
        )
    return final["val_accuracy"]


def choosing_records(records: list[dict], per_class: int = study.VALIDATION) -> dict[str, list[dict]]:
    """The finished runs that chose on a ``per_class`` split and are the named run otherwise unchanged, by name."""
    out: dict[str, list[dict]] = {}
    for r in records:
        run = study.RUNS.get(r["name"])
        if run is None or r["status"] != "finished" or r["identity"].get("split", {}).get("per_class") != per_class:
            continue
        if r["identity"]["config"] == study.with_overrides(run, validation=per_class).identity():
            out.setdefault(r["name"], []).append(r)
    return out


def mean_val(recs: list[dict]) -> float:
    return float(np.mean([val_accuracy(r) for r in recs]))


def ladder_decisions(by_name: dict[str, list[dict]], n_val: int) -> list[dict]:
    """For every run with a ``builds_on`` whose both runs chose on validation: the two validation accuracies,
    the change, whether the ingredient is kept, and whether the change is beyond the noise of ``n_val``
    validation images (twice the binomial standard error of a difference; in the order of ``study.RUNS``)."""
    rows = []
    for name, run in study.RUNS.items():
        if name in by_name and run.builds_on in by_name:
            acc, prev = mean_val(by_name[name]), mean_val(by_name[run.builds_on])
            se = float(np.sqrt((acc * (1 - acc) + prev * (1 - prev)) / n_val))
            rows.append(
                {
                    "run": name,
                    "builds_on": run.builds_on,
                    "val": acc,
                    "prev": prev,
                    "delta": acc - prev,
                    "kept": acc > prev,
                    "beyond_noise": abs(acc - prev) > 2 * se,
                }
            )
    return rows


def best(by_name: dict[str, list[dict]], names) -> str | None:
    """The name among ``names`` with the highest validation accuracy (None if none chose)."""
    present = [n for n in names if n in by_name]
    return max(present, key=lambda n: mean_val(by_name[n])) if present else None


def best_views(recs: list[dict]) -> tuple[str, dict[str, float]] | None:
    """The test-time view set with the highest mean validation accuracy at the runs' end, and every set's."""
    views = [r["final"].get("val_accuracy_views") for r in recs]
    if not views or not all(views):
        return None
    means = {k: float(np.mean([v[k] for v in views])) for k in views[0]}
    return max(means, key=means.get), means


def score(recs: list[dict]) -> float:
    """A candidate's validation accuracy at its best test-time views (its own views where none were compared):
    the network and its views are chosen together."""
    views = best_views(recs)
    return views[1][views[0]] if views else mean_val(recs)


def best_scored(by_name: dict[str, list[dict]], names) -> str | None:
    """The name among ``names`` with the highest :func:`score` (None if none chose)."""
    present = [n for n in names if n in by_name]
    return max(present, key=lambda n: score(by_name[n])) if present else None
