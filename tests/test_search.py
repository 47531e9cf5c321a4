"""The Optuna search: a tiny search on the default storage, two workers on one storage (SQLite and a real
PostgreSQL server started here), and a worker killed with SIGKILL in the middle of a trial."""

import dataclasses
import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from conftest import PROCESS_TIMEOUT, TINY_SEARCH, finish, launch

from common import search, study
from common.cli import UserError

optuna = pytest.importorskip("optuna")

REPO = Path(__file__).resolve().parent.parent
TINY = TINY_SEARCH


def worker(tmp, data_root, *flags):
    return launch("cifar_v2.py", tmp, data_root, *TINY, *flags)


def text(proc):
    return proc.output()


def states(url, name="cifar_v2-CIFAR10-study-20it-val"):
    study = optuna.load_study(study_name=name, storage=url)
    out = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out, study


def sqlite_url(tmp):
    return f"sqlite:///{(tmp / 'runs').resolve() / 'search.sqlite3'}"


def test_tiny_search_on_the_default_storage_and_its_report(tiny_search, data_root):
    import cifar_v2  # in this process: a worker is the same code in a process of its own (the tests below)

    folder = tiny_search  # conftest.py's `--search 3` with TINY, in this process, on the default storage
    dirs = ["--data-dir", str(data_root), "--runs-dir", str(folder / "runs"), "--out-dir", str(folder / "fig")]
    counts, study = states(sqlite_url(folder))
    assert counts.get("COMPLETE", 0) + counts.get("PRUNED", 0) == 3 and "RUNNING" not in counts
    for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        assert (Path(t.user_attrs["run_dir"]) / "metrics.json").exists()  # every trial is an ordinary run
    assert cifar_v2.main([*dirs, *TINY, "--search-report", "--iterations", "20"]) == 0  # the retrain: as short
    out = folder / "fig" / "search" / "cifar_v2-CIFAR10-study-20it-val"
    assert all((out / f).stat().st_size > 10_000 for f in ("trials.png", "sensitivity.png"))
    md = (out / "search.md").read_text()
    assert "| rank | trial | val acc | parameters |" in md and "| 1 |" in md  # the trial numbers, from trials.json
    from common import cpu, runs, search
    from common.report.stats import short_cpu

    assert f"iterations) on {short_cpu(cpu.summary())}" in md  # the machine its times are from
    # trials.json: every finished trial, its run folder relative to the runs folder, which names its record
    exported = search.read_trials(out / "trials.json")
    assert [(t.number, t.params, t.value) for t in exported] == [(t.number, t.params, t.value) for t in study.trials]
    records = runs.ResultsIndex(out / "results.jsonl").read()
    folders = {f"{r['name']}/seed{r['seed']}-{r['group_id']}" for r in records}
    assert {t.user_attrs["run_dir"] for t in exported} <= folders
    assert str(folder) not in (out / "trials.json").read_text()  # the same file wherever the runs are


def two_workers(tmp, data_root, url, n=4):
    procs = [worker(tmp, data_root, "--search", str(n), "--storage", url) for _ in range(2)]
    for p in procs:
        assert finish(p) == 0, text(p)
    counts, study = states(url)
    finished = counts.get("COMPLETE", 0) + counts.get("PRUNED", 0)
    # the trials add up: none lost, none left running, none failed; two workers that start a trial at
    # the same moment may add one extra
    assert n <= finished <= n + 1 and set(counts) <= {"COMPLETE", "PRUNED"}, counts
    started = sum(text(p).count("starting one") for p in procs)
    assert started == finished, (started, counts)
    return study


def test_two_workers_share_one_sqlite_study(tmp_path, data_root):
    (tmp_path / "runs").mkdir()
    two_workers(tmp_path, data_root, sqlite_url(tmp_path))


def _pg_bin(name):
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


