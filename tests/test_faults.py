"""The fault suite: each fault a user can meet, injected for real, ends with a resume (exit 0) or a message naming the
thing and the fix (exit 2), no traceback, and every finished record still there byte for byte. A full disk is a small
file-size limit (RLIMIT_FSIZE, in this process) and, where the machine lets an unprivileged user mount one, a tiny
tmpfs; a Ctrl-C is a real SIGINT to `make data`'s process fetching from a local git remote. docs/reliability.md lists
what is guaranteed and the test behind each guarantee."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import finish, spawn
from PIL import Image
from test_data_fetch import remote  # noqa: F401  (the local git remote standing in for the course's)

import dconvnet
import rnn_mnist
from common import data, datasets, runs

REPO = Path(__file__).resolve().parent.parent
RUN = "relu_adam_normal_dropout_l2"  # dconvnet.py's default run
POSIX = pytest.mark.skipif(os.name != "posix", reason="file-size limits and signals are POSIX's")
resource = pytest.importorskip("resource") if os.name == "posix" else None


def whole_zip(path: Path) -> bool:
    with contextlib.suppress(zipfile.BadZipFile, OSError), zipfile.ZipFile(path) as z:
        return z.testzip() is None
    return False


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder``, by its relative path: the finished records to find again byte for byte."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def numbers(metrics: dict) -> list[dict]:
    return [{k: v for k, v in h.items() if k != "train_time_s"} for h in metrics["history"]]


@contextlib.contextmanager
def file_size_limit(nbytes: int):
    """No file of this process may grow past ``nbytes`` (a write past it fails with EFBIG, Python ignoring
    SIGXFSZ): a disk that fills up, without filling one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


# ---------------------------------------------------------------------------
# dconvnet.py: a finished run whose model or snapshot is missing or cut short is trained again, never skipped
def train_dconvnet(data_root: Path, runs_dir: Path, *flags) -> int:
    return dconvnet.main(["--iterations", "20", "--data-dir", str(data_root), "--runs-dir", str(runs_dir), *flags])


@pytest.fixture
def finished(dconvnet_run) -> Path:
    """A finished dconvnet.py run (20 iterations: snapshots 0, 10, 20; tests/conftest.py): its runs folder."""
    return dconvnet_run


def copy_runs(finished: Path, tmp_path: Path) -> tuple[Path, Path]:
    runs_dir = tmp_path / "runs"
    shutil.copytree(finished, runs_dir)
    (run_dir,) = (runs_dir / RUN).glob("seed0-*")
    return runs_dir, run_dir


