"""Runs you can trust, tested with real processes: SIGKILL at random moments and in every phase,
Ctrl-C, and two processes on one runs folder."""

import json
import random
import signal
import time
from pathlib import Path

import pytest
from conftest import PROCESS_TIMEOUT, finish, launch

REPO = Path(__file__).resolve().parent.parent
RUN = "relu_adam_normal_dropout_l2"  # dropout: its random masks must continue exactly after a resume
FLAGS = ["--runs", RUN, "--iterations", "160", "--eval-every", "20", "--checkpoint-every", "40", "--seeds", "3"]


def start(tmp, data_root, *flags):
    return launch("cifar_v2.py", tmp, data_root, *flags)


def output(proc) -> str:
    return proc.output()


def wait_for(proc, text: str, timeout: float = PROCESS_TIMEOUT) -> bool:
    """Waits until ``text`` appears in the process's output (True) or it exits (False)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if text in output(proc):
            return True
        if proc.poll() is not None:
            return text in output(proc)
        time.sleep(0.05)
    raise TimeoutError(f"{text!r} never appeared:\n{output(proc)}")


def kill(proc):
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def history(tmp):
    (path,) = (tmp / "runs" / RUN).glob("seed3-*/metrics.json")
    m = json.loads(path.read_text())
    return m, [{k: v for k, v in h.items() if k != "train_time_s"} for h in m["history"]]


def tensorboard_steps(run_dir: Path) -> list[tuple[str, int]]:
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    steps = []
    for f in sorted((run_dir / "tensorboard").iterdir()):
        for event in EventFileLoader(str(f)).Load():
            steps += [(v.tag, event.step) for v in event.summary.value]
    return steps


@pytest.fixture(scope="module")
def reference(tmp_path_factory, data_root):
    """The same run, uninterrupted (in this process: the same code and settings as a script's process)."""
    import cifar_v2

    tmp = tmp_path_factory.mktemp("reference")
    dirs = ["--data-dir", str(data_root), "--runs-dir", str(tmp / "runs"), "--out-dir", str(tmp / "fig")]
    assert cifar_v2.main([*dirs, *FLAGS]) == 0
    return history(tmp)[1]


def test_sigkill_at_random_moments_and_in_every_phase_changes_no_number(tmp_path, data_root, reference):
    rng = random.Random(7)
    kills = []
    # 1-3: at random moments once training has started (between and during checkpoint writes);
    # 4: while the finished run's results and figures are being written; 5: during the summary.
    for trigger in (
        "] iter ",
        "] iter ",
        "] iter ",
        "[relu_adam_normal_dropout_l2 seed 3] iter 160/160",
        "run(s) done",
    ):
        proc = start(tmp_path, data_root, *FLAGS)
        if not wait_for(proc, trigger):
            break  # finished before the trigger: nothing left to interrupt
        if trigger == "] iter ":
            time.sleep(rng.uniform(0.0, 3.0))
        if proc.poll() is None:
            kill(proc)
            kills.append(trigger)
    assert len(kills) >= 3, kills
    proc = start(tmp_path, data_root, *FLAGS)
    assert finish(proc) == 0, output(proc)
    m, numbers = history(tmp_path)
    assert m["status"] == "finished"
    assert numbers == reference  # interval by interval, every number but the timings
    run_dir = next((tmp_path / "runs" / RUN).glob("seed3-*"))
    assert not list(tmp_path.rglob(".*.tmp*")), "a killed process's temporary file is still there"
    assert not (run_dir / "checkpoint.npz").exists()
    steps = tensorboard_steps(run_dir)
    assert len(steps) == len(set(steps)), "TensorBoard holds a step twice"
    assert {s for tag, s in steps if tag == "test_accuracy"} == {h["iteration"] for h in reference}
    figures = tmp_path / "fig" / f"{RUN}@iterations=160"  # a run changed by --iterations: a folder of its own
    assert (figures / "curves.png").exists() and (tmp_path / "fig" / "summary.md").exists()


def test_ctrl_c_is_a_message_and_the_rerun_resumes(tmp_path, data_root, reference):
    proc = start(tmp_path, data_root, *FLAGS)
    assert wait_for(proc, "iter  80/160")
    proc.send_signal(signal.SIGINT)
    assert finish(proc) == 130
    text = output(proc)
    assert "interrupted; rerun the same command to resume" in text and "Traceback" not in text
    proc = start(tmp_path, data_root, *FLAGS)
    assert finish(proc) == 0
    assert "resuming from iteration" in output(proc)
    assert history(tmp_path)[1] == reference


def test_two_processes_on_one_runs_folder_share_the_work(tmp_path, data_root):
    flags = [
        "--runs",
        "relu_adam_normal,tanh_adam_normal",
        "--iterations",
        "60",
        "--eval-every",
        "20",
        "--seeds",
        "0,1",
    ]
    procs = [start(tmp_path, data_root, *flags) for _ in range(2)]
    for p in procs:
        assert finish(p) == 0, output(p)
    logs = "".join(output(p) for p in procs)
    for name in ("relu_adam_normal", "tanh_adam_normal"):
        for seed in (0, 1):
            assert logs.count(f"[{name} seed {seed}] iter 60/60") == 1, f"{name} seed {seed} trained twice"
            (path,) = (tmp_path / "runs" / name).glob(f"seed{seed}-*/metrics.json")
            assert json.loads(path.read_text())["status"] == "finished"
    assert "another process is training it" in logs or "already finished" in logs
    index = (tmp_path / "fig" / "results.jsonl").read_text().splitlines()
    assert len(index) == 4 and all(json.loads(line) for line in index)
