"""The deconvnet (common/deconvnet.py) against independent formulations, on a real
trained network and real test images, and dconvnet.py end to end (dconvnet_visualizations.py end to end:
tests/test_deconvnet_figures.py)."""

import keras
import numpy as np
import pytest
import tensorflow as tf  # the reference formulation uses TF's autodiff; the code under test does not

import dconvnet
import dconvnet_visualizations as viz
from common import backend, training
from common.data import as_float_images, load_cifar10
from common.deconvnet import Deconvnet, crop_to_field, pool_switches, top_k_activations, top_k_per_map, unpool
from common.models import build_lenet5, compile_classifier, make_optimizer

TRAIN_ITERATIONS = 300
RTOL = 1e-5


@pytest.fixture(scope="session")
def data(data_root):
    return load_cifar10(data_root)


@pytest.fixture(scope="session")
def trained(data):
    """The study's best configuration trained for a short real run (one fit call: fast)."""
    backend.seed_everything(0)
    model = compile_classifier(build_lenet5("relu", "normal", 0.5, 1e-4), make_optimizer("adam", 1e-4))
    idx = training.stream_indices(0, 0, TRAIN_ITERATIONS, 50, len(data.x_train))
    model.fit(as_float_images(data.x_train[idx]), data.y_train[idx], batch_size=50, shuffle=False, verbose=0)
    return model


@pytest.fixture(scope="session")
def dc(trained):
    return Deconvnet(trained)


@pytest.fixture(scope="session")
def x_test(data):
    return as_float_images(data.x_test)


@pytest.fixture(scope="session")
def fwd_all(dc, x_test):
    return dc.forward(x_test)