@pytest.mark.parametrize(
    "name, damage",
    [("model.keras", "cut short"), ("model.keras", "missing"), ("snapshots/iter_000010.keras", "cut short")],
)
def test_a_finished_run_without_a_whole_model_is_trained_again(finished, tmp_path, data_root, capsys, name, damage):
    runs_dir, run_dir = copy_runs(finished, tmp_path)
    before = (run_dir / "metrics.json").read_bytes()
    if damage == "missing":
        (run_dir / name).unlink()
    else:
        with open(run_dir / name, "r+b") as f:
            f.truncate(f.seek(0, 2) // 2)  # as an interrupted copy leaves it
    capsys.readouterr()
    assert train_dconvnet(data_root, runs_dir) == 0
    out = capsys.readouterr().out
    assert "already finished" not in out and "Moved it to metrics.json.bad-" in out and name.split("/")[-1] in out
    (aside,) = run_dir.glob("metrics.json.bad-*")
    assert aside.read_bytes() == before  # the finished record, kept byte for byte
    assert whole_zip(run_dir / "model.keras") and all(whole_zip(p) for p in (run_dir / "snapshots").glob("*.keras"))
    assert numbers(json.loads((run_dir / "metrics.json").read_text())) == numbers(json.loads(before))  # the same run
    assert train_dconvnet(data_root, runs_dir) == 0  # and no loop: the next run skips it
    assert "already finished" in capsys.readouterr().out


# ---------------------------------------------------------------------------
# A full disk
@POSIX
def test_a_full_disk_while_saving_a_model_names_the_folder_and_resumes(finished, tmp_path, data_root, capsys):
    runs_dir, run_dir = copy_runs(finished, tmp_path)
    kept = snapshot(runs_dir)
    size = (run_dir / "model.keras").stat().st_size
    capsys.readouterr()
    with file_size_limit(size // 2):  # the snapshots (a third of the model) fit, the model does not
        assert train_dconvnet(data_root, runs_dir, "--seed", "1") == 2
    err = capsys.readouterr().err
    (new_dir,) = (runs_dir / RUN).glob("seed1-*")
    assert f"error: cannot write {new_dir / 'model.keras'} (File too large): no room in {new_dir}." in err
    assert "Free space there" in err and "--runs-dir" in err and "Traceback" not in err
    assert {k: v for k, v in snapshot(runs_dir).items() if k in kept} == kept  # the finished run, byte for byte
    assert not (new_dir / "metrics.json").exists() and not list(new_dir.glob(".*tmp*"))  # nothing half-written
    assert train_dconvnet(data_root, runs_dir, "--seed", "1") == 0  # room again: the same command finishes it
    assert whole_zip(new_dir / "model.keras")


def index_of(tmp_path: Path) -> Path:
    """A results folder holding the committed RNN index's records of lstm_20 (4 lines)."""
    out = tmp_path / "fig"
    out.mkdir()
    lines = (REPO / "figures" / "rnn" / "results.jsonl").read_bytes().splitlines(keepends=True)
    (out / "results.jsonl").write_bytes(b"".join(line for line in lines if json.loads(line)["name"] == "lstm_20"))
    return out


def rnn_summary(data_root: Path, tmp_path: Path, out: Path) -> int:
    flags = ["--summary-only", "--data-dir", str(data_root), "--runs-dir", str(tmp_path / "runs")]
    return rnn_mnist.main([*flags, "--out-dir", str(out), "--cells", "lstm", "--hidden", "20"])


@POSIX
def test_a_full_disk_while_drawing_names_the_folder_and_keeps_the_index(tmp_path, data_root, capsys):
    out = index_of(tmp_path)
    kept = (out / "results.jsonl").read_bytes()
    with file_size_limit(len(kept) + 16_384):  # room for the index rewritten, not for a figure (a PNG of 50+ KB)
        assert rnn_summary(data_root, tmp_path, out) == 2
    err = capsys.readouterr().err
    assert f"(File too large): no room in {out}" in err and "Free space there" in err and "--out-dir" in err
    assert (out / "results.jsonl").read_bytes() == kept and not list(out.glob(".*tmp*"))


def tmpfs_available() -> bool:
    probe = ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt 2>/dev/null || exit 1"]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    return False


@POSIX
def test_a_full_tmpfs_gives_the_same_message(tmp_path, data_root):
    """The disk really full (ENOSPC, "No space left on device"): a 200 kB tmpfs over --out-dir, mounted in a user
    namespace of the script's own where the machine allows it."""
    if not shutil.which("unshare") or not tmpfs_available():
        pytest.skip("no unprivileged tmpfs here (unshare -rm); the file-size limit tests stand in")
    out = index_of(tmp_path)
    kept = (out / "results.jsonl").read_bytes()
    script = (
        f"cp {out}/results.jsonl {tmp_path}/index && mount -t tmpfs -o size=200k tmpfs {out} && "
        f'cp {tmp_path}/index {out}/results.jsonl && exec "$0" "$@"'
    )
    argv = ["unshare", "-rm", "sh", "-c", script, sys.executable, str(REPO / "rnn_mnist.py"), "--summary-only"]
    argv += ["--data-dir", str(data_root), "--runs-dir", str(tmp_path / "runs"), "--out-dir", str(out)]
    argv += ["--cells", "lstm", "--hidden", "20"]
    proc = spawn(argv, tmp_path / "tmpfs.log", cwd=REPO)
    assert finish(proc) == 2, proc.output()[-3000:]
    said = proc.output()
    assert "(No space left on device): no room in" in said and "Free space there" in said
    assert "Traceback" not in said and (out / "results.jsonl").read_bytes() == kept  # its own mount is gone


# ---------------------------------------------------------------------------
# The results index never shrinks
def test_an_unreadable_index_line_is_kept_beside_the_index(tmp_path, data_root, capsys):
    out = index_of(tmp_path)
    good = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
    bad = [good[1][: len(good[1]) // 2] + b"\n", b'{"note": "a line of my own"}\n']  # cut short; not a record
    (out / "results.jsonl").write_bytes(good[0] + bad[0] + good[2] + bad[1])
    assert rnn_summary(data_root, tmp_path, out) == 0
    said = capsys.readouterr().out
    side = out / "results.jsonl.unreadable"
    assert f"line 2 is not a record (cut short or edited by hand?): moved to {side}" in said and "line 4" in said
    assert side.read_bytes() == b"".join(bad)  # kept, byte for byte
    assert {*good[0::2]} <= {*(out / "results.jsonl").read_bytes().splitlines(keepends=True)}
    (out / "results.jsonl").write_bytes((out / "results.jsonl").read_bytes() + bad[0])  # the same line again
    assert rnn_summary(data_root, tmp_path, out) == 0
    assert side.read_bytes() == b"".join(bad)  # not twice


# ---------------------------------------------------------------------------
# make data
def fetch_argv(remote, dest: Path) -> list[str]:  # noqa: F811
    flags = ["--url", remote.url, "--commit", remote.commit, "--manifest", str(remote.manifest), "--dest", str(dest)]
    return [sys.executable, "-m", "common.datasets", "fetch", *flags]


@contextlib.contextmanager
def slow_git(tmp_path: Path):
    """An environment whose `git` stops at `git fetch`, writing its process id to ``tmp_path/fetching``: a fetch
    that lasts long enough to be interrupted in the middle. The stopped `git` is killed at the end, whatever
    happens (a SIGKILL to the fetch does not reach it: git runs in a session of its own)."""
    folder, mark = tmp_path / "bin", tmp_path / "fetching"
    folder.mkdir(exist_ok=True)
    mark.unlink(missing_ok=True)
    (folder / "git").write_text(
        f'#!/bin/sh\ncase " $* " in *" fetch "*) echo $$ > {mark}.tmp; mv {mark}.tmp {mark}; exec sleep 60;; esac\n'
        f'exec {shutil.which("git")} "$@"\n'
    )
    (folder / "git").chmod(0o755)
    try:
        yield {"PATH": f"{folder}{os.pathsep}{os.environ['PATH']}"}
    finally:
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(mark.read_text()), signal.SIGKILL)


def wait_for_file(path: Path, proc, limit: float = 60) -> None:
    t0 = time.time()
    while not path.exists():
        assert proc.poll() is None, proc.output()[-3000:]
        assert time.time() - t0 < limit, proc.output()[-3000:]
        time.sleep(0.05)


@POSIX
def test_ctrl_c_or_a_kill_during_make_data_leaves_nothing_half_written(remote, tmp_path, capsys):  # noqa: F811
    dest = tmp_path / "data"
    with slow_git(tmp_path) as env:
        proc = spawn(fetch_argv(remote, dest), tmp_path / "fetch.log", cwd=REPO, env=env)
        wait_for_file(tmp_path / "fetching", proc)
        assert list(dest.glob(".fetch-*"))  # the partial clone, mid-fetch
        proc.send_signal(signal.SIGINT)
        assert finish(proc, 60) == 130, proc.output()[-3000:]
    assert list(dest.iterdir()) == []  # the partial clone removed
    assert "interrupted; nothing half-written stays" in proc.output() and "Traceback" not in proc.output()
    # kill -9 cannot be caught: the next fetch removes what such a process left
    with slow_git(tmp_path) as env:
        proc = spawn(fetch_argv(remote, dest), tmp_path / "killed.log", cwd=REPO, env=env)
        wait_for_file(tmp_path / "fetching", proc)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    (left,) = dest.glob(".fetch-*")
    assert datasets.main(fetch_argv(remote, dest)[3:]) == 0
    assert f"removed {left}, left by an interrupted fetch" in capsys.readouterr().out
    assert sorted(p.name for p in dest.iterdir()) == ["CIFAR10", "MNIST"]


def test_make_data_names_git_commands_and_an_unwritable_dest(remote, tmp_path, capsys):  # noqa: F811
    argv = fetch_argv(remote, tmp_path / "data")[3:]
    assert datasets.main([*argv, "--commit", "0" * 40]) == 2  # a commit the remote lacks: `git fetch` fails
    err = capsys.readouterr().err
    assert "`git fetch` failed" in err and "`git -c` failed" not in err
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for dest, said in ((blocker, "is a file, not a folder"), (blocker / "data", "cannot write there")):
        assert datasets.main([*argv, "--dest", str(dest)]) == 2
        err = capsys.readouterr().err
        assert f"error: --dest {dest}: {said}" in err and "Errno" not in err and "Traceback" not in err
    if os.name == "posix" and os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        assert datasets.main([*argv, "--dest", str(locked)]) == 2
        assert "cannot write there (Permission denied)" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# Data and storage
def test_a_data_dir_in_the_environment_that_lacks_the_set_is_an_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "nowhere"))
    assert dconvnet.main(["--iterations", "10", "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert f"error: DATA_DIR={tmp_path / 'nowhere'}: no CIFAR10/ folder there" in err and "unset it" in err
    assert not (tmp_path / "runs" / RUN).exists()


def test_the_odd_size_is_named_not_the_first_image_s(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "CACHE_DIR", tmp_path / "cache")
    for split in ("Train", "Test"):
        for c in ("0", "1"):
            for i in range(3):
                size = (32, 32) if (split, c, i) == ("Train", "0", 0) else (28, 28)  # the very first file is odd
                folder = tmp_path / "ODD" / split / c
                folder.mkdir(parents=True, exist_ok=True)
                Image.new("L", size).save(folder / f"Image{i:05d}.png")
    with pytest.raises(data.DataError) as err:
        data.load_dataset("ODD", tmp_path)
    odd = tmp_path / "ODD" / "Train" / "0" / "Image00000.png"
    assert str(err.value).startswith(f"{odd}: 32x32 pixels, where 11 of the set's 12 images are 28x28")
    assert "--image-size 28x28" in str(err.value)


def test_a_missing_sqlite_folder_is_named_not_a_database_server(tmp_path):
    from common import search
    from common.cli import UserError

    url = f"sqlite:///{tmp_path / 'nowhere' / 'search.sqlite3'}"
    with pytest.raises(UserError) as err:
        search.open_study("s", url, seed=0)
    assert f"Its folder {tmp_path / 'nowhere'} does not exist" in str(err.value)
    assert "database server" not in str(err.value)


# ---------------------------------------------------------------------------
# What a record was measured on
def test_an_rnn_record_says_how_many_test_images_it_was_measured_on(tmp_path, capsys):
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    for split, n in (("Train", 20), ("Test", 200)):  # 4 classes: 800 test images, not the study's 1,000
        for c in range(4):
            folder = root / "EIGHT" / split / str(c)
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(folder / f"{i:04d}.png")
    flags = ["--dataset", "EIGHT", "--data-dir", str(root), "--runs-dir", str(tmp_path / "runs"), "--no-cnn"]
    flags += ["--out-dir", str(tmp_path / "fig"), "--cells", "gru", "--hidden", "4", "--iterations", "20"]
    assert rnn_mnist.main([*flags, "--eval-every", "10", "--batch-size", "16", "--no-unroll"]) == 0
    (record,) = runs.ResultsIndex(tmp_path / "fig" / "results.jsonl").read()
    assert np.sum(record["final"]["test_confusion"]) == 800
    assert "# Task 3: RNNs on EIGHT (800 test images)" in (tmp_path / "fig" / "summary.md").read_text()


def test_a_report_of_records_that_do_not_say_says_so():
    from common.report import rnn, stats

    (record, *_) = runs.ResultsIndex(REPO / "figures" / "rnn" / "results.jsonl").read()
    record["final"].pop("test_confusion", None)  # as the records made before the count was kept
    assert stats.images_evaluated(record) is None and np.isnan(stats.binomial_se(0.9, stats.images_evaluated(record)))
    assert rnn.data_label([{"records": [record]}]) == "MNIST (test images not recorded)"
