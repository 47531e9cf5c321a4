"""The PNG loader on the real data and on broken copies of a few of its images."""

import shutil

import numpy as np
import pytest
from PIL import Image

from common import data
from common.data import DataError


@pytest.fixture(scope="module")
def cifar(data_root):
    return data.load_cifar10(data_root)


def test_real_cifar10_counts_shapes_dtypes(cifar):
    assert cifar.x_train.shape == (10_000, 28, 28) and cifar.x_train.dtype == np.uint8
    assert cifar.x_test.shape == (1_000, 28, 28) and cifar.x_test.dtype == np.uint8
    assert cifar.y_train.dtype == np.int32
    assert np.bincount(cifar.y_train).tolist() == [1000] * 10
    assert np.bincount(cifar.y_test).tolist() == [100] * 10
    assert cifar.class_names == data.CIFAR10_CLASS_NAMES
    # real pixels, not an empty or constant array
    assert cifar.x_train.std() > 20 and cifar.x_train.min() >= 0 and cifar.x_train.max() <= 255


def test_labels_follow_class_folders(cifar, data_root):
    # the first image of folder 3 ("cat") is the first image with label 3
    first_cat = sorted((data_root / "CIFAR10" / "Train" / "3").glob("*.png"))[0]
    np.testing.assert_array_equal(
        np.asarray(Image.open(first_cat)), cifar.x_train[np.flatnonzero(cifar.y_train == 3)[0]]
    )


def test_real_mnist(data_root):
    mnist = data.load_dataset("MNIST", data_root)
    assert mnist.x_train.shape == (10_000, 28, 28) and mnist.x_test.shape == (1_000, 28, 28)
    assert mnist.class_names == tuple("0123456789")
    # MNIST digits are white on black: mostly-dark images
    assert np.median(mnist.x_train) < 10


def test_float_images_for_the_network(cifar):
    x = data.as_float_images(cifar.x_test[:4])
    assert x.shape == (4, 28, 28, 1) and x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0


@pytest.fixture
def small_copy(data_root, tmp_path):
    """A 3-class, 4+2-image copy of CIFAR10 in tmp_path, to break in each test."""
    for split, n in (("Train", 4), ("Test", 2)):
        for c in ("0", "1", "2"):
            dst = tmp_path / "CIFAR10" / split / c
            dst.mkdir(parents=True)
            for f in sorted((data_root / "CIFAR10" / split / c).glob("*.png"))[:n]:
                shutil.copy(f, dst / f.name)
    return tmp_path


def test_small_copy_loads(small_copy):
    d = data.load_cifar10(small_copy)
    assert d.x_train.shape == (12, 28, 28) and d.y_test.tolist() == [0, 0, 1, 1, 2, 2]


def test_corrupt_png_is_named(small_copy):
    bad = next((small_copy / "CIFAR10" / "Train" / "1").glob("*.png"))
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(DataError, match=rf"{bad.name}.*cannot decode"):
        data.load_cifar10(small_copy)


def test_a_wrong_size_is_named_with_the_fix(small_copy):
    bad = small_copy / "CIFAR10" / "Test" / "2" / "Image99999.png"
    Image.new("L", (32, 32)).save(bad)
    with pytest.raises(DataError, match=r"Image99999.png: 32x32 pixels.*28x28.*--image-size 28x28"):
        data.load_cifar10(small_copy)
    assert data.load_cifar10(small_copy, image_size="28x28").x_test.shape == (7, 28, 28)


def test_one_color_image_makes_the_set_rgb_with_a_note_and_color_gray_keeps_it_gray(small_copy, capsys):
    Image.new("RGB", (28, 28), (200, 10, 10)).save(small_copy / "CIFAR10" / "Test" / "2" / "Image99999.png")
    d = data.load_cifar10(small_copy)
    assert d.x_test.shape == (7, 28, 28, 3) and not d.is_study_data("CIFAR10")
    assert "1 of 19 images are in color" in capsys.readouterr().out
    assert data.load_cifar10(small_copy, color="gray").x_test[-1].tolist() == [[67] * 28] * 28  # 601 luma


def test_empty_class_folder_is_named(small_copy):
    for f in (small_copy / "CIFAR10" / "Train" / "2").glob("*.png"):
        f.unlink()
    with pytest.raises(DataError, match=r"Train/2: class folder holds no PNG, JPEG or BMP images"):
        data.load_cifar10(small_copy)


def test_missing_split_is_named(small_copy):
    shutil.rmtree(small_copy / "CIFAR10" / "Test")
    with pytest.raises(DataError, match=r"CIFAR10/Test: missing split"):
        data.load_cifar10(small_copy)


