"""Test set-up: the CPU set up as the scripts do it, the repository on sys.path, the real data's location,
and processes that never outlive their test (tests/processes.py)."""

import gc
import os
import sqlite3
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Under `make test` the tests run on several worker processes (pytest-xdist), each with its own TensorFlow:
# the cores shared out among them (one each on 2 cores), so that they do not spin against each other
# (TensorFlow's thread pools spin while they wait; measured on the 2-core Xeon: 2 workers with TensorFlow's
# default threads 615 s, with one thread each 554 s). The threads' count can change a sum's rounding, never
# a test's verdict: every comparison is within one configuration.
WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if WORKERS > 1:
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, (os.cpu_count() or 1) // WORKERS)))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

from common import cpu  # noqa: E402

cpu.configure()  # as the scripts do, before any test module loads TensorFlow
from processes import PROCESS_TIMEOUT, finish, kill, no_process_outlives_its_test, spawn, wait_for  # noqa: E402, F401

from common.data import candidate_roots  # noqa: E402


# SQLite waits for the disk at each commit (fsync): a search's storage commits at every report and pruning
# question, ~1,500 times in a 30-trial study, 26 s of its 45 s on this machine. Tests never survive a power
# cut, so the SQLite files that tests open in their own process skip the fsync; what a test reads back, and
# what a killed process leaves (the written pages stay in the OS's cache), is the same.
@sqlalchemy.event.listens_for(sqlalchemy.engine.Engine, "connect")
def _sqlite_without_fsync(connection, _record):
    if isinstance(connection, sqlite3.Connection):
        connection.execute("PRAGMA synchronous=OFF")


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """What a test leaves alive (the libraries it imported, the fixtures made once) frozen out of the garbage
    collector (``gc.freeze``): a full collection scans every object the process holds, and Optuna runs one after each
    trial (common/search.py). Measured on the 2-core Xeon, tests/test_cifar_v2.py then tests/test_selection.py
    in one process: its warm-start tests 8-9 s each with only Keras and Optuna frozen, 3-3.5 s so; the two files
    301 s and 284 s, with the same peak memory (2.7 GB)."""
    gc.collect()
    gc.freeze()


pytest_plugins = ("pytester",)  # tests/test_processes.py runs a failing test in a pytest of its own


def _find(name: str) -> Path:
    for root in candidate_roots():
        if (root / name).is_dir():
            return root
    pytest.fail(f"the real {name} data was not found in {candidate_roots()}; set DATA_DIR")


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The folder holding CIFAR10/ and MNIST/ (../shared/data here)."""
    return _find("CIFAR10")


@pytest.fixture(scope="session")
def dconvnet_run(tmp_path_factory, data_root) -> Path:
    """dconvnet.py's default run trained for 20 iterations (snapshots 0, 10, 20): its runs folder, made once for
    the deconvnet's tests and the fault suite. Read it; a test that damages a run copies the folder first."""
    import dconvnet

    runs = tmp_path_factory.mktemp("dconvnet") / "runs"
    assert dconvnet.main(["--iterations", "20", "--runs-dir", str(runs), "--data-dir", str(data_root)]) == 0
    return runs


@pytest.fixture(scope="session")
def quickstart(tmp_path_factory, data_root) -> tuple[Path, int, str]:
    """The README's quick-start command as written, `cifar_v2.py --quick`, run once in a folder of its own: the
    folder, its exit code and what it printed. tests/test_readme.py compares it with the README, and
    tests/test_report_records.py redraws its run's figures from its record alone."""
    folder = tmp_path_factory.mktemp("quickstart")
    argv = [sys.executable, str(REPO / "cifar_v2.py"), "--quick"]
    proc = spawn(argv, folder / "quick.log", cwd=folder, env={"DATA_DIR": str(data_root)})
    try:
        return folder, finish(proc), proc.output()
    finally:  # made before the test's own process guard: killed here, whatever happens
        kill(proc)
        proc.log_file.close()


