"""Load any image set in the course's layout, ``<root>/<NAME>/{Train,Test}/<class>/*.{png,jpg,jpeg,bmp}``, as
``--color`` and ``--image-size`` ask (docs/reliability.md's data section: where sets are looked for, how they are read
and cached). ``--data-dir`` and ``$DATA_DIR`` are errors where they lack the set; where no root holds CIFAR10 or
MNIST, Keras' downloader is tried.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from common import io
from common.cli import UserError
from common.config import parse_image_size

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGE_SHAPE = (28, 28)  # the study's images; other sets may have another size
SPLITS = ("Train", "Test")
ARRAYS = ("x_train", "y_train", "x_test", "y_test")  # a Dataset's arrays, as the cache stores them
CIFAR10_CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CLASS_NAMES = {"CIFAR10": CIFAR10_CLASS_NAMES, "MNIST": tuple("0123456789")}
# The study's sets: 1000 training and 100 test images per class, 28x28.
STUDY_COUNTS = (1000, 100)
# The validation split's own seed: every run that holds images out of training holds out the same ones
# (common.study.RunConfig.validation), whatever its seed, so that choices compare like with like.
SPLIT_SEED = 20141201
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")  # what Pillow reads for us, compared in lower case
COLORS = ("gray", "rgb")
GRAY_MODES = ("1", "L", "LA")  # Pillow modes of single-channel 8-bit images (LA: gray with alpha)
COLOR_MODES = ("RGB", "RGBA", "P", "CMYK", "YCbCr", "LAB", "HSV")  # converted to RGB (alpha dropped)


class DataError(UserError):
    """A data set is missing or malformed; the message names the file and the fix."""


@dataclass
class Dataset:
    """Images as uint8 (N, H, W) (gray) or (N, H, W, 3) (RGB), integer labels (N,), and the class names."""

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
    def channels(self) -> int:
        """1 for gray images, 3 for RGB: the networks' input channels."""
        return 1 if self.x_train.ndim == 3 else self.x_train.shape[3]

    @property
    def color(self) -> str:
        return "gray" if self.channels == 1 else "rgb"

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 (16 hex digits) of the class names, images and labels: the same pixels, wherever they lie."""
        h = hashlib.sha256("\n".join(self.class_names).encode())
        for a in (self.x_train, self.y_train, self.x_test, self.y_test):
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()[:16]

    def identity(self) -> dict:
        """What a run's identity records of its data."""
        return {"name": self.name, "fingerprint": self.fingerprint}

    def is_study_data(self, study_name: str) -> bool:
        """Whether this is the study's own set (name, classes, counts, size): its numbers then compare."""
        counts = [np.bincount(y, minlength=self.num_classes).tolist() for y in (self.y_train, self.y_test)]
        return (
            self.name == study_name
            and self.class_names == CLASS_NAMES.get(study_name)
            and (self.image_shape, self.channels) == (IMAGE_SHAPE, 1)
            and counts == [[n] * self.num_classes for n in STUDY_COUNTS]
        )

    def validation_split(
        self, per_class: int, run_seed: int = 0, seed: int = SPLIT_SEED
    ) -> tuple[np.ndarray, np.ndarray]:
        """(train, validation) indices: ``per_class`` images of every class held out. Each class's images,
        shuffled once from ``seed`` (the split's own), fall into folds of ``per_class``; a run of seed ``run_seed``
        holds out fold ``run_seed`` mod their number, so two candidates' seeds pair as repeats on other folds."""
        counts = np.bincount(self.y_train, minlength=self.num_classes)
        if per_class >= counts.min():
            raise DataError(
                f"a validation split of {per_class} images per class leaves nothing to train on: the smallest "
                f"class of {self.name} has {counts.min()} training images. Hold out fewer (validation=...)."
            )
        k = run_seed % (counts.min() // per_class)
        fold = slice(k * per_class, (k + 1) * per_class)
        classes = [np.flatnonzero(self.y_train == c) for c in range(self.num_classes)]
        held = [np.random.default_rng([seed, c]).permutation(images)[fold] for c, images in enumerate(classes)]
        val = np.sort(np.concatenate(held))
        return np.setdiff1d(np.arange(len(self.y_train)), val), val

    def split_identity(self, per_class: int, run_seed: int = 0, seed: int = SPLIT_SEED) -> dict:
        """A run's identity of its validation split: its size, seed and held-out images."""
        _, val = self.validation_split(per_class, run_seed, seed)
        return {"per_class": per_class, "seed": seed, "fingerprint": hashlib.sha256(val.tobytes()).hexdigest()[:16]}

    def describe(self) -> str:
        return (
            f"{self.name} from {self.source}: {len(self.x_train):,} train / {len(self.x_test):,} test "
            f"{self.color} images of {self.image_shape[0]}x{self.image_shape[1]}, {self.num_classes} classes "
            f"(fingerprint {self.fingerprint})"
        )


def figures_folder(base: str, dataset: str, study_dataset: str, color: str | None, image_size: str | None) -> Path:
    """``figures/<base>`` for the study's own set read as it is, else ``figures/<base>_<name>[_<color>][_<HxW>]``:
    a set read in another color or size never writes over the study's committed figures."""
    if dataset == study_dataset and color is None and image_size is None:
        return Path("figures") / base
    suffix = "".join(f"_{v.lower()}" for v in (color, image_size) if v)
    return Path("figures") / f"{base}_{dataset.lower()}{suffix}"


def candidate_roots(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The places searched for ``<root>/<NAME>``, in order."""
    given = [Path(v).expanduser() for v in (data_dir, os.environ.get("DATA_DIR")) if v]
    return given + [REPO_ROOT / "data", REPO_ROOT.parent / "shared" / "data"]


def _read_image(path: Path, color: str | None, size: tuple[int, int] | None) -> np.ndarray:
    """One image as uint8 (H, W) or (H, W, 3); ``color`` None keeps its own."""
    try:
        with Image.open(path) as img:
            if img.mode not in GRAY_MODES + COLOR_MODES:  # 16-bit or float images: no 8-bit reading is right
                raise DataError(
                    f"{path}: a {img.mode!r} image (16-bit or floating point); the loader reads 8-bit images. "
                    "Convert it to 8 bits per channel (e.g. PIL: img.convert('L') or img.convert('RGB'))."
                )
            return _pillow(img, color or ("gray" if img.mode in GRAY_MODES else "rgb"), size)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{path}: cannot decode this image ({err}). Replace or delete the file.") from None


def _pillow(img: Image.Image, color: str, size: tuple[int, int] | None) -> np.ndarray:
    """The one conversion of files and downloads: L (ITU-R 601 luma) or RGB, then bilinear (antialiased) to (H, W)."""
    img = img.convert("L" if color == "gray" else "RGB")
    return np.asarray(img if size is None else img.resize((size[1], size[0]), Image.Resampling.BILINEAR))


def _load_split(
    split_dir: Path, color: str | None, size: tuple[int, int] | None
) -> tuple[list[np.ndarray], np.ndarray, list[str], list[Path]]:
    """``split_dir/<class>/*``: the images, their labels (their folders' positions), the class names, the files."""
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: missing split folder. Expected <root>/<NAME>/{{Train,Test}}/<class>/*.png.")
    class_dirs = sorted(  # numerically where the folders are numbers (the study's 0..9)
        (d for d in split_dir.iterdir() if d.is_dir()),
        key=lambda d: (0, int(d.name)) if d.name.isdigit() else (1, d.name),
    )
    if not class_dirs:
        raise DataError(f"{split_dir}: holds no class folders. Expected {split_dir}/<class>/*.png.")
    images, labels, read = [], [], []
    for label, class_dir in enumerate(class_dirs):
        files = sorted(f for f in class_dir.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
        if not files:
            others = sorted({f.suffix.lower() or f.name for f in class_dir.iterdir() if f.is_file()})
            found = f" (it holds {', '.join(others)} files, which the loader does not read)" if others else ""
            raise DataError(
                f"{class_dir}: class folder holds no PNG, JPEG or BMP images{found}. Add its images (or convert "
                "them to one of those formats), or remove the folder from every split."
            )
        images += [_read_image(f, color, size) for f in files]
        labels += [label] * len(files)
        read += files
    return images, np.asarray(labels, dtype=np.int32), [d.name for d in class_dirs], read


def _stack(images: list[np.ndarray], color: str) -> np.ndarray:
    """uint8 (N, H, W) for gray, (N, H, W, 3) for RGB; gray images of an RGB set get three equal channels."""
    if color == "gray":
        return np.stack(images)
    return np.stack([np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a for a in images])


# Decoded sets, kept by the SHA-256 of their files' paths and bytes: hashing the 11,000 study PNGs takes
# 0.15 s, decoding them 2.2 s (2-core Xeon), and every script and most tests load a set. The key is the
# files' content, so an edited, added or removed file is a new key, never a stale hit.
CACHE_DIR = REPO_ROOT / "runs" / ".data-cache"  # git-ignored with runs/; `make clean-runs` empties it
CACHE_FORMAT = 2


def _load_folder(set_dir: Path, name: str, color: str | None, size: tuple[int, int] | None) -> Dataset:
    """``set_dir/{Train,Test}``, decoded once per content (``CACHE_DIR``)."""
    h = hashlib.sha256(f"{CACHE_FORMAT} {color} {size}".encode())
    for f in (f for split in SPLITS for f in sorted((set_dir / split).rglob("*")) if f.is_file()):
        h.update(f"\n{f.relative_to(set_dir).as_posix()}\n".encode())
        h.update(f.read_bytes())
    cached = CACHE_DIR / f"{name}-{h.hexdigest()[:32]}.npz"
    d = None  # a cache file that is missing, truncated or foreign: decoded again and (re)written below
    with contextlib.suppress(Exception), np.load(cached, allow_pickle=False) as z:
        classes, notes = tuple(str(c) for c in z["class_names"]), [str(n) for n in z["notes"]]
        d = Dataset(name, *(z[k] for k in ARRAYS), classes, source=str(set_dir))
    if d is None:
        d, notes = _decode_folder(set_dir, name, color, size)
        with contextlib.suppress(OSError, io.WriteFailed), io.atomic(cached) as tmp:  # read-only: no cache
            arrays = {k: getattr(d, k) for k in ARRAYS}
            np.savez(tmp, **arrays, class_names=np.array(d.class_names), notes=np.array(notes, dtype=str))
    for note in notes:  # said at every load, cached or not
        print(f"note: {set_dir}: {note}")
    for k in ARRAYS:
        getattr(d, k).flags.writeable = False  # the fingerprint (computed once) names these pixels: no edit in place
    return d


def _decode_folder(set_dir: Path, name: str, color: str | None, size: tuple[int, int] | None):
    """Both splits, checked to have the same classes and one image size, and the notes on them."""
    train, y_train, train_classes, train_files = _load_split(set_dir / "Train", color, size)
    test, y_test, test_classes, test_files = _load_split(set_dir / "Test", color, size)
    images, notes = train + test, []
    (h, w), n = Counter(a.shape[:2] for a in images).most_common(1)[0]
    if n < len(images):  # named: the first file of another size than most
        odd, shape = next((f, a.shape[:2]) for f, a in zip(train_files + test_files, images) if a.shape[:2] != (h, w))
        raise DataError(
            f"{odd}: {shape[0]}x{shape[1]} pixels, where {n:,} of the set's {len(images):,} images are {h}x{w} "
            f"(height x width). Pass --image-size {h}x{w} (or any HxW) to resize every image, or resize the "
            f"{len(images) - n:,} of other sizes."
        )
    if color is None:  # gray if every image of both splits is single-channel, else RGB
        n_color = sum(a.ndim == 3 for a in images)
        color = "rgb" if n_color else "gray"
        if 0 < n_color < len(images):
            notes.append(
                f"{n_color} of {len(images)} images are in color; reading every image as RGB (the "
                "gray ones with three equal channels). Pass --color gray to read them all as gray."
            )
    if train_classes != test_classes:
        raise DataError(
            f"{set_dir}: Train classes {train_classes} differ from Test classes {test_classes}. "
            "Both splits need the same class folders."
        )
    if len(train_classes) < 2:
        raise DataError(f"{set_dir}: only one class folder ({train_classes[0]}); a classifier needs two or more.")
    names = CLASS_NAMES.get(name.removesuffix("_FULL"))  # CIFAR10_FULL: `python -m common.datasets keras cifar10`
    if names is None or [str(i) for i in range(len(names))] != train_classes:
        names = tuple(train_classes)  # folder names, unless they are the study's 0..9
    x_train, x_test = _stack(train, color), _stack(test, color)
    return Dataset(name, x_train, y_train, x_test, y_test, tuple(names), source=str(set_dir)), notes


def to_grayscale_28(rgb: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) uint8 RGB -> (N, 28, 28) uint8 luma (ITU-R 601), resized with antialiasing."""
    return np.stack([_pillow(Image.fromarray(a), "gray", IMAGE_SHAPE) for a in rgb])


def balanced_subset(x: np.ndarray, y: np.ndarray, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``per_class`` images of every class, in class order, as the study's folders hold them."""
    y = np.asarray(y).reshape(-1)
    idx = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in np.unique(y)])
    return x[idx], y[idx].astype(np.int32)


def download_with_keras(name: str, color: str | None = None, size: tuple[int, int] | None = None) -> Dataset:
    """Keras' downloader, converted as the study did (28x28 gray, 1000/100 images per class), then to ``color``
    and ``size`` through the same Pillow calls as files."""
    import keras

    color, arrays = color or "gray", []
    for (x, y), per_class in zip(getattr(keras.datasets, name.lower()).load_data(), STUDY_COUNTS):
        x, y = balanced_subset(x, y, per_class)
        x = to_grayscale_28(x) if x.ndim == 4 else x  # CIFAR-10 is RGB 32x32
        arrays += [_stack([_pillow(Image.fromarray(a), color, size) for a in x], color), y]
    return Dataset(name, *arrays, CLASS_NAMES[name], f"keras.datasets.{name.lower()}")


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    allow_download: bool = True,
    color: str | None = None,
    image_size: str | tuple[int, int] | None = None,
) -> Dataset:
    """Finds the set ``name`` in the candidate roots; CIFAR10 and MNIST are downloaded where missing.
    ``color``: gray, rgb or None (the data's own); ``image_size``: "HxW" or (H, W) to resize every image."""
    if color is not None and color not in COLORS:
        raise DataError(f"--color {color}: choose one of {', '.join(COLORS)} (or leave it out: the data's own)")
    size = parse_image_size(image_size) if isinstance(image_size, str) else image_size
    if data_dir and not (Path(data_dir).expanduser() / name).is_dir():
        raise DataError(
            f"--data-dir {data_dir}: no {name}/ folder there. Point --data-dir at the folder that "
            f"holds {name}/Train and {name}/Test, or run `make data` (the course's folders into ./data)."
        )
    env = os.environ.get("DATA_DIR")
    if not data_dir and env and not (Path(env).expanduser() / name).is_dir():  # never passed over in silence
        raise DataError(
            f"DATA_DIR={env}: no {name}/ folder there. Point DATA_DIR at the folder that holds {name}/Train and "
            f"{name}/Test, or unset it (./data and ../shared/data are searched then), or pass --data-dir."
        )
    roots = candidate_roots(data_dir)
    for root in roots:
        if (root / name).is_dir():
            return _load_folder(root / name, name, color, size)
    searched = "\n  ".join(str(r / name) for r in roots)
    reason = "downloading was not allowed" if name in CLASS_NAMES else "only CIFAR10 and MNIST can be downloaded"
    if allow_download and name in CLASS_NAMES:
        try:
            return download_with_keras(name, color=color, size=size)
        except Exception as err:  # no network, no cache: one clear error below
            reason = f"Keras' downloader failed too ({type(err).__name__}: {err})"
    raise DataError(
        f"{name} not found. Searched:\n  {searched}\nand {reason}.\n"
        f"Fix: `make data` (the course's CIFAR10/ and MNIST/ into ./data; without make: python -m common.datasets "
        f"fetch), or pass --data-dir <root> or set DATA_DIR=<root>, where <root>/{name}/Train/<class>/*.png exists."
    )


def load_cifar10(data_dir=None, **kwargs) -> Dataset:
    return load_dataset("CIFAR10", data_dir, **kwargs)


def as_float_images(x: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, C) -> float32 (N, H, W, C) in [0, 1] (C = 1 for gray): the networks' input."""
    x = x.astype(np.float32) / 255.0
    return x[..., None] if x.ndim == 3 else x
