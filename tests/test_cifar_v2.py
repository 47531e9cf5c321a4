"""Short real runs of cifar_v2.py: outputs, learning, resume, reproducibility, divergence, flags."""
import csv
import json
from dataclasses import replace

import numpy as np
import pytest

import cifar_v2

PER_RUN_FIGURES = ("curves.png", "filters.png", "activation_stats.png", "activation_histograms.png")


def run(tmp_path, data_root, *flags):
    return cifar_v2.main(["--data-dir", str(data_root), "--out-dir", str(tmp_path / "fig"),
                          "--runs-dir", str(tmp_path / "runs"), *flags])


def metrics(tmp_path, name):
    return json.loads((tmp_path / "runs" / name / "metrics.json").read_text())


@pytest.fixture(scope="module")
def short_sweep(tmp_path_factory, data_root):
    """One real run, 200 iterations, shared by the tests that only read its outputs."""
    tmp = tmp_path_factory.mktemp("sweep")
    assert run(tmp, data_root, "--runs", "relu_adam_normal", "--iterations", "200", "--eval-every", "50") == 0
    return tmp


def test_short_run_writes_every_output(short_sweep):
    for fig in PER_RUN_FIGURES:
        path = short_sweep / "fig" / "relu_adam_normal" / fig
        assert path.stat().st_size > 10_000, path
    for table in ("summary.md", "summary.csv", "summary.png"):
        assert (short_sweep / "fig" / table).exists()
    run_dir = short_sweep / "runs" / "relu_adam_normal"
    assert (run_dir / "model.keras").exists() and any((run_dir / "tensorboard").iterdir())
    assert not (run_dir / "checkpoint.keras").exists()  # a finished run leaves no stale checkpoint
    m = metrics(short_sweep, "relu_adam_normal")
    assert m["status"] == "finished" and m["seed"] == 0
    assert m["config"]["activation"] == "relu" and m["config"]["iterations"] == 200
    assert {"keras", "numpy", "tensorflow", "python"} <= set(m["versions"])
    assert [h["iteration"] for h in m["history"]] == [0, 50, 100, 150, 200]
    last = m["history"][-1]
    for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "conv1_min", "conv1_max",
                "conv1_mean", "conv1_std", "conv2_std", "conv2_hist"):
        assert key in last
    assert last["conv1_min"] >= 0 and last["conv1_max"] > last["conv1_mean"] > 0  # ReLU outputs
    assert sum(last["conv2_hist"]["counts"]) == cifar_v2.HIST_IMAGES * 14 * 14 * 64
    rows = list(csv.DictReader((short_sweep / "fig" / "summary.csv").open()))
    assert rows[0]["run"] == "relu_adam_normal" and float(rows[0]["study_test_acc"]) == 0.525
    assert float(rows[0]["final_test_acc"]) == pytest.approx(last["test_accuracy"])


def test_activation_stats_match_numpy(short_sweep, data_root):
    """The probe's streamed statistics equal NumPy's on the full activations of the saved model."""
    import keras
    from common.data import as_float_images, load_cifar10
    model = keras.models.load_model(short_sweep / "runs" / "relu_adam_normal" / "model.keras")
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
    assert history[0]["test_accuracy"] < 0.2          # untrained: about chance (10%)
    assert history[-1]["test_accuracy"] > 0.25        # 200 batches: clearly above it
    assert history[-1]["train_loss"] < history[1]["train_loss"]


def test_same_seed_same_numbers(tmp_path, data_root):
    flags = ("--runs", "relu_adam_normal_dropout_l2", "--iterations", "60", "--eval-every", "30")
    assert run(tmp_path / "a", data_root, *flags) == 0
    assert run(tmp_path / "b", data_root, *flags) == 0
    def numbers(d):  # every recorded number but the timings
        return [{k: v for k, v in h.items() if k != "train_time_s"}
                for h in metrics(tmp_path / d, "relu_adam_normal_dropout_l2")["history"]]
    a, b = numbers("a"), numbers("b")
    assert len(a) == 3 and a == b
    assert run(tmp_path / "c", data_root, *flags, "--seed", "1") == 0
    assert numbers("c") != a


