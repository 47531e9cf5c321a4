"""Training throughput of the sweep against the peers a user would pick instead, in one process.

    python benchmarks/train_throughput.py [--iterations 600] [--repeats 3] [--batch-size 50]
    python benchmarks/train_throughput.py --precision mixed_bfloat16     # bfloat16 against float32
    python benchmarks/train_throughput.py --precision mixed_bfloat16 --fused-adam   # the fast settings

Interleaved ``--repeats`` times on the same batches: (1) the sweep as ``cifar_v2.py`` runs it
(``common.training.train_run``: evaluations, statistics, TensorBoard logs, checkpoints); (2) a plain ``model.fit``
of the same compiled network, no callbacks; (3) the same network, batches, loss and Adam in PyTorch eager, if
installed (``benchmarks/requirements.txt``). A speed setting (``--precision``, ``--fused-adam``) applies to (1) and
(2), PyTorch then also runs its own version of it, and (1) also runs with the scripts' defaults as the baseline.
Each median is also a share of the roofline: the matmul peak over ``FLOPS_PER_IMAGE``. ``--save PATH`` writes
every median, repeat and ratio as a JSON record (``benchmarks/record.py``). Timings only.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
# --emulate-avx2: oneDNN (TensorFlow's and PyTorch's), PyTorch's own kernels and MKL limited to AVX2, as on
# a CPU without AVX-512 (most laptops); read by the libraries when they load, so set before they do
AVX2_ONLY = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
if "--emulate-avx2" in sys.argv:
    os.environ.update(AVX2_ONLY)
from common import cpu  # noqa: E402

cpu.configure()  # as the scripts do: oneDNN where TensorFlow leaves it off
import keras  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import record  # noqa: E402
from common import backend, cli, config, models, study  # noqa: E402
from common.data import as_float_images, load_cifar10  # noqa: E402
from common.evaluation import Evaluator  # noqa: E402
from common.training import make_spec, stream_indices, train_run  # noqa: E402

# Multiply-adds x 2 of the LeNet-5 per image: conv1, conv2, fc1, logits.
FORWARD = (28 * 28 * 32 * 25 * 1 * 2) + (14 * 14 * 64 * 25 * 32 * 2) + (3136 * 1024 * 2) + (1024 * 10 * 2)
CONV1 = 28 * 28 * 32 * 25 * 2
# backward: a weight-gradient product for every layer, an input-gradient product for all but conv1
FLOPS_PER_IMAGE = FORWARD + FORWARD + (FORWARD - CONV1)


def matmul_peak(n: int = 2048, repeats: int = 5, dtype: str = "float32") -> tuple[float, str]:
    """Best GFLOP/s of an n x n matmul in ``dtype``: NumPy's BLAS (float32 only) and the Keras backend's."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    seconds = {"numpy": record.best_seconds(lambda: a @ a, repeats)} if dtype == "float32" else {}
    x = keras.ops.convert_to_tensor(a, dtype=dtype)
    product = lambda: keras.ops.convert_to_numpy(keras.ops.matmul(x, x))
    product()  # warm-up
    seconds[backend.name()] = record.best_seconds(product, repeats)
    best = {k: 2 * n**3 / s / 1e9 for k, s in seconds.items()}
    which = max(best, key=best.get)
    return best[which], f"{which} ({', '.join(f'{k} {v:.0f}' for k, v in best.items())})"


BASELINE = "sweep run, float32 Keras Adam (training)"  # the scripts' default settings


def sweep_run(run, data, x, x_test, iterations, seed, eval_every, checkpoint_every):
    """A cifar_v2.py run in a temporary runs folder; (images/s of the whole run, of its training alone)."""
    with tempfile.TemporaryDirectory() as tmp:
        run, evaluate = replace(run, iterations=iterations), Evaluator(x_test, data.y_test)
        spec = make_spec(
            run, "benchmark", seed, data, x, data.y_train, Path(tmp), eval_every, checkpoint_every, evaluate
        )
        t0 = time.perf_counter()
        m = train_run(spec, log=lambda msg: None)
        wall = time.perf_counter() - t0
    return iterations * run.batch_size / wall, iterations * run.batch_size / m["train_time_s"]


def plain_fit(run, x, y, iterations, seed):
    """model.fit on NumPy arrays, one call, no callbacks (first 20 batches warm up, not timed)."""
    backend.seed_everything(seed)
    model = models.build_model(run)
    idx = stream_indices(seed, 0, iterations + 20, run.batch_size, len(x))
    warm, idx = idx[: 20 * run.batch_size], idx[20 * run.batch_size :]
    model.fit(x[warm], y[warm], batch_size=run.batch_size, shuffle=False, verbose=0)
    fit = lambda: model.fit(x[idx], y[idx], batch_size=run.batch_size, shuffle=False, verbose=0)
    return iterations * run.batch_size / record.best_seconds(fit)


