"""The study's Task 1: a LeNet-5 on 28x28 grayscale CIFAR-10, the 11-run sweep, and beyond it.

    python cifar_v2.py                          # the study's 11 runs, seed 0, figures to figures/cifar/
    python cifar_v2.py --quick                  # a first result in minutes (runs/quickstart/)
    python cifar_v2.py --seeds 0,1,2            # the same with three seeds: mean ± std everywhere
    python cifar_v2.py --list                   # the run names and what each sets
    python cifar_v2.py --runs beyond            # the improvement ladder from run 7, and the small CNNs
    python cifar_v2.py --runs relu_adam_normal_dropout_l2 --set dropout=0.3 --set learning_rate=3e-4
    python cifar_v2.py --early --seeds 0,1,2    # the 11 runs' first 100 iterations again, evaluated after each
    python cifar_v2.py --calibrate              # the unstated constants, fitted to the study's table
    python cifar_v2.py --search 20              # an Optuna search instead of hand tuning (--search-report)
    python cifar_v2.py --seeds 0,1 --workers 2  # two runs at a time, each trained once (common/workers.py)
    python cifar_v2.py --summary-only           # redraw every figure and table from saved results

Every run is one literal in common/study.py. Each trains for a fixed number of iterations (batches), as
the study counted them, and every ``--eval-every`` iterations records the interval's train loss and
accuracy, the loss and accuracy on the whole test set, and statistics of the conv1/conv2 activations on
the test images (min, max, mean, std and a histogram), also logged for TensorBoard (``tensorboard
--logdir runs/cifar``). Rerunning a command skips finished runs and resumes an interrupted one exactly.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from common import cpu  # noqa: E402  (first: the CPU's settings must precede TensorFlow's loading)

cpu.configure()  # oneDNN where TensorFlow leaves it off, TensorFlow's start-up chatter quiet: common/cpu.py

from common import calibration, cli, protocol, runs, study, workers  # noqa: E402
from common.config import (  # noqa: E402
    BATCH_SIZE,
    CHECKPOINT_EVERY,
    COLOR,
    DATA_DIR,
    DATASET,
    EVAL_EVERY,
    FUSED_ADAM,
    IMAGE_SIZE,
    ITERATIONS,
    OUT_DIR,
    PRECISION,
    RUNS_DIR,
    SEEDS,
    SET,
    WORKERS,
    parse,
    parse_overrides,
    setting,
)
from common.data import as_float_images, figures_folder, load_dataset  # noqa: E402

QUICK_RUN = "relu_adam_normal_dropout_l2"  # --quick trains it: the study's best run (row 7)


# ---------------------------------------------------------------------------
# Settings: edit the defaults and rerun, or override them with flags (see --help). The runs themselves
# are in common/study.py, one literal each; --set changes a field of the selected runs for one command.
@dataclass(frozen=True)
class Settings:
    runs: tuple[str, ...] = setting(
        ("study",),
        "runs to train, comma-separated: run names (see --list), or the groups 'study' (its 11 runs) and "
        "'beyond' (the improvement ladder from run 7, and the small modern CNNs)",
        choices=lambda: tuple(study.RUNS) + study.GROUPS,
        metavar="RUN",
    )
    list: bool = setting(False, "print the run names and what each sets, then exit")
    quick: bool = setting(
        False,
        "a first result in minutes: the study's best run (row 7) for its first 1,100 iterations, its figures and "
        "records in runs/quickstart/ (never the committed ones)",
    )
    set: tuple[str, ...] = SET(())
    seeds: tuple[int, ...] = SEEDS((0,))
    workers: int = WORKERS(1)
    iterations: int | None = ITERATIONS(
        None, "iterations per run (default: each run's own; run 8 keeps its ratio to the others)"
    )
    batch_size: int | None = BATCH_SIZE(None, "batch size of every run (default: each run's own, 50)")
    eval_every: int = EVAL_EVERY(study.EVAL_EVERY)
    checkpoint_every: int = CHECKPOINT_EVERY(500)
    precision: str = PRECISION("float32")
    fused_adam: bool = FUSED_ADAM(False)
    dataset: str = DATASET(study.STUDY_DATASET)
    data_dir: Path | None = DATA_DIR(None)
    color: str | None = COLOR(None)
    image_size: str | None = IMAGE_SIZE(None)
    runs_dir: Path = RUNS_DIR(Path("runs/cifar"))
    out_dir: Path | None = OUT_DIR(
        None,
        "where figures and summary tables go (default: figures/cifar for CIFAR10, "
        "figures/cifar_<dataset>[_<color>][_<HxW>] for other sets or another --color/--image-size)",
    )
    early: bool = setting(
        False,
        f"train only each selected run's first {study.EARLY_ITERATIONS} iterations again, with an evaluation after "
        "every one (the same batches and weights up to there), merged into the run's figures: the activation "
        "statistics' first changes",
    )
    summary_only: bool = setting(False, "train nothing: redraw every figure and table from the saved results")
    constants: str = setting(
        "calibrated",
        "the study's unstated constants: calibrated (chosen by --calibrate) or round1 (the first guesses)",
        choices=tuple(calibration.CONSTANTS),
    )
    calibrate: bool = setting(
        False,
        "train the calibration grid (first seed of --seeds) and score every combination of the unstated "
        "constants against the study's table",
    )
    search: int | None = setting(
        None,
        "run a hyperparameter search until its study holds this many finished trials (see --storage)",
        min=1,
        metavar="TRIALS",
    )
    search_space: str = setting(
        "study",
        "the search's space: study (the study's own knobs) or all (plus the ladder's ingredients)",
        choices=study.SEARCH_SPACES,
    )
    search_iterations: int = ITERATIONS(3000, "iterations of each search trial")
    storage: str | None = setting(
        None,
        "the search's Optuna storage: a database URL shared by every worker, e.g. "
        "postgresql://user@host/lenet (default: an SQLite file in --runs-dir)",
        metavar="URL",
    )
    search_grace: int = setting(
        120, "seconds without a heartbeat after which a worker's trial counts as dead and is retried", min=2
    )
    search_report: bool = setting(
        False, "print the search's best trials, write its figures, and retrain the best with every --seeds"
    )
    protocol: str | None = setting(
        None,
        "choose a recipe by paired repeats on validation (common/protocol.py): lenet (the ladder rebuilt from run 7) "
        "or airbench (one ablation per ingredient); then train the chosen one with the fresh seeds on the test set",
        choices=tuple(protocol.DESIGNS),
    )

    def figures_dir(self) -> Path:
        if self.out_dir is not None:
            return self.out_dir
        return figures_folder("cifar", self.dataset, study.STUDY_DATASET, self.color, self.image_size)

    def named_runs(self) -> list[study.RunConfig]:
        """Every named run under this command's --constants, --iterations and --batch-size."""
        if self.constants == "calibrated":  # the runs as common/study.py writes them
            base = study.RUNS
        else:  # the study's 11 with the other constants (common/calibration.py); the rest as written
            base = {**study.RUNS, **{r.name: r for r in calibration.runs_with(calibration.CONSTANTS[self.constants])}}
        return [study.with_overrides(run, self.iterations, self.batch_size) for run in base.values()]

    def selected_runs(self, names=None) -> list[tuple[study.RunConfig, dict]]:
        """The runs (names or groups; default --runs) this command trains, each with the fields this command
        changed (--set, --iterations, --batch-size, --constants): they name its figures' folder and its row."""
        overrides = parse_overrides(study.RunConfig, self.set, study.KNOBS)
        named = {r.name: r for r in self.named_runs()}
        runs_ = [study.with_overrides(named[r.name], **overrides) for r in study.selected(names or self.runs)]
        return [(run, study.changed_fields(run)) for run in runs_]


