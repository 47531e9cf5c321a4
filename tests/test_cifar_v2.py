"""Short real runs of cifar_v2.py: outputs, learning, seeds and summaries, identities, flags."""

import csv
import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

import cifar_v2
from common import cli, study
from common.config import parse
from common.report import beyond as report_ladder
from common.report import runfigs
from common.runs import HIST_IMAGES, VIEW_CANDIDATES

PER_RUN_FIGURES = ("curves.png", "filters.png", "activation_stats.png", "activation_histograms.png")


def run(tmp_path, data_root, *flags):
    return cifar_v2.main(
        ["--data-dir", str(data_root), "--out-dir", str(tmp_path / "fig"), "--runs-dir", str(tmp_path / "runs"), *flags]
    )


def run_dirs(tmp_path, name):
    return sorted((tmp_path / "runs" / name).glob("seed*"))


def metrics(tmp_path, name, seed=0):
    (path,) = (tmp_path / "runs" / name).glob(f"seed{seed}-*/metrics.json")
    return json.loads(path.read_text())


def summary(tmp_path):
    return list(csv.DictReader((tmp_path / "fig" / "summary.csv").open()))


@pytest.fixture(scope="module")
def short_sweep(tmp_path_factory, data_root):
    """One real configuration, 200 iterations, two seeds, shared by the tests that only read its outputs."""
    tmp = tmp_path_factory.mktemp("sweep")
    flags = ("--runs", "relu_adam_normal", "--iterations", "200", "--eval-every", "50", "--seeds", "0,1")
    assert run(tmp, data_root, *flags) == 0
    return tmp


def test_short_run_writes_every_output(short_sweep):
    for fig in PER_RUN_FIGURES:
        path = short_sweep / "fig" / "relu_adam_normal@iterations=200" / fig  # a run changed by --iterations
        assert path.stat().st_size > 10_000, path
    assert not (short_sweep / "fig" / "relu_adam_normal").exists()  # never over the committed run's figures
    for table in ("summary.md", "summary.csv", "summary.png", "results.jsonl"):
        assert (short_sweep / "fig" / table).exists()
    dirs = run_dirs(short_sweep, "relu_adam_normal")
    assert [d.name.split("-")[0] for d in dirs] == ["seed0", "seed1"]  # one folder per seed
    assert dirs[0].name.split("-")[1] == dirs[1].name.split("-")[1]  # ... of one configuration
    run_dir = dirs[0]
    assert (run_dir / "model.keras").exists() and any((run_dir / "tensorboard").iterdir())
    assert not (run_dir / "checkpoint.npz").exists()  # a finished run leaves no stale checkpoint
    m = metrics(short_sweep, "relu_adam_normal")
    assert m["status"] == "finished" and m["seed"] == 0
    ident = m["identity"]
    assert ident["config"]["activation"] == "relu" and ident["config"]["iterations"] == 200
    assert ident["data"]["name"] == "CIFAR10" and len(ident["data"]["fingerprint"]) == 16
    assert ident["backend"] == "tensorflow" and ident["device"] == "cpu" and ident["seed"] == 0
    assert {"keras", "numpy", "tensorflow", "python", "backend"} <= set(m["versions"])
    assert [h["iteration"] for h in m["history"]] == [0, 50, 100, 150, 200]
    last = m["history"][-1]
    for key in (
        "train_loss",
        "train_accuracy",
        "test_loss",
        "test_accuracy",
        "conv1_min",
        "conv1_max",
        "conv1_mean",
        "conv1_std",
        "conv2_std",
        "conv2_hist",
    ):
        assert key in last
    assert last["conv1_min"] >= 0 and last["conv1_max"] > last["conv1_mean"] > 0  # ReLU outputs
    assert sum(last["conv2_hist"]["counts"]) == HIST_IMAGES * 14 * 14 * 64


def test_summary_aggregates_the_seeds(short_sweep):
    (row,) = summary(short_sweep)
    finals = [metrics(short_sweep, "relu_adam_normal", s)["final"]["test_accuracy"] for s in (0, 1)]
    assert row["run"] == "relu_adam_normal" and row["seeds"] == "0,1" and row["n"] == "2"
    assert float(row["test_acc_mean"]) == pytest.approx(np.mean(finals), abs=1e-5)
    assert float(row["test_acc_std"]) == pytest.approx(np.std(finals, ddof=1), abs=1e-5)
    p = np.mean(finals)
    assert float(row["test_acc_binomial_se"]) == pytest.approx(np.sqrt(p * (1 - p) / 1000), abs=1e-5)
    assert float(row["study_test_acc"]) == 0.525 and row["current"] == "True"
    md = (short_sweep / "fig" / "summary.md").read_text()
    assert "| 1 | `relu_adam_normal [iterations=200]` | 0,1 | 200 |" in md and "±" in md
    index = [json.loads(line) for line in (short_sweep / "fig" / "results.jsonl").read_text().splitlines()]
    assert sorted(r["identity"]["seed"] for r in index) == [0, 1]


