"""The study's LeNet-5: shapes, names, parameter count, initializations, options."""

import keras
import numpy as np
import pytest

from common.models import ACTIVATIONS, INITS, NUM_PARAMS, build_lenet5, initializers, make_optimizer


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_shapes_names_and_parameter_count(activation, init):
    model = build_lenet5(activation, init)
    # 5*5*1*32+32 + 5*5*32*64+64 + 7*7*64*1024+1024 + 1024*10+10, by hand
    assert model.count_params() == 832 + 51_264 + 3_212_288 + 10_250 == NUM_PARAMS == 3_274_634
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["conv1"] == (28, 28, 32) and shapes["pool1"] == (14, 14, 32)
    assert shapes["conv2"] == (14, 14, 64) and shapes["pool2"] == (7, 7, 64)
    assert shapes["fc1"] == (1024,) and shapes["logits"] == (10,)
    out = model(np.zeros((2, 28, 28, 1), np.float32))
    assert out.shape == (2, 10)


def test_normal_init_is_the_tutorials():
    keras.utils.set_random_seed(0)
    model = build_lenet5("relu", "normal")
    for name in ("conv1", "conv2", "fc1", "logits"):
        kernel, bias = (np.asarray(w) for w in model.get_layer(name).weights)
        assert np.all(bias == np.float32(0.1))
        assert np.abs(kernel).max() <= 0.2 + 1e-6  # truncated at 2 stddev
        if kernel.size > 10_000:
            assert abs(kernel.std() - 0.088) < 0.005  # a N(0, 0.1) cut at +-2 has std 0.088


def test_glorot_and_he_have_zero_biases_and_their_scale():
    keras.utils.set_random_seed(0)
    fc1_glorot = np.asarray(build_lenet5("relu", "glorot_uniform").get_layer("fc1").kernel)
    fc1_he = np.asarray(build_lenet5("relu", "he_normal").get_layer("fc1").kernel)
    assert abs(fc1_glorot.std() - np.sqrt(2 / (3136 + 1024))) < 0.002
    assert abs(fc1_he.std() - np.sqrt(2 / 3136)) < 0.001  # Keras scales its truncated normal to this std


def test_dropout_and_l2_options():
    model = build_lenet5("relu", "normal", dropout=0.5, l2=1e-3)
    assert model.get_layer("dropout").rate == 0.5
    assert len(model.losses) == 4  # one L2 term per kernel
    kernel = np.asarray(model.get_layer("fc1").kernel)
    assert np.isclose(float(keras.ops.convert_to_numpy(model.losses[2])), 1e-3 * np.sum(kernel**2), rtol=1e-4)
    assert build_lenet5().losses == []


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="unknown activation 'elu'"):
        build_lenet5("elu")
    with pytest.raises(ValueError, match="unknown init 'zeros'"):
        initializers("zeros")
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        make_optimizer("lbfgs", 0.1)
    assert make_optimizer("momentum", 0.01, 0.8).momentum == 0.8


def test_augmentation_is_random_per_batch_reproducible_per_seed_and_off_at_evaluation():
    from common import backend, models

    x = np.random.default_rng(0).random((8, 28, 28, 1)).astype(np.float32)

    def draws():
        backend.seed_everything(3)
        model = models.build_lenet5(augment="flip_shift")
        aug = keras.Sequential([model.get_layer("aug_flip"), model.get_layer("aug_shift")])
        return [keras.ops.convert_to_numpy(aug(x, training=True)) for _ in range(2)], aug

    (a1, a2), aug = draws()
    (b1, b2), _ = draws()
    assert not np.allclose(a1, a2)  # a new draw for every batch
    np.testing.assert_array_equal(a1, b1)  # the same draws for the same seed
    np.testing.assert_array_equal(a2, b2)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(aug(x, training=False)), x)  # off at evaluation
    flipped_or_shifted = [np.allclose(a1[i], x[i]) for i in range(len(x))]
    assert not all(flipped_or_shifted)


@pytest.mark.parametrize("kind", ["flip_shift", "flip_shift4", "flip_shift4_erase"])
def test_shifts_stay_within_their_kinds_limit_and_use_it(kind):
    from common import backend, models

    backend.seed_everything(0)
    x = np.zeros((64, 28, 28, 1), np.float32)
    x[:, 14, 14] = 1.0  # one bright pixel: its centre of mass follows the shift
    (shift,) = [layer for layer in models.augmentation(kind, (28, 28, 1)) if layer.name == "aug_shift"]
    y = keras.ops.convert_to_numpy(shift(x, training=True))[..., 0]
    rows = np.arange(28)[None, :]
    moved = (y.sum(axis=2) * rows).sum(axis=1) / y.sum(axis=(1, 2)) - 14  # vertical offsets
    limit = models.SHIFT_PIXELS[kind]
    assert np.abs(moved).max() <= limit + 1e-4 and np.abs(moved).max() > limit - 1


