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
    python cifar_v2.py --seeds 0,1 --workers 2  # two runs at a time, each trained once (common/cli.py)
    python cifar_v2.py --summary-only           # redraw every figure and table from saved results

Every run is one literal in common/study.py. Each trains for a fixed number of iterations (batches), as
the study counted them, and every ``--eval-every`` iterations records the interval's train loss and
accuracy, the loss and accuracy on the whole test set, and statistics of the conv1/conv2 activations on
the test images (min, max, mean, std and a histogram), also logged for TensorBoard (``tensorboard
--logdir runs/cifar``). Rerunning a command skips finished runs and resumes an interrupted one exactly.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from common import cpu  # noqa: E402  (first: the CPU's settings must precede TensorFlow's loading)

cpu.configure()  # oneDNN where TensorFlow leaves it off, TensorFlow's start-up chatter quiet: common/cpu.py

from common import cli, config, runs, study  # noqa: E402
from common.data import as_float_images, figures_folder, load_dataset  # noqa: E402


# Settings: edit the defaults and rerun, or override them with flags (see --help). The runs themselves
# are in common/study.py, one literal each; --set changes a field of the selected runs for one command.
@dataclass(frozen=True)
class Settings:
    runs: tuple[str, ...] = config.setting(
        ("study",),
        "runs to train, comma-separated: run names (see --list), or the groups 'study' (its 11 runs) and "
        "'beyond' (the improvement ladder from run 7, and the small modern CNNs)",
        choices=lambda: tuple(study.RUNS) + study.GROUPS,
        metavar="RUN",
    )
    list: bool = config.setting(False, "print the run names and what each sets, then exit")
    quick: bool = config.setting(
        False,
        "a first result in minutes: the study's best run (row 7) for its first 1,100 iterations, its figures and "
        "records in runs/quickstart/ (never the committed ones)",
    )
    set: tuple[str, ...] = config.SET(())
    seeds: tuple[int, ...] = config.SEEDS((0,))
    workers: int = config.WORKERS(1)
    iterations: int | None = config.ITERATIONS(
        None, "iterations per run (default: each run's own; run 8 keeps its ratio to the others)"
    )
    batch_size: int | None = config.BATCH_SIZE(None, "batch size of every run (default: each run's own, 50)")
    eval_every: int = config.EVAL_EVERY(study.EVAL_EVERY)
    checkpoint_every: int = config.CHECKPOINT_EVERY(500)
    precision: str = config.PRECISION("float32")
    fused_adam: bool = config.FUSED_ADAM(False)
    dataset: str = config.DATASET(study.STUDY_DATASET)
    data_dir: Path | None = config.DATA_DIR(None)
    color: str | None = config.COLOR(None)
    image_size: str | None = config.IMAGE_SIZE(None)
    runs_dir: Path = config.RUNS_DIR(Path("runs/cifar"))
    out_dir: Path | None = config.OUT_DIR(
        None,
        "where figures and summary tables go (default: figures/cifar for CIFAR10, "
        "figures/cifar_<dataset>[_<color>][_<HxW>] for other sets or another --color/--image-size)",
    )
    early: bool = config.setting(
        False,
        f"train only each selected run's first {study.EARLY_ITERATIONS} iterations again, with an evaluation after "
        "every one (the same batches and weights up to there), merged into the run's figures: the activation "
        "statistics' first changes",
    )
    summary_only: bool = config.setting(False, "train nothing: redraw every figure and table from the saved results")
    constants: str = config.setting(
        "calibrated",
        "the study's unstated constants: calibrated (chosen by --calibrate) or round1 (the first guesses)",
        choices=tuple(study.CONSTANTS),
    )
    calibrate: bool = config.setting(
        False,
        "train the calibration grid (first seed of --seeds) and score every combination of the unstated "
        "constants against the study's table",
    )
    search: int | None = config.setting(
        None,
        "run a hyperparameter search until its study holds this many finished trials (see --storage)",
        min=1,
        metavar="TRIALS",
    )
    search_space: str = config.setting(
        "study",
        "the search's space: study (the study's own knobs), all (plus the ladder's ingredients) or airbench (the "
        "airbench network's ingredients and batch size)",
        choices=study.SEARCH_SPACES,
    )
    search_iterations: int = config.ITERATIONS(3000, "iterations of each search trial (airbench: of 250 images)")
    storage: str | None = config.setting(
        None,
        "the search's Optuna storage: a database URL shared by every worker, e.g. "
        "postgresql://user@host/lenet (default: an SQLite file in --runs-dir)",
        metavar="URL",
    )
    search_grace: int = config.setting(
        120, "seconds without a heartbeat after which a worker's trial counts as dead and is retried", min=2
    )
    search_report: bool = config.setting(
        False, "print the search's best trials, write its figures, and retrain the best with every --seeds"
    )
    protocol: str | None = config.setting(
        None,
        "choose a recipe by paired repeats on validation (common/protocol.py): lenet (the ladder rebuilt from run 7) "
        "or airbench (one ablation per ingredient); then train the chosen one with the fresh seeds on the test set",
        choices=study.PROTOCOLS,
    )

    def figures_dir(self) -> Path:
        return self.out_dir or figures_folder("cifar", self.dataset, study.STUDY_DATASET, self.color, self.image_size)

    def named_runs(self) -> list[study.RunConfig]:
        """Every named run under this command's --constants, --iterations and --batch-size."""
        if self.constants == "calibrated":  # the runs as common/study.py writes them
            base = study.RUNS
        else:  # the study's 11 with the other constants (common/study.py's calibration); the rest as written
            base = {**study.RUNS, **{r.name: r for r in study.runs_with(study.CONSTANTS[self.constants])}}
        return [study.with_overrides(run, self.iterations, self.batch_size) for run in base.values()]

    def selected_runs(self, names=None) -> list[tuple[study.RunConfig, dict]]:
        """The runs (names or groups; default --runs) this command trains, each with the fields this command
        changed (--set, --iterations, --batch-size, --constants): they name its figures' folder and its row."""
        overrides = config.parse_overrides(study.RunConfig, self.set, study.KNOBS)
        named = {r.name: r for r in self.named_runs()}
        runs_ = [study.with_overrides(named[r.name], **overrides) for r in study.selected(names or self.runs)]
        return [(run, study.changed_fields(run)) for run in runs_]


