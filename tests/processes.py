"""Processes that tests start: each in a process group of its own, and killed (with its children) when its
test ends, pass or fail, so a failed or timed-out test never leaves a training process on the CPU."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# A child that runs this long hangs: the slowest normal one (a search of two workers) takes a few minutes
# on the slowest CPU seen (an AVX2-only 2-core EPYC). The limit is far above normal, never a speed check.
PROCESS_TIMEOUT = 3600

_STARTED: list[subprocess.Popen] = []


def _terminal_ctrl_c() -> None:
    """Ctrl-C's handling as a command typed at a terminal gets it, whatever the tests inherited: a shell's
    background job (``&``, nohup) starts with SIGINT ignored, and `python -m common.datasets fetch` (which keeps
    Python's own handler) then slept through the test's Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


def spawn(argv: list[str], log: Path, cwd: Path | None = None, env: dict | None = None) -> subprocess.Popen:
    """``argv`` with stdout and stderr in ``log``; ``proc.output()`` reads what it printed so far."""
    out = open(log, "w+")  # noqa: SIM115 (read while it runs, closed by the reaper)
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        start_new_session=True,  # its own process group: a kill reaches the workers it starts too
        preexec_fn=_terminal_ctrl_c if os.name == "posix" else None,
    )

    def output() -> str:
        out.flush()
        return Path(out.name).read_text()

    proc.output, proc.log_file = output, out
    _STARTED.append(proc)
    return proc


def kill(proc: subprocess.Popen) -> None:
    """SIGKILL to the process and its group, if it still runs; then reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):  # it ended in the meantime
            os.killpg(proc.pid, signal.SIGKILL) if hasattr(os, "killpg") else proc.kill()
        proc.wait()


def finish(proc: subprocess.Popen, timeout: float = PROCESS_TIMEOUT) -> int:
    """The exit code of ``proc``; one that hangs past ``timeout`` is killed and fails the test."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(proc)
        pytest.fail(f"{proc.args} still ran after {timeout} s: killed. Its output:\n{proc.output()[-3000:]}")


@pytest.fixture(autouse=True)
def no_process_outlives_its_test():
    """After every test, pass or fail: kill what it started and did not wait for."""
    first = len(_STARTED)
    yield
    for proc in _STARTED[first:]:
        kill(proc)
        proc.log_file.close()
    del _STARTED[first:]


def wait_for(proc: subprocess.Popen, text: str, limit: float = PROCESS_TIMEOUT) -> None:
    """Polls ``proc``'s output until it shows ``text``; fails if the process ends first or hangs."""
    t0 = time.time()
    while text not in proc.output():
        assert proc.poll() is None, f"ended before printing {text!r}:\n{proc.output()[-3000:]}"
        assert time.time() - t0 < limit, f"no {text!r} after {limit} s:\n{proc.output()[-3000:]}"
        time.sleep(0.05)


python = sys.executable