def test_random_erasing_hits_about_half_the_images_within_its_area_and_only_in_training():
    from common import backend, models

    backend.seed_everything(0)
    (erase,) = [layer for layer in models.augmentation("flip_shift4_erase", (28, 28, 1)) if layer.name == "aug_erase"]
    assert [layer.name for layer in models.augmentation("flip_shift4", (28, 28, 1))] == ["aug_flip", "aug_shift"]
    x = np.full((400, 28, 28, 1), 0.5, np.float32)  # a flat gray image: erased pixels are the noisy ones
    y = keras.ops.convert_to_numpy(erase(x, training=True))
    area = (np.abs(y - 0.5) > 1e-6).mean(axis=(1, 2, 3))
    hit = area > 0
    assert abs(hit.mean() - models.ERASE_PROB) < 0.1  # 400 draws: the binomial std is 0.025
    lo, hi = models.ERASE_AREA
    # rounding the sides to whole pixels can add a little
    assert area[hit].max() <= hi + 0.05 and area[hit].mean() > lo
    assert y.min() >= 0.0 and y.max() <= 1.0  # the noise stays in the pixel range
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(erase(x, training=False)), x)


def test_flip_averaging_changes_no_shape_and_only_runs_that_ask_use_it(data_root):
    from dataclasses import replace

    from common import models, study, training
    from common.data import as_float_images, load_cifar10
    from common.evaluation import Evaluator
    from common.runs import logits_metrics

    logits = np.random.default_rng(0).normal(size=(6, 10))
    labels = np.arange(6)
    plain, averaged = logits_metrics(logits, labels), logits_metrics(logits, labels, logits[:, ::-1])
    assert plain.keys() == averaged.keys() and plain != averaged
    assert logits_metrics(logits, labels, logits) == pytest.approx(plain)  # averaging with itself: no change
    d = load_cifar10(data_root)
    x_train, x_test = as_float_images(d.x_train[:10]), as_float_images(d.x_test[:40])
    run = replace(study.RUNS["relu_adam_normal"], iterations=10)
    for tta in (False, True):
        spec = training.make_spec(
            replace(run, tta=tta),
            "t",
            0,
            d,
            x_train,
            d.y_train[:10],
            "/tmp",
            10,
            10,
            Evaluator(x_test, d.y_test[:40], tta=tta),
        )
        assert spec.evaluate.tta is tta and "tta" in spec.identity["config"]
    model = models.build_model(run)
    out = [Evaluator(x_test, d.y_test[:40], tta=t)(model, 0) for t in (False, True)]
    assert out[0].keys() == out[1].keys()


@pytest.mark.parametrize("arch", ["vgg", "vgg_wide"])
def test_the_vgg_style_cnns_shapes_and_parameter_counts(arch):
    from common import study
    from common.models import VGG_ARCHS, build_vgg

    widths = VGG_ARCHS[arch]["widths"]
    model = build_vgg(study.RunConfig("cnn", arch=arch))
    # per stage two bias-free 3x3 convs, each with batch norm (4 weights per channel), then the dense layer
    fan_in, expected = 1, 0
    for w in widths:
        expected += 9 * fan_in * w + 9 * w * w + 2 * 4 * w
        fan_in = w
    expected += widths[-1] * 10 + 10
    assert model.count_params() == expected == {"vgg": 289_066, "vgg_wide": 647_866}[arch]
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    # the statistics and the deconvnet find conv1 and conv2; pooling first halves the second conv's grid
    assert shapes["conv1"] == (28, 28, widths[0]) and shapes["pool1"] == (14, 14, widths[0])
    second = (14, 14, widths[0]) if arch == "vgg_wide" else (28, 28, widths[0])
    assert shapes["conv1_2"] == second
    assert shapes["conv2"] == (14, 14, widths[1]) and shapes["logits"] == (10,)
    assert model(np.zeros((2, 28, 28, 1), np.float32)).shape == (2, 10)


def test_shift_averaging_uses_ten_views_and_leaves_earlier_identities_alone(data_root):
    from common import models, study
    from common.data import as_float_images, load_cifar10
    from common.evaluation import Evaluator, predict_logits, shift_images, tta_views
    from common.runs import logits_metrics

    x = np.arange(2 * 4 * 5, dtype=np.float32).reshape(2, 4, 5, 1) + 1
    down = shift_images(x, 1, 0)
    np.testing.assert_array_equal(down[:, 1:], x[:, :-1])
    assert not down[:, 0].any()  # the uncovered row is zero, as the training shifts fill it
    np.testing.assert_array_equal(shift_images(x, 0, -2)[:, :, :3], x[:, :, 2:])
    assert not shift_images(x, 0, -2)[:, :, 3:].any()
    assert [len(tta_views(x, t, s)) for t, s in ((False, 1), (True, 0), (True, 1))] == [0, 1, 9]
    for view in tta_views(x, True, 1):
        assert view.shape == x.shape
    # a field added later is part of the identity only where it is set: the recorded runs keep theirs
    assert "tta_shift" not in study.RUNS["beyond_vgg_nesterov"].identity()
    assert study.RUNS["beyond_vgg_nesterov_tta10"].identity() == {
        **study.RUNS["beyond_vgg_nesterov"].identity(),
        "tta_shift": 1,
    }
    d = load_cifar10(data_root)
    x_test, y = as_float_images(d.x_test[:40]), d.y_test[:40]
    model = models.build_model(study.RUNS["relu_adam_normal"])
    record = Evaluator(x_test, y, tta=True, tta_shift=1)(model, 0)
    views = [predict_logits(model, v) for v in tta_views(x_test, True, 1)]
    expected = logits_metrics(predict_logits(model, x_test), y, *views)
    assert record["test_accuracy"] == expected["test_accuracy"]
    assert record["test_loss"] == pytest.approx(expected["test_loss"], rel=1e-5)
