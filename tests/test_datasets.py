"""Any data set in the layout: a 4-class set made here runs through both training scripts."""

import json

import numpy as np
import pytest
from PIL import Image

import cifar_v2
import rnn_mnist
from common import data

CLASSES = ("circle", "square", "stripes", "zebra")


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    """<root>/FOUR/{Train,Test}/<class>/*.png: 28x28 gray images, a bright patch whose place depends on
    the class, plus noise; a few files named .PNG, as some tools write them."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for split, n in (("Train", 40), ("Test", 10)):
        for k, name in enumerate(CLASSES):
            folder = root / "FOUR" / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 60, (28, 28), dtype=np.uint8)
                img[7 * k : 7 * k + 7, :] += 150
                Image.fromarray(img, mode="L").save(folder / f"img{i:03d}.{'PNG' if i % 5 == 0 else 'png'}")
    return root


def test_loader_reads_any_set_with_its_folders_as_classes(four):
    d = data.load_dataset("FOUR", four)
    assert d.class_names == CLASSES and d.num_classes == 4 and d.image_shape == (28, 28)
    assert len(d.x_train) == 160 and len(d.x_test) == 40  # the .PNG files count
    assert np.bincount(d.y_train).tolist() == [40] * 4
    assert not d.is_study_data("CIFAR10") and len(d.fingerprint) == 16


def test_cifar_v2_trains_a_4_way_head(four, tmp_path, capsys, data_root):
    argv = [
        "--dataset",
        "FOUR",
        "--data-dir",
        str(four),
        "--runs",
        "relu_adam_normal",
        "--iterations",
        "40",
        "--eval-every",
        "20",
        "--batch-size",
        "16",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--out-dir",
        str(tmp_path / "fig"),
    ]
    assert cifar_v2.main(argv) == 0
    (path,) = (tmp_path / "runs" / "relu_adam_normal").glob("seed0-*/metrics.json")
    m = json.loads(path.read_text())
    assert m["identity"]["data"]["name"] == "FOUR" and m["final"]["test_accuracy"] > 0.5  # chance: 0.25
    import keras

    model = keras.models.load_model(path.parent / "model.keras")
    assert model.output_shape == (None, 4)
    assert "4 classes" in capsys.readouterr().out
    # the same run on CIFAR10 in the same runs folder: another identity, both results stay
    cifar = [
        "--dataset",
        "CIFAR10",
        "--data-dir",
        str(data_root),
        "--runs",
        "relu_adam_normal",
        "--iterations",
        "40",
        "--eval-every",
        "20",
        "--batch-size",
        "16",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--out-dir",
        str(tmp_path / "cifar"),
    ]
    assert cifar_v2.main(cifar) == 0
    found = {
        json.loads(p.read_text())["identity"]["data"]["name"]
        for p in (tmp_path / "runs" / "relu_adam_normal").glob("seed0-*/metrics.json")
    }
    assert found == {"FOUR", "CIFAR10"}
    md = (tmp_path / "fig" / "summary.md").read_text()
    assert "study train" not in md and "FOUR" in md  # no comparison with the study on other data
    assert cifar_v2.Settings(dataset="FOUR").figures_dir().as_posix() == "figures/cifar_four"


def test_rnn_mnist_trains_a_4_way_head(four, tmp_path):
    argv = [
        "--dataset",
        "FOUR",
        "--data-dir",
        str(four),
        "--cells",
        "lstm",
        "--hidden",
        "8",
        "--iterations",
        "40",
        "--eval-every",
        "20",
        "--batch-size",
        "16",
        "--no-unroll",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--out-dir",
        str(tmp_path / "fig"),
    ]
    assert rnn_mnist.main(argv) == 0
    for name in ("lstm_8", "cnn"):
        (path,) = (tmp_path / "runs" / name).glob("seed0-*/metrics.json")
        m = json.loads(path.read_text())
        assert m["identity"]["data"]["name"] == "FOUR" and m["status"] == "finished"
    import keras

    assert keras.models.load_model(path.parent / "model.keras").output_shape == (None, 4)
    md = (tmp_path / "fig" / "summary.md").read_text()
    assert "FOUR" in md and "~95" not in md  # the study's MNIST numbers are not shown for other data
