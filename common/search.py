"""A hyperparameter search with Optuna that runs on one machine or many (docs/search.md: the storage, SQLite by
default or any database URL; a dead worker's trial retried from its checkpoint; the report).

:func:`work` runs trials until the study holds ``n_trials`` finished (complete or pruned) ones; workers that start a
trial at the same moment can add one extra trial each. The sampler is seeded with ``seed`` plus the number of trials
the study held when the worker started; the workers of one command (``--workers``) start on the same count and mix
their number in. :func:`export_trials` writes ``trials.json``, which the report reads instead of the storage.
"""

from __future__ import annotations

import collections
import datetime
import json
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optuna
import sqlalchemy.engine
import sqlalchemy.exc

from common import io
from common.cli import UserError
from common.study import AIRBENCH as STUDY_AIRBENCH
from common.study import RUNS, SEARCH_SPACES, VALIDATION, RunConfig, warmup_share

# Heartbeats, their retry callback, fail_stale_trials and the matplotlib plots are "experimental" in Optuna 4.9 (pinned
# in requirements.txt) and warn on every call; they are the documented way, so keep the workers' logs for the trials.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

FINISHED_STATES = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
REDUCTION = 3  # successive halving: a third of the trials that reach a rung go on to the next


def open_study(name, url, seed, grace=60, min_resource=1, create=True, warm_start=None, worker=None) -> optuna.Study:
    """The study ``name`` on ``url`` (created if missing): multivariate TPE, successive halving, heartbeats.
    ``warm_start``: parameters enqueued as the first trial of a new study (the hand-tuned configuration)."""
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    # Workers started together on a fresh database race to create Optuna's tables (PostgreSQL answers
    # the loser with a UniqueViolation, SQLite with "table studies already exists"; both seen in
    # tests/test_search.py); the tables then exist, so retry. Any other error opening it (no server at that
    # address, a wrong user or database, an unreadable file) stops with the URL and the fix.
    for attempt in range(5):
        try:
            storage = optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine,
                heartbeat_interval=max(1, grace // 4),
                grace_period=grace,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=1, inherit_intermediate_values=True
                ),
            )
            if not create:
                return optuna.load_study(study_name=name, storage=storage)
            study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True)
            break
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.OperationalError) as err:
            lost_race = isinstance(err, sqlalchemy.exc.IntegrityError) or "already exists" in str(err)
            if not lost_race:
                raise unreachable(url, err) from None
            if attempt == 4:
                raise
            time.sleep(1 + attempt)
        except KeyError:  # load_study: no study of that name on the storage
            raise UserError(f"the search storage {shown(url)} holds no study {name}; run --search first.") from None
    trials = study.get_trials(deepcopy=False)
    held = len(trials)
    # The search starts where the person stopped: the hand-tuned configuration is its first trial. Of workers
    # started together, worker 1 alone enqueues it, even after another's first trial: two that both found the
    # study empty enqueued it twice (skip_if_exists checks, then inserts; seen in tests/test_workers.py).
    first = not held if worker is None else worker == 1 and not any(t.user_attrs.get("warm_start") for t in trials)
    if warm_start and first:
        study.enqueue_trial(warm_start, user_attrs={"warm_start": True}, skip_if_exists=True)
    # Multivariate TPE models the parameters jointly (learning rate with optimizer and batch size);
    # group=True handles the conditional ones (a momentum only for momentum optimizers).
    sampler_seed = seed + held
    if worker:  # one of several started together (common/cli.py): a seed of its own
        sampler_seed = int(np.random.SeedSequence([seed, held, worker]).generate_state(1)[0])
    study.sampler = optuna.samplers.TPESampler(
        seed=sampler_seed, multivariate=True, group=True, constant_liar=True, n_startup_trials=8
    )
    # Asynchronous successive halving on steps (:func:`step`): at ``min_resource``, then 3x, 9x, ..., a trial goes on
    # only if its validation accuracy is in the top third of those that reached that rung, so a bad configuration costs
    # ``min_resource`` steps (the median pruner this replaces let a third of the budget go to configurations at
    # chance). One bracket, not Hyperband's several: with about 40 trials in an hour, each bracket would have too few
    # trials for TPE (whose start-up trials Optuna counts per bracket).
    study.pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=min_resource, reduction_factor=REDUCTION)
    return study


