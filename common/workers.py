"""``--workers N``: the command starts itself N times with ``--workers 1``. Every worker walks the same runs; each
run's folder lock (``common.training.train_all``) gives it to one worker, and a worker that finds a run held trains
the others and then waits for it. A search's workers draw trials from its one Optuna storage. The parent shows each
worker's lines tagged ``[worker i/N]``, then writes the summary alone, from the finished runs.

Each worker keeps TensorFlow's default threads (one intra-op thread per core), so a run's numbers are those it gets
alone, bit for bit. One intra-op thread each (``TF_NUM_INTRAOP_THREADS=1``) changes every number by rounding, and
on the 2-core Xeon it used more CPU time per image, not less (``python benchmarks/workers.py`` measures both).

Ctrl-C reaches the workers as any process of the terminal; a parent stopped otherwise closes the workers' stdin, and
a worker that reads its end interrupts itself. A worker that fails stops the others, and the command fails with
its message.
"""

from __future__ import annotations

import _thread
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

from common import cli

ENV = "TRAIN_WORKER"  # "<i>/<N>" in a worker's environment


def index() -> int | None:
    """This process's worker number (1..N) when ``--workers`` started it, else None."""
    return int(os.environ[ENV].split("/")[0]) if ENV in os.environ else None


def watch_parent() -> None:
    """In a worker: interrupt this process when its parent closes our stdin (it was stopped or died)."""

    def watch():
        sys.stdin.read()  # returns at end of file: the parent closed the pipe, or died
        if not cli.interrupted():  # a Ctrl-C from the terminal got here first
            _thread.interrupt_main()

    if index() is not None:
        threading.Thread(target=watch, daemon=True).start()


def _relay(proc: subprocess.Popen, tag: str, last: list[str]) -> None:
    """Prints a worker's lines, tagged; keeps its last non-empty line (a failure's message)."""
    for line in proc.stdout:
        if line.strip():
            print(f"{tag} {line}", end="", flush=True)
            last[0] = line.strip()
        else:
            print(line, end="", flush=True)


def run(script: str, argv: list[str] | None, workers: int) -> int:
    """``script`` with ``argv`` (default ``sys.argv[1:]``) in ``workers`` processes: 0, or the first failure's code."""
    argv = [*(sys.argv[1:] if argv is None else argv), "--workers", "1"]
    procs, relays, lasts = [], [], []
    for i in range(1, workers + 1):
        proc = subprocess.Popen(
            [sys.executable, script, *argv],
            env={**os.environ, ENV: f"{i}/{workers}", "PYTHONUNBUFFERED": "1"},
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
        if failed is not None and codes[failed] == cli.EXIT_INTERRUPTED:
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