# How a run is built: its definition, the seed and this command's evaluation (every test image, the conv statistics, the
# test-time views the run asks for); its identity names its folder (common/training.py). A run that chooses
# (``validation`` > 0) trains without its held-out images and is evaluated on them only: it never sees the test set.
def run_spec(
    run, overrides, seed, s: Settings, data, x_train, x_test, task=study.TASK, eval_every=None, all_views=False
):
    from common import evaluation, training

    x, y, x_eval, y_eval, split = x_train, data.y_train, x_test, data.y_test, "test"
    if run.validation:
        fit, held = data.validation_split(run.validation, seed)
        x, y, x_eval, y_eval, split = x_train[fit], data.y_train[fit], x_train[held], data.y_train[held], "val"
    # a choosing run compares test-time views at its end (a search's trial is scored at its own); a protocol's fresh
    # seed records them for the recipes that differ from it by their views alone. Only these: the view sets are 19
    # more passes over the evaluated images (LeNet-5 on the 2-core Xeon: 1.9 s, a third of a 20-iteration run)
    views_at = run.iterations if run.validation and task == study.TASK or all_views else None
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


def records(s: Settings, folder=None, task=study.TASK, names=None) -> list[dict]:
    """The results index of ``folder`` (default: the figures' folder), brought up to date from --runs-dir."""
    return runs.update_index(folder or s.figures_dir(), s.runs_dir, task, study.READ_EVERY, names=names)


# The calibration and the search (their code is common/study.py and common/search.py); ``train`` trains
# (run, overrides, seed) triples as main builds them. A worker trains; its parent writes the tables.
def calibrate(s: Settings, train) -> None:
    from common.report import task1

    seed, todo = s.seeds[0], study.calibration_runs(s.batch_size)
    print(f"calibration: {len(todo)} runs (seed {seed}), every combination of {study.GRID}")
    if not s.summary_only:
        train([(run, None, seed) for run in todo])
        if cli.worker_index():
            return
    index = records(s)
    rows = task1.calibration_table(index, seed, s.eval_every, s.batch_size)
    if best := next((r for r in rows if np.isfinite(r["score"])), None):
        print(
            f"best: Adam lr {best['adam_lr']:g}, L2 {best['l2']:g}, run 6 ({best['run6_lr']:g}, "
            f"{best['run6_momentum']:g}), {best['iterations']} iterations, run 8 x{best['long_factor']:g}: "
            f"train gap {100 * best['train_gap']:.1f}, test gap {100 * best['test_gap']:.1f} points"
        )
    for path in task1.write_calibration(index, rows, s.figures_dir(), seed):
        print(f"wrote {path}")


