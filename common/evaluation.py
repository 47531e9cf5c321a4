"""Evaluation on the test set: loss and accuracy from logits (with test-time flip averaging where
a run asks for it), and the conv-activation statistics the study read from TensorBoard.

Everything uses ``predict_on_batch``: ``model.evaluate`` builds and tears down a tf.data
iterator per call, which costs up to ~1.8 s on TensorFlow (see common/backend.py).
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
from keras import ops

from common.metrics import (  # noqa: F401  (re-exported: the numbers a run records are defined there)
    CONV_LAYERS,
    HIST_BINS,
    HIST_IMAGES,
    VIEW_CANDIDATES,
    confusion,
    gradient_filters,
    kernel_record,
    logits_metrics,
    pack_correct,
    plane_r2,
    reliability,
    view_probabilities,
)


def predict_logits(model: keras.Model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """``predict_on_batch`` in chunks of ``batch_size`` images."""
    return np.concatenate(
        [np.asarray(model.predict_on_batch(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
    )


def shift_images(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Images (N, H, W, C) moved down ``dy`` and right ``dx`` pixels, the uncovered border zero (as the
    training augmentation's ``RandomTranslation(fill_mode="constant")`` fills it)."""
    out = np.zeros_like(x)
    h, w = x.shape[1:3]
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        :, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def tta_views(x: np.ndarray, tta: bool, tta_shift: int = 0) -> list[np.ndarray]:
    """The test images' other views whose predictions a run averages in: none; with ``tta`` the mirror
    images; with ``tta_shift`` too, each of the two moved ``tta_shift`` pixels up, down, left and right
    (10 views in all, the image included)."""
    if not tta:
        return []
    mirror = x[:, :, ::-1]
    views = [mirror]
    s = tta_shift
    for dy, dx in ((s, 0), (-s, 0), (0, s), (0, -s)) if s else ():
        views += [shift_images(x, dy, dx), shift_images(mirror, dy, dx)]
    return views


def make_test_evaluator(
    x_test: np.ndarray,
    y_test: np.ndarray,
    tta: bool = False,
    tta_shift: int = 0,
    split: str = "test",
    final_at: int | None = None,
) -> Callable[[keras.Model, int], dict]:
    """The plain evaluation: loss and accuracy on every image of ``split`` (averaged over :func:`tta_views`), and at
    ``final_at`` (the run's last) the confusion matrix, which says how many images the record was measured on."""
    views = tta_views(x_test, tta, tta_shift)

    def evaluate(model, iteration):
        logits, others = predict_logits(model, x_test), [predict_logits(model, v) for v in views]
        record = logits_metrics(logits, y_test, *others, split=split)
        if iteration == final_at:
            record[f"{split}_confusion"] = confusion(logits, y_test, *others).tolist()
        return record

    return evaluate


# The training images whose accuracy each evaluation records in inference mode (no augmentation, no dropout,
# the test set's views): the train accuracy a train/test gap compares, beside the batches' running mean
CLEAN_TRAIN_IMAGES, CLEAN_TRAIN_SEED = 1000, 20141202


