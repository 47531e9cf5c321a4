"""The fused weight updates (common/backend.py): TensorFlow's momentum kernel computes Keras' SGD
with momentum bit for bit, so it is always on; the fused Adam kernel (--fused-adam) rounds 1 - beta
differently, so it is opt-in, repeatable, close to Keras' Adam, and recorded in a run's identity."""

import json

import keras
import numpy as np
import pytest

import cifar_v2
import rnn_mnist
from common import backend, models
from common.cli import UserError

pytestmark = pytest.mark.skipif(backend.name() != "tensorflow", reason="the fused kernels are TensorFlow's")


@pytest.fixture(autouse=True)
def keras_adam_after():
    """The setting is global, like the dtype policy: every test here leaves it off, also when it fails."""
    yield
    backend.set_fused_adam(False)
    backend.set_precision("float32")


def train(optimizer, steps=30, precision="float32"):
    """The LeNet-5's weights after ``steps`` batches of 50 made-up images (the same for every call)."""
    backend.set_precision(precision)
    keras.utils.set_random_seed(0)
    model = models.build_lenet5(dropout=0.5, l2=1e-3)
    models.compile_classifier(model, optimizer)
    rng = np.random.default_rng(1)
    x = rng.random((steps * 50, *models.INPUT_SHAPE), dtype=np.float32)
    y = rng.integers(0, 10, steps * 50)
    model.fit(x, y, batch_size=50, epochs=1, shuffle=False, verbose=0)
    return [w.numpy() for w in model.trainable_weights]


@pytest.mark.parametrize(
    "precision, kwargs",
    [
        ("float32", dict(momentum=0.9)),
        ("mixed_bfloat16", dict(momentum=0.8)),
        ("float32", dict(momentum=0.9, nesterov=True, weight_decay=5e-3)),
    ],
)
def test_the_fused_momentum_kernel_is_keras_sgd_bit_for_bit(precision, kwargs):
    assert models.make_optimizer("momentum", 0.01, 0.9).__class__ is backend.FusedMomentumSGD
    fused = train(backend.FusedMomentumSGD(0.01, **kwargs), precision=precision)
    plain = train(keras.optimizers.SGD(0.01, **kwargs), precision=precision)
    assert all(np.array_equal(a, b) for a, b in zip(fused, plain, strict=True))
    assert not np.array_equal(fused[0], train(keras.optimizers.SGD(0.01, **kwargs), steps=1)[0])  # it trained


def test_the_fused_adam_kernel_is_opt_in_repeatable_and_close_to_keras_adam():
    assert type(models.make_optimizer("adam", 1e-3)) is keras.optimizers.Adam  # the default: Keras' own
    backend.set_fused_adam(True)
    assert type(models.make_optimizer("adam", 1e-3)) is backend.FusedAdam
    fused, again = train(models.make_optimizer("adam", 1e-3)), train(models.make_optimizer("adam", 1e-3))
    assert all(np.array_equal(a, b) for a, b in zip(fused, again, strict=True))  # the same numbers again
    # the same algorithm: after 3 steps far closer to Keras' Adam than the steps moved the weights (after 30
    # steps of this noise-fitting the rounding differences have grown to ~8% of the movement: chaos, not a bug) ...
    fused = train(models.make_optimizer("adam", 1e-3), steps=3)
    plain = train(keras.optimizers.Adam(1e-3), steps=3)
    start = train(keras.optimizers.Adam(1e-3), steps=1)
    for f, p, s in zip(fused, plain, start, strict=True):
        assert np.abs(f - p).max() < 0.01 * np.abs(p - s).max()
    assert not all(np.array_equal(a, b) for a, b in zip(fused, plain, strict=True))  # ... but not equal


def test_fused_adam_needs_tensorflow(monkeypatch):
    monkeypatch.setattr(backend, "name", lambda: "jax")
    with pytest.raises(UserError, match="--fused-adam needs the TensorFlow backend"):
        backend.set_fused_adam(True)
    backend.set_fused_adam(False)  # off is fine anywhere


def test_the_identity_records_fused_adam_only_where_it_changes_the_numbers(tmp_path, data_root, no_run_figures):
    def run(*flags):
        argv = ["--data-dir", str(data_root), "--runs-dir", str(tmp_path / "runs"), "--out-dir", str(tmp_path / "fig")]
        return cifar_v2.main(
            [
                *argv,
                "--runs",
                "relu_adam_normal,relu_momentum_normal",
                "--iterations",
                "20",  # the identities and the table, not what the runs learn: as short as a run can be
                "--eval-every",
                "10",
                *flags,
            ]
        )

    assert run() == 0
    assert run("--fused-adam") == 0
    metrics = {}
    for p in (tmp_path / "runs").glob("*/seed0-*/metrics.json"):
        m = json.loads(p.read_text())
        metrics.setdefault(m["name"], []).append(m)
    assert len(metrics["relu_adam_normal"]) == 2  # a folder of its own: neither replaced the other
    assert sorted(m["identity"].get("fused_adam", False) for m in metrics["relu_adam_normal"]) == [False, True]
    assert len(metrics["relu_momentum_normal"]) == 1  # the same numbers, so the same run, trained once
    assert "fused_adam" not in metrics["relu_momentum_normal"][0]["identity"]
    table = (tmp_path / "fig" / "fast_settings.md").read_text()
    assert "| `relu_adam_normal` | fused Adam |" in table


def test_the_rnn_grid_takes_fused_adam_and_tables_it(tmp_path, data_root):
    argv = ["--data-dir", data_root, "--runs-dir", tmp_path / "runs", "--out-dir", tmp_path / "fig"]
    argv = [str(a) for a in [*argv, "--cells", "lstm", "--hidden", "5", "--iterations", "40", "--eval-every", "20"]]
    assert rnn_mnist.main([*argv, "--no-cnn"]) == 0
    assert rnn_mnist.main([*argv, "--no-cnn", "--fused-adam"]) == 0
    found = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("lstm_5/seed0-*/metrics.json")]
    assert sorted(m["identity"].get("fused_adam", False) for m in found) == [False, True]
    table = (tmp_path / "fig" / "fast_settings.md").read_text()
    assert "Generated by `rnn_mnist.py`" in table and "| `lstm_5` | fused Adam | 0 |" in table
