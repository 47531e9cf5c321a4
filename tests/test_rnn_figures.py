"""Task 3's figures for claims 15 and 16, drawn from a small synthetic results index: the CNN comparison
(error on a log axis, mean ± std over seeds) and the train - test gap, by the report's own code path
(``common/report/rnn.py``'s ``summarize`` and figures), with the claims' thresholds checked
against the claims."""

import math

import numpy as np
import pytest

from common.data import Dataset
from common.recurrent import CELLS, TASK, Grid, run_config, run_name
from common.report import claims
from common.report import rnn as report
from common.report.plots import plt
from common.runs import group_id, make_identity

SIZES = (20, 5)
SEEDS = (0, 1, 2)
EVAL_EVERY = 100


@pytest.fixture(scope="module")
def data() -> Dataset:
    """A toy set, not the study's MNIST: no study numbers, and the claims table is left alone."""
    y = np.arange(1000) % 10
    images = np.zeros((1000, 28, 28), np.uint8)
    return Dataset("toy", images, y, images, y, tuple(str(d) for d in range(10)), "tests/test_rnn_figures.py")


def history(train: float, test: float, iterations: int = 1000) -> list[dict]:
    """Accuracies rising to exactly ``train`` / ``test`` at the last evaluation; iteration 0 has no train
    numbers (as in the scripts' records)."""
    out = [{"iteration": 0, "test_accuracy": 0.1, "test_loss": 2.3, "train_time_s": 0.0}]
    for it in range(EVAL_EVERY, iterations + 1, EVAL_EVERY):
        f = (1 - math.exp(-5 * it / iterations)) / (1 - math.exp(-5))
        out.append(
            {
                "iteration": it,
                "train_accuracy": 0.1 + (train - 0.1) * f,
                "test_accuracy": 0.1 + (test - 0.1) * f,
                "train_loss": 2.3 * (1 - f) + 0.01,
                "test_loss": 2.3 * (1 - f) + 0.05,
                "train_time_s": 0.01 * it,
            }
        )
    return out


def record(data, cell: str, hidden, seed: int, train: float, test: float, status: str = "finished") -> dict:
    """One finished run as the results index holds it (the fields the report reads)."""
    identity = make_identity(TASK, run_config(Grid(), cell, hidden), seed, data, EVAL_EVERY)
    final = history(train, test)[-1]
    if status == "diverged":
        final = {k: (math.nan if k != "iteration" else v) for k, v in final.items()}
    return {
        "name": run_name(cell, hidden),
        "group_id": group_id(identity),
        "seed": seed,
        "identity": identity,
        "status": status,
        "final": final,
        "history": history(train, test),
        "best_test_accuracy": test,
        "num_params": 1000 if hidden is None else 100 * hidden,
        "train_time_s": 10.0,
        "wall_time_s": 12.0,
        "images_per_sec": 1e4,
    }


def fake_index(data) -> list[dict]:
    """Every cell at 20 and 5 units and the CNN, three seeds each; gaps differ by cell, size and seed."""
    records = []
    for k, cell in enumerate(CELLS):
        for hidden in SIZES:
            for seed in SEEDS:
                test = 0.6 + 0.1 * k + 0.01 * hidden / 5 - 0.005 * seed
                records.append(record(data, cell, hidden, seed, test + 0.02 + 0.01 * k + 0.004 * seed, test))
    records += [record(data, "cnn", None, seed, 0.9995 - 0.0002 * seed, 0.97) for seed in SEEDS]
    return records


def test_the_summary_draws_the_cnn_comparison_and_the_train_test_gap(tmp_path, data):
    out = tmp_path / "fig"
    runs = [(c, h) for c in CELLS for h in SIZES]
    written = report.summarize(fake_index(data), Grid(), runs, out, log=lambda m: None)
    for name in ("cnn_comparison.png", "train_test_gap.png"):
        assert out / name in written
        assert (out / name).stat().st_size > 20_000  # a drawn figure, not an empty canvas