def test_activation_stats_match_numpy(short_sweep, data_root):
    """The probe's streamed statistics equal NumPy's on the full activations of the saved model."""
    import keras

    from common.data import as_float_images, load_cifar10

    model = keras.models.load_model(run_dirs(short_sweep, "relu_adam_normal")[0] / "model.keras")
    x_test = as_float_images(load_cifar10(data_root).x_test)
    conv2 = keras.Model(model.inputs, model.get_layer("conv2").output).predict(x_test, verbose=0)
    last = metrics(short_sweep, "relu_adam_normal")["history"][-1]
    assert last["conv2_mean"] == pytest.approx(conv2.mean(), rel=1e-4)
    assert last["conv2_std"] == pytest.approx(conv2.std(), rel=1e-3)
    assert last["conv2_max"] == pytest.approx(conv2.max(), rel=1e-5)
    logits = model.predict(x_test, verbose=0)
    assert last["test_accuracy"] == pytest.approx(np.mean(logits.argmax(1) == load_cifar10(data_root).y_test))


def test_short_training_beats_chance(short_sweep):
    history = metrics(short_sweep, "relu_adam_normal")["history"]
    assert history[0]["test_accuracy"] < 0.2  # untrained: about chance (10%)
    assert history[-1]["test_accuracy"] > 0.25  # 200 batches: clearly above it
    assert history[-1]["train_loss"] < history[1]["train_loss"]


def numbers(tmp_path, name, seed=0):  # every recorded number but the timings
    return [{k: v for k, v in h.items() if k != "train_time_s"} for h in metrics(tmp_path, name, seed)["history"]]


def test_same_seed_same_numbers_and_other_identities_keep_their_results(tmp_path, data_root, no_run_figures):
    flags = ("--runs", "relu_adam_normal_dropout_l2", "--iterations", "60", "--eval-every", "30")
    assert run(tmp_path / "a", data_root, *flags) == 0
    assert run(tmp_path / "b", data_root, *flags) == 0
    a = numbers(tmp_path / "a", "relu_adam_normal_dropout_l2")
    assert len(a) == 3 and a == numbers(tmp_path / "b", "relu_adam_normal_dropout_l2")
    # Another seed and another iteration count in the same folders: every result stays.
    assert run(tmp_path / "a", data_root, *flags, "--seeds", "1") == 0
    assert numbers(tmp_path / "a", "relu_adam_normal_dropout_l2", 1) != a
    assert run(tmp_path / "a", data_root, *flags[:2], "--iterations", "30", "--eval-every", "30") == 0
    dirs = run_dirs(tmp_path / "a", "relu_adam_normal_dropout_l2")
    assert len(dirs) == 3 and all((d / "metrics.json").exists() for d in dirs)
    assert numbers(tmp_path / "a", "relu_adam_normal_dropout_l2", 1) != a
    rows = summary(tmp_path / "a")
    assert sorted((r["iterations"], r["seeds"], r["current"]) for r in rows) == [
        ("30", "0", "True"),
        ("60", "0,1", "False"),
    ]


