"""``--workers``: a command's runs in worker processes give the records one process gives, bit for bit,
each run trained once and the summary written once; a failing worker fails the command; Ctrl-C, SIGTERM and a
killed parent stop the workers; a search's workers draw different trials; the thread count is in the identity."""

import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import finish, launch, wait_for
from PIL import Image

import cifar_v2
from common import cpu, runs, study
from common.config import parse
from common.data import load_dataset

pytestmark = pytest.mark.skipif(cpu.cores() < 2, reason="--workers 2 needs two cores")

RUN = "relu_adam_normal_dropout_l2"  # dropout: its random masks must be the same in a worker
TINY = ["--dataset", "FOUR", "--runs", RUN, "--iterations", "20", "--eval-every", "10", "--batch-size", "16"]


@pytest.fixture(scope="module")
def four(tmp_path_factory):
    """<root>/FOUR/{Train,Test}/<class>/*.png: 28x28 gray images, a bright band whose place is the class."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for split, n in (("Train", 40), ("Test", 10)):
        for k in range(4):
            folder = root / "FOUR" / split / f"class{k}"
            folder.mkdir(parents=True)
            for i in range(n):
                img = rng.integers(0, 60, (28, 28), dtype=np.uint8)
                img[7 * k : 7 * k + 7, :] += 150
                Image.fromarray(img, mode="L").save(folder / f"{i:03d}.png")
    return root


def records(tmp: Path, name: str = RUN) -> dict[int, dict]:
    out = {}
    for path in (tmp / "runs" / name).glob("seed*/metrics.json"):
        m = json.loads(path.read_text())
        m["history"] = [{k: v for k, v in h.items() if k != "train_time_s"} for h in m["history"]]
        m["weights"] = path.parent / "model.keras"
        out[m["seed"]] = m
    return out


def test_workers_train_each_run_once_with_the_numbers_of_one_process(tmp_path, four):
    import keras

    for folder in ("par", "seq"):
        (tmp_path / folder).mkdir()
    par = launch("cifar_v2.py", tmp_path / "par", four, *TINY, "--seeds", "0,1,2", "--workers", "2")
    seq = launch("cifar_v2.py", tmp_path / "seq", four, *TINY, "--seeds", "0,1,2")  # one process
    assert finish(par) == 0, par.output()[-3000:]
    assert finish(seq) == 0, seq.output()[-3000:]
    out = par.output()
    for seed in (0, 1, 2):
        assert out.count(f"[{RUN} seed {seed}] iter 20/20") == 1, out  # trained once, by one worker
    assert "[worker 1/2] " in out and "[worker 2/2] " in out
    summaries = [line for line in out.splitlines() if "Summary:" in line]
    assert len(summaries) == 1 and not summaries[0].startswith("[worker"), summaries  # the parent's, once
    assert (tmp_path / "par" / "fig" / "summary.md").exists()
    a, b = records(tmp_path / "par"), records(tmp_path / "seq")
    assert sorted(a) == sorted(b) == [0, 1, 2]
    for seed in a:
        assert a[seed]["status"] == "finished" and a[seed]["identity"] == b[seed]["identity"]
        assert a[seed]["history"] == b[seed]["history"]  # every number, bit for bit
        wa, wb = (keras.models.load_model(m["weights"], compile=False).get_weights() for m in (a[seed], b[seed]))
        assert all(np.array_equal(x, y) for x, y in zip(wa, wb, strict=True))


def test_the_identity_records_a_thread_count_other_than_the_default(four, monkeypatch):
    data = load_dataset("FOUR", four)
    identity = lambda: runs.make_identity("t", {}, 0, data, 10)  # noqa: E731
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    default = identity()
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", str(cpu.cores()))  # the default, spelled out
    assert identity() == default and "intra_op_threads" not in default  # the committed runs keep their identity
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "1")
    assert identity() == {**default, "intra_op_threads": 1}
    assert runs.group_id(identity()) != runs.group_id(default)  # a folder of its own


def test_a_failing_worker_fails_the_command_with_its_message(tmp_path, four):
    # seed 1's folder holds the result of another identity: the worker that reaches it stops with exit 2
    s = parse(cifar_v2.Settings, [*TINY, "--runs-dir", str(tmp_path / "runs")])
    ((run, _),) = s.selected_runs()
    identity = runs.make_identity(study.TASK, run.identity(), 1, load_dataset("FOUR", four), 10)
    folder = runs.run_folder(s.runs_dir, RUN, identity)
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"identity": {**identity, "seed": 7}, "status": "finished"}))
    proc = launch("cifar_v2.py", tmp_path, four, *TINY, "--seeds", "0,1", "--workers", "2")
    assert finish(proc) == 2, proc.output()[-3000:]
    out = proc.output()
    assert "holds the result of another run identity" in out.splitlines()[-1]  # its message, last
    assert out.splitlines()[-1].startswith("error: worker") and "Summary:" not in out


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux's /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the workers from /proc")
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigkill"])
def test_ctrl_c_sigterm_or_a_killed_parent_stop_the_workers(tmp_path, four, how):
    long = [*TINY[:-6], "--iterations", "4000", "--eval-every", "10", "--batch-size", "16"]
    proc = launch("cifar_v2.py", tmp_path, four, *long, "--seeds", "0,1", "--workers", "2")
    wait_for(proc, "[worker 1/2] [relu")
    wait_for(proc, "[worker 2/2] [relu")  # both are training
    pids = children(proc.pid)
    assert len(pids) == 2
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: to the whole process group
    else:
        proc.send_signal(signal.SIGTERM if how == "sigterm" else signal.SIGKILL)  # to the parent alone
    code = finish(proc, timeout=300)
    deadline = time.time() + 300
    while any(map(alive, pids)) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(map(alive, pids)), proc.output()[-3000:]
    if how != "sigkill":
        assert code == 130, proc.output()[-3000:]
        out = proc.output()
        assert out.count("interrupted; rerun the same command to resume") == 3  # both workers, and the parent


def test_a_searchs_workers_draw_different_trials(tmp_path, data_root):
    flags = ["--search-iterations", "20", "--eval-every", "10", "--checkpoint-every", "10", "--search-grace", "4"]
    proc = launch("cifar_v2.py", tmp_path, data_root, *flags, "--search", "4", "--workers", "2")
    assert finish(proc) == 0, proc.output()[-3000:]
    optuna = pytest.importorskip("optuna")
    url = f"sqlite:///{(tmp_path / 'runs').resolve() / 'search.sqlite3'}"
    trials = optuna.load_study(study_name="cifar_v2-CIFAR10-study-20it-val", storage=url).trials
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert 4 <= len(finished) <= 5 and len(finished) == len(trials)  # two workers may add one trial
    params = [json.dumps(t.params, sort_keys=True) for t in trials]
    assert len(set(params)) == len(params)  # no two workers drew the same parameters


def test_rnn_mnist_workers_train_the_grid_once(tmp_path, four):
    flags = ["--dataset", "FOUR", "--cells", "rnn", "--hidden", "4", "--seeds", "0,1", "--no-cnn"]
    flags += ["--iterations", "20", "--eval-every", "10", "--batch-size", "16", "--workers", "2"]
    proc = launch("rnn_mnist.py", tmp_path, four, *flags)
    assert finish(proc) == 0, proc.output()[-3000:]
    out = proc.output()
    assert out.count("[rnn_4 seed 0] iter 20/20") == out.count("[rnn_4 seed 1] iter 20/20") == 1, out
    assert [m["status"] for m in records(tmp_path, "rnn_4").values()] == ["finished"] * 2
    assert out.count("wrote ") >= 1 and all(
        not line.startswith("[worker") for line in out.splitlines() if "wrote " in line
    )


@pytest.mark.filterwarnings("ignore:Heartbeat")  # ask() outside optimize(), as no worker does
def test_workers_started_together_seed_their_samplers_apart(tmp_path):
    optuna = pytest.importorskip("optuna")
    from common import search

    url = f"sqlite:///{tmp_path / 'search.sqlite3'}"
    x = optuna.distributions.FloatDistribution(0.0, 1.0)

    def first_draws(*worker_numbers):
        studies = [search.open_study("s", url, 0, worker=w) for w in worker_numbers]  # all on the same count
        return [st.ask({"x": x}).params["x"] for st in studies]

    a, b = first_draws(None, None)
    assert a == b  # one seed: the same draw, the duplicate trial that --workers must not make
    one, two = first_draws(1, 2)
    assert one != two


def test_more_workers_than_cores_is_refused_with_the_flag_named(capsys):
    with pytest.raises(SystemExit) as exc:
        parse(cifar_v2.Settings, ["--workers", str(cpu.cores() + 1)])
    assert exc.value.code == 2
    assert f"argument --workers: {cpu.cores() + 1} workers on {cpu.cores()} cores: at most one per core" in (
        capsys.readouterr().err
    )