# ---------------------------------------------------------------------------
# How a run is built: its definition, the seed and this command's evaluation (every test image, the conv
# statistics, the test-time views the run asks for); its identity names its folder (common/training.py).
# A run that chooses (``validation`` > 0) trains without its held-out images and is evaluated on them
# only: it never sees the test set.
def run_spec(run, overrides, seed: int, s: Settings, data, x_train, x_test, task=study.TASK, eval_every=None):
    from common import evaluation, training

    x, y, x_eval, y_eval, split = x_train, data.y_train, x_test, data.y_test, "test"
    if run.validation:
        fit, held = data.validation_split(run.validation, seed)
        x, y, x_eval, y_eval, split = x_train[fit], data.y_train[fit], x_train[held], data.y_train[held], "val"
    views_at = run.iterations if run.validation else None  # a choosing run compares test-time views at its end
    views = dict(tta=run.tta, tta_shift=run.tta_shift, views_at=views_at, final_at=run.iterations)
    rng = np.random.default_rng(evaluation.CLEAN_TRAIN_SEED)  # the same images for every run of this split
    clean = rng.permutation(len(x))[: evaluation.CLEAN_TRAIN_IMAGES]
    evaluate = evaluation.Evaluator(x_eval, y_eval, split=split, clean_train=(x[clean], y[clean]), **views)
    every = eval_every or s.eval_every
    return training.make_spec(run, task, seed, data, x, y, s.runs_dir, every, s.checkpoint_every, evaluate, overrides)