def shown(url: str) -> str:
    """A storage URL as messages print it: its password, if any, masked."""
    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except sqlalchemy.exc.ArgumentError:
        return url


def unreachable(url: str, err: Exception) -> UserError:
    """The message for a storage that cannot be opened: its URL, the database's answer, and what to do."""
    answer = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
    file = Path(url.removeprefix("sqlite:///"))
    if not url.startswith("sqlite:///"):  # a server, not a file
        fix = "Start its database server (or make it reachable from this machine), check the URL (user, password, "
        fix += "host, port, database), "
    elif not file.parent.is_dir():
        fix = f"Its folder {file.parent} does not exist: create it or correct the path, "
    else:
        fix = f"Check that {file} is a SQLite file you may read and write, in a folder you may write to, "
    return UserError(
        f"cannot open the search storage {shown(url)}: {answer}. {fix}or leave --storage out to use the "
        "default SQLite file in --runs-dir."
    )


def step(space: str, batch_size: int, iteration: int) -> int:
    """The pruner's step at a trial's ``iteration``: the iteration itself, or in the airbench space, whose trials'
    batch sizes differ, the rival's iteration with as many images seen, so that a rung compares trials at equal
    images (a first search compared them at equal iterations, and pruned the warm start, batch 250, at 200
    iterations against a trial of batch 125 that had seen half its images)."""
    return iteration * batch_size // RUNS[RIVALS[space]].batch_size if space == "airbench" else iteration


def iterations_for(space: str, batch_size: int, steps: int) -> int:
    """The iterations of ``batch_size`` that make ``steps`` steps (the inverse of :func:`step`)."""
    return steps * RUNS[RIVALS[space]].batch_size // batch_size if space == "airbench" else steps


def first_rung(space: str, iterations: int, eval_every: int) -> int:
    """Successive halving's first rung: about a tenth of a trial (300 of 3,000 iterations: rungs 300, 900, 2,700), at
    a step where every batch size of the space is evaluated (airbench: 300 of 1,500, 75,000 images: rungs 300, 900)."""
    every = eval_every
    if space == "airbench":  # each batch size is evaluated every eval_every of its own iterations: at other images
        every = math.lcm(*(eval_every * b for b in AIRBENCH_BATCHES)) // RUNS[RIVALS[space]].batch_size
    return max(every, every * round(iterations / 10 / every))


def rungs(min_resource: int, iterations: int) -> list[int]:
    """The steps at which the pruner decides: ``min_resource * 3**k`` below ``iterations``."""
    out, r = [], min_resource
    while r < iterations:
        out.append(r)
        r *= REDUCTION
    return out


def counts(study: optuna.Study) -> dict[str, int]:
    return dict(collections.Counter(t.state.name for t in study.get_trials(deepcopy=False)))


def work(study: optuna.Study, objective: Callable[[optuna.Trial], float], n_trials: int, log=print) -> dict[str, int]:
    """Runs trials until the study holds ``n_trials`` finished ones; returns the state counts."""
    while True:
        optuna.storages.fail_stale_trials(study)  # dead workers' trials: FAIL, and a retry is enqueued
        c = counts(study)
        done = c.get("COMPLETE", 0) + c.get("PRUNED", 0)
        waiting, running = c.get("WAITING", 0), c.get("RUNNING", 0)
        if done >= n_trials and not waiting:
            return c
        if done + running >= n_trials and not waiting:
            time.sleep(2)  # the others' running trials may finish the study, or die and be retried
            continue
        log(f"[search {study.study_name}] {done}/{n_trials} trials finished, {running} running; starting one")
        study.optimize(objective, n_trials=1, gc_after_trial=True)