def torch_eager(run, x, y, iterations, seed, bfloat16: bool = False, fused: bool = False):
    """The same LeNet-5, batches and Adam in PyTorch eager (NCHW, the data kept as tensors), on the GPU
    where PyTorch sees one, else on every CPU core; with ``bfloat16``, the forward pass and the loss
    under ``torch.autocast`` (bfloat16 matmuls and convolutions, float32 weights); with ``fused``,
    PyTorch's fused Adam kernel (else its default, the multi-tensor "foreach" Adam)."""
    import torch
    from torch import nn

    torch.manual_seed(seed)
    torch.set_num_threads(os.cpu_count() or 1)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    conv = lambda c_in, c_out: (nn.Conv2d(c_in, c_out, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2))
    dense = (nn.Flatten(), nn.Linear(3136, 1024), nn.ReLU(), nn.Linear(1024, 10))
    net = nn.Sequential(*conv(1, 32), *conv(32, 64), *dense).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=run.learning_rate, **({"fused": True} if fused else {}))
    loss_fn = nn.CrossEntropyLoss()
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).to(device)
    yt = torch.from_numpy(y.astype(np.int64)).to(device)
    idx = stream_indices(seed, 0, iterations + 20, run.batch_size, len(x)).reshape(-1, run.batch_size)
    idx = torch.from_numpy(idx.astype(np.int64)).to(device)

    def steps(first: int, count: int) -> None:
        for i in range(first, first + count):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bfloat16):
                loss = loss_fn(net(xt.index_select(0, idx[i])), yt.index_select(0, idx[i]))
            loss.backward()
            opt.step()
        float(loss.detach())  # waits for the last step (on a GPU, for the whole queue)

    steps(0, 20)  # warm-up
    return iterations * run.batch_size / record.best_seconds(lambda: steps(20, iterations))


@dataclass(frozen=True)
class Settings:
    run: str = config.setting(
        "relu_adam_normal",
        "the run whose network is trained (a name of cifar_v2.py --list)",
        choices=tuple(study.RUNS),
        metavar="RUN",
    )
    iterations: int = config.ITERATIONS(600)
    batch_size: int = config.BATCH_SIZE(50)
    eval_every: int = config.EVAL_EVERY(100)
    checkpoint_every: int = config.CHECKPOINT_EVERY(300)
    repeats: int = record.REPEATS(3)
    seed: int = config.SEED(0)
    emulate_avx2: bool = config.setting(
        False,
        "limit oneDNN, PyTorch and MKL to AVX2 (" + ", ".join(f"{k}={v}" for k, v in AVX2_ONLY.items()) + "): "
        "an AVX2-only CPU's kernels on this one (its caches and memory stay this machine's)",
    )
    precision: str = config.PRECISION("float32")
    fused_adam: bool = config.FUSED_ADAM(False)
    torch: bool = config.setting(True, "measure the PyTorch peer (pip install -r benchmarks/requirements.txt)")
    data_dir: Path | None = config.DATA_DIR(None)
    save: Path | None = record.SAVE(None)


