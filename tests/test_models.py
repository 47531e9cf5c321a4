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