# The search over the study's runs (``cifar_v2.py --search``): its space, its trials, its winner. Every
# trial trains on the training set less its validation split (``common.study.VALIDATION`` images per class)
# and is scored, and pruned, on those held-out images: the search never reads the test set.
TASK = "cifar_v2_search"  # the search's runs have an index of their own, beside the sweep's
SPACES = SEARCH_SPACES  # common/study.py: named there, so the scripts' flags need no Optuna
# --search-report compares the search's best with the hand-made best of the same space and length; the same
# runs are the searches' first trials (warm start)
RIVALS = {"study": "relu_adam_normal_dropout_l2", "all": "beyond_4_tta", "airbench": "airbench"}
# the runs of the hand tuning that reached each rival, whose time the report puts beside the search's
HAND_TUNING = {
    "study": tuple(n for n, r in RUNS.items() if r.group == "study"),
    "all": ("beyond_1_augment", "beyond_2_adamw_cosine", "beyond_3_label_smoothing", "beyond_4_tta"),
    "airbench": ("airbench",),
}
# Log-uniform learning rates around each optimizer's usual range (Adam's 1e-3 default and SGD's 1e-2..1e-1,
# as in the Keras and PyTorch examples, a decade either side); the study's momentum run 6 trained at 1e-3.
LEARNING_RATES = {
    "adam": (1e-4, 1e-2),
    "adamw": (1e-4, 1e-2),
    "rmsprop": (1e-4, 1e-2),
    "adagrad": (1e-3, 1e-1),
    "momentum": (1e-3, 1e-1),
    "nesterov": (1e-3, 3e-1),
}
MOMENTUM = ("momentum", "rmsprop", "nesterov")  # the optimizers with a momentum to tune
DECAY = ("adamw", "nesterov")  # the optimizers with decoupled weight decay
# drawn log-uniform (sample_run), on log axes in the report
# 375, not 500: 1,500 iterations of 250 are 1,000 of 375, a whole number of evaluation intervals (750 is not)
AIRBENCH_BATCHES = [125, 250, 375]
LOG_KNOBS = ("learning_rate", "weight_decay", "l2", "bias_lr_scale", "logit_scale")
TRIALS_FILE = "trials.json"  # a study's trials, exported beside its report (export_trials)


def trial_name(space: str) -> str:
    return f"search_{space}"  # the name of every trial's run


def best_name(space: str) -> str:
    return f"search_best_{space}"  # the best trial's configuration retrained with every seed (best_run)


def knob_of(param: str) -> str:
    """The ``RunConfig`` field a trial parameter sets: ``lr_adam`` -> ``learning_rate``, ``l2`` -> ``l2``."""
    return "learning_rate" if param.startswith("lr_") else param


def suggest_float(trial, param: str, low: float, high: float) -> float:
    """A float parameter, log-uniform where its knob is one of :data:`LOG_KNOBS`."""
    return trial.suggest_float(param, low, high, log=knob_of(param) in LOG_KNOBS)


def study_name(dataset: str, space: str, iterations: int) -> str:
    # "-val": chosen on the validation split (the earlier searches, scored on the test set, keep their names)
    return f"cifar_v2-{dataset}-{space}-{iterations}it-val"