def test_the_protocols_fresh_seeds_that_the_records_hold_are_not_trained_again(
    tmp_path, data_root, monkeypatch, capsys
):
    from common import protocol

    chosen = replace(study.RUNS["relu_adam_normal"], name="chosen", iterations=20)
    monkeypatch.setattr(protocol, "walk", lambda design, lookup: protocol.Walk([], chosen, [], [chosen]))
    monkeypatch.setattr(protocol, "FRESH_SEEDS", (100, 101))
    flags = ("--protocol", "airbench", "--eval-every", "10")
    assert run(tmp_path, data_root, *flags) == 0
    index = (tmp_path / "fig" / "results.jsonl").read_text()
    assert len(run_dirs(tmp_path, "chosen")) == 2
    # each records every view set, which a recipe that differs by its views alone is read at
    assert all(
        set(json.loads(line)["final"]["test_accuracy_views"]) == set(VIEW_CANDIDATES) for line in index.splitlines()
    )
    # finished without the views (an older version) where a recipe read at them needs them: named, with the fix
    for path in (tmp_path / "runs" / "chosen").glob("seed*/metrics.json"):
        m = json.loads(path.read_text())
        path.write_text(json.dumps({**m, "final": {k: v for k, v in m["final"].items() if k != "test_accuracy_views"}}))
    views = replace(chosen, name="chosen+views10", tta=True, tta_shift=1)
    monkeypatch.setattr(protocol, "walk", lambda design, lookup: protocol.Walk([], views, [], [chosen, views]))
    assert run(tmp_path, data_root, *flags) == cli.EXIT_USER_ERROR
    assert "chosen seed 100 is finished in" in capsys.readouterr().err
    monkeypatch.setattr(protocol, "walk", lambda design, lookup: protocol.Walk([], chosen, [], [chosen]))
    index = (tmp_path / "fig" / "results.jsonl").read_text()
    for folder in run_dirs(tmp_path, "chosen"):  # a clone: the records, no runs folder
        shutil.rmtree(folder)
    assert run(tmp_path, data_root, *flags) == 0
    assert run_dirs(tmp_path, "chosen") == [] and (tmp_path / "fig" / "results.jsonl").read_text() == index


def test_the_dense_early_rerun_is_the_same_run_up_to_there(tmp_path, data_root, no_run_figures):
    """--early trains the first iterations again with an evaluation after each one; the report merges them
    into the run's history only because the rerun ends where the full run was at that iteration."""
    from common import runs

    flags = ("--runs", "relu_adam_normal_dropout_l2", "--iterations", "40", "--eval-every", "20")
    assert run(tmp_path, data_root, *flags) == 0
    assert run(tmp_path, data_root, *flags, "--early") == 0  # the rerun alone
    index = runs.ResultsIndex(tmp_path / "fig" / "results.jsonl").read()
    assert sorted(r["identity"]["eval_every"] for r in index) == [1, 20]
    dense, full = sorted(index, key=lambda r: r["identity"]["eval_every"])
    assert dense["history"][-1]["test_accuracy"] == full["final"]["test_accuracy"]  # the same 40 batches
    assert dense["history"][-1]["conv2_std"] == pytest.approx(full["final"]["conv2_std"], rel=1e-5)
    (merged,) = runs.merge_early(index, study.EARLY_ITERATIONS)
    assert [h["iteration"] for h in merged["history"]] == list(range(41)) and merged["dense_until"] == 40
    assert [r["run"] for r in summary(tmp_path)] == ["relu_adam_normal_dropout_l2"]  # the rerun is not a row
    # a rerun that is not the same run (another seed's numbers) is named and left out of the history
    other = {**dense, "history": [*dense["history"][:-1], {**dense["history"][-1], "test_accuracy": 0.0}]}
    said = []
    assert runs.merge_early([full, other], study.EARLY_ITERATIONS, said.append)[0]["history"] == full["history"]
    assert "not the same run" in said[0]


def test_a_partial_rerun_never_shrinks_the_summary(tmp_path, data_root, no_run_figures):
    flags = ("--iterations", "20", "--eval-every", "10")
    assert run(tmp_path, data_root, "--runs", "relu_adam_normal,tanh_adam_normal", *flags) == 0
    # A fresh clone: no runs folder, only the committed figures and their index.
    import shutil

    shutil.rmtree(tmp_path / "runs")
    assert run(tmp_path, data_root, "--runs", "tanh_adam_normal", *flags) == 0
    rows = summary(tmp_path)
    assert [(r["run"], r["current"]) for r in rows] == [("relu_adam_normal", "True"), ("tanh_adam_normal", "True")]
    md = (tmp_path / "fig" / "summary.md").read_text()
    assert "`relu_adam_normal [iterations=20]` |" in md and "`tanh_adam_normal [iterations=20]` |" in md


