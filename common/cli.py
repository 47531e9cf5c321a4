"""What every script does the same way (``@cli.entry_point`` on its ``main(argv) -> int``): a :class:`UserError`
prints ``error: <message>`` (naming the thing and the fix) and exits with 2, as argparse does for a wrong flag;
Ctrl-C exits with 130 (finished runs are on disk, an unfinished one resumes from its last checkpoint); one progress
style. Standard library only (``common.datasets`` runs before the venv exists).

``--workers N`` (:func:`run_workers`; docs/speed.md, "Worker processes"): the command starts itself N times with
``--workers 1``, each run's folder lock gives it to one worker, and the parent writes the summary. Each worker keeps
TensorFlow's default threads, so a run's numbers are those it gets alone: one intra-op thread each changes every
number by rounding, and on the 2-core Xeon it used more CPU time per image, not less (``benchmarks/workers.py``).
"""

from __future__ import annotations

import _thread
import contextlib
import functools
import math
import numbers
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """Bad input: the message names the thing and the fix."""


# Set by Ctrl-C. Python drops a KeyboardInterrupt raised in an object's finalizer (TensorFlow collects many): the
# run went on to exit 0 once in tests/test_resume.py. The flag keeps it: training stops at its next interval.
_INTERRUPTED: set = set()


def interrupted() -> bool:
    """Whether Ctrl-C was pressed during the current entry point."""
    return bool(_INTERRUPTED)


def _on_sigint(signum, frame):
    _INTERRUPTED.add(True)
    raise KeyboardInterrupt


def entry_point(main):
    """Wraps a script's ``main(argv) -> int``: the one error exit and the one Ctrl-C handler."""

    @functools.wraps(main)
    def wrapper(argv=None) -> int:
        _INTERRUPTED.clear()
        in_main = threading.current_thread() is threading.main_thread()  # signal's rule: only there
        previous = signal.signal(signal.SIGINT, _on_sigint) if in_main else None
        try:
            rc = main(argv) or 0
            if _INTERRUPTED:  # the KeyboardInterrupt landed in a finalizer, which Python ignores
                raise KeyboardInterrupt
            return rc
        except UserError as err:
            print(f"error: {err}", file=sys.stderr, flush=True)
            return EXIT_USER_ERROR
        except KeyboardInterrupt:
            print(
                "\ninterrupted; rerun the same command to resume (finished runs are kept and skipped; "
                "an unfinished run continues from its last checkpoint).",
                file=sys.stderr,
                flush=True,
            )
            return EXIT_INTERRUPTED
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)

    return wrapper


def line_buffered() -> None:
    """Progress lines show up at once, also when stdout is a file or a pipe (``| tee``, nohup)."""
    with contextlib.suppress(AttributeError, ValueError):  # pytest's capture has no reconfigure
        sys.stdout.reconfigure(line_buffering=True)