def report_line(m: dict, data) -> None:
    run, final = study.RUNS.get(m["name"]), m["final"]
    split = "val" if "val_accuracy" in final else "test"  # a run that chooses never reads the test set
    as_study = run and m["identity"]["config"] == run.identity()  # a changed run (--quick, --set) is not the study's
    ref = run.study_accuracy if as_study and split == "test" and data.is_study_data(study.STUDY_DATASET) else None
    print(
        f"== {m['name']} seed {m['seed']}: {m['status']}, final train acc {cli.pct(final.get('train_accuracy'))}%, "
        f"{split} acc {cli.pct(final.get(f'{split}_accuracy'))}%" + (f" (study: ~{cli.pct(ref[1])}%)" if ref else "")
    )


# ---------------------------------------------------------------------------
# The report: the figures of the runs this command trained and the tables they change, from the results index
# (common/report/task1.py); --summary-only redraws every page.
def summarize(s: Settings, data, log=print) -> list[Path]:
    from common.report import task1

    records = runs.update_index(s.figures_dir(), s.runs_dir, study.TASK, study.READ_EVERY, log)
    records = [r for r in records if r["identity"]["data"]["name"] == s.dataset]
    selected, fast = s.selected_runs(), s.precision != "float32" or s.fused_adam
    pages = None if s.summary_only else task1.pages_changed(selected, fast) | ({"protocol"} if s.protocol else set())
    args = (task1.DataInfo.of(data), selected, s.named_runs(), s.figures_dir(), study.READ_EVERY, log)
    return task1.summarize(records, *args, pages=pages)


# ---------------------------------------------------------------------------
# The calibration and the search: their code is common/calibration.py and common/search.py.
def calibrate(s: Settings, data, x_train, x_test) -> list[Path]:
    from common import training
    from common.report import task1

    seed = s.seeds[0]
    todo = calibration.calibration_runs(s.batch_size)
    print(f"calibration: {len(todo)} runs (seed {seed}), every combination of {calibration.GRID}")
    if not s.summary_only:
        specs = [run_spec(run, None, seed, s, data, x_train, x_test) for run in todo]
        training.train_all(specs, done=lambda spec, m: report_line(m, data))
        if workers.index():  # a worker trains; its parent writes the table
            return []
    records = runs.update_index(s.figures_dir(), s.runs_dir, study.TASK, study.READ_EVERY)
    rows = task1.calibration_table(records, seed, s.eval_every, s.batch_size)
    best = next((r for r in rows if math.isfinite(r["score"])), None)
    if best:
        print(
            f"best: Adam lr {best['adam_lr']:g}, L2 {best['l2']:g}, run 6 ({best['run6_lr']:g}, "
            f"{best['run6_momentum']:g}), {best['iterations']} iterations, run 8 x{best['long_factor']:g}: "
            f"train gap {100 * best['train_gap']:.1f}, test gap {100 * best['test_gap']:.1f} points"
        )
    return task1.write_calibration(records, rows, s.figures_dir(), seed)


def open_search(s: Settings, create: bool = True):
    from common import search as hpsearch

    url = hpsearch.storage_url(s.storage, s.runs_dir)
    name = hpsearch.study_name(s.dataset, s.search_space, s.search_iterations)
    # successive halving's first rung at a tenth of a trial (300 of 3,000 iterations: rungs 300, 900, 2,700)
    rung = max(s.eval_every, s.eval_every * round(s.search_iterations / 10 / s.eval_every))
    ((rival, _),) = s.selected_runs((hpsearch.RIVALS[s.search_space],))
    warm = hpsearch.params_of(rival, s.search_space, s.search_iterations)
    return hpsearch.open_study(
        name,
        url,
        s.seeds[0],
        grace=s.search_grace,
        min_resource=rung,
        create=create,
        warm_start=warm,
        worker=workers.index(),
    )


