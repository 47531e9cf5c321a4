"""Interior mining, near-duplicate suppression and the cascading-randomization check of
common/deconvnet.py, on small networks built here (no training, no data)."""

import keras
import numpy as np
import pytest

from common.deconvnet import (
    STRIDE,
    Deconvnet,
    cascading_randomization,
    interior_mask,
    min_separation,
    reinitialized,
    spearman,
    ssim,
    top_k_activations,
    top_k_per_map,
    weighted_layers_top_down,
)
from common.models import build_lenet5

MARGIN = 8  # surround of the brute-force test: even (pool windows stay aligned), wider than any field


def conv_net(hw, weights=None):
    """conv1 -> pool1 -> conv2 as the study's LeNet-5 has them (5x5 'same', 2x2 pool), few maps."""
    inp = keras.Input((*hw, 1))
    x = keras.layers.Conv2D(3, 5, padding="same", activation="relu", name="conv1")(inp)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(4, 5, padding="same", activation="relu", name="conv2")(x)
    model = keras.Model(inp, x)
    if weights is not None:
        model.set_weights(weights)
    return model


def touches_padding(hw):
    """Brute force, per layer: (h, w) True where an activation changes when the zero padding around
    the image is replaced by bright pixels. Positive weights, positive images and a surround far
    brighter than any image sum make every such change large (max-pools pass it on)."""
    rng = np.random.default_rng(0)
    small = conv_net(hw)
    weights = [rng.uniform(1.0, 1.01, w.shape).astype(np.float32) if w.ndim > 1 else 0 * w for w in small.get_weights()]
    small.set_weights(weights)
    big = conv_net((hw[0] + 2 * MARGIN, hw[1] + 2 * MARGIN), weights)
    x = rng.uniform(0, 1, (2, *hw, 1)).astype(np.float32)
    x_big = np.full((2, hw[0] + 2 * MARGIN, hw[1] + 2 * MARGIN, 1), 100.0, np.float32)
    x_big[:, MARGIN:-MARGIN, MARGIN:-MARGIN] = x
    f_small, f_big = Deconvnet(small).forward(x), Deconvnet(big).forward(x_big)
    out = {}
    for layer in ("conv1", "conv2"):
        a = f_small[layer]
        s = MARGIN // STRIDE[layer]
        crop = f_big[layer][:, s : s + a.shape[1], s : s + a.shape[2]]
        out[layer] = np.any(np.abs(crop - a) > 1e-3 * np.abs(a).max(), axis=(0, 3))
    return out, f_small


@pytest.mark.parametrize("hw", [(20, 20), (17, 23), (28, 28)])
def test_interior_mask_is_exactly_the_positions_that_never_read_the_padding(hw):
    touched, fwd = touches_padding(hw)
    for layer, t in touched.items():
        assert t.any() and (~t).any(), "the brute force must see both kinds"
        np.testing.assert_array_equal(interior_mask(layer, t.shape, hw), ~t)


@pytest.mark.parametrize("hw", [(20, 20), (17, 23)])
def test_interior_mining_never_returns_a_position_that_reads_the_padding(hw):
    touched, _ = touches_padding(hw)
    rng = np.random.default_rng(1)
    for layer, t in touched.items():
        acts = rng.random((12, *t.shape, 5)).astype(np.float32)
        acts[:, t] += 10  # the border is strongest, as in the trained network
        mask = interior_mask(layer, t.shape, hw)
        images, rows, cols, values = top_k_per_map(acts, 4, mask)
        assert not t[rows, cols].any()
        # brute force: each map's strongest images by their interior maximum
        interior_max = np.where(mask[None, :, :, None], acts, -np.inf).max(axis=(1, 2))  # (N, C)
        np.testing.assert_array_equal(values, -np.sort(-interior_max.T, axis=1)[:, :4])
        np.testing.assert_array_equal(acts[images, rows, cols, np.arange(5)[:, None]], values)
        for sep in (1, min_separation(layer)):
            rows, cols, _, _ = top_k_activations(acts, 4, mask, sep)  # conv2 of 20x20: 2x2 interior, one per map
            assert not t[rows, cols].any()
        # without the mask the border wins: the test above could fail
        assert t[top_k_per_map(acts, 4)[1:3]].all()


