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


def test_cifar_v2_trains_a_4_way_head(four, tmp_path, capsys, data_root, no_run_figures):
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


# ---------------------------------------------------------------------------
# A user's own images: RGB JPEGs and BMPs of mixed sizes, read through Pillow
@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """<root>/MIXED/{Train,Test}/<class>/: RGB images whose class is a color and a bright band, most as
    JPEG, some as BMP and PNG, in three sizes (28x28, 32x30, 24x26), as a user's own photos come."""
    root = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(1)
    sizes = ((28, 28), (32, 30), (24, 26))
    for split, n in (("Train", 24), ("Test", 8)):
        for k, name in enumerate(CLASSES):
            folder = root / "MIXED" / split / name
            folder.mkdir(parents=True)
            for i in range(n):
                h, w = sizes[i % 3]
                img = rng.integers(0, 50, (h, w, 3), dtype=np.uint8)
                img[..., k % 3] += 120  # the class's color...
                img[(k * h) // 4 : ((k + 1) * h) // 4] += 80  # ...and the row band it lights
                suffix = ("jpg", "JPEG", "bmp", "png")[i % 4]
                Image.fromarray(img, mode="RGB").save(folder / f"img{i:03d}.{suffix}")
    return root


def test_color_images_of_mixed_sizes_are_read_resized_and_their_own_color(mixed):
    with pytest.raises(data.DataError, match=r"img001\.JPEG: 32x30 pixels.*28x28.*--image-size 28x28"):
        data.load_dataset("MIXED", mixed)
    d = data.load_dataset("MIXED", mixed, image_size="28x28")
    assert d.x_train.shape == (96, 28, 28, 3) and d.x_test.shape == (32, 28, 28, 3) and d.color == "rgb"
    assert d.channels == 3 and "rgb images of 28x28" in d.describe()
    gray = data.load_dataset("MIXED", mixed, color="gray", image_size="20x24")
    assert gray.x_train.shape == (96, 20, 24) and gray.channels == 1 and gray.fingerprint != d.fingerprint
    # gray is Pillow's ITU-R 601 luma of the color image, resized
    first = sorted((mixed / "MIXED" / "Train" / CLASSES[0]).iterdir())[0]
    want = np.asarray(Image.open(first).convert("L").resize((24, 20), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(gray.x_train[0], want)
    assert data.as_float_images(d.x_test).shape == (32, 28, 28, 3)


def test_the_studys_gray_pngs_read_as_before_and_as_rgb_on_request(data_root):
    gray = data.load_dataset("CIFAR10", data_root)
    assert gray.color == "gray" and gray.fingerprint == "2c4de6d298adf0e5"  # the committed runs' data
    rgb = data.load_dataset("CIFAR10", data_root, color="rgb")
    assert rgb.x_test.shape == (1000, 28, 28, 3) and not rgb.is_study_data("CIFAR10")
    np.testing.assert_array_equal(rgb.x_test[..., 1], gray.x_test)  # three equal channels


def test_what_cannot_be_read_is_named_with_the_fix(tmp_path):
    for split in ("Train", "Test"):
        for name in ("a", "b"):
            (tmp_path / "BAD" / split / name).mkdir(parents=True)
            Image.new("L", (8, 8)).save(tmp_path / "BAD" / split / name / "x.png")
    gifs = tmp_path / "BAD" / "Train" / "b"
    (gifs / "x.png").unlink()
    Image.new("RGB", (8, 8)).save(gifs / "y.gif")
    with pytest.raises(data.DataError, match=r"Train/b: class folder holds no PNG, JPEG or BMP.*\.gif"):
        data.load_dataset("BAD", tmp_path)
    (gifs / "y.gif").unlink()
    Image.fromarray(np.full((8, 8), 4000, np.uint16)).save(gifs / "deep.png")  # a 16-bit PNG
    with pytest.raises(data.DataError, match=r"deep\.png: a 'I;16' image.*8 bits"):
        data.load_dataset("BAD", tmp_path)
    (gifs / "deep.png").write_bytes(b"\xff\xd8\xff" + b"not a jpeg" * 5)
    with pytest.raises(data.DataError, match=r"deep\.png: cannot decode"):
        data.load_dataset("BAD", tmp_path)


@pytest.mark.parametrize("flags", [["--image-size", "28"], ["--image-size", "0x28"], ["--color", "cmyk"]])
def test_wrong_color_or_size_flags_exit_2(flags, capsys):
    with pytest.raises(SystemExit) as exit_:
        cifar_v2.main(flags)
    assert exit_.value.code == 2 and ("HxW" in capsys.readouterr().err or flags[0] == "--color")


def test_cifar_v2_and_rnn_mnist_train_on_color_images_of_mixed_sizes(mixed, tmp_path):
    import keras

    common = ["--dataset", "MIXED", "--data-dir", str(mixed), "--image-size", "28x28", "--iterations", "20"]
    common += ["--eval-every", "10", "--batch-size", "16", "--runs-dir", str(tmp_path / "runs")]
    assert cifar_v2.main([*common, "--runs", "relu_adam_normal", "--out-dir", str(tmp_path / "fig")]) == 0
    (run_dir,) = (tmp_path / "runs" / "relu_adam_normal").glob("seed0-*")
    assert keras.models.load_model(run_dir / "model.keras").input_shape == (None, 28, 28, 3)
    m = json.loads((run_dir / "metrics.json").read_text())
    assert 0 <= m["final"]["conv1_gradient_filters"] <= 1  # the ramp measure of color filters
    # a run changed by --iterations/--batch-size has its own figures folder, named by its changes
    assert not (tmp_path / "fig" / "relu_adam_normal").exists()  # never the unchanged run's
    assert (tmp_path / "fig" / "relu_adam_normal@batch_size=16@iterations=20" / "filters.png").stat().st_size > 5_000
    assert cifar_v2.Settings(dataset="CIFAR10", color="rgb").figures_dir().as_posix() == "figures/cifar_cifar10_rgb"
    assert cifar_v2.Settings(dataset="CIFAR10").figures_dir().as_posix() == "figures/cifar"
    flags = [*common, "--cells", "lstm", "--hidden", "6", "--no-unroll", "--out-dir", str(tmp_path / "rnn")]
    assert rnn_mnist.main(flags) == 0
    (lstm,) = (tmp_path / "runs" / "lstm_6").glob("seed0-*")
    assert keras.models.load_model(lstm / "model.keras").input_shape == (None, 28, 84)  # 28 rows of 28 RGB pixels
    (cnn,) = (tmp_path / "runs" / "cnn").glob("seed0-*")
    assert keras.models.load_model(cnn / "model.keras").input_shape == (None, 28, 28, 3)


def test_the_deconvnet_trains_and_draws_color_images(mixed, tmp_path):
    import dconvnet
    import dconvnet_visualizations as viz

    runs = str(tmp_path / "runs")
    flags = ["--dataset", "MIXED", "--data-dir", str(mixed), "--runs-dir", runs]
    assert dconvnet.main([*flags, "--image-size", "28x28", "--iterations", "20"]) == 0
    out = tmp_path / "fig"
    # the visualizations read the images as the model takes them: RGB, 28x28, with no flag repeated
    assert viz.main([*flags, "--out-dir", str(out), "--indices", "0,9", "--top-k", "4"]) == 0
    for name in ("projections_all.png", "projections_top4.png", "top4_per_map_conv1.png", "occlusion.png"):
        assert (out / name).stat().st_size > 10_000
    with np.load(out / "deconvnet.npz") as z:  # one similarity per image, its three RGB channels averaged
        n = len(z["randomization.index"])
        for layer in ("conv1", "conv2"):
            ssim, rho = z[f"randomization.{layer}.ssim"], z[f"randomization.{layer}.spearman"]
            assert ssim.shape == rho.shape == (len(ssim), n) and z[f"randomization.{layer}.baseline"].shape == (2, n)
            assert np.all(np.abs(ssim) <= 1 + 1e-6) and np.all(ssim[0] == 1)  # step 0: the trained network itself
    assert viz.main([*flags, "--out-dir", str(out), "--color", "gray"]) == 2  # not what the model takes
