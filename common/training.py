"""Iteration-counted training shared by the scripts: a deterministic batch stream,
``model.fit`` one evaluation interval at a time, divergence detection, checkpoints
after which an interrupted run resumes, and the metrics JSON of a finished run.

One evaluation interval of ``eval_every`` iterations (batches) is one Keras
"epoch": ``fit(..., initial_epoch=k, epochs=k + 1)``.
"""

from __future__ import annotations

import math
import shutil
import time
from pathlib import Path
from typing import Callable

import keras
import numpy as np

from common import io

FINISHED = ("finished", "diverged")


def seed_everything(seed: int) -> None:
    """Python, NumPy and backend seeds; deterministic TensorFlow kernels where it is the backend."""
    keras.utils.set_random_seed(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # TensorFlow-only: op determinism has no Keras equivalent
        tf.config.experimental.enable_op_determinism()


def stream_indices(seed: int, start: int, count: int, batch_size: int, n: int) -> np.ndarray:
    """Training-set indices for iterations [start, start + count), ``count * batch_size`` of them.

    Each pass over the data is a fresh permutation drawn from (seed, pass number), so
    iteration i always sees the same batch, whether or not the run was resumed."""
    first, stop = start * batch_size, (start + count) * batch_size
    passes = range(first // n, (stop - 1) // n + 1)
    order = np.concatenate([np.random.default_rng([seed, p]).permutation(n) for p in passes])
    offset = passes[0] * n
    return order[first - offset:stop - offset]


def _finite(*values) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def train_run(name: str, build: Callable[[], keras.Model], x_train: np.ndarray, y_train: np.ndarray, *,
              run_dir: Path, config: dict, iterations: int, batch_size: int, eval_every: int, seed: int,
              evaluate: Callable[[keras.Model, int], dict], checkpoint_every: int = 500,
              on_final: Callable[[keras.Model, dict], None] | None = None,
              log: Callable[[str], None] = print) -> dict:
    """Trains ``build()`` for ``iterations`` batches; returns the run's metrics dict.

    - A run whose ``metrics.json`` is finished (or diverged) with the same config is skipped;
      ``on_final`` still runs on its saved model, so figures follow the current plotting code.
    - A run with a matching ``checkpoint.keras`` + ``state.json`` continues from there.
    - After each interval, ``evaluate(model, iteration)`` returns the scalars to record
      (test metrics, statistics) beside the interval's mean train loss and accuracy and the
      cumulative training seconds (``train_time_s``, evaluations excluded).
    - A non-finite loss stops the run with status "diverged"; the caller goes on.
    - ``on_final(model, metrics)`` runs once at the end (figures, final model).
    """
    run_dir = Path(run_dir)
    # Everything that shapes the numbers; a saved run or checkpoint is reused only if it matches.
    config = {**config, "seed": seed, "iterations": iterations, "batch_size": batch_size, "eval_every": eval_every}
    metrics_path, ckpt_path, state_path = run_dir / "metrics.json", run_dir / "checkpoint.keras", run_dir / "state.json"
    if metrics_path.exists():
        done = io.read_json(metrics_path)
        if done.get("status") in FINISHED and done.get("config") == config:
            log(f"[{name}] already {done['status']} ({metrics_path}); skipping (figures redrawn). "
                "Delete that folder to rerun it.")
            if on_final is not None and (run_dir / "model.keras").exists():
                on_final(io.load_model(run_dir / "model.keras"), done)
            return done
        log(f"[{name}] {metrics_path} holds a different config; training again.")
        metrics_path.unlink()

    history, start, train_time, wall_time = [], 0, 0.0, 0.0
    model = None
    if ckpt_path.exists() and state_path.exists():
        state = io.read_json(state_path)
        if state.get("config") == config:
            try:
                model = io.load_model(ckpt_path)
            except io.CheckpointError as err:
                log(f"[{name}] {err}; starting over.")
            else:
                history, start = state["history"], state["iteration"]
                train_time, wall_time = state["train_time_s"], state["wall_time_s"]
                seed_everything(seed + start)  # dropout draws continue from a seed of their own
                log(f"[{name}] resuming from iteration {start} ({ckpt_path})")
        else:
            log(f"[{name}] checkpoint in {run_dir} was made with another config; starting over.")
    if model is None:
        seed_everything(seed)
        model = build()
        for stale in (ckpt_path, state_path):
            stale.unlink(missing_ok=True)
        # the untrained network, for the curves' start
        history.append({"iteration": 0, "train_time_s": 0.0, **evaluate(model, 0)})

    status, resumed_train_time = "finished", train_time
    session_start = time.time()
    wall_start = session_start - wall_time  # wall time counts across resumes
    log_every = max(eval_every, (iterations // 10) // eval_every * eval_every)
    for it in range(start, iterations, eval_every):
        steps = min(eval_every, iterations - it)
        idx = stream_indices(seed, it, steps, batch_size, len(x_train))
        t0 = time.perf_counter()
        # No per-batch callbacks (TerminateOnNaN would sync every batch): a NaN or inf batch
        # loss makes the interval's mean loss non-finite, checked below.
        fit = model.fit(x_train[idx], y_train[idx], batch_size=batch_size, shuffle=False, verbose=0,
                        initial_epoch=it // eval_every, epochs=it // eval_every + 1)
        train_time += time.perf_counter() - t0
        iteration = it + steps
        loss, acc = fit.history["loss"][-1], fit.history["accuracy"][-1]
        record = {"iteration": iteration, "train_loss": float(loss), "train_accuracy": float(acc),
                  "train_time_s": train_time}  # cumulative model.fit seconds, evaluations excluded
        if not _finite(loss):
            record["train_loss"] = float("nan")
            history.append(record)
            status = "diverged"
            log(f"[{name}] DIVERGED at iteration <= {iteration}: the training loss is not finite. "
                "Lower the learning rate or change the init; the sweep goes on.")
            break
        record.update(evaluate(model, iteration))
        history.append(record)
        if iteration % log_every == 0 or iteration == iterations:
            rate = (iteration - start) * batch_size / max(train_time - resumed_train_time, 1e-9)
            eta = (iterations - iteration) * (time.time() - session_start) / (iteration - start)
            test = f" test acc {record['test_accuracy']:.3f}" if "test_accuracy" in record else ""
            log(f"[{name}] iter {iteration:>6}/{iterations}  loss {loss:.4f}  train acc {acc:.3f}{test}"
                f"  ({rate:,.0f} img/s, ~{format_duration(eta)} left)")
        if iteration % checkpoint_every == 0 and iteration < iterations:
            io.save_model(model, ckpt_path)
            io.write_json(state_path, {"config": config, "iteration": iteration,
                                       "train_time_s": train_time, "wall_time_s": time.time() - wall_start,
                                       "history": history})

    final = history[-1] if history else {}
    test_accs = [h["test_accuracy"] for h in history[1:] if "test_accuracy" in h]
    trained = history[-1]["iteration"] if history else 0
    metrics = {
        "name": name, "status": status, "config": config, "seed": seed, "versions": io.versions(),
        "iterations_done": trained, "final": final,
        "best_test_accuracy": max(test_accs) if test_accs else None,
        "train_time_s": train_time, "wall_time_s": time.time() - wall_start,
        "images_per_sec": trained * batch_size / train_time if train_time > 0 else None,
        "history": history,
    }
    if on_final is not None:
        on_final(model, metrics)
    io.save_model(model, run_dir / "model.keras")
    io.write_json(metrics_path, metrics)
    for f in (ckpt_path, state_path):
        f.unlink(missing_ok=True)
    return metrics


def remove_run(run_dir: Path) -> None:
    shutil.rmtree(run_dir, ignore_errors=True)
