"""Deconvnet throughput: the batched projection against a one-map-at-a-time loop.

    python benchmarks/deconvnet_throughput.py                       # a freshly initialized network
    python benchmarks/deconvnet_throughput.py --checkpoint runs/dconvnet/model.keras

The workload is the top-k-per-map figure's: single conv2 activations (the strongest of every map over the test images),
each projected alone to pixel space. Both ways run in this process on the same activations; the loop calls the same code
with one projection at a time, and, for reference, the general whole-map path one at a time.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere
from common import cpu  # noqa: E402

cpu.configure()  # as the scripts do: oneDNN where TensorFlow leaves it off

import numpy as np  # noqa: E402

from benchmarks import record  # noqa: E402
from common import backend, config, io  # noqa: E402
from common.data import as_float_images, load_cifar10  # noqa: E402
from common.deconvnet import Deconvnet, top_k_per_map  # noqa: E402
from common.models import build_lenet5  # noqa: E402

TOP_K = 9  # per map: 64 maps x 9 = 576 projections


@dataclass(frozen=True)
class Settings:
    checkpoint: Path | None = config.setting(None, "trained model (default: a fresh one)", metavar="PATH")
    images: int = config.setting(1000, "test images searched (the figures search all 1,000)", min=1)
    loop_count: int = config.setting(100, "the loop is slow: time this many, give the rate", min=1)
    repeats: int = record.REPEATS(3)
    data_dir: Path | None = config.DATA_DIR(None)


def main(argv=None) -> int:
    s = config.parse(Settings, argv, description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    if s.checkpoint:
        model = io.load_model(s.checkpoint, required_layers=("conv1", "pool1", "conv2"), compile=False)
    else:
        backend.seed_everything(0)
        model = build_lenet5()
    x = as_float_images(load_cifar10(s.data_dir).x_test[: s.images])
    dc = Deconvnet(model)
    fwd = dc.forward(x)
    images, rows, cols, _ = top_k_per_map(fwd.conv2, TOP_K)
    maps = np.repeat(np.arange(images.shape[0]), images.shape[1])
    sel = (images.ravel(), rows.ravel(), cols.ravel(), maps)
    total, n_loop = len(maps), min(s.loop_count, len(maps))
    dc.project_activations(fwd, "conv2", *(a[:2] for a in sel))  # warm-up: first-call set-up

    def loop():
        for i in range(n_loop):
            dc.project_activations(fwd, "conv2", *(a[i : i + 1] for a in sel))

    def dense_loop():  # the general path: a whole 14x14x64 signal with one activation kept
        for i in range(n_loop):
            n, r, c, m = (a[i] for a in sel)
            kept = np.zeros((1,) + fwd.conv2.shape[1:], np.float32)
            kept[0, r, c, m] = fwd.conv2[n, r, c, m]
            dc.project("conv2", kept, fwd.switches1[n : n + 1])

    ways = {
        "batched (one call)": (lambda: dc.project_activations(fwd, "conv2", *sel), total),
        "loop, one projection per call": (loop, n_loop),
        "loop, general whole-map path, one each": (dense_loop, n_loop),
    }
    print(f"conv2 single-activation projections, {total} ({images.shape[0]} maps x {TOP_K}), from {len(x)} test images")
    measure = lambda: {k: count / record.best_seconds(fn) for k, (fn, count) in ways.items()}
    _, med = record.interleaved(measure, s.repeats, "projections/s")
    for k, v in med.items():
        print(f"  {k + ':':<40} {v:10,.0f} projections/s")
    batched, looped, dense = med.values()
    print(f"  speed-up batched / loop: {batched / looped:.1f}x  (batched / general loop: {batched / dense:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