def test_interrupted_sweep_resumes(tmp_path, data_root, monkeypatch, capsys):
    flags = ("--runs", "relu_adam_normal,tanh_adam_normal", "--iterations", "60", "--eval-every", "20",
             "--checkpoint-every", "20")
    real_call = cifar_v2.Evaluator.__call__

    def interrupt_tanh_at_40(self, model, iteration):
        if iteration == 40 and model.get_layer("conv1").activation.__name__ == "tanh":
            raise KeyboardInterrupt
        return real_call(self, model, iteration)

    monkeypatch.setattr(cifar_v2.Evaluator, "__call__", interrupt_tanh_at_40)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, data_root, *flags)
    first = tmp_path / "runs" / "relu_adam_normal" / "metrics.json"
    assert first.exists() and not (tmp_path / "runs" / "tanh_adam_normal" / "metrics.json").exists()
    assert (tmp_path / "runs" / "tanh_adam_normal" / "checkpoint.keras").exists()
    assert not list((tmp_path / "runs").rglob(".*.tmp*"))  # nothing half-written
    mtime = first.stat().st_mtime_ns

    monkeypatch.setattr(cifar_v2.Evaluator, "__call__", real_call)
    capsys.readouterr()
    assert run(tmp_path, data_root, *flags) == 0
    out = capsys.readouterr().out
    assert "[relu_adam_normal] already finished" in out
    assert "[tanh_adam_normal] resuming from iteration 20" in out
    assert first.stat().st_mtime_ns == mtime
    tanh = metrics(tmp_path, "tanh_adam_normal")
    assert tanh["status"] == "finished" and [h["iteration"] for h in tanh["history"]] == [0, 20, 40, 60]
    assert (tmp_path / "fig" / "tanh_adam_normal" / "curves.png").exists()


def test_diverging_run_is_reported_and_the_sweep_goes_on(tmp_path, data_root, monkeypatch):
    exploding = replace(cifar_v2.RUNS["relu_momentum_normal"], name="exploding", learning_rate=1e4)
    monkeypatch.setitem(cifar_v2.RUNS, "exploding", exploding)
    assert run(tmp_path, data_root, "--runs", "exploding,relu_adam_normal", "--iterations", "40",
               "--eval-every", "20") == 0
    assert metrics(tmp_path, "exploding")["status"] == "diverged"
    assert metrics(tmp_path, "relu_adam_normal")["status"] == "finished"
    summary = (tmp_path / "fig" / "summary.md").read_text()
    assert "`exploding` | diverged" in summary and "`relu_adam_normal` | finished" in summary
    assert (tmp_path / "fig" / "exploding" / "curves.png").exists()


@pytest.mark.parametrize("flags,message", [
    (["--runs", "relu_adam_nope"], "unknown run name(s) ['relu_adam_nope']"),
    (["--iterations", "0"], "--iterations must be a positive integer, got 0"),
    (["--eval-every", "-5"], "--eval-every must be a positive integer, got -5"),
    (["--seed", "abc"], "invalid int value: 'abc'"),
])
def test_wrong_flag_values_exit_with_a_clear_message(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cifar_v2.main(flags)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_help_and_list(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cifar_v2.main(["--help"])
    assert exit_info.value.code == 0 and "--data-dir" in capsys.readouterr().out
    assert cifar_v2.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 11 and "relu_adam_normal_dropout_l2_long" in out and "6000 it" in out


def test_missing_data_is_a_clear_exit(tmp_path):
    with pytest.raises(SystemExit, match=r"no CIFAR10/ folder there"):
        cifar_v2.main(["--data-dir", str(tmp_path), "--runs", "relu_adam_normal"])
