"""The numbers a run records and the report reads, in NumPy alone: ``common.evaluation`` computes them during
training, ``common.report`` recomputes what a figure derives (a filter's ramp fit, a calibration error), one
definition of each number for both."""

from __future__ import annotations

import numpy as np

CONV_LAYERS = ("conv1", "conv2")  # the layers whose activations the statistics describe
GRADIENT_R2 = 0.5  # a conv1 filter "detects a gradient" if a plane (a linear ramp) explains this much of it
HIST_IMAGES = 10  # test images whose every activation goes into the histograms
HIST_BINS = 60
# Reliability diagrams: equal-width bins of the top-class probability, 15 as in Guo et al. (2017), "On
# Calibration of Modern Neural Networks", whose expected calibration error (ECE) the report computes from them
RELIABILITY_BINS = 15
# The test-time views a run that chooses compares on its validation images at its last evaluation (the ones
# the ladder's CNN tried): none, the mirror, and the mirror with 1- or 2-pixel shifts (10 views each)
VIEW_CANDIDATES = {"none": (False, 0), "flip": (True, 0), "flip_shift1": (True, 1), "flip_shift2": (True, 2)}
KERNEL_DIGITS = 7  # significant digits of a recorded kernel weight (float32 carries 7-8)


def view_probabilities(logits: np.ndarray, *other_views: np.ndarray | None) -> np.ndarray:
    """The class probabilities of a run's prediction: the softmax outputs of its views averaged."""
    views = [np.asarray(v, dtype=np.float64) for v in (logits, *other_views) if v is not None]
    e = [np.exp(z - z.max(axis=1, keepdims=True)) for z in views]
    return sum(x / x.sum(axis=1, keepdims=True) for x in e) / len(views)


def logits_metrics(
    logits: np.ndarray, labels: np.ndarray, *other_views: np.ndarray | None, split: str = "test"
) -> dict:
    """``{split}_loss`` (mean cross-entropy) and ``{split}_accuracy`` in float64, the views' probabilities averaged."""
    p = view_probabilities(logits, *other_views)
    true = np.clip(p[np.arange(len(labels)), labels], 1e-300, None)
    return {f"{split}_loss": float(-np.mean(np.log(true))), f"{split}_accuracy": float(np.mean(p.argmax(1) == labels))}


def confusion(logits: np.ndarray, labels: np.ndarray, *other_views: np.ndarray) -> np.ndarray:
    """Counts of true class (row) against predicted class (column), the views averaged as in :func:`logits_metrics`."""
    p = view_probabilities(logits, *other_views)
    k = p.shape[1]
    return np.bincount(labels * k + p.argmax(1), minlength=k * k).reshape(k, k)


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = RELIABILITY_BINS) -> dict:
    """Per equal-width bin of the top-class probability (1 in the last): its images, confidence sum, right ones."""
    p = np.asarray(probabilities, dtype=np.float64)
    conf, correct = p.max(axis=1), p.argmax(axis=1) == np.asarray(labels)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    return {
        "bins": bins,
        "count": np.bincount(which, minlength=bins).tolist(),
        "confidence_sum": [round(float(s), 6) for s in np.bincount(which, weights=conf, minlength=bins)],
        "correct": np.bincount(which, weights=correct, minlength=bins).astype(int).tolist(),
    }


def pack_correct(correct: np.ndarray) -> str:
    """Which images a prediction got right, in the split's order, as hex (4 a character): for paired comparisons."""
    return np.packbits(np.asarray(correct, dtype=bool)).tobytes().hex()


def unpack_correct(packed: str, n: int) -> np.ndarray:
    """The inverse of :func:`pack_correct` for ``n`` images."""
    return np.unpackbits(np.frombuffer(bytes.fromhex(packed), dtype=np.uint8))[:n].astype(bool)


def expected_calibration_error(table: dict) -> float:
    """ECE = sum over bins of (its images / all) x |its accuracy - its mean confidence| (Guo et al. 2017, eq. 3)."""
    count = np.asarray(table["count"], dtype=np.float64)
    gap = np.abs(np.asarray(table["correct"], dtype=np.float64) - np.asarray(table["confidence_sum"]))
    return float(gap.sum() / max(count.sum(), 1))


def kernel_record(kernel: np.ndarray) -> list:
    """A conv kernel (kh, kw, channels, maps) as nested lists at :data:`KERNEL_DIGITS` significant digits."""
    return np.vectorize(lambda v: float(f"{v:.{KERNEL_DIGITS}g}"))(np.asarray(kernel, dtype=np.float64)).tolist()


def plane_r2(kernel: np.ndarray) -> np.ndarray:
    """Per first-layer filter, the R^2 of the plane a*x + b*y + c fitted to it by least squares: how much it looks
    like an intensity gradient (a random 5x5 filter's is about 2/24 = 0.08). A color filter gets a plane per channel,
    its R^2 from the residuals and variances summed over them."""
    kernel = np.asarray(kernel, dtype=np.float64)  # (kh, kw, channels, maps)
    kh, kw, channels = kernel.shape[:3]
    yy, xx = np.mgrid[0:kh, 0:kw]
    design = np.stack([xx.ravel(), yy.ravel(), np.ones(kh * kw)], axis=1)
    w = kernel.reshape(kh * kw, -1)  # one column per (channel, filter)
    coef, *_ = np.linalg.lstsq(design, w, rcond=None)
    ss_res = ((w - design @ coef) ** 2).sum(axis=0).reshape(channels, -1).sum(axis=0)
    ss_tot = ((w - w.mean(axis=0)) ** 2).sum(axis=0).reshape(channels, -1).sum(axis=0)
    return 1 - ss_res / np.maximum(ss_tot, 1e-30)
