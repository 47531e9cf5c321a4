"""The CPU: what it can do, and the settings fastest on it (standard library only: `make` asks it before the venv).

- oneDNN: TensorFlow turns its kernels on by default only on Linux x86 CPUs with AVX512_VNNI, AVX512_BF16,
  AVX_VNNI or AMX. On a 2-core AVX2-only AMD EPYC (Zen 3) the sweep trained at 444 images/s with that default and
  530 with ``TF_ENABLE_ONEDNN_OPTS=1`` (+19%; ``../shared/docs/cpu_speed_avx2.md``), so :func:`configure` turns it
  on there unless the user set it. oneDNN rounds differently: a run with it off records ``"onednn": false`` in its
  identity, apart from the committed results (made with it on, TensorFlow's default on their Xeon).
- bfloat16 needs hardware (AMX or AVX512_BF16 on x86, BF16 on ARM): 1.46x float32 on the Xeon, 0.18x on the
  AVX2-only EPYC (74 images/s against 408). Without it the scripts warn, and ``make reproduce FAST=1`` keeps float32.
"""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import re
import subprocess
import sys
import tempfile

# oneDNN's default in TensorFlow's Linux x86 wheels: on with one of these (tensorflow/core/util/util.cc)
TF_ONEDNN_FEATURES = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")
BF16_FEATURES = ("avx512_bf16", "amx_bf16", "bf16")  # x86 (AVX-512, AMX) and ARM (FEAT_BF16)
BF16_WITHOUT_HARDWARE = 0.18  # bfloat16 / float32 training speed measured on the AVX2-only EPYC (above)
ENV = "TF_ENABLE_ONEDNN_OPTS"
# what configure() did, for the banner: "set" (we turned oneDNN on), "user" (the user's value) or "default"
_ONEDNN_SOURCE = ["default"]


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def _tensorflow_loaded() -> bool:
    return "tensorflow" in sys.modules


def _sysctl(name: str) -> str:
    try:
        return subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


@functools.cache
def info() -> dict:
    """{"model", "machine" (x86_64, aarch64, arm64, AMD64), "features" (sorted lower-case names)}."""
    machine = platform.machine()
    model, features = platform.processor() or machine, set()
    if sys.platform.startswith("linux"):
        text = _read("/proc/cpuinfo")
        names = re.findall(r"^(?:model name|Model|Hardware)\s*:\s*(.+)$", text, re.M)
        model = names[0].strip() if names else model
        flags = re.findall(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.M)
        features = set(flags[0].split()) if flags else set()
    elif sys.platform == "darwin":
        model = _sysctl("machdep.cpu.brand_string") or model
        if machine == "arm64":
            features = {"neon"} | ({"bf16"} if _sysctl("hw.optional.arm.FEAT_BF16") == "1" else set())
    if not features:  # Windows, an Intel Mac, an unreadable /proc: what NumPy's own dispatcher detected
        try:
            from numpy._core._multiarray_umath import __cpu_features__
        except ImportError:  # NumPy 1.x
            from numpy.core._multiarray_umath import __cpu_features__
        features = {name.lower() for name, on in __cpu_features__.items() if on}
        if "avx512_spr" in features:  # Sapphire Rapids and later have AMX and AVX512_BF16
            features |= {"avx512_bf16", "amx_bf16", "amx_tile"}
    return {"model": model, "machine": machine, "features": sorted(features)}


def has(*names: str) -> bool:
    """Whether the CPU has any of the features ``names`` (lower case, as /proc/cpuinfo spells them)."""
    return bool(set(info()["features"]) & set(names))


def is_x86() -> bool:
    return info()["machine"].lower() in ("x86_64", "amd64", "i386", "i686")


def bf16_hardware() -> bool:
    """Whether bfloat16 matmuls run in hardware (AMX, AVX512_BF16, ARM BF16)."""
    return has(*BF16_FEATURES)


