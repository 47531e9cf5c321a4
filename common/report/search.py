"""The search's report (``figures/cifar/search/<study>/``: ``search.md``, ``trials.png``, ``sensitivity.png``) from
the study folder's files alone: its records and, where present, ``trials.json`` (exported by ``cifar_v2.py
--search-report``). Without it (the earlier searches) the trial numbers are lost: trials are ranked by value, and the
warm start is known by its configuration."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from common import data, runs
from common import search as hpsearch
from common.cli import UserError
from common.report import stats
from common.report.plots import SPLIT_COLORS, SPLIT_NAMES, log_labels, plt, save_figure
from common.report.stats import NOISE, PM_KEY, compare, format_duration, gap, mean_std, pct, pm, records_of, show
from common.study import OPTIMIZERS, RUNS, RunConfig

TOP = 10  # the best complete trials in search.md's table
PRUNED_COLOR = "#8c8c8c"  # pruned trials, beside the split's colour for the complete ones
WARM_COLOR = "black"  # the warm start (the hand-tuned configuration)
MARKERS = dict(zip(OPTIMIZERS, "osXDv^P"))  # sensitivity.png: one marker per optimizer
LISTED_STOPS = 4  # trials.png names the iterations the pruned trials stopped at when there are at most this many
PANELS_PER_ROW = 4  # sensitivity.png
SPACE_WORDS = {
    "study": "the study's own knobs",
    "all": "the study's knobs and the ladder's ingredients",
    "airbench": "the airbench network's ingredients",
}


@dataclass(frozen=True)
class Trial:
    """One finished trial (complete or pruned); ``curve``: its (step, accuracy) evaluations (``common.search.step``)."""

    complete: bool
    value: float | None
    curve: tuple[tuple[int, float], ...]
    params: dict
    number: int | None = None
    warm: bool = False
    record: dict | None = None

    @property
    def last(self) -> float:  # a pruned trial's: its last evaluation
        last = self.value if self.complete else (self.curve[-1][1] if self.curve else None)
        return math.nan if last is None else last

    @property
    def knobs(self) -> dict:  # the run's fields that the parameters set (``lr_adam`` sets ``learning_rate``)
        return {hpsearch.knob_of(p): v for p, v in self.params.items()}


@dataclass(frozen=True)
class Search:
    """A study folder as the report reads it; ``trials``: best first."""

    name: str
    space: str
    iterations: int
    split: str  # what the trials were scored on: "val" (the protocol) or "test" (the earlier searches)
    trials: list[Trial]
    records: list[dict]  # the trials' records
    all_records: list[dict]  # every record of the folder (the retrained winner's too)
    failed: int | None  # failed trials (None: not known without trials.json)
    numbered: bool  # whether the trial numbers are known (trials.json)

    @property
    def complete(self) -> list[Trial]:
        return [t for t in self.trials if t.complete]

    @property
    def warm(self) -> Trial | None:
        return next((t for t in self.trials if t.warm), None)


def curve_of(record: dict, split: str, space: str) -> tuple[tuple[int, float], ...]:
    key, batch = f"{split}_accuracy", record["identity"]["config"]["batch_size"]
    return tuple(
        (hpsearch.step(space, batch, h["iteration"]), h[key]) for h in record["history"] if h.get(key) is not None
    )


def steps(space: str) -> str:
    """What a search's steps count: iterations, or in the airbench space (its trials' batch sizes differ) images."""
    return f"steps of {RUNS[hpsearch.RIVALS[space]].batch_size} images" if space == "airbench" else "iterations"


def read(search_dir: Path, named: dict[str, RunConfig]) -> Search:
    every = runs.ResultsIndex(search_dir / "results.jsonl").read()
    names = {hpsearch.trial_name(sp): sp for sp in hpsearch.SPACES}
    records = [r for r in every if r["name"] in names]
    if not records:
        raise UserError(f"{search_dir}: its results.jsonl holds no search trial; run cifar_v2.py --search-report.")
    space = names[records[0]["name"]]
    configs = [r["identity"]["config"] for r in records]
    iterations = max(hpsearch.step(space, c["batch_size"], c["iterations"]) for c in configs)
    split = "val" if records[0]["identity"].get("split") else "test"  # the earlier searches scored on the test set
    exported, trials, failed = search_dir / hpsearch.TRIALS_FILE, [], None
    if exported.exists():  # the finished trials of trials.json, each with its run's record; and how many failed
        every_trial = hpsearch.read_trials(exported)
        by_folder = {f"{r['name']}/seed{r['seed']}-{r['group_id']}": r for r in records}
        for t in (t for t in every_trial if t.state in hpsearch.FINISHED_STATES):
            record = by_folder.get(t.user_attrs.get("run_dir"))
            curve = curve_of(record, split, space) if record else tuple(sorted(t.intermediate_values.items()))
            warm = bool(t.user_attrs.get("warm_start"))
            trials.append(Trial(t.state.name == "COMPLETE", t.value, curve, t.params, t.number, warm, record))
        failed = sum(t.state.name == "FAIL" for t in every_trial)
    else:  # the trials as the records alone give them, scored as common.search.run_trials did (diverged: chance)
        warm = hpsearch.warm_start_run(named[hpsearch.RIVALS[space]], space, iterations).identity()
        matrix = next((r["final"][f"{split}_confusion"] for r in records if f"{split}_confusion" in r["final"]), [])
        chance = 1 / len(matrix) if matrix else math.nan
        value = lambda r: {"pruned": None, "finished": r["final"].get(f"{split}_accuracy")}.get(r["status"], chance)
        shown = [hpsearch.trial_params(c, space, iterations) for c in configs]
        if any(p is None for p in shown):  # an earlier space: the fields that vary across the trials, less those at 0
            varied = sorted(k for k in configs[0] if len({json.dumps(c.get(k)) for c in configs}) > 1)
            unused = lambda v: not isinstance(v, bool) and isinstance(v, (int, float)) and v == 0  # e.g. a momentum
            shown = [{k: c[k] for k in varied if not unused(c[k])} for c in configs]
        for r, c, params in zip(records, configs, shown):
            trials.append(
                Trial(r["status"] != "pruned", value(r), curve_of(r, split, space), params, warm=c == warm, record=r)
            )
    run_id = lambda t: (t.record or {}).get("run_id", "")  # ties without trial numbers: an arbitrary, fixed order
    trials = sorted(trials, key=lambda t: (-np.nan_to_num(t.last, nan=-1.0), not t.complete, t.number or 0, run_id(t)))
    return Search(search_dir.name, space, iterations, split, trials, records, every, failed, exported.exists())


def retrains(s: Search, rival: RunConfig) -> list[dict]:
    """The seeds of the best complete trial retrained at the rival's length on all the training images."""
    for t in (t for t in s.complete if t.value == s.complete[0].value and t.record):  # the best, ties in order
        config = {**t.record["identity"]["config"], "validation": 0}  # at the rival's length in the search's steps
        config["iterations"] = hpsearch.iterations_for(s.space, config["batch_size"], rival.iterations)
        run = RunConfig(hpsearch.best_name(s.space), **config)
        if found := records_of(s.all_records, run.name, run.identity(), t.record["identity"]["data"]["name"]):
            return found
    return []


