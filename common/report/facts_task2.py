"""The numbers ``docs/task2.md`` cites, from what ``dconvnet_visualizations.py`` saved in ``figures/deconvnet/``:
``deconvnet.json`` (the run, the network's test accuracy, the settings), ``deconvnet.npz`` (the arrays) and the
``randomization_check.md`` it drew from them (``common/report/facts.py``). A missing file reads "-"."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

from common.report.facts import FACTS, Sources, fact

FOLDER = "deconvnet"  # the default run's figures: figures/deconvnet/


def meta(s: Sources) -> dict:
    path = Path(s.root) / FOLDER / "deconvnet.json"
    if not path.is_file():
        raise KeyError(f"{path} missing")
    return json.loads(path.read_text())


def arrays(s: Sources, *keys: str) -> list[np.ndarray]:
    path = Path(s.root) / FOLDER / "deconvnet.npz"
    if not path.is_file():
        raise KeyError(f"{path} missing")
    with np.load(path) as z:
        return [z[k] for k in keys]


def pct(x: float) -> str:
    return f"{100 * x:.1f}%"


@fact("task2.run")
def run(s):
    name = meta(s)["run"]["name"]
    row = s.rows.get(name, {}).get("row")
    return f"run {row}, `{name}`" if row else f"`{name}`"


@fact("task2.seed")
def seed(s):
    return str(meta(s)["run"]["seed"])


@fact("task2.iterations")
def iterations(s):
    return f"{meta(s)['run']['iterations_done']:,}"


@fact("task2.test_accuracy")
def test_accuracy(s):
    return pct(meta(s)["test_accuracy"])


def same_run(s) -> dict:
    """The sweep's record of the deconvnet network's config, data, backend and seed (another task, the same run)."""
    m = meta(s)["run"]
    key = lambda ident: {k: v for k, v in ident.items() if k not in ("task", "eval_every")}
    return next(r for r in s.cifar if r["name"] == m["name"] and key(r["identity"]) == key(m["identity"]))


@fact("task2.sweep_test_accuracy")
def sweep_test_accuracy(s):
    return pct(same_run(s)["final"]["test_accuracy"])


@fact("task2.sweep_agrees")
def sweep_agrees(s):
    """Whether the two networks' test accuracies are the same number (they must be: same config and seed)."""
    same = abs(same_run(s)["final"]["test_accuracy"] - meta(s)["test_accuracy"]) < 5e-4
    return "the same number, as it must be with the same training" if same else "a different number"


# --- the cascading randomization: randomization_check.md, the table the page quotes ---------------------------
@functools.lru_cache(maxsize=4)
def _table(path: Path, mtime: float) -> dict[str, dict[str, str]]:
    rows = [line.strip().strip("|").split("|") for line in path.read_text().splitlines() if line.startswith("|")]
    header = [c.strip() for c in rows[0]]
    return {cells[0].strip(): dict(zip(header, (c.strip() for c in cells), strict=False)) for cells in rows[2:]}


def randomization(s: Sources, step: str, column: str) -> float:
    """The mean of one cell of ``randomization_check.md`` ("0.800 ± 0.047" -> 0.8): ``step`` its first column
    ("+ conv2", "reference"), ``column`` its header ("conv2 Spearman")."""
    path = Path(s.root) / FOLDER / "randomization_check.md"
    if not path.is_file():
        raise KeyError(f"{path} missing")
    return float(_table(path, path.stat().st_mtime)[step][column].split("±")[0])


def unsigned(x: float, fmt: str) -> str:
    text = fmt.format(x)
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.00"


# after re-drawing a layer: the projections' Spearman correlation with the trained ones, and the top-k overlap
for _step, _layer in (("conv2", "conv2"), ("conv1", "conv2"), ("conv1", "conv1")):
    FACTS[f"task2.rand.{_step}.{_layer}.spearman"] = lambda s, st=_step, L=_layer: unsigned(
        randomization(s, f"+ {st}", f"{L} Spearman"), "{:.2f}"
    )
for _layer in ("conv1", "conv2"):
    FACTS[f"task2.rand.{_layer}.{_layer}.overlap"] = lambda s, L=_layer: unsigned(
        randomization(s, f"+ {L}", f"{L} top-k overlap"), "{:.3f}"
    )


@fact("task2.rand.reference")
def reference(s):
    """The Spearman correlation of two different images' trained projections, over the layers: "0.00-0.11"."""
    values = [unsigned(randomization(s, "reference", f"{L} Spearman"), "{:.2f}") for L in ("conv1", "conv2")]
    lo, hi = sorted(values, key=float)
    return lo if lo == hi else f"{lo} to {hi}"


# --- guided backprop and the gradient against the deconvnet: guided.rho_* in deconvnet.npz -------------------
def rho(s: Sources, rule: str, which: str) -> str:
    """The range over the images of ``rule``'s Spearman correlation with the deconvnet's projection (conv2: every
    activation kept, ``which`` = "all", or each image's strongest, "one")."""
    rules = meta(s)["rules"]
    (values,) = arrays(s, f"guided.rho_{which}")
    v = values[rules.index(rule)].astype(np.float64)
    lo, hi = f"{v.min():.2f}", f"{v.max():.2f}"
    return lo if lo == hi else f"{lo}-{hi}"


for _rule in ("guided", "gradient"):
    for _which in ("all", "one"):
        FACTS[f"task2.{_rule}.{_which}"] = lambda s, r=_rule, w=_which: rho(s, r, w)


@fact("task2.images")
def images(s):
    (index,) = arrays(s, "images.index")
    return str(len(index))