def run_search(s: Settings, data, x_train, x_test) -> int:
    from common import search as hpsearch
    from common import training

    st = open_search(s)
    print(f"search {st.study_name}: until {s.search} trials are finished; {hpsearch.counts(st)} so far")

    def train(run, should_stop, trial):
        training.check_run(run.name, run.iterations, s.eval_every, run.batch_size, len(data.x_train))
        spec = run_spec(run, None, s.seeds[0], s, data, x_train, x_test, task=hpsearch.TASK)
        spec.should_stop = should_stop
        trial.set_user_attr("run_dir", str(spec.run_dir))
        return training.train_run(spec, wait=True)

    final = hpsearch.run_trials(st, s.search, s.search_space, s.search_iterations, train, 1.0 / data.num_classes)
    print(f"search {st.study_name}: {final}")
    return 0


def run_search_report(s: Settings, data, x_train, x_test) -> list[Path]:
    """The best configuration retrained with every --seeds at the length of its hand-tuned rival (run 7, or with
    the ladder's ingredients rung 4), so the difference has error bars; the study's trials exported to
    trials.json beside its records; then its report, drawn from that folder's files (common/report/search.py)."""
    from common import search as hpsearch
    from common import training
    from common.report import search as search_report

    st = open_search(s, create=False)
    out = s.figures_dir() / "search" / st.study_name
    space = s.search_space
    # the rival and the hand tuning that reached it, under this command's flags (--iterations, --constants)
    named = {r.name: r for r, _ in s.selected_runs((hpsearch.RIVALS[space], *hpsearch.HAND_TUNING[space]))}
    winner = hpsearch.best_run(st, space, named[hpsearch.RIVALS[space]].iterations)
    if winner is None:
        raise cli.UserError(f"study {st.study_name} has no complete trial yet; run --search first.")
    specs = [run_spec(winner, None, seed, s, data, x_train, x_test, task=hpsearch.TASK) for seed in s.seeds]
    training.train_all(specs, done=lambda spec, m: report_line(m, data))
    if workers.index():  # a worker trains; its parent writes the report
        return []
    # this study's index: its trials and its winner's retrains (not another space's search in the same runs folder)
    names = (hpsearch.trial_name(space), winner.name)
    runs.update_index(out, s.runs_dir, hpsearch.TASK, study.READ_EVERY, names=names)
    hpsearch.export_trials(st, out / hpsearch.TRIALS_FILE)
    index = runs.update_index(s.figures_dir(), s.runs_dir, study.TASK, study.READ_EVERY)
    written = search_report.rebuild(out, index, named)
    print((out / "search.md").read_text())
    return [*written, out / hpsearch.TRIALS_FILE]


# ---------------------------------------------------------------------------
# The protocol: train what the next decisions lack, read them from the records, until every one is read; then the
# chosen recipe with the seeds no choice used (common/protocol.py)
def run_protocol(s: Settings, data, x_train, x_test) -> None:
    from common import training

    design = protocol.DESIGNS[s.protocol]
    while True:
        records = runs.update_index(s.figures_dir(), s.runs_dir, study.TASK, study.READ_EVERY)
        records = [r for r in records if r["identity"]["data"]["name"] == s.dataset]
        walk = protocol.walk(design, protocol.val_lookup(records))
        if not walk.needed:
            break
        steps = ", ".join(d.step.key for d in walk.decisions if d.n < d.repeats_needed)
        print(f"\nprotocol {design.name}: {len(walk.needed)} validation run(s) for {steps}")
        specs = [run_spec(run, None, seed, s, data, x_train, x_test) for run, seed in walk.needed]
        training.train_all(specs, done=lambda spec, m: report_line(m, data))
    for d in walk.decisions:
        diff = f"{100 * d.mean:+.1f} ± {100 * d.se:.1f} points (n={d.n})"
        print(f"protocol {design.name}: {d.step.key} ({d.step.what}): {diff}, {d.verdict}")
    seeds = ",".join(map(str, protocol.FRESH_SEEDS))
    for run in walk.tested:
        print(f"protocol {design.name}: chose {run.name} ({run.describe()}); seeds {seeds} on the test set")
    specs = [
        run_spec(run, None, seed, s, data, x_train, x_test) for run in walk.tested for seed in protocol.FRESH_SEEDS
    ]
    training.train_all(specs, done=lambda spec, m: report_line(m, data))