@pytest.mark.parametrize("layer", ["conv1", "conv2"])
def test_suppression_keeps_one_maps_picks_apart_and_is_greedy(layer):
    rng = np.random.default_rng(2)
    h = {"conv1": 28, "conv2": 14}[layer]
    # smooth maps: neighbours nearly as strong as their peak, the near-duplicates the rule is for
    noise = rng.random((5, h + 4, h + 4, 3)).astype(np.float32)
    acts = sum(noise[:, i : i + h, j : j + h] for i in range(5) for j in range(5))
    sep = min_separation(layer)
    assert sep == {"conv1": 3, "conv2": 4}[layer]
    for mask in (None, interior_mask(layer, (h, h), (28, 28))):
        k = 8
        rows, cols, maps, values = top_k_activations(acts, k, mask, sep)
        allowed = np.ones((h, h), bool) if mask is None else mask
        for n in range(len(acts)):
            picks = list(zip(rows[n], cols[n], maps[n]))
            assert len(set(picks)) == k and np.all(np.diff(values[n]) <= 0)
            np.testing.assert_array_equal(acts[n, rows[n], cols[n], maps[n]], values[n])
            for a in range(k):
                for b in range(a):
                    if maps[n][a] == maps[n][b]:
                        assert max(abs(rows[n][a] - rows[n][b]), abs(cols[n][a] - cols[n][b])) >= sep
            # greedy: every allowed activation stronger than the last pick was picked or lies near a stronger pick
            for r, c, m in zip(*np.nonzero((acts[n] > values[n][-1]) & allowed[:, :, None])):
                if (r, c, m) not in picks:
                    assert any(
                        pm == m and max(abs(pr - r), abs(pc - c)) < sep and acts[n, pr, pc, pm] >= acts[n, r, c, m]
                        for pr, pc, pm in picks
                    )
    # separation 1 is the plain search
    np.testing.assert_array_equal(top_k_activations(acts, 5, None, 1)[3], top_k_activations(acts, 5)[3])


# ---------------------------------------------------------------------------
# Cascading randomization
@pytest.fixture(scope="module")
def lenet():
    keras.utils.set_random_seed(3)
    return build_lenet5("relu", "normal", 0.5, 0.0, input_shape=(16, 16, 1))


def test_similarities_are_exactly_one_for_identical_maps_and_not_otherwise():
    rng = np.random.default_rng(4)
    a = rng.normal(size=(6, 28, 28)) * 10.0 ** rng.integers(-6, 6, (6, 1, 1))
    a[:, :4] = 0  # ties
    assert np.all(spearman(a, a) == 1) and np.all(ssim(a, a) == 1)
    assert np.all(spearman(a, 3 * a) == 1) and np.allclose(ssim(a, 3 * a), 1)  # both compare what the figures show
    b = a + rng.normal(size=a.shape) * np.abs(a).max(axis=(1, 2), keepdims=True)
    assert np.all(spearman(a, b) < 0.99) and np.all(ssim(a, b) < 0.99)
    assert np.all(spearman(a, -a) < -0.99) and np.all(ssim(a, -a) < -0.5)
    from scipy.stats import spearmanr  # a reference only; the code under test does not need SciPy

    for i in range(3):
        assert np.isclose(spearman(a[i : i + 1], b[i : i + 1])[0], spearmanr(a[i].ravel(), b[i].ravel())[0])


def test_reinitialized_redraws_only_the_named_layers_from_their_initializers(lenet):
    assert weighted_layers_top_down(lenet) == ["logits", "fc1", "conv2", "conv1"]
    before = [w.copy() for w in lenet.get_weights()]
    copy = reinitialized(lenet, ["fc1", "conv2"], seed=0)
    for w, w0 in zip(lenet.get_weights(), before):
        np.testing.assert_array_equal(w, w0)  # the original is untouched
    for layer in lenet.layers:
        for v, v0 in zip(copy.get_layer(layer.name).get_weights(), layer.get_weights()):
            if layer.name in ("fc1", "conv2") and v.ndim > 1:
                assert not np.allclose(v, v0)
                assert np.abs(v).max() <= 0.2 + 1e-6 and 0.07 < v.std() < 0.1  # TruncatedNormal(0.1): cut at 2 std
            else:
                np.testing.assert_array_equal(v, v0)  # biases: Constant(0.1) again
    np.testing.assert_array_equal(
        reinitialized(lenet, ["fc1"], seed=0).get_layer("fc1").kernel, copy.get_layer("fc1").kernel
    )


def test_cascade_is_one_until_a_layer_the_projection_reads_is_redrawn(lenet):
    rng = np.random.default_rng(5)
    images = rng.uniform(0, 1, (6, 16, 16, 1)).astype(np.float32)
    pool = rng.uniform(0, 1, (40, 16, 16, 1)).astype(np.float32)
    maps = {"conv1": np.arange(32), "conv2": np.arange(0, 64, 4)}
    steps = cascading_randomization(lenet, images, pool, maps, k=5, seed=0)
    assert [s.name for s in steps] == ["trained", "logits", "fc1", "conv2", "conv1"]
    for step in steps:
        for layer in ("conv1", "conv2"):
            reads = any(name in ("conv1", "conv2")[: ("conv1", "conv2").index(layer) + 1] for name in step.randomized)
            values = (step.spearman[layer], step.ssim[layer], step.overlap[layer])
            if not reads:  # unchanged network, or only layers above it re-drawn: exactly the same
                assert all(np.all(v == 1) for v in values), (step.name, layer, values)
                np.testing.assert_array_equal(step.projections[layer], steps[0].projections[layer])
            else:
                assert np.all(step.spearman[layer] < 1) and np.all(step.ssim[layer] < 1), (step.name, layer)
                assert step.overlap[layer].mean() < 1
