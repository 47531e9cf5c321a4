"""A hyperparameter search with Optuna that runs on one machine or many.

- Storage: an SQLite file under the runs folder by default (nothing to install), or any
  database URL Optuna accepts (``postgresql://user@host/db``): every process, on any machine,
  that opens the same study on the same storage works on it.
- Dead workers: each running trial sends a heartbeat; a trial whose worker stopped beating
  for ``grace`` seconds is marked FAIL by the next worker and retried once with the same
  parameters (``RetryHeartbeatStaleTrialCallback``). A trial is an ordinary run whose folder is named
  by its identity, so the retry resumes the dead worker's checkpoint instead of starting over.
- How many: :func:`work` runs trials until the study holds ``n_trials`` finished (complete or
  pruned) trials, waiting while others are still running; workers that start a trial at the
  same moment can add one extra trial each.
- Reproducible: the sampler is seeded with ``seed`` plus the number of trials the study held
  when the worker started, so one worker's search repeats exactly.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
import sqlalchemy.exc

# Heartbeats, their retry callback, fail_stale_trials and the matplotlib plots are "experimental" in
# Optuna 4.9 (pinned in requirements.txt) and warn on every call; they are the documented way, so
# keep the workers' logs for the trials.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

FINISHED_STATES = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


def storage_url(storage: str | None, runs_dir: Path) -> str:
    """``storage`` or the default SQLite file ``<runs_dir>/search.sqlite3``."""
    if storage:
        return storage
    Path(runs_dir).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(runs_dir).resolve() / 'search.sqlite3'}"


def open_study(
    name: str, url: str, seed: int, grace: int = 60, min_resource: int = 1, create: bool = True
) -> optuna.Study:
    """The study ``name`` on ``url`` (created if missing): TPE sampler, median pruner, heartbeats."""
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {"pool_pre_ping": True}
    # Workers started together on a fresh database race to create Optuna's tables (PostgreSQL answers
    # the loser with a UniqueViolation, SQLite with "table studies already exists"; both seen in
    # tests/test_search.py); the tables then exist, so retry.
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
            if not lost_race or attempt == 4:
                raise
            time.sleep(1 + attempt)
    held = len(study.get_trials(deepcopy=False))
    study.sampler = optuna.samplers.TPESampler(seed=seed + held, constant_liar=True)
    # prune a trial whose intermediate test accuracy is below the median of earlier trials at the same step,
    # once 5 trials have finished and after the first evaluations (early curves are noisy)
    study.pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=min_resource)
    return study


def counts(study: optuna.Study) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


def work(
    study: optuna.Study, objective: Callable[[optuna.Trial], float], n_trials: int, log=print, poll_s: float = 2.0
) -> dict[str, int]:
    """Runs trials until the study holds ``n_trials`` finished ones; returns the state counts."""
    while True:
        optuna.storages.fail_stale_trials(study)  # dead workers' trials: FAIL, and a retry is enqueued
        c = counts(study)
        done = c.get("COMPLETE", 0) + c.get("PRUNED", 0)
        waiting, running = c.get("WAITING", 0), c.get("RUNNING", 0)
        if done >= n_trials and not waiting:
            return c
        if done + running >= n_trials and not waiting:
            time.sleep(poll_s)  # the others' running trials may finish the study, or die and be retried
            continue
        log(f"[search {study.study_name}] {done}/{n_trials} trials finished, {running} running; starting one")
        study.optimize(objective, n_trials=1, gc_after_trial=True)


def best_trials(study: optuna.Study, k: int = 10) -> list[optuna.trial.FrozenTrial]:
    done = [t for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
    return sorted(done, key=lambda t: -t.value)[:k]


def report_figures(study: optuna.Study, out: Path, save) -> list[Path]:
    """Optuna's own optimization-history and parameter-importance plots (matplotlib), saved as PNG."""
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    def title(ax, text):  # Optuna titles its plots on the left; one title, ours, in the middle
        ax.set_title("", loc="left")
        ax.set_title(text)

    written = []
    ax = ovm.plot_optimization_history(study, target_name="final test accuracy")
    title(ax, f"Optimization history of study {study.study_name}")
    written.append(save(ax.figure, out / "optimization_history.png"))
    n = len(best_trials(study, 10**6))
    if n >= 3:
        # PED-ANOVA compares the parameters of the best trials with all of them; its default "best"
        # is the top 10%, one trial out of 10, so take at least 3 (no scikit-learn needed, unlike fANOVA)
        q = min(0.5, max(0.1, 3 / n))
        ax = ovm.plot_param_importances(
            study,
            evaluator=optuna.importance.PedAnovaImportanceEvaluator(target_quantile=q),
            target_name="final test accuracy",
        )
        title(
            ax,
            f"Parameter importances of study {study.study_name}\n(PED-ANOVA: the top {q:.0%} of {n} complete trials)",
        )
        written.append(save(ax.figure, out / "param_importances.png"))
    plt.close("all")
    return written