def test_the_ladder_leaves_the_sweeps_table_alone(tmp_path, data_root, no_run_figures):
    """A run of the ladder alone once rewrote the sweep's summary with the ladder's rows only."""
    flags = ("--iterations", "20", "--eval-every", "10")
    assert run(tmp_path, data_root, "--runs", "relu_adam_normal,relu_adam_normal_dropout_l2", *flags) == 0
    before = (tmp_path / "fig" / "summary.md").read_text()
    assert run(tmp_path, data_root, "--runs", "beyond_1_augment", *flags) == 0
    md = (tmp_path / "fig" / "summary.md").read_text()
    table = lambda text: [line for line in text.splitlines() if line.startswith("| ")]
    assert table(md) == table(before) and "beyond_1_augment" not in md
    assert "ladder's 1 run(s) are tabled in `beyond/ladder.md`" in md
    ladder = (tmp_path / "fig" / "beyond" / "ladder.md").read_text()
    assert "`relu_adam_normal_dropout_l2 [iterations=20]`" in ladder and "`beyond_1_augment [iterations=20]`" in ladder


def test_diverging_run_is_reported_and_the_sweep_goes_on(tmp_path, data_root, monkeypatch):
    exploding = replace(study.RUNS["relu_momentum_normal"], name="exploding", learning_rate=1e4)
    monkeypatch.setitem(study.RUNS, "exploding", exploding)  # a run of its own: one literal, as in common/study.py
    flags = ("--runs", "exploding,relu_adam_normal", "--iterations", "40", "--eval-every", "20")
    assert run(tmp_path, data_root, *flags) == 0
    assert metrics(tmp_path, "exploding")["status"] == "diverged"
    assert metrics(tmp_path, "relu_adam_normal")["status"] == "finished"
    md = (tmp_path / "fig" / "summary.md").read_text()
    assert "`exploding [iterations=40]` (diverged)" in md and "`relu_adam_normal [iterations=40]` |" in md
    assert (tmp_path / "fig" / "exploding@iterations=40" / "curves.png").exists()


