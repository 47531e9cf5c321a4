"""Iteration-counted training shared by the scripts: one ``model.fit`` per run over a deterministic batch stream,
an evaluation every ``eval_every`` iterations (one Keras "epoch", so the interval's train loss and accuracy are
Keras' own epoch means), exact resume from atomic checkpoints (docs/reliability.md: a run killed at any moment and
rerun ends with the same numbers; tests/test_resume.py), one process per run folder, divergence detection.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from filelock import FileLock, Timeout

from common import backend, cli, io, models
from common.runs import FINISHED, group_id, make_identity, run_folder, run_id

CHECKPOINT_FORMAT = 1


class RunLocked(Exception):
    """Another process holds this run's folder."""


def stream_indices(
    seed: int, start: int, count: int, batch_size: int, n: int, alternating_flips: bool = False
) -> np.ndarray:
    """Training-set indices for iterations [start, start + count): each pass over the data a permutation drawn from
    (seed, pass number), so iteration i always sees the same batch, resumed or not. With ``alternating_flips``
    (airbench's) they run over the images and then their mirrors (2n): image i is mirrored on the passes where a
    coin of its own plus the pass number is odd, so on exactly every other pass."""
    first, stop = start * batch_size, (start + count) * batch_size
    passes = range(first // n, (stop - 1) // n + 1)
    order = np.concatenate([np.random.default_rng([seed, p]).permutation(n) for p in passes])
    if alternating_flips:
        coin = np.random.default_rng([seed, 1 << 32]).integers(0, 2, n)  # no pass number reaches 2**32
        order = order + n * ((coin[order] + np.repeat(np.asarray(passes), n)) % 2)
    offset = passes[0] * n
    return order[first - offset : stop - offset]


@dataclass
class RunSpec:
    """One run: what to build and train, where it lives and how it is evaluated."""

    name: str  # the run's name (its seeds share it)
    identity: dict  # common.runs.make_identity(...)
    run_dir: Path
    build: Callable[[], keras.Model]  # the compiled model (weights drawn from the global seed)
    x: np.ndarray
    y: np.ndarray
    iterations: int
    batch_size: int
    eval_every: int
    checkpoint_every: int
    evaluate: Callable[[keras.Model, int], dict]  # -> test metrics and statistics of the model now
    steps_per_execution: int | None = None  # None: the backend's choice (common.backend.steps_per_execution)
    # Called after each evaluation with (iteration, record); True stops the run as "pruned" (a search's pruner).
    should_stop: Callable[[int, dict], bool] | None = None
    overrides: dict | None = None  # the fields --set changed, shown beside the run's name in the tables
    description: str = ""  # what the run is, for the log (e.g. RunConfig.describe())
    alternating_flips: bool = False  # mirror each image on every other pass (stream_indices)
    # The .keras files of a finished run that its script reads later, relative to its folder (dconvnet.py: the model
    # and the snapshots): a finished run whose file is missing or unreadable is trained again, never skipped.
    needs: tuple[str, ...] = ()

    def __post_init__(self):
        # a checkpoint can only fall at the end of an evaluation interval (a Keras epoch)
        self.checkpoint_every = self.eval_every * max(1, round(self.checkpoint_every / self.eval_every))
        if self.steps_per_execution is None:
            self.steps_per_execution = backend.steps_per_execution(self.eval_every)

    @property
    def seed(self) -> int:
        return self.identity["seed"]

    @property
    def label(self) -> str:  # progress lines' prefix
        return f"{self.name} seed {self.seed}"


def save_checkpoint(path: Path, model: keras.Model, state: dict) -> None:
    groups = {"model": model.variables, "optimizer": model.optimizer.variables}
    arrays = {f"{k}/{i:04d}": keras.ops.convert_to_numpy(v) for k, vs in groups.items() for i, v in enumerate(vs)}
    arrays["format"] = np.array(CHECKPOINT_FORMAT)
    arrays["state"] = np.array(json.dumps(state, allow_nan=True))
    with io.atomic(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)  # uncompressed: 40 MB in ~0.1 s; compressing would cost seconds


def load_checkpoint(path: Path, spec: RunSpec) -> tuple[keras.Model, dict]:
    """The model of ``spec`` with every variable restored from ``path``, and the saved state.
    Raises CheckpointError if the file is unreadable or belongs to another run."""
    try:
        with np.load(path, allow_pickle=False) as z:
            version, state = int(z["format"]), json.loads(str(z["state"]))
            saved = {k: z[k] for k in sorted(z.files)}  # model/0000, model/0001, ..., optimizer/0000, ...
    except Exception as err:  # BadZipFile, EOFError, KeyError, ValueError: a truncated or foreign file
        raise io.CheckpointError(f"{path}: unreadable checkpoint ({type(err).__name__}: {err})") from None
    if version != CHECKPOINT_FORMAT:
        raise io.CheckpointError(f"{path}: checkpoint format {version}, expected {CHECKPOINT_FORMAT}")
    if state.get("identity") != spec.identity:
        raise io.CheckpointError(f"{path}: checkpoint of another run identity")
    backend.seed_everything(spec.seed)
    model = spec.build()
    model.optimizer.build(model.trainable_variables)
    for kind, variables in (("model", model.variables), ("optimizer", model.optimizer.variables)):
        arrays = [a for k, a in saved.items() if k.startswith(f"{kind}/")]
        if len(variables) != len(arrays) or any(tuple(v.shape) != a.shape for v, a in zip(variables, arrays)):
            raise io.CheckpointError(f"{path}: its {kind} variables do not match this run's network")
        for v, a in zip(variables, arrays):
            v.assign(a)
    return model, state


def _set_aside(path: Path, reason: str, log) -> None:
    aside = path.with_name(f"{path.name}.bad-{time.strftime('%Y%m%d-%H%M%S')}")
    os.replace(path, aside)
    log(f"warning: {reason}. Moved it to {aside.name} (delete it when you like) and started this run over.")


class _Intervals(keras.callbacks.Callback):
    """Per interval: record the train means, check for divergence, evaluate, report, checkpoint."""

    def __init__(self, spec: RunSpec, state: dict, start: int, tb: io.TensorBoardLog, log):
        super().__init__()
        self.spec, self.state, self.tb, self.log = spec, state, tb, log
        self.status = "finished"
        self.resumed_train_time = state["train_time_s"]
        self.progress = cli.Progress(spec.label, spec.iterations, start, log=log)

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if cli.interrupted():  # a Ctrl-C that a finalizer swallowed (common.cli): stop here, resume later
            raise KeyboardInterrupt
        spec, state = self.spec, self.state
        state["train_time_s"] += time.perf_counter() - self.t0  # model.fit seconds, evaluation excluded
        iteration = (epoch + 1) * spec.eval_every
        loss, acc = logs.get("loss"), logs.get("accuracy")
        record = {
            "iteration": iteration,
            "train_loss": float(loss),
            "train_accuracy": float(acc),
            "train_time_s": state["train_time_s"],
        }
        if logs.get("ce") is not None:  # the cross-entropy alone (train_loss adds the L2 penalty, if any)
            record["train_ce"] = float(logs["ce"])
        if loss is None or not math.isfinite(loss):
            record["train_loss"] = float("nan")
            state["history"].append(record)
            self.status = "diverged"
            self.model.stop_training = True
            self.log(
                f"[{spec.label}] DIVERGED at iteration <= {iteration}: the training loss is not finite. "
                "Lower the learning rate or change the init; the other runs go on."
            )
            return
        record.update(spec.evaluate(self.model, iteration))
        state["history"].append(record)
        state["iteration"] = iteration
        if spec.should_stop is not None and iteration < spec.iterations and spec.should_stop(iteration, record):
            self.status = "pruned"
            self.model.stop_training = True
            acc = record.get("val_accuracy", record.get("test_accuracy"))
            self.log(f"[{spec.label}] pruned at iteration {iteration} (accuracy {acc})")
            return
        done = iteration - self.progress.start
        rate = done * spec.batch_size / max(state["train_time_s"] - self.resumed_train_time, 1e-9)
        test = "".join(f"  {k[:-9]} acc {record[k]:.3f}" for k in ("test_accuracy", "val_accuracy") if k in record)
        self.progress.update(iteration, f"loss {loss:.4f}  train acc {acc:.3f}{test}", f"{rate:,.0f} img/s")
        if iteration % spec.checkpoint_every == 0 and iteration < spec.iterations:
            # TensorBoard first: a kill before the checkpoint's rename leaves a segment that the
            # resume (from the previous checkpoint) deletes.
            self.tb.write([h for h in state["history"] if h["iteration"] > state["tb_written"]])
            state["tb_written"] = iteration
            state["wall_time_s"] = time.time() - state["wall_start"]
            save_checkpoint(
                spec.run_dir / "checkpoint.npz", self.model, {k: v for k, v in state.items() if k != "wall_start"}
            )


def make_spec(
    run, task, seed, data, x_train, y_train, runs_dir, eval_every, checkpoint_every, evaluate, overrides=None, needs=()
) -> RunSpec:
    """The :class:`RunSpec` of ``run`` (a RunConfig) on ``data`` (a Dataset), trained on ``x_train``, ``y_train``."""
    identity = make_identity(task, run.identity(), seed, data, eval_every)
    return RunSpec(
        name=run.name,
        identity=identity,
        run_dir=run_folder(runs_dir, run.name, identity),
        build=lambda: models.build_model(run, data.num_classes, x_train.shape[1:], x_train=x_train),
        x=x_train,
        y=y_train,
        iterations=run.iterations,
        batch_size=run.batch_size,
        eval_every=eval_every,
        checkpoint_every=checkpoint_every,
        evaluate=evaluate,
        overrides=overrides,
        description=run.describe(),
        alternating_flips=run.augment.startswith("altflip"),
        needs=needs,
    )


def train_all(specs: list[RunSpec], done: Callable[[RunSpec, dict], None], log: Callable[[str], None] = print) -> None:
    """Trains every run in turn (``done(spec, metrics)`` after each). A run another process holds is left for
    last, then waited for: two commands on one runs folder share the work and each run is trained once."""
    deferred = []
    for i, spec in enumerate(specs, 1):
        log(f"\n== {i}/{len(specs)} {spec.label}" + (f": {spec.description}" if spec.description else ""))
        try:
            done(spec, train_run(spec, log))
        except RunLocked:
            log(f"[{spec.label}] another process is training it; doing the other runs first.")
            deferred.append(spec)
    for spec in deferred:
        done(spec, train_run(spec, log, wait=True))


def train_run(spec: RunSpec, log: Callable[[str], None] = print, wait: bool = False) -> dict:
    """Trains ``spec`` (or returns its finished result, or resumes it) under the folder's lock; ``wait``: block while
    another process trains this run, else raise :class:`RunLocked`."""
    spec.run_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(spec.run_dir / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if not wait:
            raise RunLocked(str(spec.run_dir)) from None
        log(f"[{spec.label}] another process is training it ({spec.run_dir}); waiting for it to finish.")
        lock.acquire()
    try:
        return _train_locked(spec, log)
    finally:
        lock.release()


def _train_locked(spec: RunSpec, log) -> dict:
    cli.check_run(spec.name, spec.iterations, spec.eval_every, spec.batch_size, len(spec.x))
    run_dir = spec.run_dir
    io.remove_stale_temps(run_dir, recursive=True)  # under the lock, leftovers belong to dead processes
    metrics_path, ckpt_path = run_dir / "metrics.json", run_dir / "checkpoint.npz"
    if metrics_path.exists():
        try:
            done = io.read_json(metrics_path)
        except io.CorruptFile as err:
            _set_aside(metrics_path, str(err), log)
        else:
            if done.get("identity") != spec.identity or done.get("status") not in FINISHED:
                raise cli.UserError(
                    f"{metrics_path} holds the result of another run identity (run id "
                    f"{done.get('run_id')}, not {run_id(spec.name, spec.identity)}): it was copied or edited by hand. "
                    "Move that folder out of the runs folder; it is not deleted for you."
                )
            # the files a finished run needs (spec.needs) that are missing or unreadable, each with why
            finished = done.get("status") == "finished"
            found = [(run_dir / name, io.unreadable_model(run_dir / name)) for name in spec.needs if finished]
            lacking = [(path, problem) for path, problem in found if problem]
            if not lacking:
                log(f"[{spec.label}] already {done['status']} ({metrics_path}); skipping.")
                return done
            for path, problem in lacking:  # kept beside, as the record is: never deleted
                if path.exists():
                    _set_aside(path, f"{path}: {problem}", log)
            what = "; ".join(f"{path.relative_to(run_dir)}: {problem}" for path, problem in lacking)
            _set_aside(metrics_path, f"the finished run in {run_dir} lacks a file it needs ({what})", log)

    model, state = None, None
    if ckpt_path.exists():
        try:
            model, state = load_checkpoint(ckpt_path, spec)
        except io.CheckpointError as err:
            _set_aside(ckpt_path, str(err), log)
        else:
            log(f"[{spec.label}] resuming from iteration {state['iteration']} ({ckpt_path})")
    tb = io.TensorBoardLog(run_dir / "tensorboard")
    if model is None:
        backend.seed_everything(spec.seed)
        model = spec.build()
        # the untrained network, for the curves' start
        state = {
            "identity": spec.identity,
            "iteration": 0,
            "train_time_s": 0.0,
            "wall_time_s": 0.0,
            "tb_written": -1,
            "history": [{"iteration": 0, "train_time_s": 0.0, **spec.evaluate(model, 0)}],
        }
        tb.truncate_after(None)
    else:
        tb.truncate_after(state["tb_written"])
    model.steps_per_execution = spec.steps_per_execution  # read when fit makes the train function
    start = state["iteration"]
    state["wall_start"] = time.time() - state["wall_time_s"]  # wall time counts across resumes

    callback = _Intervals(spec, state, start, tb, log)
    if start < spec.iterations:
        steps = spec.iterations - start
        n, flips = len(spec.x), spec.alternating_flips
        indices = stream_indices(spec.seed, start, steps, spec.batch_size, n, flips).reshape(steps, spec.batch_size)
        x, y = (np.concatenate([spec.x, spec.x[:, :, ::-1]]), np.tile(spec.y, 2)) if flips else (spec.x, spec.y)
        model.fit(
            backend.batch_source(x, y, indices),
            steps_per_epoch=spec.eval_every,
            epochs=spec.iterations // spec.eval_every,
            initial_epoch=start // spec.eval_every,
            shuffle=False,
            verbose=0,
            callbacks=[callback],
        )

    history = state["history"]
    trained = history[-1]["iteration"]
    train_time = state["train_time_s"]
    metrics = {
        "name": spec.name,
        "run_id": run_id(spec.name, spec.identity),
        "group_id": group_id(spec.identity),
        "status": callback.status,
        "identity": spec.identity,
        "seed": spec.seed,
        "versions": io.versions(),
        "num_params": int(model.count_params()),
        "forward_flops": models.forward_flops(model),  # per image: the work a run's images/s and budget compare
        **({"overrides": spec.overrides} if spec.overrides else {}),
        "iterations_done": trained,
        "final": history[-1],
        "best_test_accuracy": max((h["test_accuracy"] for h in history[1:] if "test_accuracy" in h), default=None),
        "train_time_s": train_time,
        "wall_time_s": time.time() - state["wall_start"],
        "images_per_sec": trained * spec.batch_size / train_time if train_time > 0 else None,
        "history": history,
    }
    # Results first, figures later (by the caller): the model, the TensorBoard tail, then
    # metrics.json, whose rename marks the run finished; only then the checkpoint goes.
    io.save_model(model, run_dir / "model.keras")
    tb.write([h for h in history if h["iteration"] > state["tb_written"]])
    io.write_json(metrics_path, metrics)
    ckpt_path.unlink(missing_ok=True)
    return metrics
