"""Evaluation on the test set: loss and accuracy from logits (with test-time flip averaging where a run asks for it),
and the conv-activation statistics the study read from TensorBoard (the numbers themselves: common/runs.py).
Everything uses ``predict_on_batch``: ``model.evaluate`` builds and tears down a tf.data iterator per call, which
costs up to ~1.8 s on TensorFlow (see common/backend.py)."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
from keras import ops

from common import runs


def predict_logits(model: keras.Model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    return np.concatenate(
        [np.asarray(model.predict_on_batch(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
    )


def shift_images(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Images (N, H, W, C) moved down ``dy`` and right ``dx`` pixels, the uncovered border zero (as the
    training augmentation's ``RandomTranslation(fill_mode="constant")`` fills it)."""
    ay, ax = abs(dy), abs(dx)
    padded = np.pad(x, ((0, 0), (ay, ay), (ax, ax), (0, 0)))
    return padded[:, ay - dy : ay - dy + x.shape[1], ax - dx : ax - dx + x.shape[2]]


def tta_views(x: np.ndarray, tta: bool, tta_shift: int = 0) -> list[np.ndarray]:
    """The test images' other views whose predictions a run averages in: none; with ``tta`` the mirror
    images; with ``tta_shift`` too, each of the two moved ``tta_shift`` pixels up, down, left and right
    (10 views in all, the image included)."""
    if not tta:
        return []
    mirror = x[:, :, ::-1]
    views = [mirror]
    for dy, dx in ((tta_shift, 0), (-tta_shift, 0), (0, tta_shift), (0, -tta_shift)) if tta_shift else ():
        views += [shift_images(x, dy, dx), shift_images(mirror, dy, dx)]
    return views


def make_test_evaluator(x_test, y_test, tta=False, tta_shift=0, final_at=None) -> Callable[[keras.Model, int], dict]:
    """The plain evaluation: loss and accuracy on every test image (averaged over :func:`tta_views`), and at
    ``final_at`` (the run's last) the confusion matrix, which says how many images the record was measured on."""
    views = tta_views(x_test, tta, tta_shift)

    def evaluate(model, iteration):
        logits, others = predict_logits(model, x_test), [predict_logits(model, v) for v in views]
        record = runs.logits_metrics(logits, y_test, *others, split="test")
        if iteration == final_at:
            record["test_confusion"] = runs.confusion(logits, y_test, *others).tolist()
        return record

    return evaluate


# The training images whose accuracy each evaluation records in inference mode (no augmentation, no dropout,
# the test set's views): the train accuracy a train/test gap compares, beside the batches' running mean
CLEAN_TRAIN_IMAGES, CLEAN_TRAIN_SEED = 1000, 20141202


class Evaluator:
    """The full evaluation: the test set (``split="val"``: the validation images) once through a probe model that
    returns the logits and, per image, each conv layer's activations' min, max, sum and sum of squares; a few fixed
    images give the histograms; views averaged in as :func:`tta_views`; the conv1 filters' resemblance to gradients,
    and the conv1 kernel at iteration 0 and ``final_at``. At ``final_at`` (the run's last) also the confusion
    matrix (rows the true class), the reliability table and which images it classifies correctly (packed); at
    ``views_at`` (a choosing run's last, a protocol's fresh seed's) the accuracy under every view set of
    ``runs.VIEW_CANDIDATES``: a choosing run's views are chosen on validation, and a recipe that differs from a
    run by its views alone is read from it."""

    def __init__(
        self,
        x_test,
        y_test,
        tta=False,
        hist_images=runs.HIST_IMAGES,
        tta_shift=0,
        split="test",
        views_at=None,
        final_at=None,
        clean_train=None,
    ):
        self.x_test, self.y_test, self.tta, self.split, self.views_at = x_test, y_test, tta, split, views_at
        self.final_at, self.tta_shift, self.clean_train = final_at, tta_shift, clean_train
        self.views = tta_views(x_test, tta, tta_shift)
        self.x_hist = x_test[:hist_images]
        self._model = None

    @staticmethod
    def probed_layers(model) -> list[str]:
        """Each conv layer after its nonlinearity: the LeNet-5's conv itself (its activation is built in), the CNNs'
        ``<conv>_relu`` or ``<conv>_act`` (after batch norm)."""
        names = {layer.name for layer in model.layers}
        return [next((f"{n}{a}" for a in ("_relu", "_act") if f"{n}{a}" in names), n) for n in runs.CONV_LAYERS]

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
        halves = lambda x: [self.probe.predict_on_batch(xb) for xb in np.array_split(x, 2)]
        outs = halves(self.x_test)
        logits, *per_image = [np.concatenate([np.asarray(o[i]) for o in outs]) for i in range(len(outs[0]))]
        others = [np.concatenate([np.asarray(o[0]) for o in halves(view)]) for view in self.views]
        record = runs.logits_metrics(logits, self.y_test, *others, split=self.split)
        if self.clean_train is not None:  # training images in inference mode, viewed as the test images are
            x, y = self.clean_train
            views = [predict_logits(model, v) for v in [x, *tta_views(x, self.tta, self.tta_shift)]]
            record.update(runs.logits_metrics(*views[:1], y, *views[1:], split="train_clean"))
        kernel = keras.ops.convert_to_numpy(model.get_layer("conv1").kernel)
        if iteration in (0, self.final_at):  # the filters at the start and the end: the filter figures' source
            record["conv1_kernel"] = runs.kernel_record(kernel)
        if iteration == self.final_at:  # the run's last evaluation: confusion (true x predicted), calibration
            record[f"{self.split}_confusion"] = runs.confusion(logits, self.y_test, *others).tolist()
            probabilities = runs.view_probabilities(logits, *others)
            record[f"{self.split}_reliability"] = runs.reliability(probabilities, self.y_test)
            correct = probabilities.argmax(1) == self.y_test
            record[f"{self.split}_correct"] = runs.pack_correct(correct)  # which images: paired tests
            record["conv_probes"] = dict(zip(runs.CONV_LAYERS, self.probed_layers(model)))  # what they read
        hist_acts = self.hist_probe.predict_on_batch(self.x_hist)
        for i, name in enumerate(runs.CONV_LAYERS):
            mins, maxs, sums, sqs = (per_image[4 * i + k].astype(np.float64) for k in range(4))
            count = self.sizes[i] * len(self.x_test)
            mean = sums.sum() / count
            record[f"{name}_min"], record[f"{name}_max"] = float(mins.min()), float(maxs.max())
            record[f"{name}_mean"] = float(mean)
            record[f"{name}_std"] = float(np.sqrt(max(sqs.sum() / count - mean**2, 0.0)))
            counts, edges = np.histogram(np.asarray(hist_acts[i]).ravel(), bins=runs.HIST_BINS)
            record[f"{name}_hist"] = {"edges": edges.tolist(), "counts": counts.tolist()}
        r2 = runs.plane_r2(kernel)  # the study's "many detect gradients": the mean, the share of ramps
        record["conv1_filter_plane_r2"] = float(r2.mean())
        record["conv1_gradient_filters"] = float(np.mean(r2 >= runs.GRADIENT_R2))
        if iteration == self.views_at:
            key = f"{self.split}_accuracy"
            accuracy = record[f"{key}_views"] = {}
            for name, (tta, shift) in runs.VIEW_CANDIDATES.items():
                others = [predict_logits(model, v) for v in tta_views(self.x_test, tta, shift)]
                accuracy[name] = runs.logits_metrics(logits, self.y_test, *others, split=self.split)[key]
        return record
