"""Load the study's image sets from PNG class folders into NumPy arrays.

Layout: ``<root>/<NAME>/{Train,Test}/<class>/*.png``, every image a 28x28, 8-bit,
single-channel PNG. The root is searched in order: ``--data-dir``, ``$DATA_DIR``,
``./data``, ``../shared/data`` (both relative to the repository). Where none holds
the set, Keras' own downloader is tried and converted as the study did.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGE_SHAPE = (28, 28)
SPLITS = ("Train", "Test")
CIFAR10_CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
                       "dog", "frog", "horse", "ship", "truck")
MNIST_CLASS_NAMES = tuple(str(d) for d in range(10))
CLASS_NAMES = {"CIFAR10": CIFAR10_CLASS_NAMES, "MNIST": MNIST_CLASS_NAMES}


class DataError(RuntimeError):
    """A data set is missing or malformed; the message names the file and the fix."""


@dataclass
class Dataset:
    """Images as uint8 (N, 28, 28), integer labels (N,), and the class names."""
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str  # where the images came from, for the metrics JSON

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def candidate_roots(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The places searched for ``<root>/<NAME>``, in order."""
    roots = []
    if data_dir:
        roots.append(Path(data_dir).expanduser())
    if os.environ.get("DATA_DIR"):
        roots.append(Path(os.environ["DATA_DIR"]).expanduser())
    roots += [REPO_ROOT / "data", REPO_ROOT.parent / "shared" / "data"]
    return roots


def _class_dirs(split_dir: Path) -> list[Path]:
    dirs = [d for d in split_dir.iterdir() if d.is_dir()]
    # Class folders are named 0..9; sort numerically where they are numbers.
    return sorted(dirs, key=lambda d: (0, int(d.name)) if d.name.isdigit() else (1, d.name))


def _read_png(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img.load()
            mode, pixels = img.mode, np.asarray(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{path}: cannot decode this PNG ({err}). Replace or delete the file.") from err
    if mode != "L" or pixels.shape != IMAGE_SHAPE:
        raise DataError(
            f"{path}: expected a 28x28 single-channel 8-bit image, got mode {mode!r} "
            f"with shape {pixels.shape}. Convert it (e.g. PIL: img.convert('L').resize((28, 28))).")
    return pixels


def load_split(split_dir: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Reads ``split_dir/<class>/*.png``; labels are the class folders' positions."""
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: missing split folder. Expected <root>/<NAME>/{{Train,Test}}/<class>/*.png.")
    class_dirs = _class_dirs(split_dir)
    if not class_dirs:
        raise DataError(f"{split_dir}: holds no class folders. Expected {split_dir}/<class>/*.png.")
    images, labels = [], []
    for label, class_dir in enumerate(class_dirs):
        files = sorted(class_dir.glob("*.png"))
        if not files:
            raise DataError(f"{class_dir}: class folder holds no PNG images. Add its images or remove the folder "
                            "from every split.")
        images += [_read_png(f) for f in files]
        labels += [label] * len(files)
    return np.stack(images), np.asarray(labels, dtype=np.int32), [d.name for d in class_dirs]


def load_from_folder(set_dir: Path, name: str) -> Dataset:
    """Loads ``set_dir/{Train,Test}`` and checks the two splits have the same classes."""
    x_train, y_train, train_classes = load_split(set_dir / "Train")
    x_test, y_test, test_classes = load_split(set_dir / "Test")
    if train_classes != test_classes:
        raise DataError(f"{set_dir}: Train classes {train_classes} differ from Test classes {test_classes}. "
                        "Both splits need the same class folders.")
    names = CLASS_NAMES.get(name)
    if names is None or len(names) != len(train_classes):
        names = tuple(train_classes)
    return Dataset(name, x_train, y_train, x_test, y_test, tuple(names), source=str(set_dir))


def to_grayscale_28(rgb: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) uint8 RGB -> (N, 28, 28) uint8 luma (ITU-R 601), resized with antialiasing."""
    out = np.empty((len(rgb),) + IMAGE_SHAPE, dtype=np.uint8)
    for i, img in enumerate(rgb):
        out[i] = np.asarray(Image.fromarray(img).convert("L").resize(IMAGE_SHAPE[::-1], Image.BILINEAR))
    return out


def balanced_subset(x: np.ndarray, y: np.ndarray, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` images of every class, in class order, as the study's folders hold them."""
    y = np.asarray(y).reshape(-1)
    idx = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in np.unique(y)])
    return x[idx], y[idx].astype(np.int32)


def download_with_keras(name: str, train_per_class: int = 1000, test_per_class: int = 100) -> Dataset:
    """Keras' downloader, converted as the study did: 28x28 grayscale, 1000/100 images per class."""
    import keras
    loader = {"CIFAR10": keras.datasets.cifar10, "MNIST": keras.datasets.mnist}[name]
    (x_train, y_train), (x_test, y_test) = loader.load_data()
    x_train, y_train = balanced_subset(x_train, y_train, train_per_class)
    x_test, y_test = balanced_subset(x_test, y_test, test_per_class)
    if x_train.ndim == 4:  # CIFAR-10 is RGB 32x32
        x_train, x_test = to_grayscale_28(x_train), to_grayscale_28(x_test)
    return Dataset(name, x_train, y_train, x_test, y_test, CLASS_NAMES[name], source=f"keras.datasets.{name.lower()}")


def load_dataset(name: str, data_dir: str | os.PathLike | None = None, allow_download: bool = True) -> Dataset:
    """Finds ``name`` (``CIFAR10`` or ``MNIST``) in the candidate roots, else downloads it."""
    if data_dir and not (Path(data_dir).expanduser() / name).is_dir():
        raise DataError(f"--data-dir {data_dir}: no {name}/ folder there. Point --data-dir at the folder that "
                        f"holds {name}/Train and {name}/Test (e.g. ../shared/data).")
    roots = candidate_roots(data_dir)
    for root in roots:
        if (root / name).is_dir():
            return load_from_folder(root / name, name)
    searched = "\n  ".join(str(r / name) for r in roots)
    if allow_download:
        try:
            return download_with_keras(name)
        except Exception as err:  # no network, no cache: one clear error below
            reason = f"Keras' downloader failed too ({type(err).__name__}: {err})"
    else:
        reason = "downloading was not allowed"
    raise DataError(f"{name} not found. Searched:\n  {searched}\nand {reason}.\n"
                    f"Fix: pass --data-dir <root> or set DATA_DIR=<root>, where <root>/{name}/Train/<class>/*.png exists.")


def load_cifar10(data_dir=None, **kwargs) -> Dataset:
    return load_dataset("CIFAR10", data_dir, **kwargs)


def load_mnist(data_dir=None, **kwargs) -> Dataset:
    return load_dataset("MNIST", data_dir, **kwargs)


def as_float_images(x: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1], the networks' input."""
    return (x.astype(np.float32) / 255.0)[..., None]
