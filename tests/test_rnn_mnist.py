"""rnn_mnist.py: sequences, parameter counts, learning, outputs, skip/resume, divergence, flags.

One short real run of main() (module fixture) is shared by several tests to keep the file fast."""

import csv
import json

import numpy as np
import pytest

import rnn_mnist
from common import models, recurrent

CELLS = ("rnn", "lstm", "gru")
FIGURES = (
    "rnn_curves.png",
    "lstm_curves.png",
    "gru_curves.png",
    "summary.png",
    "cnn_comparison.png",
    "train_test_gap.png",
)
TABLES = ("summary.md", "summary.csv")


def textbook_params(cell: str, h: int, d: int = 28) -> int:
    recurrent = {
        "rnn": h * (h + d) + h,  # W_x, W_h, b
        "lstm": 4 * (h * (h + d) + h),  # 4 gates
        "gru": 3 * (h * (h + d) + 2 * h),
    }[cell]  # 3 gates, reset_after: 2 biases each
    return recurrent + 10 * (h + 1)  # dense 10-way softmax


def test_sequences_are_image_rows():
    images = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28) % 256
    images = images.astype(np.uint8)
    seq = recurrent.as_sequences(images)
    assert seq.shape == (3, 28, 28) and seq.dtype == np.float32
    for r in (0, 13, 27):
        np.testing.assert_allclose(seq[:, r, :], images[:, r, :] / 255.0, rtol=1e-6)
    with pytest.raises(ValueError):
        recurrent.as_sequences(images.reshape(3, 784))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("hidden", (20, 5))
def test_parameter_counts_match_textbook(cell, hidden):
    model = models.build_rnn(cell, hidden)
    assert model.input_shape == (None, 28, 28)
    assert model.output_shape == (None, 10)
    assert model.count_params() == textbook_params(cell, hidden)


def run_main(argv, capsys):
    assert rnn_mnist.main([str(a) for a in argv]) == 0
    return capsys.readouterr().out


def metrics(tmp, name, seed=0):
    (path,) = (tmp / "runs" / name).glob(f"seed{seed}-*/metrics.json")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def short_grid(tmp_path_factory, data_root):
    """Every cell with 10 units plus the CNN, 300 iterations of batch 32 at lr 1e-2; not unrolled,
    which builds the graphs faster than unrolling (what matters in a short run)."""
    tmp = tmp_path_factory.mktemp("rnn")
    argv = [
        "--cells",
        *CELLS,
        "--hidden",
        10,
        "--iterations",
        300,
        "--eval-every",
        100,
        "--batch-size",
        32,
        "--learning-rate",
        1e-2,
        "--no-unroll",
        "--data-dir",
        data_root,
        "--out-dir",
        tmp / "fig",
        "--runs-dir",
        tmp / "runs",
    ]
    assert rnn_mnist.main([str(a) for a in argv]) == 0
    return tmp, [str(a) for a in argv]


def test_short_run_writes_every_output(short_grid):
    tmp, _ = short_grid
    for name in FIGURES + TABLES:
        assert (tmp / "fig" / name).stat().st_size > 0, name
    for run in ("rnn_10", "lstm_10", "gru_10", "cnn"):
        m = metrics(tmp, run)
        assert m["status"] == "finished" and m["seed"] == 0 and "keras" in m["versions"]
        config = m["identity"]["config"]
        assert config["iterations"] == 300 and config["batch_size"] == 32
        assert m["identity"]["data"]["name"] == "MNIST"
        assert [h["iteration"] for h in m["history"]] == [0, 100, 200, 300]
        for h in m["history"][1:]:
            assert {"train_loss", "train_accuracy", "test_loss", "test_accuracy", "train_time_s"} <= h.keys()
        secs = [h["train_time_s"] for h in m["history"]]
        assert secs[0] == 0 and all(b > a for a, b in zip(secs, secs[1:]))
    rows = list(csv.DictReader((tmp / "fig" / "summary.csv").open()))
    assert {(r["cell"], r["hidden_units"]) for r in rows} == {("rnn", "10"), ("lstm", "10"), ("gru", "10"), ("cnn", "")}
    lstm = next(r for r in rows if r["cell"] == "lstm")
    assert int(lstm["num_params"]) == textbook_params("lstm", 10)
    assert float(lstm["study_test_accuracy"]) == 0.90 and lstm["seeds"] == "0" and lstm["n"] == "1"
    assert float(lstm["final_test_accuracy_mean"]) == pytest.approx(metrics(tmp, "lstm_10")["final"]["test_accuracy"])
    assert next(r for r in rows if r["cell"] == "rnn")["study_test_accuracy"] == ""  # no invented number
    md = (tmp / "fig" / "summary.md").read_text()
    assert "Part C" in md and "CNN (LeNet-5)" in md and "3,274,634" in md


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_learns_above_chance(short_grid, cell):
    tmp, _ = short_grid
    assert metrics(tmp, f"{cell}_10")["final"]["test_accuracy"] > 0.3  # chance is 0.1