def run_search(s: Settings, data, x_train, x_test, train) -> None:
    """--search: trials until its study holds that many finished ones; --search-report: the best retrained with every
    --seeds at its hand-tuned rival's length (error bars on the difference), trials.json, common/report/search.py."""
    from common import search as hpsearch
    from common import training

    space, url = s.search_space, s.storage or f"sqlite:///{s.runs_dir.resolve() / 'search.sqlite3'}"  # --runs-dir made
    # the rival and the hand tuning that reached it, under this command's flags (--iterations, --constants)
    named = {r.name: r for r, _ in s.selected_runs((hpsearch.RIVALS[space], *hpsearch.HAND_TUNING[space]))}
    rival, name = named[hpsearch.RIVALS[space]], hpsearch.study_name(s.dataset, space, s.search_iterations)
    rung = hpsearch.first_rung(space, s.search_iterations, s.eval_every)
    warm = hpsearch.params_of(rival, space, s.search_iterations)
    create = s.search is not None  # the report reads an existing study
    st = hpsearch.open_study(name, url, s.seeds[0], s.search_grace, rung, create, warm, worker=cli.worker_index())
    if s.search is not None:
        print(f"search {st.study_name}: until {s.search} trials are finished; {hpsearch.counts(st)} so far")

        def train_trial(run, should_stop, trial):  # train_run checks the run's length and batch size first
            spec = run_spec(run, None, s.seeds[0], s, data, x_train, x_test, task=hpsearch.TASK)
            spec.should_stop = should_stop
            trial.set_user_attr("run_dir", str(spec.run_dir))
            return training.train_run(spec, wait=True)

        final = hpsearch.run_trials(st, s.search, space, s.search_iterations, train_trial, 1.0 / data.num_classes)
        print(f"search {st.study_name}: {final}")
        return
    out = s.figures_dir() / "search" / st.study_name
    winner = hpsearch.best_run(st, space, rival.iterations)
    if winner is None:
        raise cli.UserError(f"study {st.study_name} has no complete trial yet; run --search first.")
    train([(winner, None, seed) for seed in s.seeds], task=hpsearch.TASK)
    if cli.worker_index():
        return
    from common.report import search as search_report

    # this study's index: its trials and its winner's retrains (not another space's search in the same runs folder)
    records(s, out, hpsearch.TASK, names=(hpsearch.trial_name(space), winner.name))
    hpsearch.export_trials(st, out / hpsearch.TRIALS_FILE)
    written = search_report.rebuild(out, records(s), named)
    print((out / "search.md").read_text())
    for path in [*written, out / hpsearch.TRIALS_FILE]:
        print(f"wrote {path}")


# The protocol: train what the next decisions lack, read them from the records, until every one is read; then the
# chosen recipe with the seeds no choice used (common/protocol.py)
def run_protocol(s: Settings, train) -> None:
    from common import protocol

    design = protocol.DESIGNS[s.protocol]
    while True:
        index = [r for r in records(s) if r["identity"]["data"]["name"] == s.dataset]
        walk = protocol.walk(design, protocol.val_lookup(index))
        if not walk.needed:
            break
        steps = ", ".join(d.step.key for d in walk.decisions if d.n < d.repeats_needed)
        print(f"\nprotocol {design.name}: {len(walk.needed)} validation run(s) for {steps}")
        train([(run, None, seed) for run, seed in walk.needed])
    for d in walk.decisions:
        diff = f"{100 * d.mean:+.1f} ± {100 * d.se:.1f} points (n={d.n})"
        print(f"protocol {design.name}: {d.step.key} ({d.step.what}): {diff}, {d.verdict}")
    seeds = ",".join(map(str, protocol.FRESH_SEEDS))
    for run in walk.tested:
        print(f"protocol {design.name}: chose {run.name} ({run.describe()}); seeds {seeds} on the test set")
    # a fresh seed the records hold already (a clone has no runs/) is read, not trained again: its time stays its own
    train([(run, None, seed) for run, seed in protocol.fresh_needed(index, walk.tested)], all_views=True)
    if left := protocol.fresh_needed(records(s), walk.tested):  # a run finished by an older version: no views
        raise cli.UserError(
            f"{left[0][0].name} seed {left[0][1]} is finished in {s.runs_dir} without the test-time views that the "
            "recipes read at them need (an older version made it): remove its folder there and rerun the command."
        )


