"""Airbench's ingredients, each on tiny data: the whitening layer, the bias at a larger rate, the lookahead average,
the triangular schedule, flips alternating by pass, the network itself, and the train accuracy on clean images."""

import keras
import numpy as np
import pytest

from common import evaluation, models, study
from common.training import stream_indices


def smooth_images(n=300, size=12, seed=0):
    """Images with correlated neighbouring pixels, so their patches have a covariance worth whitening."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, size + 1, size + 1, 1))
    return ((x[:, 1:, 1:] + x[:, :-1, 1:] + x[:, 1:, :-1]) / 3).astype("float32")


def patches(x, size=2):
    h, w = x.shape[1:3]
    cols = [x[:, i : h - size + 1 + i, j : w - size + 1 + j, 0] for i in range(size) for j in range(size)]
    return np.stack(cols, -1).reshape(-1, size * size)


def test_the_whitening_filters_are_the_patches_eigenvectors_and_whiten_them():
    x = smooth_images()
    kernel = models.whitening_filters(x, eps=1e-9)
    assert kernel.shape == (2, 2, 1, 8)
    filters = kernel.reshape(4, 8)  # (i, j, channel) rows, one column per filter
    np.testing.assert_allclose(filters[:, 4:], -filters[:, :4])  # each also negated
    cov = np.cov(patches(x.astype(np.float64)), rowvar=False)
    for v in filters[:, :4].T:  # each filter is an eigenvector of the patches' covariance
        u = v / np.linalg.norm(v)
        np.testing.assert_allclose(cov @ u, (u @ cov @ u) * u, atol=1e-6)
    out = patches(x.astype(np.float64)) @ filters[:, :4]
    np.testing.assert_allclose(np.cov(out, rowvar=False), np.eye(4), atol=1e-4)  # whitened


def test_the_bias_layer_keeps_its_value_and_scales_its_gradient():
    layer = models.Bias(lr_scale=64.0)
    x = keras.ops.zeros((2, 3))
    layer.build(x.shape)
    layer.bias.assign([0.1, -0.2, 0.3])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x))[0], np.float32([0.1, -0.2, 0.3]))
    import tensorflow as tf

    with tf.GradientTape() as tape:
        y = keras.ops.sum(layer(x))
    np.testing.assert_allclose(tape.gradient(y, layer.bias.value).numpy(), [128.0] * 3)  # 2 rows x 64


def test_lookahead_is_the_ramped_moving_average_copied_in_every_five_steps(tmp_path):
    w = keras.Variable(np.array([1.0, -2.0], "float32"))
    opt = models.make_optimizer("sgd", 0.1, ema=0.9, iterations=10)
    g = np.array([0.5, -1.0], "float32")
    expect, avg = np.array([1.0, -2.0]), None
    for t in range(12):  # t: the steps before this one
        opt.apply_gradients([(keras.ops.convert_to_tensor(g), w)])
        expect = expect - 0.1 * g
        m = 0.9 * min(t / 10, 1.0) ** 3  # airbench's ramp
        avg = expect.copy() if avg is None else m * avg + (1 - m) * expect
        if (t + 1) % models.LOOKAHEAD_EVERY == 0:
            expect = avg.copy()
        np.testing.assert_allclose(keras.ops.convert_to_numpy(w), expect, rtol=1e-5, err_msg=f"step {t}")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=models.make_optimizer("nesterov", 0.1, 0.9, ema=0.9, iterations=10), loss="mse")
    model.save(tmp_path / "m.keras")  # a lookahead optimizer saves and loads with its ramp
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.optimizer.get_config()["ramp"] == 10 and loaded.optimizer.get_config()["ema_momentum"] == 0.9


def test_the_triangular_schedule():
    tri = models.learning_rate_schedule(1.0, "triangle", iterations=100, warmup=20)
    rates = [float(tri(step)) for step in (0, 10, 20, 60, 100, 120)]
    np.testing.assert_allclose(rates, [0.2, 0.6, 1.0, 0.5, 0.0, 0.0], atol=1e-6)


def test_alternating_flips_mirror_each_image_on_exactly_every_other_pass():
    n, bs = 40, 10
    plain = stream_indices(3, 0, 20, bs, n)
    flips = stream_indices(3, 0, 20, bs, n, alternating_flips=True)
    np.testing.assert_array_equal(flips % n, plain)  # the same order, some images mirrored (index + n)
    mirrored = (flips // n).reshape(5, n)  # 5 passes
    by_image = np.zeros((5, n), int)
    for p in range(5):
        by_image[p, plain[p * n : (p + 1) * n]] = mirrored[p]
    assert (by_image[1:] != by_image[:-1]).all()  # every image alternates
    assert 0.2 < by_image[0].mean() < 0.8  # its first pass's flip is a coin of its own
    resumed = stream_indices(3, 7, 13, bs, n, alternating_flips=True)
    np.testing.assert_array_equal(resumed, flips[70:])  # a resume sees the same stream


@pytest.fixture(scope="module")
def tiny_airbench():
    run = study.RUNS["airbench"]
    x = smooth_images(200, 28)
    keras.utils.set_random_seed(0)
    return models.build_model(run, 10, (28, 28, 1), x_train=x), x


def test_the_airbench_network_freezes_its_whitening_and_names_its_layers(tiny_airbench):
    model, x = tiny_airbench
    stem = model.get_layer("whiten")
    assert not stem.trainable
    np.testing.assert_allclose(keras.ops.convert_to_numpy(stem.kernel), models.whitening_filters(x))
    assert model.output.shape == (None, 10)
    assert model.get_layer("conv1_bn").momentum == 0.4 and model.get_layer("conv1_bias").lr_scale == 64
    assert evaluation.Evaluator.probed_layers(model) == ["conv1_act", "conv2_act"]
    unfrozen = models.build_model(study.with_overrides(study.RUNS["airbench"], whiten=False), 10, (28, 28, 1))
    assert unfrozen.get_layer("whiten").trainable


def test_the_clean_train_accuracy_is_model_evaluate_on_those_images(tiny_airbench):
    model, x = tiny_airbench
    y = np.arange(len(x)) % 10
    ev = evaluation.Evaluator(x[:50], y[:50], clean_train=(x[50:], y[50:]), hist_images=4)
    record = ev(model, 1)
    _, acc = model.evaluate(x[50:], y[50:], verbose=0, batch_size=64)[:2]
    assert record["train_clean_accuracy"] == pytest.approx(acc, abs=1e-6)