@pytest.fixture
def no_run_figures(monkeypatch):
    """For a test that reads no run's own figures (curves, filters, activations): its in-process runs draw none,
    a third of a 60-iteration run's time (cProfile: 11 of 35 s). Nothing it asserts changes: no record or table
    reads them, and a figure that fails is reported and costs no result, exit code 0
    (tests/test_cifar_v2.py::test_a_failing_figure_loses_no_result); the tests that read them draw them."""
    from common.report import runfigs

    monkeypatch.setattr(runfigs, "write_run_figures", lambda *args: [])


# cifar_v2.py's hyperparameter search at its smallest: trials of 20 iterations, evaluated every 10
TINY_SEARCH = ["--search-iterations", "20", "--eval-every", "10", "--checkpoint-every", "10", "--search-grace", "4"]


@pytest.fixture(scope="session")
def tiny_search(tmp_path_factory, data_root) -> Path:
    """`cifar_v2.py --search 3` with ``TINY_SEARCH`` on the real data, in this process: its folder (runs/ with the
    SQLite study, fig/), made once. tests/test_selection.py reads its trials (the search on the real test labels);
    tests/test_search.py then adds its report (fig/search/, a retrain), which changes no trial."""
    import cifar_v2

    tmp = tmp_path_factory.mktemp("tiny_search")
    dirs = ["--data-dir", str(data_root), "--runs-dir", str(tmp / "runs"), "--out-dir", str(tmp / "fig")]
    assert cifar_v2.main([*dirs, *TINY_SEARCH, "--search", "3"]) == 0
    return tmp


def launch(script: str, tmp: Path, data_root: Path, *flags, env: dict | None = None):
    """``script`` in a process of its own (killed when its test ends), on ``tmp``/runs and ``tmp``/fig, its
    output in a log file; ``proc.output()`` reads what it printed so far."""
    argv = [
        sys.executable,
        str(REPO / script),
        "--data-dir",
        str(data_root),
        "--runs-dir",
        str(tmp / "runs"),
        "--out-dir",
        str(tmp / "fig"),
        *map(str, flags),
    ]
    return spawn(argv, tmp / f"{Path(script).stem}-{time.time_ns()}.log", cwd=REPO, env=env)


SHARED = (
    "dconvnet_run",
    "quickstart",
    "tiny_search",
)  # this file's fixtures made once per session for several test files


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups into the tests' ids
def pytest_collection_modifyitems(items):
    """Under `make test` (pytest-xdist, --dist loadgroup) the tests that share a fixture made once (a file's own
    of module or session scope: a trained network, a short sweep; or one of ``SHARED``, which joins the groups of
    the files that use it) run on one worker, so it is made once; the other tests spread over the workers one by
    one, those that read the real data or write files first: the quick rest (no data, no files) then fills both
    workers' ends. Replaying xdist's scheduling with each test's measured CPU time: in the collection's order one
    worker ran on alone for 113 s at the end (a search test came last), sorted so for 8 s."""
    parent: dict[str, str] = {}  # files and shared fixtures, joined into groups (union-find)

    def group(name: str) -> str:
        while parent.get(name, name) != name:
            name = parent[name]
        return name

    for item in items:
        for shared in sorted(set(SHARED) & set(item.fixturenames)):
            a, b = group(item.module.__name__), group(shared)
            if a != b:
                parent[a] = b
    for item in items:
        defs = item._fixtureinfo.name2fixturedefs
        own = [defs[n][-1] for n in item.fixturenames if n in defs]  # this module's own fixtures, made once
        once = any(d.scope in ("module", "session") and d.func.__module__ == item.module.__name__ for d in own)
        if once or set(SHARED) & set(item.fixturenames):
            item.add_marker(pytest.mark.xdist_group(group(item.module.__name__)))
    items.sort(key=lambda item: not {"data_root", "tmp_path", "tmp_path_factory"} & set(item.fixturenames))
