"""--precision mixed_bfloat16: a run of its own identity, learning, reproducible, float32 logits; float32
runs keep the identity they had before the setting existed."""

import json

import keras
import numpy as np
import pytest

import cifar_v2
import rnn_mnist
from common import backend, models, runs, study
from common.evaluation import Evaluator
from common.models import INPUT_SHAPE


def run(tmp_path, data_root, *flags):
    return cifar_v2.main(
        ["--data-dir", str(data_root), "--out-dir", str(tmp_path / "fig"), "--runs-dir", str(tmp_path / "runs"), *flags]
    )


def all_metrics(tmp_path, name):
    return {
        m["identity"].get("precision", "float32"): m
        for m in (json.loads(p.read_text()) for p in (tmp_path / "runs" / name).glob("seed0-*/metrics.json"))
    }


@pytest.fixture(autouse=True)
def float32_after():
    """Keras' dtype policy is global: every test here leaves it at float32, also when it fails."""
    yield
    backend.set_precision("float32")


@pytest.fixture
def mixed():
    backend.set_precision("mixed_bfloat16")


FLAGS = ("--runs", "relu_adam_normal", "--iterations", "150", "--eval-every", "50")


def test_a_bfloat16_run_is_a_run_of_its_own_that_learns_and_repeats(tmp_path, data_root, no_run_figures):
    assert run(tmp_path / "a", data_root, *FLAGS) == 0
    assert run(tmp_path / "a", data_root, *FLAGS, "--precision", "mixed_bfloat16") == 0
    assert backend.precision() == "mixed_bfloat16"  # what the last main() asked for ...
    assert run(tmp_path / "b", data_root, *FLAGS, "--precision", "mixed_bfloat16") == 0
    both = all_metrics(tmp_path / "a", "relu_adam_normal")
    assert sorted(both) == ["float32", "mixed_bfloat16"]  # two folders: neither result replaced the other
    f32, bf16 = both["float32"], both["mixed_bfloat16"]
    assert "precision" not in f32["identity"]  # the float32 identity is the one earlier runs have
    history = [h["test_accuracy"] for h in bf16["history"]]
    assert history[-1] > 0.2  # 10 classes: chance is 0.1; float32 is at ~0.3 after 150 iterations
    losses = [h["train_loss"] for h in bf16["history"] if "train_loss" in h]  # iteration 0 has none
    assert losses[-1] < 0.9 * losses[0]
    assert [h["test_accuracy"] for h in f32["history"]] != history  # bfloat16 rounds differently
    # the same seed gives the same numbers in bfloat16 too
    again = all_metrics(tmp_path / "b", "relu_adam_normal")["mixed_bfloat16"]
    strip = lambda m: [{k: v for k, v in h.items() if k != "train_time_s"} for h in m["history"]]
    assert strip(again) == strip(bf16)
    assert run(tmp_path / "a", data_root, *FLAGS, "--summary-only") == 0
    assert backend.precision() == "float32"  # ... and each main() sets it again, default float32
    # the two precisions side by side, from the index
    table = (tmp_path / "a" / "fig" / "fast_settings.md").read_text()
    (row,) = [line for line in table.splitlines() if line.startswith("| `relu_adam_normal`")]
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[1] == "bfloat16"
    assert cells[3] == f"{100 * f32['final']['test_accuracy']:.1f}"
    assert cells[5] == f"{100 * bf16['final']['test_accuracy']:.1f}"
    assert not (tmp_path / "b" / "fig" / "fast_settings.md").exists()  # no float32 twin there: no table


def test_mixed_models_keep_float32_weights_and_logits(mixed):
    model = models.build_model(study.RUNS["beyond_vgg"])
    assert model.get_layer("conv1").compute_dtype == "bfloat16"
    assert all(w.dtype == "float32" for w in model.weights)
    x = np.random.default_rng(0).random((8, *INPUT_SHAPE), dtype=np.float32)
    assert keras.ops.convert_to_numpy(model(x)).dtype == np.float32
    record = Evaluator(x, np.arange(8) % 10)(model, 0)
    # the statistics are summed in float32: the mean and std of conv1 match NumPy's on the same activations
    probed = Evaluator.probed_layers(model)[0]  # the VGG's conv1 after its batch norm and ReLU
    conv1 = keras.Model(model.inputs, model.get_layer(probed).output)
    acts = keras.ops.convert_to_numpy(conv1.predict_on_batch(x)).astype(np.float64)  # the evaluation's own path
    assert record["conv1_mean"] == pytest.approx(acts.mean(), rel=1e-3)
    assert record["conv1_std"] == pytest.approx(acts.std(), rel=1e-3)


def test_identity_records_a_precision_only_where_it_is_not_float32(mixed, data_root):
    from common.data import load_cifar10

    data = load_cifar10(data_root)
    bf16 = runs.make_identity("t", {}, 0, data, 10)
    backend.set_precision("float32")
    f32 = runs.make_identity("t", {}, 0, data, 10)
    assert bf16 == {**f32, "precision": "mixed_bfloat16"}
    assert runs.group_id(bf16) != runs.group_id(f32)
    with pytest.raises(ValueError, match="unknown precision 'float16'"):
        backend.set_precision("float16")


@pytest.mark.parametrize("script", [cifar_v2, rnn_mnist])
def test_a_wrong_precision_is_named(script, capsys):
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--precision", "float16"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'float16' (choose from float32, mixed_bfloat16)" in capsys.readouterr().err


def test_the_rnn_grid_trains_in_bfloat16(tmp_path, data_root):
    argv = ["--data-dir", data_root, "--runs-dir", tmp_path / "runs", "--out-dir", tmp_path / "fig"]
    argv += ["--cells", "lstm,gru", "--hidden", "5", "--iterations", "40", "--eval-every", "20", "--no-cnn"]
    assert rnn_mnist.main([str(a) for a in [*argv, "--precision", "mixed_bfloat16"]]) == 0
    found = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/seed0-*/metrics.json")]
    assert len(found) == 2 and all(m["identity"]["precision"] == "mixed_bfloat16" for m in found)
    assert all(np.isfinite(m["history"][-1]["test_loss"]) for m in found)


def test_the_speed_table_times_the_two_settings_on_one_cpu(tmp_path):
    """A float32 seed retrained on another CPU (its ``versions.cpu``) is not the setting's baseline time."""
    from common.report.speed import write_fast_settings
    from common.runs import group_id

    ident = {"task": "t", "config": {"optimizer": "adam"}, "eval_every": 10, "data": {}, "backend": "tf"}
    fast_ident = {**ident, "precision": "mixed_bfloat16"}

    def rec(identity, seed, seconds, cpu):
        return {
            "name": "r",
            "seed": seed,
            "identity": {**identity, "seed": seed},
            "group_id": group_id(identity),
            "status": "finished",
            "final": {"test_accuracy": 0.5},
            "train_time_s": seconds,
            "wall_time_s": seconds,
            "versions": {"cpu": cpu} if cpu else {},
        }

    records = [rec(ident, 0, 300, "other CPU"), rec(ident, 1, 100, None), rec(fast_ident, 0, 50, None)]
    (path,) = write_fast_settings(records, tmp_path, ["r"], "x.py")
    row = next(line for line in path.read_text().splitlines() if line.startswith("| `r`"))
    assert "| 1m40s | 50s | 2.00x |" in row  # seed 1's 100 s against 50 s, not the mean with the other CPU's 300