def accuracy_label(s: Search) -> str:
    complete = [t.record for t in s.complete if t.record]
    n = stats.images_evaluated(complete[0], s.split) if complete else None
    name, images = ("validation", "held-out") if s.split == "val" else ("TEST", "test")
    return f"{name} accuracy (%)" + (f", {n:,} {images} images" if n else "")


def figure_title(s: Search, what: str) -> str:
    space = SPACE_WORDS.get(s.space, f"the space {s.space!r}")
    title = f"A search over {space} ({len(s.trials)} trials of up to {s.iterations:,} {steps(s.space)}): {what}"
    return title + ("\n(the earlier protocol: trials scored on the TEST set, not on validation)" * (s.split != "val"))


def plot_trials(s: Search, path: Path, ended: float | None = None) -> Path:
    """Every trial's curve beside its value, in the order the trials started (numbers lost: ranked); ``ended``: a
    pruned warm start's value trained to its end outside the search, dotted."""
    fig, (left, ax) = plt.subplots(1, 2, figsize=(14, 5.6), sharey=True, gridspec_kw={"width_ratios": [3, 2]})
    color, pruned = SPLIT_COLORS[s.split], [t for t in s.trials if not t.complete]
    stops = [t.curve[-1][0] for t in pruned if t.curve]
    stopped = "stopped at " + ", ".join(f"{it:,} ({stops.count(it)})" for it in sorted(set(stops)))
    if len(set(stops)) > LISTED_STOPS:
        stopped = f"stopped between {min(stops):,} and {max(stops):,}"
    stopped += f" {steps(s.space)}"
    for t in reversed([t for t in s.trials if t.curve]):  # the best drawn last, on top
        x, y = np.array(t.curve, dtype=float).T
        c = WARM_COLOR if t.warm else color if t.complete else PRUNED_COLOR
        lw = 2.6 if t is s.trials[0] else 1.8 if t.warm else 1.0 if t.complete else 0.7
        left.plot(x, 100 * y, color=c, lw=lw, alpha=1.0 if t.warm or t.complete else 0.6, zorder=3 if t.complete else 2)
        left.plot(x[-1], 100 * y[-1], "o" if t.complete else "x", color=c, ms=4, zorder=4)
    line = lambda c, label, **kw: Line2D([], [], color=c, label=label, **kw)
    handles = [
        line(color, f"complete ({len(s.complete)}): dot, its value", marker="o", ms=4),
        line(PRUNED_COLOR, f"pruned ({len(pruned)}): {stopped}; cross, its last evaluation", marker="x"),
    ]
    if s.complete:
        handles.append(line(color, f"the best ({pct(s.complete[0].value)}%)", lw=2.6))
    if s.warm:
        stop = "" if s.warm.complete else f"pruned at {s.warm.curve[-1][0]:,}: "
        warm = f"warm start: the hand-tuned configuration ({stop}{pct(s.warm.last)}%)"
        handles.append(line(WARM_COLOR, warm, lw=1.8))
    if ended is not None:
        for a in (left, ax):
            a.axhline(100 * ended, color=WARM_COLOR, ls=":", lw=1.3)
        handles.append(
            line(WARM_COLOR, f"the warm start trained to its end, outside the search ({pct(ended)}%)", ls=":")
        )
    xlabel = "iterations (training batches)" if s.space != "airbench" else steps(s.space)
    left.set(xlabel=xlabel, ylabel=accuracy_label(s))
    left.set_title(f"every trial, evaluated every {s.records[0]['identity']['eval_every']} iterations", fontsize=10)
    order = sorted(s.trials, key=lambda t: t.number) if s.numbered else s.trials
    x = [t.number for t in order] if s.numbered else list(range(1, len(order) + 1))
    for xi, t in zip(x, order):
        ax.plot(xi, 100 * t.last, "o" if t.complete else "x", color=color if t.complete else PRUNED_COLOR, ms=5)
        if t.warm:
            ax.plot(xi, 100 * t.last, "o", ms=12, mfc="none", mec=WARM_COLOR, mew=1.5)
    done = [(xi, 100 * t.value) for xi, t in zip(x, order) if t.complete]
    if s.numbered and done:
        xs, ys = zip(*done)
        ax.step(xs, np.maximum.accumulate(ys), where="post", color=color, lw=1.2, label="the best so far")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_xlabel("trial (in the order they started)" if s.numbered else "trial, ranked by its value")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("each trial's value (pruned: its last evaluation)", fontsize=10)
    for a in (left, ax):
        a.grid(alpha=0.3)
    ax.tick_params(labelleft=True)
    fig.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2)
    fig.suptitle(figure_title(s, f"every trial's {SPLIT_NAMES[s.split]} accuracy"), fontsize=11)
    return save_figure(fig, path, tight=True)


