"""A child process that a failing test leaves running is killed when that test ends (tests/processes.py)."""

import os
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (dead, not yet reaped by its parent) still answers kill(0): read its state
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().split()[2] != "Z"


def test_a_failing_tests_child_and_its_own_children_are_killed(pytester, tmp_path):
    pids = tmp_path / "pids"
    pytester.makeconftest(f"import sys\nsys.path.insert(0, {str(TESTS)!r})\nfrom processes import *  # noqa\n")
    pytester.makepyfile(
        f"""
        import sys
        from pathlib import Path
        from processes import spawn, wait_for

        def test_leaves_a_sleeper(tmp_path):
            # a child that starts a grandchild, both meant to sleep for 10 minutes
            code = "import subprocess, sys, time; c = subprocess.Popen([sys.executable, '-c', 'import time; "
            code += "time.sleep(600)']); print(c.pid, flush=True); time.sleep(600)"
            proc = spawn([sys.executable, "-c", code], tmp_path / "log")
            wait_for(proc, "\\n", limit=60)
            Path({str(pids)!r}).write_text(f"{{proc.pid}} {{proc.output().split()[0]}}")
            assert False, "fails with its children still running"
        """
    )
    t0 = time.time()
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    child, grandchild = map(int, pids.read_text().split())
    assert time.time() - t0 < 120  # the inner pytest did not wait the children's 600 s
    deadline = time.time() + 10
    while (alive(child) or alive(grandchild)) and time.time() < deadline:
        time.sleep(0.1)
    assert not alive(child) and not alive(grandchild)


def test_the_tests_of_a_shared_fixture_run_on_one_worker(pytester, tmp_path):
    """`make test` (pytest-xdist, --dist loadgroup, 2 workers): conftest.py groups the tests that share a module
    fixture, so a trained network is made once. Some pytest and xdist versions drop the groups silently."""
    made = tmp_path / "made"
    pytester.makeconftest(
        f"""
        import importlib.util
        import sys
        sys.path.insert(0, {str(TESTS)!r})
        spec = importlib.util.spec_from_file_location("repo_conftest", {str(TESTS / "conftest.py")!r})
        repo = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(repo)
        pytest_collection_modifyitems = repo.pytest_collection_modifyitems
        """
    )
    pytester.makepyfile(
        f"""
        import os
        import pytest

        @pytest.fixture(scope="module")
        def network():
            with open({str(made)!r}, "a") as f:
                f.write(os.environ["PYTEST_XDIST_WORKER"] + "\\n")

        @pytest.mark.parametrize("i", range(6))
        def test_shares_it(network, i):
            pass

        @pytest.mark.parametrize("i", range(6))
        def test_alone(i):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup")
    result.assert_outcomes(passed=12)
    assert len(made.read_text().split()) == 1, "the module fixture was made on each worker"