def test_the_gaps_plotted_are_each_seeds_train_minus_test(data):
    records = fake_index(data)
    records[0] = record(data, "rnn", 20, 0, 0.7, 0.6, status="diverged")  # a diverged seed: no gap
    current = {r["name"]: r["group_id"] for r in records}
    rows = [r for r in report.grid_rows(records, current) if r["cell"] != "cnn"]
    gaps = report.train_test_gaps(rows)
    assert [(g["cell"], g["hidden_units"]) for g in gaps] == [(c, h) for c in CELLS for h in SIZES]
    for g, row in zip(gaps, rows):
        expected = [m["final"]["train_accuracy"] - m["final"]["test_accuracy"] for m in row["records"]]
        np.testing.assert_allclose(g["gaps"], expected)
        finite = [v for v in expected if math.isfinite(v)]
        assert g["n"] == len(finite) == (2 if (g["cell"], g["hidden_units"]) == ("rnn", 20) else 3)
        assert g["mean"] == pytest.approx(np.mean(finite))
        assert g["std"] == pytest.approx(np.std(finite, ddof=1))
    # the claim's own number (mean train - mean test over the finished seeds) is the plotted mean
    lstm20 = next(g for g in gaps if (g["cell"], g["hidden_units"]) == ("lstm", 20))
    recs = next(r["records"] for r in rows if r["run"] == "lstm_20")
    assert lstm20["mean"] == pytest.approx(claims.acc(recs, "train_accuracy") - claims.acc(recs))


def test_the_error_band_is_mean_and_std_of_one_minus_accuracy_in_percent(data):
    recs = [record(data, "cnn", None, seed, 1.0, 0.97) for seed in SEEDS]  # a seed at 100%: zero error
    recs[1]["history"][-1]["train_accuracy"] = 0.99997
    fig, ax = plt.subplots()
    xs, mean, std = report.error_band(ax, recs, "train_accuracy", "cnn", "black")
    errors = 100 * np.array([[1 - h["train_accuracy"] for h in r["history"][1:]] for r in recs])
    np.testing.assert_array_equal(xs, [h["iteration"] for h in recs[0]["history"][1:]])
    np.testing.assert_allclose(mean, errors.mean(axis=0))
    np.testing.assert_allclose(std, errors.std(axis=0, ddof=1), atol=1e-9)
    assert mean[-1] == pytest.approx(1e-3)  # percent: 0.003% / 3
    assert ax.lines[0].get_ydata() == pytest.approx(mean)
    assert len(ax.collections) == 1  # the ± std band
    plt.close(fig)


def test_the_summary_of_a_grid_picks_its_rows_from_the_records_alone(data):
    """The current rows are the records of the grid's own configs: a run of other settings stays out."""
    records = fake_index(data)
    other = record(data, "lstm", 20, 0, 0.5, 0.4)
    other["identity"] = dict(other["identity"], config=dict(other["identity"]["config"], learning_rate=0.5))
    other["group_id"] = group_id(other["identity"])
    chosen = report.chosen_groups(records + [other], Grid(), [(c, h) for c in CELLS for h in SIZES])
    assert chosen["lstm_20"] != other["group_id"] and set(chosen) == {run_name(c, h) for c in CELLS for h in SIZES} | {
        run_name("cnn", None)
    }


def test_the_figures_draw_the_claims_own_thresholds(data):
    """GAP_RULE and REACH_LEVEL are the rules of claims 15 and 16: a run just inside them passes the claim,
    just outside fails it."""
    lstm = lambda gap: {("lstm", 20): [record(data, "lstm", 20, 0, 0.9 + gap, 0.9)]}  # noqa: E731
    assert claims.train_equals_test(lstm(claims.GAP_RULE - 0.001))[1] == claims.HOLDS
    assert claims.train_equals_test(lstm(claims.GAP_RULE + 0.001))[1] == claims.FAILS

    def cnn_reaching(level):
        cnn = record(data, "cnn", None, 0, level, 0.97)
        for h in cnn["history"][1:]:
            h["train_accuracy"] = level
        rnn = record(data, "lstm", 20, 0, 0.9, 0.9)
        return {("cnn", None): [cnn], ("lstm", 20): [rnn]}

    assert claims.cnn_first(cnn_reaching(claims.REACH_LEVEL + 0.001))[1] == claims.HOLDS
    assert claims.cnn_first(cnn_reaching(claims.REACH_LEVEL - 0.001))[1] == claims.FAILS