def plot_sensitivity(s: Search, path: Path) -> Path:
    """The accuracy against each searched knob: the log-scaled first, then the other numbers, the categories."""
    names = {k for t in s.trials for k in t.knobs}
    numeric = {k: all(type(t.knobs[k]) in (int, float) for t in s.trials if k in t.knobs) for k in names}
    log = hpsearch.LOG_KNOBS
    order = lambda k: (0 if k in log else 1 if numeric[k] else 2, log.index(k) if k in log else 0, k)  # noqa: E731
    knobs = [(k, numeric[k]) for k in sorted(names, key=order)]
    rows = math.ceil(len(knobs) / PANELS_PER_ROW)
    fig, axes = plt.subplots(rows, PANELS_PER_ROW, figsize=(3.4 * PANELS_PER_ROW, 3.0 * rows), sharey=True)
    axes = np.atleast_1d(axes).ravel()
    color, optimizers = SPLIT_COLORS[s.split], sorted({t.knobs.get("optimizer") for t in s.trials} - {None})
    for ax, (knob, number) in zip(axes, knobs):  # the accuracy against one knob, a marker per optimizer
        have = [t for t in s.trials if knob in t.knobs]
        x = np.array([t.knobs[knob] if number else 0.0 for t in have], dtype=float)
        if not number:  # categories side by side, each one's trials spread across its slot, best first
            cats = sorted({str(t.knobs[knob]) for t in have})
            for i, c in enumerate(cats):
                at = [j for j, t in enumerate(have) if str(t.knobs[knob]) == c]
                x[at] = i + (np.linspace(-0.3, 0.3, len(at)) if len(at) > 1 else 0.0)
            ax.set_xticks(range(len(cats)), cats, rotation=20 if len(cats) > 2 else 0, fontsize=8)
        for xi, t in zip(x, have):
            marker, c = MARKERS.get(t.knobs.get("optimizer"), "o"), color if t.complete else PRUNED_COLOR
            ax.scatter(xi, 100 * t.last, marker=marker, s=40 if t.complete else 16, color=c, alpha=0.85, lw=0, zorder=3)
            if t.warm:
                ax.scatter(xi, 100 * t.last, s=150, facecolors="none", edgecolors=WARM_COLOR, lw=1.3, zorder=4)
        logx = number and knob in log and len(x) and x.min() > 0
        if logx:
            ax.set_xscale("log")
            if x.max() / x.min() < 30:  # about a decade: matplotlib labels every minor tick, and they overprint
                log_labels(ax.xaxis, (2, 5))
        used = f", {len(have)} of {len(s.trials)} trials" if len(have) < len(s.trials) else ""
        ax.set_xlabel(f"{knob}{' (log axis)' if logx else ''}{used}", fontsize=9)
        ax.grid(alpha=0.3)
    for ax in axes[len(knobs) :]:
        ax.axis("off")
    for ax in axes[::PANELS_PER_ROW]:
        ax.set_ylabel(accuracy_label(s).split(",")[0])
    dot = lambda label, **kw: Line2D([], [], ls="none", label=label, **{"marker": "o", "ms": 6, **kw})
    handles = [dot("complete: its value", color=color), dot("pruned: its last evaluation", color=PRUNED_COLOR)]
    if s.warm:
        handles.append(dot("warm start", mfc="none", mec=WARM_COLOR, ms=11))
    handles += [dot(o, marker=MARKERS.get(o, "o"), color="black", mfc="none") for o in optimizers]
    fig.legend(handles=handles, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=min(len(handles), 6))
    fig.suptitle(figure_title(s, f"{SPLIT_NAMES[s.split]} accuracy against each searched parameter"), fontsize=11)
    return save_figure(fig, path, tight=True)