def writable_dir(path: Path, flag: str) -> Path:
    """Creates ``path`` if needed and proves it writable, before any training starts."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{flag} {path}: is a file, not a folder. Pass a folder path (it is created if missing).")
    try:
        path.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()  # a file there, gone when closed
    except OSError as err:
        raise UserError(
            f"{flag} {path}: cannot write there ({err.strerror or err}). "
            f"Pass a folder you can write to, or fix its permissions."
        ) from None
    return path


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs; on Windows, where ``os.kill`` would end it, every process counts as running."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        pass
    return True


def pct(x, digits: int = 1, missing: str = "-") -> str:
    """A fraction as percent: 0.5234 -> "52.3"; ``missing`` for None or NaN (the scripts' lines and the tables)."""
    return f"{100 * x:.{digits}f}" if isinstance(x, numbers.Real) and math.isfinite(x) else missing


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Progress:
    """A line at the first evaluation (the speed, at once), then per ~10% of a run, at least every 30 s:
    ``[name] iter 1100/5500 (20%) ... 1,650 img/s, ~2m10s left``."""

    def __init__(self, name: str, total: int, start: int = 0, log=print):
        self.name, self.total, self.start, self.log = name, total, start, log
        self.t0 = self.last_time = time.time()
        self.last_fraction = None  # none printed yet

    def update(self, done: int, details: str = "", rate: str = "") -> None:
        now = time.time()
        fraction = done / self.total if self.total else 1.0
        later = self.last_fraction is not None and done < self.total
        if later and fraction - self.last_fraction < 0.1 and now - self.last_time < 30:
            return
        self.last_time, self.last_fraction = now, fraction
        left = ""
        if done > self.start and done < self.total:
            left = f", ~{format_duration((self.total - done) * (now - self.t0) / (done - self.start))} left"
        self.log(
            f"[{self.name}] iter {done:>{len(str(self.total))}}/{self.total} ({100 * fraction:3.0f}%)"
            f"  {details}" + (f"  ({rate}{left})" if rate or left else "")
        )


WORKER_ENV = "TRAIN_WORKER"  # "<i>/<N>" in a worker's environment


def worker_index() -> int | None:
    """This process's worker number (1..N) when ``--workers`` started it, else None."""
    return int(os.environ[WORKER_ENV].split("/")[0]) if WORKER_ENV in os.environ else None


def watch_parent() -> None:
    """In a worker: interrupt this process when its parent closes our stdin (it was stopped or died)."""

    def watch():
        sys.stdin.read()  # returns at end of file: the parent closed the pipe, or died
        if not interrupted():  # a Ctrl-C from the terminal got here first
            _thread.interrupt_main()

    if worker_index() is not None:
        threading.Thread(target=watch, daemon=True).start()


def _relay(proc: subprocess.Popen, tag: str, last: list[str]) -> None:
    """Prints a worker's lines, tagged; keeps its last non-empty line (a failure's message)."""
    for line in proc.stdout:
        print(f"{tag} {line}" if line.strip() else line, end="", flush=True)
        last[0] = line.strip() or last[0]


def run_workers(script: str, argv: list[str] | None, workers: int) -> int:
    """``script`` with ``argv`` (default ``sys.argv[1:]``) in ``workers`` processes: 0, or the first failure's code."""
    argv = [*(sys.argv[1:] if argv is None else argv), "--workers", "1"]
    procs, relays, lasts = [], [], []
    for i in range(1, workers + 1):
        proc = subprocess.Popen(
            [sys.executable, script, *argv],
            env={**os.environ, WORKER_ENV: f"{i}/{workers}", "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        procs.append(proc)
        lasts.append([""])
        relays.append(threading.Thread(target=_relay, args=(proc, f"[worker {i}/{workers}]", lasts[-1]), daemon=True))
        relays[-1].start()
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler) if main_thread else None  # as Ctrl-C
    try:
        codes = [None]
        while not any(codes) and None in codes:  # until one fails or all are done
            time.sleep(0.2)
            codes = [p.poll() for p in procs]
        failed = next((i for i, code in enumerate(codes) if code), None)
        if failed is not None and codes[failed] == EXIT_INTERRUPTED:
            raise KeyboardInterrupt  # a worker was interrupted: so is the command
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        # After Ctrl-C, SIGTERM or a failure the others stop at their next evaluation (their stdin closed); a
        # second Ctrl-C kills them.
        for p in procs:
            with contextlib.suppress(OSError):
                p.stdin.close()
        try:
            for p in procs:
                p.wait()
        except KeyboardInterrupt:
            for p in procs:
                p.kill()
            raise
        for relay in relays:
            relay.join(timeout=10)  # their last lines before ours
    if failed is None:
        return 0
    code = codes[failed] if codes[failed] > 0 else 1  # killed by a signal: a failure all the same
    print(
        f"error: worker {failed + 1}/{workers} stopped (exit {code}): {lasts[failed][0]}", file=sys.stderr, flush=True
    )
    return code


def check_run(name: str, iterations: int, eval_every: int, batch_size: int, n_train: int) -> None:
    """The checks every script makes before any training, with the same messages."""
    if iterations % eval_every:
        raise UserError(
            f"{name}: {iterations} iterations is not a multiple of --eval-every {eval_every} (each evaluation "
            "interval is one Keras epoch). Pick --iterations / --eval-every so that it is."
        )
    if batch_size > n_train:
        raise UserError(
            f"{name}: --batch-size {batch_size} is larger than the training set ({n_train:,} images). "
            f"Use at most {n_train:,}."
        )
