"""TensorBoard event files written from a run's saved history, with the ``tensorboard`` package
alone (no TensorFlow needed, so the JAX path logs too).

A run writes one event file per checkpoint segment, named by the segment's first iteration
(``...it000000600``), just before the checkpoint that ends the segment. A run resumed from
its checkpoint at iteration c deletes the files of segments that began after c (written by
a process killed before its next checkpoint), so TensorBoard shows every step once.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

SEGMENT_RE = re.compile(r"\.it(\d{9})$")

try:
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
except ImportError:  # pragma: no cover - tensorboard is in requirements.txt
    EventFileWriter = None


class TensorBoardLog:
    def __init__(self, logdir: str | Path, log=print):
        self.logdir = Path(logdir)
        self.enabled = EventFileWriter is not None
        if not self.enabled:
            log(
                f"note: the tensorboard package is not installed; no TensorBoard logs in {self.logdir} "
                "(pip install tensorboard)."
            )

    def truncate_after(self, iteration: int | None) -> None:
        """Deletes segments that began after ``iteration``; ``None`` (a fresh start): all of them."""
        for path in self.logdir.glob("events.out.tfevents.*") if self.logdir.is_dir() else []:
            m = SEGMENT_RE.search(path.name)
            if m and (iteration is None or int(m.group(1)) > iteration):
                path.unlink(missing_ok=True)

    def write(self, records: list[dict]) -> None:
        """One event file holding ``records`` (history entries keyed by ``iteration``)."""
        if not self.enabled or not records:
            return
        self.logdir.mkdir(parents=True, exist_ok=True)
        writer = EventFileWriter(str(self.logdir), filename_suffix=f".it{records[0]['iteration']:09d}")
        Value = summary_pb2.Summary.Value
        for rec in records:  # every number a scalar (the iteration is the step), every binned count a histogram
            values = [Value(tag=k, simple_value=float(v)) for k, v in rec.items() if isinstance(v, (int, float))]
            values += [
                Value(tag=f"activations/{k.removesuffix('_hist')}", histo=_histogram(v))
                for k, v in rec.items()
                if isinstance(v, dict) and "counts" in v
            ]
            summary = summary_pb2.Summary(value=[v for v in values if v.tag != "iteration"])
            writer.add_event(event_pb2.Event(step=int(rec["iteration"]), wall_time=time.time(), summary=summary))
        writer.flush()
        writer.close()


def _histogram(h: dict):
    edges, counts = h["edges"], h["counts"]
    centers = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
    return summary_pb2.HistogramProto(
        min=float(edges[0]),
        max=float(edges[-1]),
        num=float(sum(counts)),
        sum=float(sum(c * x for c, x in zip(counts, centers))),
        sum_squares=float(sum(c * x * x for c, x in zip(counts, centers))),
        bucket_limit=[float(e) for e in edges[1:]],
        bucket=[float(c) for c in counts],
    )