def header(s: Search) -> list[str]:
    exported = f" and `{hpsearch.TRIALS_FILE}`, its trials exported from the Optuna storage" if s.numbered else ""
    failed = f", {s.failed} failed" if s.failed is not None else ""
    text = (
        f"Drawn by `common/report/search.py` from the study folder's records (`results.jsonl`{exported}): "
        f"{len(s.complete)} complete, {len(s.trials) - len(s.complete)} pruned{failed} trials of up to "
        f"{s.iterations} {steps(s.space)}, space `{s.space}`"
    )
    if s.split == "val":
        text += (
            f"; multivariate TPE, successive halving on the {steps(s.space)}. Each trial trains on the training set "
            f"less its validation split ({s.records[0]['identity']['split']['per_class']} images per class) and is "
            "scored and pruned on the validation accuracy: the search never reads the test set."
        )
    else:
        text += (
            ". The earlier protocol: each trial trained on the whole training set and was scored, and pruned, on the "
            "TEST set, so its value (the final test accuracy of the search's seed) is the number its winner reports."
        )
    known = f" Trial {s.warm.number} is" if s.warm and s.numbered else " One trial, known by its parameters, is"
    no_warm = " No trial has the hand-tuned configuration (no warm start)."
    text += known + " the hand-tuned configuration (warm start)." if s.warm else no_warm
    if not s.numbered:
        text += f" The records hold no trial numbers (no `{hpsearch.TRIALS_FILE}`), so trials are ranked by value."
    rows = []  # the best complete trials
    for rank, t in enumerate(s.complete[:TOP], 1):
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(t.params.items()))
        tag = " (warm start)" if t.warm else ""
        rows.append([*([rank, f"{t.number}{tag}"] if s.numbered else [f"{rank}{tag}"]), pct(t.value), params])
    head = ["rank", *(["trial"] if s.numbered else []), f"{s.split} acc", "parameters"]
    return [f"# Search `{s.name}`", f"{text} {PM_KEY}", stats.markdown(head, rows)]


