"""The GPU path, kept from rotting: every script runs under KERAS_BACKEND=jax (the CPU JAX wheel here)
with TensorFlow blocked, as on a GPU machine that has none; the outputs agree in kind with
TensorFlow's (the same files, accuracies within the noise of a short run), and a JAX run
resumes exactly too."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import PROCESS_TIMEOUT, spawn

pytest.importorskip("jax", reason="JAX is not installed (pip install -r requirements-dev.txt)")

REPO = Path(__file__).resolve().parent.parent
CIFAR = ["--runs", "relu_adam_normal", "--iterations", "100", "--eval-every", "50"]


def script(name, tmp, *args, backend="jax", block_tf=True, check=True):
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONUNBUFFERED": "1"}
    if block_tf:  # a "tensorflow" package that cannot be imported, first on the path
        fake = tmp / "no_tensorflow" / "tensorflow"
        fake.mkdir(parents=True, exist_ok=True)
        (fake / "__init__.py").write_text("raise ImportError('TensorFlow is blocked: the GPU path has none')\n")
        env["PYTHONPATH"] = str(fake.parent)
    proc = subprocess.run(
        [sys.executable, str(REPO / name), *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=PROCESS_TIMEOUT,  # subprocess.run kills the child when it is reached
    )
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")}


def final(runs_dir: Path, name: str) -> dict:
    (path,) = (runs_dir / name).glob("seed0-*/metrics.json")
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def both(tmp_path_factory, data_root):
    """The same short cifar_v2.py command under JAX (TensorFlow blocked) and under TensorFlow, on one
    runs folder (the backend is part of a run's identity), each with its own figures."""
    out = {}
    runs_dir = tmp_path_factory.mktemp("runs")
    for backend in ("jax", "tensorflow"):
        tmp = tmp_path_factory.mktemp(backend)
        proc = script(
            "cifar_v2.py",
            tmp,
            *CIFAR,
            "--data-dir",
            data_root,
            "--out-dir",
            tmp / "fig",
            "--runs-dir",
            runs_dir,
            backend=backend,
            block_tf=backend == "jax",
        )
        out[backend] = (tmp, proc.stdout)
    out["runs"] = runs_dir
    return out


def test_cifar_v2_under_jax_matches_tensorflow_in_kind(both):
    (jax_tmp, jax_out), (tf_tmp, _) = both["jax"], both["tensorflow"]
    assert "backend jax on cpu" in jax_out
    assert files(jax_tmp / "fig") == files(tf_tmp / "fig")
    # one runs folder, two identities: the JAX result was neither reused nor overwritten by TensorFlow's
    jax_path, tf_path = sorted(
        (both["runs"] / "relu_adam_normal").glob("seed0-*/metrics.json"),
        key=lambda p: json.loads(p.read_text())["identity"]["backend"],
    )
    jax_m, tf_m = json.loads(jax_path.read_text()), json.loads(tf_path.read_text())
    assert jax_m["identity"]["backend"] == "jax" and tf_m["identity"]["backend"] == "tensorflow"
    assert "tensorflow" not in jax_m["versions"] and "jax" in jax_m["versions"]
    # different backends round differently: within the noise of a 100-iteration run, not equal
    assert abs(jax_m["final"]["test_accuracy"] - tf_m["final"]["test_accuracy"]) < 0.08
    assert any((jax_path.parent / "tensorboard").iterdir())


def test_jax_resume_is_exact(tmp_path, data_root):
    flags = [
        "--runs",
        "relu_adam_normal_dropout_l2",
        "--iterations",
        "60",
        "--eval-every",
        "20",
        "--checkpoint-every",
        "20",
        "--data-dir",
        data_root,
        "--out-dir",
        tmp_path / "fig",
    ]
    script("cifar_v2.py", tmp_path, *flags, "--runs-dir", tmp_path / "a")
    argv = [sys.executable, str(REPO / "cifar_v2.py"), *map(str, flags), "--runs-dir", str(tmp_path / "b")]
    proc = spawn(argv, tmp_path / "b.log", cwd=REPO, env={"KERAS_BACKEND": "jax"})
    while "iter 40/60" not in proc.output() and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    script("cifar_v2.py", tmp_path, *flags, "--runs-dir", tmp_path / "b")
    a, b = (final(tmp_path / d, "relu_adam_normal_dropout_l2") for d in ("a", "b"))
    strip = lambda m: [{k: v for k, v in h.items() if k != "train_time_s"} for h in m["history"]]
    assert strip(a) == strip(b)


def test_rnn_mnist_and_the_deconvnet_scripts_run_under_jax(tmp_path, data_root):
    script(
        "rnn_mnist.py",
        tmp_path,
        "--cells",
        "lstm",
        "--hidden",
        "10",
        "--iterations",
        "40",
        "--eval-every",
        "20",
        "--no-unroll",
        "--data-dir",
        data_root,
        "--out-dir",
        tmp_path / "rnn",
        "--runs-dir",
        tmp_path / "rr",
    )
    made = files(tmp_path / "rnn")
    assert {"lstm_curves.png", "summary.png", "cnn_comparison.png", "train_test_gap.png", "summary.md"} <= made
    assert final(tmp_path / "rr", "lstm_10")["final"]["test_accuracy"] > 0.2
    script("dconvnet.py", tmp_path, "--iterations", "20", "--data-dir", data_root, "--runs-dir", tmp_path / "dc")
    script(
        "dconvnet_visualizations.py",
        tmp_path,
        "--runs-dir",
        tmp_path / "dc",
        "--out-dir",
        tmp_path / "viz",
        "--num-images",
        "2",
        "--data-dir",
        data_root,
    )
    assert {"projections_all.png", "top9_per_map_conv2.png", "evolution.png", "occlusion.png"} <= files(
        tmp_path / "viz"
    )