def warmup_step(iterations: int) -> int:
    return max(1, iterations // 100)  # a warm-up in steps of 1% of the run, up to 10%


def warmup_max(iterations: int) -> int:
    return warmup_step(iterations) * (iterations // 10 // warmup_step(iterations))


def sample_airbench(trial, iterations: int) -> RunConfig:
    """A trial of the "airbench" space: every ingredient of ``common.study.AIRBENCH``, on or off where it is a switch,
    around airbench's value where it is a number; its batch size with the iterations that see as many images as
    ``iterations`` batches of the rival's, the budget of the hand-made recipe it is compared with."""
    rival = RUNS[RIVALS["airbench"]]
    batch = trial.suggest_categorical("batch_size", AIRBENCH_BATCHES)
    schedule = trial.suggest_categorical("schedule", ["triangle", "cosine"])  # its warm-up: study.warmup_share
    p = dict(
        learning_rate=suggest_float(trial, "lr_nesterov", 0.05, 1.5) * batch / rival.batch_size,
        momentum=suggest_float(trial, "momentum", 0.7, 0.95),
        weight_decay=suggest_float(trial, "weight_decay", 1e-3, 3e-2),
        label_smoothing=suggest_float(trial, "label_smoothing", 0.0, 0.3),
        ema=trial.suggest_categorical("ema", [0.0, 0.9, 0.95, 0.98]),
        bn_momentum=suggest_float(trial, "bn_momentum", 0.2, 0.99),
        bias_lr_scale=suggest_float(trial, "bias_lr_scale", 1.0, 128.0),
        logit_scale=suggest_float(trial, "logit_scale", 0.05, 1.0),
        whiten=trial.suggest_categorical("whiten", [True, False]),
        augment=trial.suggest_categorical("augment", ["altflip_shift", "flip_shift", "flip_shift4"]),
        tta_shift=trial.suggest_categorical("tta_shift", [0, 1, 2]),
        schedule=schedule,
    )
    base = {k: v for k, v in STUDY_AIRBENCH.items() if k not in p and k != "batch_size"}
    its = iterations_for("airbench", batch, iterations)
    run = RunConfig(trial_name("airbench"), **base, **p, batch_size=batch, iterations=its, validation=VALIDATION)
    return warmup_share(run)


def sample_run(trial, space: str, iterations: int) -> RunConfig:
    """A trial's run: every knob the study tuned by hand, and in the "all" space the recipe's too."""
    if space == "airbench":
        return sample_airbench(trial, iterations)
    optimizers = ["adam", "momentum", "adagrad", "rmsprop"] + (list(DECAY) if space == "all" else [])
    optimizer = trial.suggest_categorical("optimizer", optimizers)
    p = dict(
        optimizer=optimizer,
        learning_rate=suggest_float(trial, f"lr_{optimizer}", *LEARNING_RATES[optimizer]),
        momentum=suggest_float(trial, "momentum", 0.5, 0.99) if optimizer in MOMENTUM else 0.0,
        dropout=suggest_float(trial, "dropout", 0.0, 0.7),
        # an L2 penalty, or for AdamW and SGD-Nesterov their decoupled weight decay instead (below)
        l2=suggest_float(trial, "l2", 1e-5, 3e-3) if optimizer not in DECAY else 0.0,
        batch_size=trial.suggest_categorical("batch_size", [32, 50, 100]),
        init=trial.suggest_categorical("init", ["normal", "glorot_uniform", "he_normal"]),
        activation=trial.suggest_categorical("activation", ["relu", "tanh", "sigmoid", "leaky_relu"]),
    )
    if space == "all":
        schedule = trial.suggest_categorical("schedule", ["constant", "cosine"])
        p.update(
            augment=trial.suggest_categorical("augment", ["none", "flip_shift", "flip_shift4"]),
            schedule=schedule,
            warmup=trial.suggest_int("warmup", 0, warmup_max(iterations), step=warmup_step(iterations))
            if schedule == "cosine"
            else 0,
            weight_decay=suggest_float(trial, "weight_decay", 1e-3, 0.3) if optimizer in DECAY else 0.0,
            label_smoothing=suggest_float(trial, "label_smoothing", 0.0, 0.2),
            tta=trial.suggest_categorical("tta", [False, True]),
        )
    return RunConfig(trial_name(space), iterations=iterations, validation=VALIDATION, **p)


def params_of(run: RunConfig, space: str, iterations: int) -> dict:
    """The trial parameters that give ``run``'s knobs in ``space`` (the warm start). :func:`sample_run`, the space's
    one definition, asks its questions of a stand-in trial that answers each with ``run``'s field: in the airbench
    space the learning rate at the rival's batch; the warm-up at the trial's length."""
    step = warmup_step(iterations)
    answers = {"warmup": min(warmup_max(iterations), step * round(run.warmup / run.iterations * iterations / step))}
    if space == "airbench":
        answers["lr_nesterov"] = run.learning_rate * RUNS[RIVALS["airbench"]].batch_size / run.batch_size
    asked = {}

    def answer(param, *_, **__):
        asked[param] = answers.get(param, getattr(run, knob_of(param)))
        return asked[param]

    sample_run(SimpleNamespace(suggest_float=answer, suggest_categorical=answer, suggest_int=answer), space, iterations)
    return asked


def warm_start_run(rival: RunConfig, space: str, iterations: int) -> RunConfig:
    """The trial's run that the warm start (``rival``'s parameters in ``space``) trains."""
    return sample_run(optuna.trial.FixedTrial(params_of(rival, space, iterations)), space, iterations)


def trial_params(config: dict, space: str, iterations: int) -> dict | None:
    """The trial parameters that gave a trial's run ``config`` (its record's ``identity.config``), or None
    where ``config`` is no point of ``space`` as this module draws it (a trial of an earlier space)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # FixedTrial warns of a value outside the space's range
            params = params_of(RunConfig(trial_name(space), **config), space, iterations)
            again = sample_run(optuna.trial.FixedTrial(params), space, iterations)
    except (TypeError, ValueError, UserWarning):
        return None
    return params if again.identity() == config else None


def run_trials(st: optuna.Study, n_trials: int, space: str, iterations: int, train, chance: float, log=print):
    """Trials until ``st`` holds ``n_trials`` finished ones, each scored (and pruned) on its validation accuracy.
    ``train(run, should_stop, trial)`` trains a trial's run and returns its metrics; a diverged run scores
    ``chance``: a bad configuration, not a failed trial to retry."""

    def objective(trial):
        run = sample_run(trial, space, iterations)

        def should_stop(iteration, record):
            trial.report(record["val_accuracy"], step(space, run.batch_size, iteration))
            return trial.should_prune()

        warm = " (warm start)" if trial.user_attrs.get("warm_start") else ""
        log(f"\n== trial {trial.number}{warm}: {run.describe()}")
        m = train(run, should_stop, trial)
        trial.set_user_attr("iterations", m.get("iterations_done", run.iterations))
        trial.set_user_attr("train_time_s", m.get("train_time_s"))
        trial.set_user_attr("wall_time_s", m.get("wall_time_s"))
        if m["status"] == "pruned":
            raise optuna.TrialPruned()
        return m["final"].get("val_accuracy", chance) if m["status"] == "finished" else chance

    return work(st, objective, n_trials, log)


def best_run(st: optuna.Study, space: str, iterations: int):
    """The best complete trial's configuration (best on validation) as a run of its own, ``search_best_<space>``,
    ``iterations`` long, trained on the whole training set (no split held out)."""
    done = st.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not done:
        return None
    fixed = optuna.trial.FixedTrial(max(done, key=lambda t: t.value).params)  # answers as the best trial did
    return replace(sample_run(fixed, space, iterations), name=best_name(space), validation=0)


# trials.json: the study's trials beside its report, so that the report never needs the storage. A trial's
# run folder is kept relative to the runs folder (``search_study/seed0-<group id>``: the record's name, seed
# and group id), so the file is the same wherever the runs are.
def export_trials(st: optuna.Study, path: Path) -> Path:
    """Every trial of ``st``, with everything Optuna keeps of it, written atomically as JSON to ``path``."""
    when = lambda t: t.isoformat() if t else None
    folder = lambda d: {"run_dir": f"{Path(d).parent.name}/{Path(d).name}"} if d else {}
    trials = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "params": dict(sorted(t.params.items())),
            "distributions": {
                k: json.loads(optuna.distributions.distribution_to_json(d)) for k, d in sorted(t.distributions.items())
            },
            "intermediate_values": {str(k): v for k, v in sorted(t.intermediate_values.items())},
            "user_attrs": dict(sorted({**t.user_attrs, **folder(t.user_attrs.get("run_dir"))}.items())),
            "system_attrs": dict(sorted(t.system_attrs.items())),
            "datetime_start": when(t.datetime_start),
            "datetime_complete": when(t.datetime_complete),
        }
        for t in sorted(st.get_trials(deepcopy=False), key=lambda t: t.number)
    ]
    io.write_json(path, {"study": st.study_name, "direction": st.direction.name.lower(), "trials": trials})
    return Path(path)


def read_trials(path: Path) -> list[optuna.trial.FrozenTrial]:
    """The trials :func:`export_trials` wrote, as Optuna's frozen trials."""
    when = lambda s: datetime.datetime.fromisoformat(s) if s else None
    to_distribution = lambda d: optuna.distributions.json_to_distribution(json.dumps(d))
    return [
        optuna.trial.FrozenTrial(
            number=t["number"],
            state=optuna.trial.TrialState[t["state"]],
            value=t["value"],
            datetime_start=when(t["datetime_start"]),
            datetime_complete=when(t["datetime_complete"]),
            params=t["params"],
            distributions={k: to_distribution(d) for k, d in t["distributions"].items()},
            user_attrs=t["user_attrs"],
            system_attrs=t["system_attrs"],
            intermediate_values={int(k): v for k, v in t["intermediate_values"].items()},
            trial_id=t["number"],
        )
        for t in io.read_json(path)["trials"]
    ]