def trial_lines(s: Search, hand: list[dict]) -> list[str]:
    """What the trials did and cost beside the hand tuning; augmentation; the batch sizes above the warm start."""
    stops = [t.curve[-1][0] for t in s.trials if not t.complete and t.curve]
    chance = 1 / len(data.CIFAR10_CLASS_NAMES)  # the searches are on the study's data
    n = stats.images_evaluated(s.records[0], s.split, [*s.records, *hand])  # older trials: a record's like them
    near = chance + NOISE * stats.binomial_se(chance, n)
    wall = sum(r["wall_time_s"] for r in s.records)
    iters = sum(hpsearch.step(s.space, r["identity"]["config"]["batch_size"], r["iterations_done"]) for r in s.records)
    text = (
        f"Pruned: {', '.join(f'{stops.count(it)} at {it:,}' for it in sorted(set(stops))) or 'none'} {steps(s.space)}; "
        f"{sum(t.last <= near for t in s.trials)} of {len(s.trials)} trials end within noise of chance; the trials' "
        f"{steps(s.space)} are as many as {iters / s.iterations:.0f} full trials'. They took "
        f"{format_duration(wall)} of wall time ({iters:,} {steps(s.space)}) on {stats.cpus(s.records)}"
    )
    if hand:
        text += f"; the runs of the hand tuning it replaces, {format_duration(sum(r['wall_time_s'] for r in hand))} on "
        text += stats.cpus(hand)
    text += "."
    on = [t for t in s.trials if t.knobs.get("augment", "none") != "none"]
    off = [t for t in s.trials if t not in on]
    if on and off:  # a space where augmentation is a choice
        settings = ", ".join(f"{t.knobs.get('optimizer')} at {t.knobs.get('learning_rate', math.nan):.2g}" for t in on)
        text += f" Augmentation on in {len(on)} of {len(s.trials)} trials ({settings})"
        text += f", the best {pct(max(t.last for t in on))}%; off, the best {pct(max(t.last for t in off))}%."
    if s.warm and len({t.knobs.get("batch_size") for t in s.trials}) > 1:
        rival = RUNS[hpsearch.RIVALS[s.space]].batch_size
        above = [t.knobs.get("batch_size", rival) for t in s.complete if t.value > s.warm.last]
        counts = ", ".join(f"{b} ({above.count(b)} of {len(above)})" for b in sorted(set(above)))
        text += f" Batch sizes of the complete trials above the warm start: {counts}."
    return [text]


def passes(run_or_record) -> float:
    """The passes over the study's 10,000 training images a run makes."""
    c = run_or_record["identity"]["config"] if isinstance(run_or_record, dict) else asdict(run_or_record)
    return c["iterations"] * c["batch_size"] / (len(data.CIFAR10_CLASS_NAMES) * data.STUDY_COUNTS[0])


def images_seen(mine: list[dict], base: list[dict], cifar_records: list[dict], data: str) -> str:
    """Whether the winner and its rival saw as many training images; where not, the hand-built runs that saw as many."""
    a, b = passes(mine[0]), passes(base[0])
    if math.isclose(a, b):
        return f"Both see the same training images: {a:g} passes over them."
    more = [run for run in RUNS.values() if run.rung is not None and run.arch == "lenet5" and passes(run) >= a]
    found = [(run, recs) for run in more if (recs := records_of(cifar_records, run.name, run.identity(), data))]
    listed = "; ".join(f"rung {run.rung} `{run.name}` ({passes(run):g} passes) {show(recs)}" for run, recs in found)
    above = sum(stats.final(mine)[0] > stats.final(recs)[0] for _, recs in found)
    return (
        f"Not at equal images seen: the winner's {mine[0]['identity']['config']['batch_size']} images a batch make "
        f"{a:g} passes over the training images in these iterations, the rival's {b:g}. The hand-built runs that see "
        f"at least the winner's images: {listed or 'none'}"
        + (f"; the winner's mean is above {above} of them." if found else ".")
    )