# ---------------------------------------------------------------------------
# Unpooling
def numpy_switches_unpool(x, y):
    """Brute force: for each 2x2 window, the first max in row-major order gets y."""
    n, h, w, c = x.shape
    out = np.zeros_like(x)
    pooled = np.zeros((n, h // 2, w // 2, c), x.dtype)
    for b in range(n):
        for i in range(h // 2):
            for j in range(w // 2):
                for ch in range(c):
                    win = [(2 * i + di, 2 * j + dj) for di in range(2) for dj in range(2)]
                    vals = [x[b, r, q, ch] for r, q in win]
                    r, q = win[int(np.argmax(vals))]  # np.argmax: first maximum
                    out[b, r, q, ch] = y[b, i, j, ch]
                    pooled[b, i, j, ch] = max(vals)
    return pooled, out


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (2, 7, 9, 2), (1, 5, 5, 4)])
def test_unpool_matches_brute_force_with_ties_and_odd_sizes(shape):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 3, shape).astype(np.float32)  # values 0..2: many ties
    x[0, :2, :2, 0] = 1.0  # a window that is all ties
    y = rng.normal(size=(shape[0], shape[1] // 2, shape[2] // 2, shape[3])).astype(np.float32)
    pooled_ref, out_ref = numpy_switches_unpool(x, y)
    sw = pool_switches(x)
    out = np.asarray(unpool(y, sw, shape[1:3]))
    np.testing.assert_array_equal(out, out_ref)
    # one switch per window, on a maximum: unpooling the pooled values puts each max back in place,
    # and the brute-force pooling agrees with Keras' MaxPooling2D
    assert np.all(np.asarray(sw).sum(axis=-1) == 1)
    np.testing.assert_array_equal(pooled_ref, np.asarray(keras.layers.MaxPooling2D(2)(x)))
    np.testing.assert_array_equal(
        np.asarray(unpool(pooled_ref, sw, shape[1:3])), np.asarray(unpool(np.ones_like(y), sw, shape[1:3])) * x
    )


# ---------------------------------------------------------------------------
# A conv1 activation projects to its filter
@pytest.mark.parametrize("row,col", [(0, 0), (27, 27), (0, 13), (13, 27), (1, 26), (14, 14)])
def test_conv1_single_activation_projects_to_its_filter(dc, trained, x_test, row, col):
    fwd = dc.forward(x_test[:4])
    w = np.asarray(trained.get_layer("conv1").kernel)[:, :, 0, :]  # (5, 5, 32)
    maps = np.array([0, 5, 17, 31])
    images = np.arange(4)
    value = fwd.conv1[images, row, col, maps]
    expected = np.zeros((4, 28 + 4, 28 + 4), np.float32)  # padded by 2 on each side
    for p, m in enumerate(maps):
        # cross-correlation forward => the adjoint lays the filter down unflipped, centered on (row, col)
        expected[p, row : row + 5, col : col + 5] = value[p] * w[:, :, m]
    expected = expected[:, 2:30, 2:30]  # what falls outside is cut
    kept = np.zeros((4, 28, 28, 32), np.float32)
    kept[images, row, col, maps] = value
    np.testing.assert_allclose(dc.project("conv1", kept), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        dc.project_activations(fwd, "conv1", images, [row] * 4, [col] * 4, maps), expected, rtol=0, atol=1e-6
    )


# ---------------------------------------------------------------------------
# The explicit path equals the "deconvnet" backward pass of the real network
@tf.custom_gradient
def relu_deconv_backward(z):
    """ReLU whose backward pass rectifies the incoming signal instead of gating it."""
    return tf.nn.relu(z), lambda dy: tf.nn.relu(dy)


@tf.custom_gradient
def relu_guided_backward(z):
    """ReLU whose backward pass lets the signal through only where it is positive and z was (Springenberg et al.)."""
    return tf.nn.relu(z), lambda dy: tf.nn.relu(dy) * tf.cast(z > 0, dy.dtype)


BACKWARD_RELU = {"deconvnet": relu_deconv_backward, "guided": relu_guided_backward, "gradient": tf.nn.relu}


def deconv_gradient(model, x, layer, kept, rule="deconvnet"):
    """d(sum(kept * layer activations))/d(input) with ``rule``'s ReLU (the deconvnet's by default); biases
    drop out of the gradient by themselves."""
    relu = BACKWARD_RELU[rule]
    w1, b1 = model.get_layer("conv1").get_weights()
    w2, b2 = model.get_layer("conv2").get_weights()
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        a1 = relu(tf.nn.conv2d(x, w1, 1, "SAME") + b1)
        a2 = relu(tf.nn.conv2d(tf.nn.max_pool2d(a1, 2, 2, "VALID"), w2, 1, "SAME") + b2)
        target = a1 if layer == "conv1" else a2
    return tape.gradient(target, x, output_gradients=tf.constant(kept)).numpy()[..., 0], a1.numpy(), a2.numpy()


def assert_relclose(got, ref):
    scale = np.abs(ref).reshape(len(ref), -1).max(axis=1)
    err = np.abs(got - ref).reshape(len(ref), -1).max(axis=1)
    assert np.all(scale > 0), "a projection is all zero: the test would prove nothing"
    assert np.all(err <= RTOL * scale), f"max relative error {np.max(err / scale):.2e}"


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_projection_equals_deconvnet_gradient(dc, trained, x_test, layer):
    idx = np.arange(0, 1000, 125)  # 8 real test images, different classes
    fwd = dc.forward(x_test[idx])
    acts = fwd[layer]
    n = len(idx)
    # the reference net is the same net
    _, a1, a2 = deconv_gradient(trained, x_test[idx], layer, np.zeros_like(acts))
    np.testing.assert_allclose(a1, fwd.conv1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(a2, fwd.conv2, rtol=1e-5, atol=1e-5)
    rows, cols, maps, _ = top_k_activations(acts, 3)  # strong single activations, 3 per image
    img = np.repeat(np.arange(n), 3)
    rows, cols, maps = rows.ravel(), cols.ravel(), maps.ravel()
    # ... plus border positions of random maps
    h = acts.shape[1]
    img = np.concatenate([img, np.arange(n)])
    rows = np.concatenate([rows, np.array([0, h - 1, 0, h - 1, 1, h - 2, 0, h // 2])])
    cols = np.concatenate([cols, np.array([0, h - 1, h - 1, 0, h - 2, 1, h // 2, 0])])
    maps = np.concatenate([maps, np.arange(n) * 3 % acts.shape[-1]])
    kept = np.zeros((len(img),) + acts.shape[1:], np.float32)
    kept[np.arange(len(img)), rows, cols, maps] = acts[img, rows, cols, maps]
    live = kept.reshape(len(img), -1).max(axis=1) > 0  # a dead (zero) activation projects to zero
    ref, _, _ = deconv_gradient(trained, x_test[idx][img], layer, kept)
    assert_relclose(dc.project(layer, kept[live], fwd.switches1[img[live]]), ref[live])
    assert_relclose(dc.project_activations(fwd, layer, img[live], rows[live], cols[live], maps[live]), ref[live])
    # whole maps: each image's most active map, and every map at once
    best = acts.sum(axis=(1, 2)).argmax(axis=1)
    kept_maps = acts * np.eye(acts.shape[-1], dtype=np.float32)[best][:, None, None, :]
    ref, _, _ = deconv_gradient(trained, x_test[idx], layer, kept_maps)
    assert_relclose(dc.project_maps(fwd, layer, np.arange(n), best), ref)
    ref, _, _ = deconv_gradient(trained, x_test[idx], layer, acts)
    assert_relclose(dc.project_maps(fwd, layer, np.arange(n)), ref)


@pytest.mark.parametrize("rule", ["guided", "gradient"])
def test_guided_backprop_and_gradient_equal_tensorflows_autodiff(dc, trained, x_test, rule):
    """Guided backprop (and the plain gradient) through the deconvnet's path plus conv1's forward mask,
    against tf.GradientTape with the rule's custom ReLU gradient."""
    idx = np.arange(3, 1000, 125)
    fwd = dc.forward(x_test[idx])
    n = len(idx)
    for layer in ("conv1", "conv2"):
        acts = fwd[layer]
        rows, cols, maps, _ = (a.ravel() for a in top_k_activations(acts, 3))
        img = np.repeat(np.arange(n), 3)
        kept = np.zeros((len(img),) + acts.shape[1:], np.float32)
        kept[np.arange(len(img)), rows, cols, maps] = acts[img, rows, cols, maps]
        ref, _, _ = deconv_gradient(trained, x_test[idx][img], layer, kept, rule)
        conv1 = fwd.conv1[img] if layer == "conv2" else None
        got = dc.project(layer, kept, fwd.switches1[img], rule=rule, conv1=conv1)
        assert_relclose(got, ref)
        assert_relclose(dc.project_activations(fwd, layer, img, rows, cols, maps, rule=rule), ref)
        ref_all, _, _ = deconv_gradient(trained, x_test[idx], layer, acts, rule)
        assert_relclose(dc.project_maps(fwd, layer, np.arange(n), rule=rule), ref_all)
        deconv = dc.project_activations(fwd, layer, img, rows, cols, maps)
        if layer == "conv1":  # one ReLU, the one the kept activations come out of: the rules agree
            np.testing.assert_allclose(got, deconv, rtol=0, atol=1e-6)
        else:  # ... but not through conv1's ReLU: the test can tell them apart
            assert np.abs(got - deconv).max() > 0.1 * np.abs(deconv).max()


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_receptive_field_tiles_are_crops_of_the_full_projection(dc, fwd_all, layer):
    h = fwd_all[layer].shape[1]
    rows, cols = np.array([0, h - 1, 3, h // 2, 1]), np.array([h - 1, 0, 2, h // 2, h - 2])
    sel = (np.arange(5) * 7, rows, cols, np.arange(5) * 5)
    full = dc.project_activations(fwd_all, layer, *sel)
    tiles = dc.project_activations(fwd_all, layer, *sel, tiles=True)
    size = {"conv1": 5, "conv2": 14}[layer]
    assert tiles.shape == (5, size, size)
    for p in range(5):
        np.testing.assert_array_equal(tiles[p], crop_to_field(full[p], layer, rows[p], cols[p]))
        # nothing falls outside the receptive field
        assert np.isclose(np.nansum(np.abs(tiles[p])), np.abs(full[p]).sum(), rtol=1e-5)
    guided = dc.project_activations(fwd_all, layer, *sel, tiles=True, rule="guided")
    for p in range(5):
        full_p = dc.project_activations(fwd_all, layer, *(a[p : p + 1] for a in sel), rule="guided")[0]
        np.testing.assert_array_equal(guided[p], crop_to_field(full_p, layer, rows[p], cols[p]))


# ---------------------------------------------------------------------------
# Searches
@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_top_k_per_map_matches_brute_force(fwd_all, layer):
    acts = fwd_all[layer]
    images, rows, cols, values = top_k_per_map(acts, 9)
    for m in range(acts.shape[-1]):
        per_image = acts[..., m].reshape(len(acts), -1).max(axis=1)
        order = np.argsort(-per_image, kind="stable")[:9]
        np.testing.assert_array_equal(values[m], per_image[order])
        assert set(images[m]) == set(order) or np.allclose(per_image[images[m]], per_image[order])
        np.testing.assert_array_equal(acts[images[m], rows[m], cols[m], m], values[m])


def test_top_k_activations_matches_brute_force(fwd_all):
    acts = fwd_all.conv2[:20]
    rows, cols, maps, values = top_k_activations(acts, 9)
    for n in range(len(acts)):
        np.testing.assert_array_equal(values[n], np.sort(acts[n].ravel())[::-1][:9])
        np.testing.assert_array_equal(acts[n, rows[n], cols[n], maps[n]], values[n])


# ---------------------------------------------------------------------------
# The scripts, end to end
def test_dconvnet_saves_model_metrics_and_snapshots(dconvnet_run):  # tests/conftest.py's 20 iterations
    (run_dir,) = (dconvnet_run / "relu_adam_normal_dropout_l2").glob("seed0-*")
    assert (run_dir / "model.keras").is_file()
    m = dconvnet.io.read_json(run_dir / "metrics.json")
    assert m["identity"]["config"]["iterations"] == 20 and m["identity"]["config"]["dropout"] == 0.5
    assert [p.name for p in sorted((run_dir / "snapshots").iterdir())] == [
        "iter_000000.keras",
        "iter_000010.keras",
        "iter_000020.keras",
    ]
    assert dconvnet.snapshot_iterations(3000) == [0, 10, 30, 100, 300, 1000, 3000]


def test_visualizations_missing_model_is_a_clear_error(tmp_path, capsys):
    assert viz.main(["--runs-dir", str(tmp_path), "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no model of run relu_adam_normal_dropout_l2 seed 0" in err and "python dconvnet.py" in err
    assert "Traceback" not in err
    assert viz.main(["--checkpoint", str(tmp_path / "nope.keras"), "--out-dir", str(tmp_path)]) == 2
    assert "model file not found" in capsys.readouterr().err


def test_visualizations_truncated_model_is_a_clear_error(dconvnet_run, tmp_path, capsys):
    (model,) = dconvnet_run.glob("*/seed0-*/model.keras")
    cut = tmp_path / "cut.keras"
    cut.write_bytes(model.read_bytes()[:5000])
    assert viz.main(["--checkpoint", str(cut), "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{cut}: not a whole .keras file" in err and "cut short" in err and "python dconvnet.py" in err
    assert "not found" not in err.lower() and "Traceback" not in err  # Keras' words for a file that is there


def test_visualizations_wrong_layers_is_a_clear_error(tmp_path, capsys):
    inp = keras.Input((28, 28, 1))
    other = keras.Model(inp, keras.layers.Dense(10, name="dense")(keras.layers.Flatten()(inp)))
    other.save(tmp_path / "other.keras")
    assert viz.main(["--checkpoint", str(tmp_path / "other.keras"), "--out-dir", str(tmp_path)]) != 0
    assert "has no layer" in capsys.readouterr().err
    # right names, wrong shapes
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv1")(inp)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv2")(x)
    keras.Model(inp, x).save(tmp_path / "small.keras")
    assert viz.main(["--checkpoint", str(tmp_path / "small.keras"), "--out-dir", str(tmp_path)]) != 0
    assert "layers do not match" in capsys.readouterr().err


@pytest.mark.parametrize("module", [dconvnet, viz])
def test_help(module, capsys):
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0 and "usage" in capsys.readouterr().out
