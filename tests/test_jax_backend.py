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
# dropout: its random masks must continue exactly after a resume (test_jax_resume_is_exact)
RUN = "relu_adam_normal_dropout_l2"
CIFAR = ["--runs", RUN, "--iterations", "60", "--eval-every", "20", "--checkpoint-every", "20"]


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


def run_dir(runs_dir: Path, name: str, backend: str = "jax") -> Path:
    """Seed 0's folder of ``name`` trained on ``backend`` (one runs folder holds both backends' runs)."""
    found = (runs_dir / name).glob("seed0-*/metrics.json")
    (path,) = [p for p in found if json.loads(p.read_text())["identity"]["backend"] == backend]
    return path.parent


def final(runs_dir: Path, name: str, backend: str = "jax") -> dict:
    return json.loads((run_dir(runs_dir, name, backend) / "metrics.json").read_text())


@pytest.fixture(scope="module")
def both(tmp_path_factory, data_root):
    """The same short cifar_v2.py command under JAX (TensorFlow blocked, a process of its own) and under
    TensorFlow (in this process: the same code and settings as a script's process), on one runs folder (the
    backend is part of a run's identity), each with its own figures."""
    import cifar_v2

    runs_dir = tmp_path_factory.mktemp("runs")
    jax_tmp, tf_tmp = tmp_path_factory.mktemp("jax"), tmp_path_factory.mktemp("tensorflow")
    dirs = ["--data-dir", data_root, "--runs-dir", runs_dir]
    proc = script("cifar_v2.py", jax_tmp, *CIFAR, *dirs, "--out-dir", jax_tmp / "fig")
    assert cifar_v2.main([str(a) for a in [*CIFAR, *dirs, "--out-dir", tf_tmp / "fig"]]) == 0
    return {"jax": (jax_tmp, proc.stdout), "tensorflow": (tf_tmp, None), "runs": runs_dir}


def test_cifar_v2_under_jax_matches_tensorflow_in_kind(both):
    (jax_tmp, jax_out), (tf_tmp, _) = both["jax"], both["tensorflow"]
    assert "backend jax on cpu" in jax_out
    assert files(jax_tmp / "fig") == files(tf_tmp / "fig")
    # one runs folder, two identities: the JAX result was neither reused nor overwritten by TensorFlow's
    jax_m, tf_m = final(both["runs"], RUN, "jax"), final(both["runs"], RUN, "tensorflow")
    assert "tensorflow" not in jax_m["versions"] and "jax" in jax_m["versions"]
    # different backends round differently: within the noise of a 60-iteration run, not equal
    assert abs(jax_m["final"]["test_accuracy"] - tf_m["final"]["test_accuracy"]) < 0.08
    assert any((run_dir(both["runs"], RUN) / "tensorboard").iterdir())


def test_jax_resume_is_exact(both, tmp_path, data_root):
    """The JAX run of ``both``, killed after its second evaluation and resumed: the same numbers."""
    flags = [*CIFAR, "--data-dir", data_root, "--out-dir", tmp_path / "fig", "--runs-dir", tmp_path / "b"]
    argv = [sys.executable, str(REPO / "cifar_v2.py"), *map(str, flags)]
    proc = spawn(argv, tmp_path / "b.log", cwd=REPO, env={"KERAS_BACKEND": "jax"})
    while "iter 40/60" not in proc.output() and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    script("cifar_v2.py", tmp_path, *flags)
    a, b = final(both["runs"], RUN), final(tmp_path / "b", RUN)
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