def winner_lines(s: Search, mine: list[dict], base: list[dict], rival: RunConfig, cifar: list[dict]) -> list[str]:
    """The winner's test accuracy against the rival's, the study's best run's, and at equal images."""
    win, hand = (mean_std([r["final"].get("test_accuracy") for r in rs]) for rs in (mine, base))
    ref = RUNS[hpsearch.RIVALS["study"]]  # the study's best run, whose number the study reported
    chosen = "chosen on validation" if s.split == "val" else "chosen on the TEST set (the earlier protocol)"
    rung = f"the ladder's rung {rival.rung}, " if (rival.rung or "").isdigit() else ""
    who = f"the hand-built recipe of the same length ({rung}"
    if rival.study_row:
        who = f"the study's hand-tuned best (run {rival.study_row}, "
    lines = [
        f"The best configuration, {chosen}, retrained on the whole training set for {rival.iterations} "
        f"{steps(s.space)} (the hand-tuned rival's length) with seeds {stats.seeds(mine) or '-'}: test accuracy "
        f"{pm(win[0], win[1])}% (n = {win[2]}); {who}`{rival.name}`, {rival.iterations} iterations): "
        f"{pm(hand[0], hand[1])}% (n = {hand[2]}); the study reported {pct(ref.study_accuracy[1])}% for its run "
        f"{ref.study_row}."
    ]
    if mine and base:
        time = lambda rs: format_duration(mean_std([r["train_time_s"] for r in rs])[0])  # noqa: E731
        lines.append(
            f"Search minus `{rival.name}`: {stats.difference(*compare(mine, base)[:2])} (standard error over seeds). "
            f"Training time per seed: the search's {time(mine)} on {stats.cpus(mine)}, the rival's {time(base)} on "
            f"{stats.cpus(base)}. {images_seen(mine, base, cifar, base[0]['identity']['data']['name'])}"
        )
        run7 = records_of(cifar, ref.name, ref.identity(), base[0]["identity"]["data"]["name"])
        if rival.name != ref.name and run7:
            lines[-1] += f" Against the study's run 7 (`{ref.name}`): {stats.difference(*compare(mine, run7)[:2])}."
        if s.split == "test":  # the earlier searches scored on the test set: the rival at their trials' length
            at = [stats.at([r], s.iterations, "test_accuracy") for r in base]
            above = "above every trial" if s.complete and min(at) > s.complete[0].value else "not above every trial"
            lines[-1] += (
                f" The rival at the trials' {s.iterations} iterations: {pct(min(at))}-{pct(max(at))}%, {above}."
            )
    return lines


def rebuild(search_dir: Path, cifar_records: list[dict], named: dict[str, RunConfig] | None = None) -> list[Path]:
    """Redraws one study folder's ``search.md``, ``trials.png`` and ``sensitivity.png``; ``cifar_records``: the sweep's
    (the rival's, the hand tuning's); ``named``: the runs by name (``cifar_v2.py`` passes them under its flags)."""
    named = named or RUNS
    s = read(search_dir, named)
    rival, data = named[hpsearch.RIVALS[s.space]], s.records[0]["identity"]["data"]["name"]
    of = lambda run: records_of(cifar_records, run.name, run.identity(), data)  # noqa: E731
    hand = [r for name in hpsearch.HAND_TUNING[s.space] for r in of(named[name]) if r["identity"]["seed"] == 0]
    lines, ended = [], None  # on the warm start, then the trials, one paragraph
    if s.warm and s.complete and s.warm.complete:
        best, warm = s.complete[0].value, s.warm.last
        lines.append(
            f"{'On validation' if s.split == 'val' else 'On the test set'} the search's best is "
            f"{gap(best - warm)} points from its warm start ({pct(best)}% against {pct(warm)}%, one seed each)."
        )
    elif s.warm and s.warm.curve:  # successive halving judges a trial early: a slow start is pruned, however it ends
        at, value = s.warm.curve[-1]
        lines.append(
            f"The warm start was pruned at {at:,} of {s.iterations:,} {steps(s.space)} ({pct(value)}% there): not in "
            "the top third of the trials that had reached that rung (before three had: not their best). Successive "
            "halving judges a trial by its start, not by where it would end."
        )
        warm = (s.warm.record or {}).get("identity", {})  # the same run trained to its end outside the search
        same = lambda r: all(r["identity"].get(k) == warm.get(k) for k in ("config", "seed", "split", "data"))  # noqa: E731
        if full := [r for r in cifar_records if r["name"] == rival.name and r["status"] == "finished" and same(r)]:
            ended = full[0]["final"][f"{s.split}_accuracy"]
            lines[-1] += (
                f" The same run trained to its end on the same split (`{rival.name}`, seed {warm['seed']}, in "
                f"`cifar/results.jsonl`): {pct(ended)}%, against the search's best "
                f"{pct(s.complete[0].value) if s.complete else '-'}%."
            )
    winner = winner_lines(s, retrains(s, rival), of(rival), rival, cifar_records)
    path = stats.write_page(search_dir / "search.md", *header(s), lines + trial_lines(s, hand), *winner)
    return [plot_trials(s, search_dir / "trials.png", ended), plot_sensitivity(s, search_dir / "sensitivity.png"), path]
