"""The search's report (``figures/cifar/search/<study>/``): the best trials, Optuna's figures, and the best
configuration retrained with every seed beside its hand-tuned rival."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna

from common import io
from common.report.plots import plt, save_figure
from common.report.stats import compare, mean_std
from common.report.tables import format_duration, pm
from common.search import best_trials, counts


def plot_history(study: optuna.Study, path: Path, rival_value: float | None = None) -> Path:
    """Every trial's validation accuracy in the order they ran: complete trials as dots with the best so far as
    a line, pruned trials at the last value they reported (crosses, with the iteration they stopped at as the
    color), the warm start ringed, and the hand-tuned rival's value as a dashed line."""
    trials = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    done = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE and t.value is not None]
    pruned = [t for t in trials if t.state == optuna.trial.TrialState.PRUNED and t.intermediate_values]
    fig, ax = plt.subplots(figsize=(9, 5))
    stops = sorted({max(t.intermediate_values) for t in pruned})
    for k, step in enumerate(stops):  # one color per rung of the successive halving
        at = [t for t in pruned if max(t.intermediate_values) == step]
        ax.scatter(
            [t.number for t in at],
            [100 * t.intermediate_values[step] for t in at],
            marker="x",
            color=plt.get_cmap("viridis")(k / max(len(stops) - 1, 1)),
            label=f"pruned at iteration {step:,} ({len(at)}): its value then",
        )
    if done:
        xs = [t.number for t in done]
        ys = [100 * t.value for t in done]
        ax.scatter(xs, ys, color="C3", s=22, zorder=3, label=f"complete ({len(done)})")
        ax.step(xs, np.maximum.accumulate(ys), where="post", color="C3", lw=1.2, label="best so far")
    warm = [t for t in done if t.user_attrs.get("warm_start")]
    if warm:
        ax.scatter(
            [warm[0].number],
            [100 * warm[0].value],
            s=120,
            facecolors="none",
            edgecolors="black",
            zorder=4,
            label="trial 0: the hand-tuned configuration (warm start)",
        )
    if rival_value is not None:
        ax.axhline(100 * rival_value, color="black", ls="--", lw=0.9, label="hand-tuned rival at the trial length")
    ax.set(xlabel="trial (in the order they started)", ylabel="validation accuracy (%), 1,000 held-out images")
    ax.set_title(f"Search {study.study_name}: every trial", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, path)


def report_figures(study: optuna.Study, out: Path) -> list[Path]:
    """The history of every trial (:func:`plot_history`) and Optuna's parameter importances (matplotlib), as
    PNG."""
    from optuna.visualization import matplotlib as ovm

    warm = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("warm_start") and t.value is not None]
    written = [plot_history(study, out / "optimization_history.png", warm[0].value if warm else None)]
    n = len(best_trials(study, 10**6))
    if n >= 3:
        # PED-ANOVA compares the parameters of the best trials with all of them; its default "best"
        # is the top 10%, one trial out of 10, so take at least 3 (no scikit-learn needed, unlike fANOVA)
        q = min(0.5, max(0.1, 3 / n))
        ax = ovm.plot_param_importances(
            study,
            evaluator=optuna.importance.PedAnovaImportanceEvaluator(target_quantile=q),
            target_name="validation accuracy",
        )
        ax.set_title("", loc="left")  # Optuna titles its plots on the left; one title, ours, in the middle
        ax.set_title(
            f"Parameter importances of study {study.study_name}\n(PED-ANOVA: the top {q:.0%} of {n} complete "
            "trials against all; with this few trials it describes where the search went, not what matters)",
            fontsize=9,
        )
        written.append(save_figure(ax.figure, out / "param_importances.png"))
    plt.close("all")
    return written


def search_time(st) -> tuple[float, int]:
    """The search's cost: the wall seconds of all its trials (training, evaluation, checkpoints) and the
    iterations they trained, from what each trial recorded."""
    trials = [t for t in st.get_trials(deepcopy=False) if t.state.is_finished()]
    return (
        sum(t.user_attrs.get("wall_time_s") or 0.0 for t in trials),
        sum(t.user_attrs.get("iterations") or 0 for t in trials),
    )


