"""TensorBoard event files: the one TensorFlow-only place for summaries.

Under another Keras backend without TensorFlow installed, the writer does nothing
(and says so once), so the scripts still run."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class SummaryWriter:
    """Scalars and histograms at a given step (the training iteration)."""

    def __init__(self, logdir: str | Path):
        try:
            import tensorflow as tf
        except ImportError:
            print(f"TensorFlow is not installed: no TensorBoard logs in {logdir}.")
            self._tf = self._writer = None
            return
        self._tf = tf
        self._writer = tf.summary.create_file_writer(str(logdir))

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self._writer is None:
            return
        with self._writer.as_default(step=step):
            for name, value in values.items():
                self._tf.summary.scalar(name, value)

    def histograms(self, values: dict[str, np.ndarray], step: int) -> None:
        if self._writer is None:
            return
        with self._writer.as_default(step=step):
            for name, data in values.items():
                self._tf.summary.histogram(name, data)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