# ---------------------------------------------------------------------------
@cli.entry_point
def main(argv=None) -> int:
    cli.line_buffered()
    s = parse(Settings, argv, description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    workers.watch_parent()  # in a worker (--workers): stop when the parent does
    if s.quick:  # the study's best run, its first 1,100 iterations, apart from every committed result
        quick = Path("runs/quickstart")
        s = replace(s, runs=(QUICK_RUN,), iterations=study.READ_EVERY, runs_dir=quick, out_dir=quick / "figures")
    selected = s.selected_runs()  # a wrong --set stops here, before anything is loaded
    if s.list:
        for run, overrides in selected:
            print(f"{run.study_row or '-':>2}. {study.label(run.name, overrides):<36} {run.describe()}")
        return 0
    with cpu.quiet_import():  # Keras' side after the flags: --help, --list and a wrong flag answer at once
        from common import backend, training
    backend.set_precision(s.precision)  # before any model is built: Keras' dtype policy is global
    backend.set_fused_adam(s.fused_adam)  # likewise before any optimizer is built
    out = cli.writable_dir(s.figures_dir(), "--out-dir")
    cli.writable_dir(s.runs_dir, "--runs-dir")
    data = load_dataset(s.dataset, s.data_dir, color=s.color, image_size=s.image_size)
    for run, _ in selected:
        training.check_run(run.name, run.iterations, s.eval_every, run.batch_size, len(data.x_train))
    print(f"{data.describe()}\n{backend.banner()}")
    if s.workers > 1 and not s.summary_only:  # the runs in worker processes; this one then only reports them
        if rc := workers.run(__file__, argv, s.workers):
            return rc
        s = replace(s, summary_only=True)
    x_train, x_test = as_float_images(data.x_train), as_float_images(data.x_test)
    if s.calibrate:
        if not data.is_study_data(study.STUDY_DATASET):
            raise cli.UserError(
                f"--calibrate fits the study's table, which is about {study.STUDY_DATASET}; "
                f"{data.name} is not the study's data."
            )
        for path in calibrate(s, data, x_train, x_test):
            print(f"wrote {path}")
        return 0
    if s.protocol is not None:
        if not s.summary_only:
            run_protocol(s, data, x_train, x_test)
        if workers.index():  # a worker trains; its parent writes the report
            return 0
        s = replace(s, runs=())  # the report below draws the index's tables, no run's own figures
    if s.search is not None:
        return run_search(s, data, x_train, x_test)
    if s.search_report:
        for path in run_search_report(s, data, x_train, x_test):
            print(f"wrote {path}")
        return 0
    if not s.summary_only and s.protocol is None:
        specs = [run_spec(run, o, seed, s, data, x_train, x_test) for run, o in selected for seed in s.seeds]
        if s.early:  # only the reruns (a schedule that depends on the run's length would differ up to there)
            specs = [
                run_spec(study.early(run), o, seed, s, data, x_train, x_test, eval_every=1)
                for run, o in selected
                if run.schedule == "constant"
                for seed in s.seeds
            ]
        print(
            f"{len(specs)} run(s): {len(selected)} configuration(s) x seeds {','.join(map(str, s.seeds))}; "
            f"evaluation every {s.eval_every} iterations; runs in {s.runs_dir}"
        )
        start = time.time()
        training.train_all(specs, done=lambda spec, m: report_line(m, data))
        print(f"\n{len(specs)} run(s) done in {cli.format_duration(time.time() - start)}.")
        if workers.index():  # a worker trains; its parent writes the summary
            return 0
    written = summarize(s, data)
    print(
        f"Summary: {out / 'summary.md'}; per-run figures in {out}/<run>/; index {out / 'results.jsonl'}; "
        f"metrics in {s.runs_dir}/<run>/seed<k>-<id>/metrics.json ({len(written)} files written)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