def cpus(records: list[dict]) -> str:
    """The CPUs that made ``records`` (``versions.cpu``), for a sentence: times compare only on one machine."""
    names = sorted({r.get("versions", {}).get("cpu") or "a CPU not recorded (before cpu.py)" for r in records})
    return " and ".join(names) if names else "this machine"


def write_report(
    st,
    out: Path,
    space: str,
    trial_iterations: int,
    winner,
    mine,
    hand_run,
    base,
    seeds,
    hand_time_s=None,
    search_cpus: str = "this machine",
    hand_cpus: str = "",
) -> list[Path]:
    """``search.md``: the 10 best trials (chosen on validation), what the search added to its warm start, its
    cost beside the hand tuning's (``hand_time_s``), then the winner's test accuracy over ``seeds`` (its records
    ``mine``) against its hand-tuned rival's (``hand_run``, its records ``base``), with the difference's
    standard error."""
    best = best_trials(st, 10)
    win, hand = (mean_std([r["final"].get("test_accuracy") for r in rs]) for rs in (mine, base))
    c = counts(st)
    warm = [t for t in st.get_trials(deepcopy=False) if t.user_attrs.get("warm_start") and t.value is not None]
    wall, iters = search_time(st)
    lines = [
        f"# Search `{st.study_name}`",
        "",
        f"Generated by `cifar_v2.py --search-report` from the study's storage: {c.get('COMPLETE', 0)} complete, "
        f"{c.get('PRUNED', 0)} pruned, {c.get('FAIL', 0)} failed trials of up to {trial_iterations} iterations, "
        f"space `{space}`; multivariate TPE, successive halving on the iterations. Each trial trains on the "
        "training set less its validation split (100 images per class) and is scored and pruned on the "
        "validation accuracy: the search never reads the test set. Trial 0 is the hand-tuned configuration "
        "(warm start).",
        "",
        "| rank | trial | val acc | parameters |",
        "|---|---|---|---|",
    ]
    for rank, t in enumerate(best, 1):
        params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(t.params.items()))
        tag = " (warm start)" if t.user_attrs.get("warm_start") else ""
        lines.append(f"| {rank} | {t.number}{tag} | {100 * t.value:.1f} | {params} |")
    lines.append("")
    if warm and best:
        lines.append(
            f"On validation the search's best is {100 * (best[0].value - warm[0].value):+.1f} points from its "
            "warm start "
            f"({100 * best[0].value:.1f}% against {100 * warm[0].value:.1f}%, one seed each)."
        )
    cost = f"The search's trials took {format_duration(wall)} of wall time ({iters:,} iterations) on {search_cpus}"
    if hand_time_s:
        cost += f"; the runs of the hand tuning it replaces, {format_duration(hand_time_s)}" + (
            f" on {hand_cpus}" if hand_cpus else ""
        )
    lines += [
        cost + ".",
        "",
        f"The best configuration, chosen on validation, retrained on the whole training set for "
        f"{winner.iterations} iterations (the hand-tuned rival's length) with seeds {','.join(map(str, seeds))}: "
        f"test accuracy {pm(win[0], win[1])}% (n = {win[2]}); "
        + (
            "the study's hand-tuned best (run 7"
            if space == "study"
            else "the hand-built recipe of the same length (the ladder's rung 4"
        )
        + f", `{hand_run.name}`, {hand_run.iterations} iterations): "
        f"{pm(hand[0], hand[1])}% (n = {hand[2]}); the study reported 58.5% for its run 7.",
    ]
    if mine and base:
        diff, se, real = compare(mine, base)
        lines += [
            "",
            f"Search minus `{hand_run.name}`: {100 * diff:+.1f} ± {100 * se:.1f} points (standard error over seeds): "
            + (
                "the search wins beyond noise"
                if real and diff > 0
                else "beyond noise"
                if real
                else "within noise (less than two standard errors)"
            )
            + ".",
        ]
    io.write_text(out / "search.md", "\n".join(lines) + "\n")
    return report_figures(st, out) + [out / "search.md"]