def test_a_failing_figure_loses_no_result(tmp_path, data_root, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("plotting broke")

    monkeypatch.setattr(runfigs, "plot_curves", broken)
    flags = ("--runs", "relu_adam_normal", "--iterations", "20", "--eval-every", "10")
    assert run(tmp_path, data_root, *flags) == 0
    assert "error drawing figures of relu_adam_normal" in capsys.readouterr().out
    assert metrics(tmp_path, "relu_adam_normal")["status"] == "finished"
    curves = tmp_path / "fig" / "relu_adam_normal@iterations=20" / "curves.png"
    assert not curves.exists() and (tmp_path / "fig" / "summary.md").exists()  # the figure failed, the table did not
    monkeypatch.undo()
    assert run(tmp_path, data_root, *flags, "--summary-only") == 0
    assert curves.exists()


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--runs", "relu_adam_nope"], "invalid choice: 'relu_adam_nope'"),
        (["--iterations", "0"], "'0' must be a positive integer"),
        (["--iterations", "1e20"], "'1e20' is not an integer"),
        (["--iterations", str(10**12)], "must be <= 10,000,000"),
        (["--eval-every", "-5"], "'-5' must be a positive integer"),
        (["--seeds", "abc"], "'abc' is not an integer"),
        (["--seeds", "-1"], "'-1' must be >= 0"),
        (["--seeds", "0,4294967296"], "'4294967296' must be <= 4,294,967,295"),
    ],
)
def test_wrong_flag_values_exit_with_a_clear_message(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cifar_v2.main(flags)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_values_that_do_not_fit_the_data_are_named_before_training(tmp_path, data_root, capsys):
    assert run(tmp_path, data_root, "--batch-size", "100000", "--runs", "relu_adam_normal") == 2
    assert "--batch-size 100000 is larger than the training set (10,000 images)" in capsys.readouterr().err
    assert run(tmp_path, data_root, "--iterations", "250", "--runs", "relu_adam_normal") == 2
    assert "not a multiple of --eval-every 100" in capsys.readouterr().err
    assert not (tmp_path / "runs" / "relu_adam_normal").exists()


@pytest.mark.parametrize("which", ["--out-dir", "--runs-dir"])
def test_unwritable_or_file_folders_are_named_before_training(tmp_path, data_root, capsys, which):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    other = "--runs-dir" if which == "--out-dir" else "--out-dir"
    code = cifar_v2.main(
        ["--data-dir", str(data_root), which, str(blocker), other, str(tmp_path / "ok"), "--runs", "relu_adam_normal"]
    )
    err = capsys.readouterr().err
    assert code == 2 and f"{which} {blocker}: is a file" in err and "Traceback" not in err


def test_help_and_list(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cifar_v2.main(["--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "--data-dir" in out and "--seeds" in out and "--dataset" in out
    assert cifar_v2.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 11 and "relu_adam_normal_dropout_l2_long" in out


def test_missing_data_is_a_clear_exit(tmp_path, capsys):
    assert (
        cifar_v2.main(
            [
                "--data-dir",
                str(tmp_path),
                "--out-dir",
                str(tmp_path / "f"),
                "--runs-dir",
                str(tmp_path / "r"),
                "--runs",
                "relu_adam_normal",
            ]
        )
        == 2
    )
    assert "no CIFAR10/ folder there" in capsys.readouterr().err


def test_beyond_group_starts_from_the_studys_best_run():
    settings = parse(cifar_v2.Settings, ["--runs", "beyond"])
    names = [r.name for r, _ in settings.selected_runs()]
    beyond = [r.name for r in study.RUNS.values() if r.group == "beyond"]
    assert names[0] == "relu_adam_normal_dropout_l2" and names[1:] == beyond and len(beyond) == 16


def test_ladder_table_from_summary_rows(tmp_path):
    def row(name, train, test, n=2):
        return {
            "run": name,
            "label": name,
            "overridden": 0,
            "current": True,
            "n": n,
            "seeds": "0,1",
            "iterations": 5500,
            "train_acc_mean": train,
            "train_acc_std": 0.01,
            "test_acc_mean": test,
            "test_acc_std": 0.005,
            "test_acc_se": 0.005 / np.sqrt(max(n, 1)),  # as summary_rows gives it: the std over the seeds / sqrt(n)
            "train_time_s_mean": 300.0,
            "train_accs": [train - 0.01, train + 0.01][:n],
            "test_accs": [test - 0.005, test + 0.005][:n],
            "cpus": ["a CPU"],
        }

    rows = [
        row("relu_adam_normal_dropout_l2", 0.92, 0.56),
        row("beyond_1_augment", 0.70, 0.64),
        row("beyond_vgg", 0.95, 0.80),
        row("beyond_vgg_shift4", 0.93, 0.82),
        {**row("beyond_2_adamw_cosine", 0.0, 0.0, n=0), "current": True},  # no finished seed: no rung
        # a --set variant drawn beside the defined run: current too, but the ladder is the run as defined
        {**row("beyond_1_augment", 0.10, 0.10), "label": "beyond_1_augment [dropout=0.3]", "overridden": 1},
    ]
    records = [{"name": "beyond_vgg", "num_params": 289066}]
    written = report_ladder.write_ladder(rows, records, tmp_path)
    text = (tmp_path / "ladder.md").read_text()
    assert [p.name for p in written] == ["ladder.md", "ladder.png", "cost.png"]
    assert all(p.stat().st_size > 10_000 for p in written[1:])
    lines = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| rung")]
    assert [line.split("|")[1].strip() for line in lines] == ["0", "1", "CNN", "CNN+"]
    assert "| 36.0 | - |" in lines[0] and "| 6.0 | +8.0 ± 0.5 points, beyond noise |" in lines[1]
    assert "289,066" in lines[2] and "| 15.0 | - |" in lines[2]  # its base, rung 4, has no row here
    assert "| 11.0 | +2.0 ± 0.5 points, beyond noise |" in lines[3]  # from the CNN it adds to, not the row above
    assert "beyond_2_adamw_cosine" not in text and "dropout=0.3" not in text


def test_a_point_where_every_seed_diverged_is_a_gap_without_a_warning():
    import warnings

    from common.report.plots import band, plt

    nan = float("nan")
    records = [
        {"history": [{"iteration": 0, "test_accuracy": 0.1}, {"iteration": 100, "test_accuracy": nan}]},
        {"history": [{"iteration": 0, "test_accuracy": 0.2}, {"iteration": 100, "test_accuracy": nan}]},
    ]
    fig, ax = plt.subplots()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        band(ax, records, "test_accuracy", "test", "C1")
    line = ax.get_lines()[0].get_ydata()
    assert np.isclose(line[0], 0.15) and np.isnan(line[1])
    plt.close(fig)


def test_every_search_space_has_a_hand_made_rival_of_the_study_runs_length():
    from dataclasses import fields

    from common import search

    (field,) = [f for f in fields(cifar_v2.Settings) if f.name == "search_space"]
    for space in field.metadata["choices"]:
        rival = study.RUNS[search.RIVALS[space]]
        # the airbench space's rival is the airbench recipe at its own length (tests/test_search.py)
        if space != "airbench":
            assert rival.iterations == study.RUNS["relu_adam_normal_dropout_l2"].iterations
    assert study.RUNS[search.RIVALS["all"]].augment != "none"  # the ladder's ingredients, like its space