class Evaluator:
    """Every evaluation runs the test set (or, ``split="val"``, the validation images) once through a probe
    model that returns the
    logits and, per image, the min, max, sum and sum of squares of each conv layer's
    activations; a few fixed test images give the histograms. With ``tta`` the mirror
    images' predictions are averaged in (test-time augmentation), with ``tta_shift`` also shifted
    ones (:func:`tta_views`). The conv1 filters' resemblance to
    gradients (:func:`gradient_filters`) is recorded too, and the conv1 kernel itself at iteration 0 and at
    ``final_at`` (the run's last), where the confusion matrix (``test_confusion``: rows the true class, columns
    the predicted one), the calibration's reliability table (``test_reliability``) and which images it classifies
    correctly (``test_correct``, packed) are recorded too. At
    iteration ``views_at`` (a choosing run's last) the
    accuracy under every view set of :data:`VIEW_CANDIDATES` is recorded too (``val_accuracy_views``), so that
    the views are chosen on validation."""

    def __init__(
        self,
        x_test,
        y_test,
        tta: bool = False,
        hist_images: int = HIST_IMAGES,
        tta_shift: int = 0,
        split: str = "test",
        views_at: int | None = None,
        final_at: int | None = None,
        clean_train: tuple[np.ndarray, np.ndarray] | None = None,
    ):
        self.x_test, self.y_test, self.tta, self.split, self.views_at = x_test, y_test, tta, split, views_at
        self.final_at, self.tta_shift, self.clean_train = final_at, tta_shift, clean_train
        self.views = tta_views(x_test, tta, tta_shift)
        self.x_hist = x_test[:hist_images]
        self._model = None

    @staticmethod
    def probed_layers(model) -> list[str]:
        """The layers whose outputs the statistics describe: each conv layer after its nonlinearity. In the
        LeNet-5 that is the conv layer itself (its activation is built in); in the VGG-style CNN, whose convs
        are followed by batch norm and a ReLU, it is ``<conv>_relu``."""
        names = {layer.name for layer in model.layers}
        return [next((f"{n}{a}" for a in ("_relu", "_act") if f"{n}{a}" in names), n) for n in CONV_LAYERS]

    def _build_probes(self, model):
        # in float32: under mixed_bfloat16 the conv outputs are bfloat16, whose 8-bit mantissa would
        # round a sum over 25,000 activations away
        acts = [ops.cast(model.get_layer(name).output, "float32") for name in self.probed_layers(model)]
        per_image = [
            f(a, axis=(1, 2, 3))
            for a in acts
            for f in (ops.min, ops.max, ops.sum, lambda t, axis: ops.sum(ops.square(t), axis=axis))
        ]
        self.probe = keras.Model(model.inputs, [model.outputs[0]] + per_image)
        self.hist_probe = keras.Model(model.inputs, acts)
        self.sizes = [int(np.prod(a.shape[1:])) for a in acts]
        self._model = model

    def __call__(self, model, iteration: int) -> dict:
        if self._model is not model:
            self._build_probes(model)
        outs = [self.probe.predict_on_batch(xb) for xb in np.array_split(self.x_test, 2)]
        logits, *per_image = [np.concatenate([np.asarray(o[i]) for o in outs]) for i in range(len(outs[0]))]
        others = [
            np.concatenate([np.asarray(self.probe.predict_on_batch(xb)[0]) for xb in np.array_split(view, 2)])
            for view in self.views
        ]
        record = logits_metrics(logits, self.y_test, *others, split=self.split)
        if self.clean_train is not None:  # training images in inference mode, viewed as the test images are
            x, y = self.clean_train
            views = [predict_logits(model, v) for v in [x, *tta_views(x, self.tta, self.tta_shift)]]
            record.update(logits_metrics(*views[:1], y, *views[1:], split="train_clean"))
        kernel = keras.ops.convert_to_numpy(model.get_layer("conv1").kernel)
        if iteration in (0, self.final_at):  # the filters at the start and the end: the filter figures' source
            record["conv1_kernel"] = kernel_record(kernel)
        if iteration == self.final_at:  # the run's last evaluation: confusion (true x predicted), calibration
            record[f"{self.split}_confusion"] = confusion(logits, self.y_test, *others).tolist()
            probabilities = view_probabilities(logits, *others)
            record[f"{self.split}_reliability"] = reliability(probabilities, self.y_test)
            record[f"{self.split}_correct"] = pack_correct(probabilities.argmax(1) == self.y_test)  # paired tests
            record["conv_probes"] = dict(zip(CONV_LAYERS, self.probed_layers(model)))  # what the statistics read
        hist_acts = self.hist_probe.predict_on_batch(self.x_hist)
        for i, name in enumerate(CONV_LAYERS):
            mins, maxs, sums, sqs = (per_image[4 * i + k].astype(np.float64) for k in range(4))
            count = self.sizes[i] * len(self.x_test)
            mean = sums.sum() / count
            record[f"{name}_min"], record[f"{name}_max"] = float(mins.min()), float(maxs.max())
            record[f"{name}_mean"] = float(mean)
            record[f"{name}_std"] = float(np.sqrt(max(sqs.sum() / count - mean**2, 0.0)))
            counts, edges = np.histogram(np.asarray(hist_acts[i]).ravel(), bins=HIST_BINS)
            record[f"{name}_hist"] = {"edges": edges.tolist(), "counts": counts.tolist()}
        r2, fraction = gradient_filters(kernel)
        record["conv1_filter_plane_r2"], record["conv1_gradient_filters"] = r2, fraction
        if iteration == self.views_at:
            record[f"{self.split}_accuracy_views"] = {
                name: logits_metrics(
                    logits,
                    self.y_test,
                    *(predict_logits(model, v) for v in tta_views(self.x_test, tta, shift)),
                    split=self.split,
                )[f"{self.split}_accuracy"]
                for name, (tta, shift) in VIEW_CANDIDATES.items()
            }
        return record