@cli.entry_point
def main(argv=None) -> int:
    cli.line_buffered()
    s = config.parse(Settings, argv, description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    cli.watch_parent()  # in a worker (--workers): stop when the parent does
    if s.quick:  # the study's best run, its first 1,100 iterations, apart from every committed result
        quick, best = Path("runs/quickstart"), ("relu_adam_normal_dropout_l2",)
        s = replace(s, runs=best, iterations=study.READ_EVERY, runs_dir=quick, out_dir=quick / "figures")
    selected = s.selected_runs()  # a wrong --set stops here, before anything is loaded
    if s.list:
        for run, overrides in selected:
            print(f"{run.study_row or '-':>2}. {study.label(run.name, overrides):<36} {run.describe()}")
        return 0
    out = cli.writable_dir(s.figures_dir(), "--out-dir")
    cli.writable_dir(s.runs_dir, "--runs-dir")
    data = load_dataset(s.dataset, s.data_dir, color=s.color, image_size=s.image_size)
    for run, _ in selected:
        cli.check_run(run.name, run.iterations, s.eval_every, run.batch_size, len(data.x_train))
    print(data.describe())
    if s.workers > 1 and not s.summary_only:  # the runs in worker processes; this one then only reports them,
        if rc := cli.run_workers(__file__, argv, s.workers):  # without Keras: ~0.7 GB less while they train
            return rc
        s = replace(s, summary_only=True)
    else:
        with cpu.quiet_import():  # Keras' side after the flags: --help, --list and a wrong flag answer at once
            from common import backend
        backend.set_precision(s.precision)  # before any model is built: Keras' dtype policy is global
        backend.set_fused_adam(s.fused_adam)  # likewise before any optimizer is built
        print(backend.banner())
    x_train, x_test = as_float_images(data.x_train), as_float_images(data.x_test)

    def train(jobs, **how) -> None:  # (run, overrides, seed) each; a line per run as it ends
        from common import training

        specs = [run_spec(run, o, seed, s, data, x_train, x_test, **how) for run, o, seed in jobs]
        training.train_all(specs, done=lambda spec, m: report_line(m, data))

    if s.calibrate:
        if not data.is_study_data(study.STUDY_DATASET):
            raise cli.UserError(
                f"--calibrate fits the study's table, which is about {study.STUDY_DATASET}; "
                f"{data.name} is not the study's data."
            )
        calibrate(s, train)
        return 0
    if s.protocol is not None:
        if not s.summary_only:
            run_protocol(s, train)
        if cli.worker_index():  # a worker trains; its parent writes the report
            return 0
        selected = []  # the report below draws the index's tables, no run's own figures
    if s.search is not None or s.search_report:
        run_search(s, data, x_train, x_test, train)
        return 0
    if not s.summary_only and s.protocol is None:
        # --early: only the reruns (a schedule that depends on the run's length would differ up to there)
        early = [(replace(r, iterations=min(r.iterations, study.EARLY_ITERATIONS)), o) for r, o in selected]
        todo = [(r, o) for r, o in early if r.schedule == "constant"] if s.early else selected
        jobs = [(run, o, seed) for run, o in todo for seed in s.seeds]
        print(
            f"{len(jobs)} run(s): {len(selected)} configuration(s) x seeds {','.join(map(str, s.seeds))}; "
            f"evaluation every {s.eval_every} iterations; runs in {s.runs_dir}"
        )
        start = time.time()
        train(jobs, eval_every=1 if s.early else None)
        print(f"\n{len(jobs)} run(s) done in {cli.format_duration(time.time() - start)}.")
        if cli.worker_index():  # a worker trains; its parent writes the summary
            return 0
    # The report: the figures of the runs this command trained and the tables they change, from the results index
    # (common/report/task1.py); --summary-only redraws every page.
    from common.report import task1

    index = [r for r in records(s) if r["identity"]["data"]["name"] == s.dataset]
    fast = s.precision != "float32" or s.fused_adam
    pages = None if s.summary_only else task1.pages_changed(selected, fast) | ({"protocol"} if s.protocol else set())
    args = (task1.DataInfo.of(data), selected, s.named_runs(), s.figures_dir(), study.READ_EVERY, print)
    written = task1.summarize(index, *args, pages=pages)
    print(
        f"Summary: {out / 'summary.md'}; per-run figures in {out}/<run>/; index {out / 'results.jsonl'}; "
        f"metrics in {s.runs_dir}/<run>/seed<k>-<id>/metrics.json ({len(written)} files written)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