def test_rerun_skips_finished_runs(short_grid, capsys):
    tmp, argv = short_grid
    saved = {p: p.stat().st_mtime_ns for p in (tmp / "runs").glob("*/*/metrics.json")}
    (tmp / "fig" / "summary.png").unlink()
    out = run_main(argv, capsys)
    assert out.count("skipping") == 4
    assert {p: p.stat().st_mtime_ns for p in saved} == saved
    assert (tmp / "fig" / "summary.png").exists()  # rebuilt from the results


def test_seeds_write_one_folder_each_and_the_summary_aggregates(tmp_path, data_root, capsys):
    argv = [
        "--cells",
        "gru",
        "--hidden",
        5,
        "--iterations",
        40,
        "--eval-every",
        20,
        "--seeds",
        "0,1,2",
        "--no-cnn",
        "--no-unroll",
        "--data-dir",
        data_root,
        "--out-dir",
        tmp_path / "fig",
        "--runs-dir",
        tmp_path / "runs",
    ]
    run_main(argv, capsys)
    dirs = sorted((tmp_path / "runs" / "gru_5").iterdir())
    assert [d.name.split("-")[0] for d in dirs] == ["seed0", "seed1", "seed2"]
    finals = [metrics(tmp_path, "gru_5", s)["final"]["test_accuracy"] for s in (0, 1, 2)]
    (row,) = list(csv.DictReader((tmp_path / "fig" / "summary.csv").open()))
    assert row["n"] == "3" and row["seeds"] == "0,1,2"
    assert float(row["final_test_accuracy_mean"]) == pytest.approx(np.mean(finals), abs=1e-5)
    assert float(row["final_test_accuracy_std"]) == pytest.approx(np.std(finals, ddof=1), abs=1e-5)
    assert "±" in (tmp_path / "fig" / "summary.md").read_text()


def test_diverging_run_is_marked_and_grid_goes_on(tmp_path, data_root, capsys):
    argv = [
        "--cells",
        "rnn",
        "--hidden",
        "5,3",
        "--iterations",
        10,
        "--eval-every",
        10,
        "--learning-rate",
        1e38,
        "--no-cnn",
        "--no-unroll",
        "--data-dir",
        data_root,
        "--out-dir",
        tmp_path / "fig",
        "--runs-dir",
        tmp_path / "runs",
    ]
    out = run_main(argv, capsys)
    assert out.count("DIVERGED") == 2  # the first diverged run did not stop the grid
    for run in ("rnn_5", "rnn_3"):
        assert metrics(tmp_path, run)["status"] == "diverged"
    rows = list(csv.DictReader((tmp_path / "fig" / "summary.csv").open()))
    assert [r["status"] for r in rows] == ["diverged", "diverged"]
    assert "basic RNN (diverged)" in (tmp_path / "fig" / "summary.md").read_text()
    assert (tmp_path / "fig" / "summary.png").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--cells", "transformer"], "invalid choice: 'transformer' (choose from"),
        (["--hidden", "20", "0"], "'0' must be a positive integer"),
        (["--hidden", "-5"], "'-5' must be a positive integer"),
        (["--iterations", "ten"], "'ten' is not an integer"),
        (["--learning-rate", "-1"], "'-1' must be > 0.0"),
        (["--batch-size", "0"], "'0' must be a positive integer"),
        (["--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
        (["--seeds", "-3"], "'-3' must be >= 0"),
    ],
)
def test_bad_flag_values_exit_with_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        rnn_mnist.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err, err


def test_help_works(capsys):
    with pytest.raises(SystemExit) as exc:
        rnn_mnist.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--cells" in out and "--runs-dir" in out and "--eval-every" in out and "--seeds" in out
