"""Deconvnet throughput: the batched projection against a one-map-at-a-time loop.

    python benchmarks/deconvnet_throughput.py                       # a freshly initialized network
    python benchmarks/deconvnet_throughput.py --checkpoint runs/dconvnet/model.keras

The workload is the top-k-per-map figure's: single conv2 activations (the strongest of every map over the test images),
each projected alone to pixel space. Both ways run in this process on the same activations; the loop calls the same code
with one projection at a time, and, for reference, the general whole-map path one at a time.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere
from common import cpu  # noqa: E402

cpu.configure()  # as the scripts do: oneDNN where TensorFlow leaves it off

import numpy as np  # noqa: E402

from benchmarks import record  # noqa: E402
from common import backend, io  # noqa: E402
from common.data import as_float_images, load_cifar10  # noqa: E402
from common.deconvnet import Deconvnet, top_k_per_map  # noqa: E402
from common.models import build_lenet5  # noqa: E402

REPEATS = 3  # best of, to damp the noise of a shared machine
TOP_K = 9  # per map: 64 maps x 9 = 576 projections


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", type=Path, help="trained model (default: a fresh one)")
    p.add_argument("--images", type=int, default=1000, help="test images searched (the figures search all 1,000)")
    p.add_argument("--loop-count", type=int, default=100, help="the loop is slow: time this many, give the rate")
    p.add_argument("--data-dir", default=None)
    args = p.parse_args(argv)
    if args.checkpoint:
        model = io.load_model(args.checkpoint, required_layers=("conv1", "pool1", "conv2"), compile=False)
    else:
        backend.seed_everything(0)
        model = build_lenet5()
    x = as_float_images(load_cifar10(args.data_dir).x_test[: args.images])
    dc = Deconvnet(model)
    fwd = dc.forward(x)
    images, rows, cols, _ = top_k_per_map(fwd.conv2, TOP_K)
    maps = np.repeat(np.arange(images.shape[0]), images.shape[1])
    sel = (images.ravel(), rows.ravel(), cols.ravel(), maps)
    total, n_loop = len(maps), min(args.loop_count, len(maps))
    rate = lambda fn, count: count / record.best_seconds(fn, REPEATS)

    dc.project_activations(fwd, "conv2", *(s[:2] for s in sel))  # warm-up: first-call set-up
    batched = rate(lambda: dc.project_activations(fwd, "conv2", *sel), total)

    def loop():
        for i in range(n_loop):
            dc.project_activations(fwd, "conv2", *(s[i : i + 1] for s in sel))

    def dense_loop():  # the general path: a whole 14x14x64 signal with one activation kept
        for i in range(n_loop):
            n, r, c, m = (s[i] for s in sel)
            kept = np.zeros((1,) + fwd.conv2.shape[1:], np.float32)
            kept[0, r, c, m] = fwd.conv2[n, r, c, m]
            dc.project("conv2", kept, fwd.switches1[n : n + 1])

    looped, dense = rate(loop, n_loop), rate(dense_loop, n_loop)
    print(
        f"conv2 single-activation projections, {total} of them ({images.shape[0]} maps x {TOP_K}) "
        f"from {len(x)} test images, best of {REPEATS}:"
    )
    print(f"  batched (one call):                      {batched:10,.0f} projections/s")
    print(f"  loop, one projection per call:           {looped:10,.0f} projections/s")
    print(f"  loop, general whole-map path, one each:  {dense:10,.0f} projections/s")
    print(f"  speed-up batched / loop: {batched / looped:.1f}x  (batched / general loop: {batched / dense:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