@pytest.fixture(scope="module")
def postgres():
    """A throw-away PostgreSQL server on a Unix socket, run as the postgres user (it refuses root)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL is not installed (.ci/run installs Debian's postgresql package)")
    pytest.importorskip("psycopg", reason="psycopg is not installed (requirements.txt)")
    as_postgres = []
    if os.geteuid() == 0:
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run the server as")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    base = Path(tempfile.mkdtemp(prefix="lenet-pg-", dir="/tmp"))
    if as_postgres:
        os.chown(base, pw.pw_uid, pw.pw_gid)
    data, port = base / "data", 54000 + os.getpid() % 1000
    run = lambda *cmd: subprocess.run(as_postgres + list(cmd), check=True, capture_output=True, text=True)
    run(initdb, "-D", str(data), "-U", "postgres", "--auth=trust")
    run(
        pg_ctl,
        "-D",
        str(data),
        "-l",
        str(base / "log"),
        "-w",
        "-o",
        f"-k {base} -p {port} -c listen_addresses=''",
        "start",
    )
    subprocess.run(
        as_postgres + [_pg_bin("createdb") or "createdb", "-h", str(base), "-p", str(port), "-U", "postgres", "lenet"],
        check=True,
    )
    yield f"postgresql://postgres@/lenet?host={base}&port={port}"
    run(pg_ctl, "-D", str(data), "-m", "immediate", "stop")
    shutil.rmtree(base, ignore_errors=True)


def test_two_workers_share_one_postgresql_study(tmp_path, data_root, postgres):
    two_workers(tmp_path, data_root, postgres)


def test_a_worker_killed_mid_trial_loses_nothing(tmp_path, data_root):
    (tmp_path / "runs").mkdir()
    url = sqlite_url(tmp_path)
    flags = ["--search", "3", "--storage", url, "--search-iterations", "60"]
    a = worker(tmp_path, data_root, *flags)
    t0 = time.time()
    while "] iter 30/60" not in text(a):
        assert a.poll() is None and time.time() - t0 < PROCESS_TIMEOUT, text(a)
        time.sleep(0.05)
    a.send_signal(signal.SIGKILL)
    a.wait()
    counts, _ = states(url, "cifar_v2-CIFAR10-study-60it-val")
    assert counts == {"RUNNING": 1}  # the dead worker's trial, until its heartbeat is missed
    b = worker(tmp_path, data_root, *flags)
    assert finish(b) == 0, text(b)
    counts, study = states(url, "cifar_v2-CIFAR10-study-60it-val")
    assert counts.get("COMPLETE", 0) + counts.get("PRUNED", 0) == 3 and counts.get("FAIL") == 1, counts
    failed = study.get_trials(states=(optuna.trial.TrialState.FAIL,))[0]
    retried = optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number
    retry = [t for t in study.get_trials() if retried(t) == failed.number]
    assert retry and retry[0].params == failed.params  # retried with the same parameters...
    assert "resuming from iteration" in text(b)  # ... in the same run folder, from the dead worker's checkpoint


def test_a_worker_that_loses_the_race_to_create_the_tables_retries(tmp_path, monkeypatch):
    # Two workers on a fresh SQLite file: the loser's CREATE TABLE fails with "already exists" (seen in CI)
    import optuna
    import sqlalchemy.exc

    from common import search

    calls, errors = [], ["table studies already exists"]

    class Racing(optuna.storages.RDBStorage):  # a subclass: Optuna checks isinstance(storage, RDBStorage)
        def __init__(self, *args, **kwargs):
            calls.append(1)
            if errors:
                raise sqlalchemy.exc.OperationalError("CREATE TABLE studies", {}, Exception(errors.pop(0)))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", Racing)
    monkeypatch.setattr(search.time, "sleep", lambda s: None)
    study = search.open_study("race", f"sqlite:///{tmp_path / 's.sqlite3'}", seed=0)
    assert len(calls) == 2 and study.study_name == "race"
    # any other operational error (a locked or unreachable database) is not retried: it names the storage
    calls.clear()
    errors.append("disk I/O error")
    with pytest.raises(UserError, match=r"t\.sqlite3: disk I/O error\. Check that .*t\.sqlite3 is a SQLite file"):
        search.open_study("race", f"sqlite:///{tmp_path / 't.sqlite3'}", seed=0)


def test_of_workers_started_together_worker_1_alone_enqueues_the_warm_start(tmp_path):
    # Two workers that both found the study empty both enqueued it (seen once in tests/test_workers.py)
    url, warm = f"sqlite:///{tmp_path / 'w.sqlite3'}", {"x": 1.0}

    def waiting(st):  # the enqueued trials' parameters
        return [t.system_attrs["fixed_params"] for t in st.get_trials(states=(optuna.trial.TrialState.WAITING,))]

    second = search.open_study("w", url, seed=0, warm_start=warm, worker=2)
    assert waiting(second) == []  # worker 2 leaves it to worker 1, even on an empty study ...
    second.ask()  # ... and starts a trial of its own first
    first = search.open_study("w", url, seed=0, warm_start=warm, worker=1)
    assert waiting(first) == [warm]  # worker 1 enqueues it behind that trial
    assert waiting(search.open_study("w", url, seed=0, warm_start=warm, worker=1)) == [warm]  # once
    assert waiting(search.open_study("fresh", url, seed=0, warm_start=warm)) == [warm]  # one process: as before


def closed_port() -> int:
    """A local TCP port with nothing listening: bound by the system's choice, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_storage_names_its_url_and_the_fix(tmp_path, data_root, capsys):
    pytest.importorskip("psycopg", reason="psycopg is not installed (requirements.txt)")
    import cifar_v2
    from common import search

    url = f"postgresql://nobody:secret@127.0.0.1:{closed_port()}/lenet"
    t0 = time.time()
    with pytest.raises(UserError) as err:
        search.open_study("s", url, seed=0)
    assert time.time() - t0 < 30  # refused at once, not retried
    message = str(err.value)
    assert url.replace("secret", "***") in message and "secret" not in message  # the URL, its password masked
    assert "Connection refused" in message and "Start its database server" in message and "--storage" in message
    dirs = ["--data-dir", str(data_root), "--runs-dir", str(tmp_path / "runs"), "--out-dir", str(tmp_path / "fig")]
    assert cifar_v2.main([*dirs, *TINY, "--search", "1", "--storage", url]) == 2  # exit 2, no traceback
    assert "error: cannot open the search storage postgresql://nobody:***@127.0.0.1" in capsys.readouterr().err
    # a report asked for a study the storage does not hold
    with pytest.raises(UserError, match="holds no study nothing; run --search first"):
        search.open_study("nothing", f"sqlite:///{tmp_path / 'e.sqlite3'}", seed=0, create=False)


def test_the_airbench_space_keeps_the_rivals_images_and_starts_from_it():
    rival = study.RUNS[search.RIVALS["airbench"]]
    st = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        run = search.sample_run(st.ask(), "airbench", rival.iterations)
        assert run.iterations * run.batch_size == rival.iterations * rival.batch_size  # the same images seen
        assert run.iterations % study.EVAL_EVERY == 0 and run.validation == study.VALIDATION
    warm = search.warm_start_run(rival, "airbench", rival.iterations)
    assert warm.identity() == dataclasses.replace(rival, validation=study.VALIDATION).identity()