def test_train_test_class_mismatch(small_copy):
    shutil.rmtree(small_copy / "CIFAR10" / "Test" / "2")
    with pytest.raises(DataError, match=r"Train classes \['0', '1', '2'\] differ from Test classes \['0', '1'\]"):
        data.load_cifar10(small_copy)


def test_wrong_data_dir_flag(tmp_path):
    with pytest.raises(DataError, match=r"--data-dir .*no CIFAR10/ folder"):
        data.load_cifar10(tmp_path)


def test_nowhere_and_no_network_lists_the_places(tmp_path, monkeypatch):
    monkeypatch.delenv("DATA_DIR", raising=False)  # a $DATA_DIR without the set stops earlier (test_faults.py)
    monkeypatch.setattr(data, "REPO_ROOT", tmp_path / "repo")  # so ./data and ../shared/data are empty too

    def offline(name, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(data, "download_with_keras", offline)
    with pytest.raises(DataError) as err:
        data.load_cifar10()
    msg = str(err.value)
    for place in (
        tmp_path / "repo" / "data" / "CIFAR10",
        tmp_path / "shared" / "data" / "CIFAR10",
    ):
        assert str(place) in msg
    assert "no network" in msg and "--data-dir" in msg and "DATA_DIR" in msg


def test_keras_download_conversion_as_the_study():
    # pure red, green, blue 32x32 images -> ITU-R 601 luma 76, 150, 29, resized to 28x28
    rgb = np.zeros((3, 32, 32, 3), np.uint8)
    for i in range(3):
        rgb[i, ..., i] = 255
    gray = data.to_grayscale_28(rgb)
    assert gray.shape == (3, 28, 28) and gray.dtype == np.uint8
    assert [int(g.mean().round()) for g in gray] == [76, 150, 29]
    x = np.arange(12)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2])
    xs, ys = data.balanced_subset(x, y, per_class=2)
    assert xs.tolist() == [0, 3, 1, 4, 2, 5] and ys.tolist() == [0, 0, 1, 1, 2, 2]


def test_an_eleventh_class_folder_makes_an_11_class_set(small_copy):
    for split in ("Train", "Test"):
        src = next((small_copy / "CIFAR10" / split / "0").iterdir())
        (small_copy / "CIFAR10" / split / "10").mkdir()
        (small_copy / "CIFAR10" / split / "10" / "x.PNG").write_bytes(src.read_bytes())
    d = data.load_cifar10(small_copy)
    assert d.class_names == ("0", "1", "2", "10") and d.num_classes == 4  # folder names, numeric order
    assert not d.is_study_data("CIFAR10")


def test_fingerprint_follows_the_pixels_not_the_path(small_copy, tmp_path_factory):
    a = data.load_cifar10(small_copy)
    other = tmp_path_factory.mktemp("copy")
    shutil.copytree(small_copy / "CIFAR10", other / "CIFAR10")
    assert data.load_cifar10(other).fingerprint == a.fingerprint
    f = next((other / "CIFAR10" / "Test" / "1").iterdir())
    img = np.asarray(Image.open(f)).copy()
    img[0, 0] ^= 1
    Image.fromarray(img).save(f)
    assert data.load_cifar10(other).fingerprint != a.fingerprint


def test_a_decoded_set_is_cached_by_content_and_an_edit_or_a_bad_cache_file_reloads(small_copy, monkeypatch):
    cache = small_copy / "cache"
    monkeypatch.setattr(data, "CACHE_DIR", cache)
    first = data.load_cifar10(small_copy)
    (cached,) = cache.glob("CIFAR10-*.npz")
    again = data.load_cifar10(small_copy)  # from the disk cache: the same pixels and fingerprint
    np.testing.assert_array_equal(again.x_train, first.x_train)
    assert again.fingerprint == first.fingerprint and again.source == str(small_copy / "CIFAR10")
    with pytest.raises(ValueError, match="read-only"):
        again.x_train[0, 0, 0] = 1  # the fingerprint's pixels: a write in place fails loudly
    f = next((small_copy / "CIFAR10" / "Train" / "1").iterdir())
    original = f.read_bytes()
    img = np.asarray(Image.open(f)).copy()
    img[0, 0] ^= 1
    Image.fromarray(img).save(f)
    edited = data.load_cifar10(small_copy)  # an edited file is another key: decoded again
    assert edited.fingerprint != first.fingerprint and len(list(cache.glob("CIFAR10-*.npz"))) == 2
    cached.write_bytes(b"not an npz")
    f.write_bytes(original)  # back to the first content, whose cache file is now broken
    assert data.load_cifar10(small_copy).fingerprint == first.fingerprint