@cli.entry_point
def main(argv=None) -> int:
    s = config.parse(Settings, argv, description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    if s.emulate_avx2 and s.precision != "float32":
        # TensorFlow still sees this CPU's bfloat16 units and asks oneDNN for bfloat16 kernels it may not
        # build under the AVX2 limit: a segmentation fault (seen). An AVX2 CPU's bfloat16: ../shared/docs.
        raise cli.UserError("--emulate-avx2 measures float32 only (bfloat16 on an AVX2-only CPU: common/cpu.py)")
    mixed = s.precision != "float32"
    fast = mixed or s.fused_adam  # a setting other than the scripts' default: measure the default too
    data = load_cifar10(s.data_dir)
    x, x_test = as_float_images(data.x_train), as_float_images(data.x_test)
    run = study.with_overrides(study.RUNS[s.run], batch_size=s.batch_size)
    try:
        if not s.torch:
            raise ImportError("--no-torch")
        import torch

        torch_note = f"PyTorch {torch.__version__} eager ({'cuda' if torch.cuda.is_available() else 'cpu'}), float32"
    except ImportError as err:
        torch_note = None
        print(f"note: PyTorch not measured ({err}); pip install -r benchmarks/requirements.txt to compare.")
    if s.emulate_avx2:
        print("emulating an AVX2-only CPU: " + ", ".join(f"{k}={v}" for k, v in AVX2_ONLY.items()))
    print(
        f"{backend.banner()}; {os.cpu_count()} CPU(s); {run.name}, batch {run.batch_size}, "
        f"{s.iterations} iterations, eval every {s.eval_every}, checkpoint every {s.checkpoint_every}, "
        f"precision {s.precision}{', fused Adam' if s.fused_adam else ''}"
    )
    peak, peak_note = matmul_peak(dtype="bfloat16" if mixed else "float32")
    roofline = peak * 1e9 / FLOPS_PER_IMAGE
    # PyTorch with its defaults (float32, its "foreach" Adam), and where a speed setting is under test, also
    # PyTorch with its own versions of the same settings (bfloat16 autocast, its fused Adam): like for like
    alike = " + ".join(name for on, name in ((mixed, "bfloat16 autocast"), (s.fused_adam, "fused Adam")) if on)
    torch_alike = torch_note.replace("float32", alike) if torch_note and fast else None
    sweep = lambda iterations, every: sweep_run(run, data, x, x_test, iterations, s.seed, s.eval_every, every)
    backend.set_precision(s.precision)  # the models built from now on
    backend.set_fused_adam(s.fused_adam)
    sweep(s.eval_every, s.eval_every)  # warm-up

    def one_repeat() -> dict:
        backend.set_precision(s.precision)  # (1) and (2) under the settings under test
        backend.set_fused_adam(s.fused_adam)
        whole, train = sweep(s.iterations, s.checkpoint_every)
        out = {"sweep run (whole)": whole, "sweep run (training)": train}
        out["plain model.fit"] = plain_fit(run, x, data.y_train, s.iterations, s.seed)
        backend.set_precision("float32")  # the scripts' defaults
        backend.set_fused_adam(False)
        if fast:
            out[BASELINE] = sweep(s.iterations, s.checkpoint_every)[1]
        if torch_note:
            out[torch_note] = torch_eager(run, x, data.y_train, s.iterations, s.seed)
        if torch_alike:
            out[torch_alike] = torch_eager(run, x, data.y_train, s.iterations, s.seed, mixed, s.fused_adam)
        return out

    results, med = record.interleaved(one_repeat, s.repeats, "img/s")
    for k, v in med.items():
        print(f"  {k:<32}: {v:8,.0f} images/s  ({100 * v / roofline:4.0f}% of the roofline)")
    print(
        f"  {'bfloat16' if mixed else 'float32'} matmul peak {peak:.0f} GFLOP/s by {peak_note}; "
        f"LeNet-5 {FLOPS_PER_IMAGE / 1e6:.1f} MFLOP per training image -> roofline {roofline:,.0f} images/s"
    )
    whole, train = "sweep run (whole)", "sweep run (training)"
    overhead = 1 - med[whole] / med[train]
    print(f"  evaluation + statistics overhead (whole run / its training): {100 * overhead:.1f}% (budget 10%)")
    keys = {whole: "run_whole", train: "run_training", "plain model.fit": "plain_fit", BASELINE: "float32"}
    keys |= {torch_note: "torch", torch_alike: "torch_alike"}  # each measurement's stable name in the record
    ratios = {}
    for a, b, note in (
        (train, "plain model.fit", ""),
        (train, BASELINE, ""),
        (BASELINE, torch_note, " (like for like, both defaults)"),
        *((x, t, " (target >= 1.2x)" if x == train else "") for t in (torch_note, torch_alike) for x in (train, whole)),
    ):
        if a in med and b in med:  # BASELINE only with a speed setting, PyTorch where installed
            ratios[f"{keys[a]}/{keys[b]}"] = med[a] / med[b]
            print(f"  {a} / {b}: {med[a] / med[b]:.2f}x{note}")
    record.save(
        s,
        "train_throughput",
        {
            "images_per_s": {keys[k]: {"label": k, "median": med[k], "repeats": v} for k, v in results.items()},
            "matmul_peak_gflops": peak,
            "matmul_peak_note": peak_note,
            "flops_per_image": FLOPS_PER_IMAGE,
            "roofline_images_per_s": roofline,
            "roofline_share": {keys[k]: v / roofline for k, v in med.items()},
            "overhead": overhead,
            "ratios": ratios,
        },
        torch=torch_note,
        torch_alike=torch_alike,
    )


if __name__ == "__main__":
    sys.exit(main())