def summary() -> str:
    """``Intel Xeon ... (x86_64: AVX2, AVX-512, AVX512-BF16, AMX)``: the features that decide the settings."""
    shown = [
        ("AVX2", ("avx2",)),
        ("AVX-512", ("avx512f",)),
        ("AVX512-BF16", ("avx512_bf16",)),
        ("AMX", ("amx_tile", "amx_bf16")),
        ("NEON", ("asimd", "neon")),
        ("SVE", ("sve",)),
        ("BF16", ("bf16",)),
    ]
    names = [label for label, keys in shown if has(*keys)]
    return f"{info()['model']} ({info()['machine']}: {', '.join(names) or 'no SIMD extensions detected'})"


@functools.cache  # once per process
def configure() -> None:
    """Before TensorFlow loads (each script calls it first): its start-up chatter quiet, oneDNN on as said above."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if ENV in os.environ:
        _ONEDNN_SOURCE[0] = "user"
    elif not _tensorflow_loaded() and is_x86() and not has(*TF_ONEDNN_FEATURES):
        os.environ[ENV] = "1"
        _ONEDNN_SOURCE[0] = "set"


# What TensorFlow's C++ start-up writes to the process's stderr whatever TF_CPP_MIN_LOG_LEVEL says (TensorFlow
# 2.21 logs through absl before absl is initialized): each line that starts so is dropped by quiet_import
STARTUP_CHATTER = ("WARNING: All log messages before absl::InitializeLog()", "oneDNN custom operations are on")


@contextlib.contextmanager
def quiet_import():
    """Imports with file descriptor 2 in a temporary file, then writes back every line but :data:`STARTUP_CHATTER`."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            for line in tmp.read().decode(errors="replace").splitlines(keepends=True):
                if not any(marker in line for marker in STARTUP_CHATTER):
                    sys.stderr.write(line)
            sys.stderr.flush()


def onednn() -> bool | None:
    """Whether TensorFlow runs its oneDNN kernels (None: TensorFlow is not loaded)."""
    if not _tensorflow_loaded():
        return None
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def onednn_note() -> str:
    """How oneDNN came to be on or off, for the banner."""
    state = onednn()
    if state is None:
        return ""
    why = {"set": "turned on for this CPU", "user": f"{ENV}={os.environ.get(ENV)}", "default": "TensorFlow's default"}
    return f"oneDNN {'on' if state else 'off'} ({why[_ONEDNN_SOURCE[0]]})"


def cores() -> int:
    """The cores this process may run on: TensorFlow's default intra-op thread count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def intra_op_threads() -> int | None:
    """``TF_NUM_INTRAOP_THREADS`` where it is not TensorFlow's default (one per core), else None. A convolution's
    sums are cut into one part per thread, so the count changes a run's numbers by rounding (1 against 2 threads on
    the 2-core Xeon: every history value differs; the inter-op threads change nothing)."""
    try:
        n = int(os.environ.get("TF_NUM_INTRAOP_THREADS", ""))
    except ValueError:
        return None
    return n if 0 < n != cores() else None


def fast_precision() -> str:
    """``make reproduce FAST=1``'s precision: bfloat16 where the CPU has it in hardware."""
    return "mixed_bfloat16" if bf16_hardware() else "float32"


def bf16_warning() -> str | None:
    """The warning for ``--precision mixed_bfloat16`` on a CPU without bfloat16 hardware, else None."""
    if bf16_hardware():
        return None
    return (
        f"warning: this CPU ({summary()}) has no bfloat16 hardware (AMX, AVX512-BF16 or ARM BF16): "
        f"--precision mixed_bfloat16 will train slower than float32, not faster (measured {BF16_WITHOUT_HARDWARE}x "
        "the float32 speed on an AVX2-only CPU). Leave it at float32 here."
    )


if __name__ == "__main__":  # `python -m common.cpu`: the summary; `--fast-precision`: what FAST=1 uses
    print(fast_precision() if "--fast-precision" in sys.argv else summary())
