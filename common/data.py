"""Load any image set in the course's layout from PNG class folders into NumPy arrays.

Layout: ``<root>/<NAME>/{Train,Test}/<class>/*.png`` (``.PNG`` too), every image an 8-bit,
single-channel PNG, all of one size (the study's sets: 28x28). Classes are the folders,
sorted (numerically where they are numbers); the label of an image is its folder's
position. The root is searched in order: ``--data-dir``, ``$DATA_DIR``, ``./data``,
``../shared/data`` (both relative to the repository). Where none holds CIFAR10 or MNIST,
Keras' own downloader is tried and converted as the study did.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from common.cli import UserError

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGE_SHAPE = (28, 28)  # the study's images; other sets may have another size
SPLITS = ("Train", "Test")
CIFAR10_CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
MNIST_CLASS_NAMES = tuple(str(d) for d in range(10))
CLASS_NAMES = {"CIFAR10": CIFAR10_CLASS_NAMES, "MNIST": MNIST_CLASS_NAMES}
# The study's sets: 1000 training and 100 test images per class, 28x28.
STUDY_COUNTS = (1000, 100)


class DataError(UserError):
    """A data set is missing or malformed; the message names the file and the fix."""


@dataclass
class Dataset:
    """Images as uint8 (N, H, W), integer labels (N,), and the class names."""

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

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.x_train.shape[1:3])

    @property
    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex digits) of the class names, images and labels of both splits:
        the same pixels give the same fingerprint wherever the folder lies."""
        if not hasattr(self, "_fingerprint"):
            h = hashlib.sha256("\n".join(self.class_names).encode())
            for a in (self.x_train, self.y_train, self.x_test, self.y_test):
                h.update(str(a.shape).encode())
                h.update(np.ascontiguousarray(a).tobytes())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    def identity(self) -> dict:
        """What a run's identity records of its data."""
        return {"name": self.name, "fingerprint": self.fingerprint}

    def is_study_data(self, study_name: str) -> bool:
        """Whether this is the study's own set ``study_name`` (its name, classes, counts and size),
        so that a comparison with the study's numbers means something."""
        counts = (
            np.bincount(self.y_train, minlength=self.num_classes).tolist(),
            np.bincount(self.y_test, minlength=self.num_classes).tolist(),
        )
        return (
            self.name == study_name
            and self.class_names == CLASS_NAMES.get(study_name)
            and self.image_shape == IMAGE_SHAPE
            and counts == ([STUDY_COUNTS[0]] * self.num_classes, [STUDY_COUNTS[1]] * self.num_classes)
        )

    def describe(self) -> str:
        return (
            f"{self.name} from {self.source}: {len(self.x_train):,} train / {len(self.x_test):,} test "
            f"images of {self.image_shape[0]}x{self.image_shape[1]}, {self.num_classes} classes "
            f"(fingerprint {self.fingerprint})"
        )


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


def _read_png(path: Path, shape: tuple[int, int] | None) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img.load()
            mode, pixels = img.mode, np.asarray(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{path}: cannot decode this PNG ({err}). Replace or delete the file.") from None
    if mode != "L" or (shape is not None and pixels.shape != shape):
        want = f"{shape[0]}x{shape[1]}" if shape else "an"
        raise DataError(
            f"{path}: expected {want} single-channel 8-bit image like the set's others, got mode {mode!r} "
            f"with shape {pixels.shape}. Convert it (e.g. PIL: img.convert('L').resize(...))."
        )
    return pixels


def _png_files(class_dir: Path) -> list[Path]:
    """``*.png`` and ``*.PNG`` (any case), sorted by name."""
    return sorted(f for f in class_dir.iterdir() if f.suffix.lower() == ".png" and f.is_file())


def load_split(split_dir: Path, shape: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Reads ``split_dir/<class>/*.png``; labels are the class folders' positions. Every image must
    have ``shape`` (default: the first image's)."""
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: missing split folder. Expected <root>/<NAME>/{{Train,Test}}/<class>/*.png.")
    class_dirs = _class_dirs(split_dir)
    if not class_dirs:
        raise DataError(f"{split_dir}: holds no class folders. Expected {split_dir}/<class>/*.png.")
    images, labels = [], []
    for label, class_dir in enumerate(class_dirs):
        files = _png_files(class_dir)
        if not files:
            raise DataError(
                f"{class_dir}: class folder holds no PNG images. Add its images or remove the folder from every split."
            )
        for f in files:
            images.append(_read_png(f, shape))
            shape = shape or images[0].shape
        labels += [label] * len(files)
    return np.stack(images), np.asarray(labels, dtype=np.int32), [d.name for d in class_dirs]


def load_from_folder(set_dir: Path, name: str) -> Dataset:
    """Loads ``set_dir/{Train,Test}`` and checks the two splits have the same classes and image size."""
    x_train, y_train, train_classes = load_split(set_dir / "Train")
    x_test, y_test, test_classes = load_split(set_dir / "Test", shape=x_train.shape[1:])
    if train_classes != test_classes:
        raise DataError(
            f"{set_dir}: Train classes {train_classes} differ from Test classes {test_classes}. "
            "Both splits need the same class folders."
        )
    if len(train_classes) < 2:
        raise DataError(f"{set_dir}: only one class folder ({train_classes[0]}); a classifier needs two or more.")
    names = CLASS_NAMES.get(name)
    if names is None or [str(i) for i in range(len(names))] != train_classes:
        names = tuple(train_classes)  # folder names, unless they are the study's 0..9
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
    """Finds the set ``name`` in the candidate roots; CIFAR10 and MNIST are downloaded where missing."""
    if data_dir and not (Path(data_dir).expanduser() / name).is_dir():
        raise DataError(
            f"--data-dir {data_dir}: no {name}/ folder there. Point --data-dir at the folder that "
            f"holds {name}/Train and {name}/Test (e.g. ../shared/data)."
        )
    roots = candidate_roots(data_dir)
    for root in roots:
        if (root / name).is_dir():
            return load_from_folder(root / name, name)
    searched = "\n  ".join(str(r / name) for r in roots)
    if name not in CLASS_NAMES:
        allow_download, reason = False, "only CIFAR10 and MNIST can be downloaded"
    if allow_download:
        try:
            return download_with_keras(name)
        except Exception as err:  # no network, no cache: one clear error below
            reason = f"Keras' downloader failed too ({type(err).__name__}: {err})"
    elif name in CLASS_NAMES:
        reason = "downloading was not allowed"
    raise DataError(
        f"{name} not found. Searched:\n  {searched}\nand {reason}.\n"
        f"Fix: pass --data-dir <root> or set DATA_DIR=<root>, where <root>/{name}/Train/<class>/*.png exists."
    )


def load_cifar10(data_dir=None, **kwargs) -> Dataset:
    return load_dataset("CIFAR10", data_dir, **kwargs)


def load_mnist(data_dir=None, **kwargs) -> Dataset:
    return load_dataset("MNIST", data_dir, **kwargs)


def as_float_images(x: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) -> float32 (N, H, W, 1) in [0, 1], the networks' input."""
    return (x.astype(np.float32) / 255.0)[..., None]
