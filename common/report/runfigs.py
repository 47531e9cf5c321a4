"""Each run's own figures from its seeds' records alone (``figures/cifar/<run>/``): curves, activations, filters."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from common import study
from common.report import plots
from common.report.plots import SPLIT_COLORS, SPLIT_NAMES, STUDY_COLORS, band, image_grid, plt, seeds_note
from common.report.stats import series
from common.runs import CONV_LAYERS, GRADIENT_R2, HIST_IMAGES, plane_r2

# One symmetric gray scale for every LeNet-5 filters figure, so that two runs' figures compare filters, not
# scales: the trained runs' largest |weight| ranged 0.25-1.0; weights beyond it clip (and the title says so)
FILTER_SCALE = 0.5
TITLE_CHARS = 110  # a title line's width in characters at the figures' 11-inch width


def split_of(record: dict) -> str:
    """ "val" for a run that chose on validation (it evaluated the held-out training images, never the test set)."""
    return "val" if any("val_accuracy" in h for h in record["history"]) else "test"


def plot_curves(records, title: str, path, reference=None, l2: bool = False) -> Path:
    """Train and test (or validation) accuracy and loss, mean ± std over the seeds, the study's numbers dashed; the
    train cross-entropy beside the optimized loss (dashed), over the seeds whose every evaluation recorded it."""
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.2))
    split = split_of(records[0])
    held = SPLIT_NAMES[split] + (" (held-out training images)" if split == "val" else " (all test images)")
    band(ax_acc, records, "train_accuracy", "train (interval mean)", SPLIT_COLORS["train"], scale=100)
    band(ax_acc, records, f"{split}_accuracy", held, SPLIT_COLORS[split], scale=100)
    for value, what in zip(reference or (), ("train", "test")):
        ax_acc.axhline(100 * value, color=STUDY_COLORS[what], ls="--", lw=1.2, label=f"the study's {what} accuracy")
    ax_acc.set(xlabel="iteration (batch)", ylabel="accuracy (%)", ylim=(0, 100))
    ax_acc.set_title(f"accuracy ({seeds_note([len(records)])})", fontsize=10)
    ax_acc.grid(alpha=0.3)
    ax_acc.legend(fontsize=8, loc="lower right")
    with_ce = [r for r in records if all("train_ce" in h for h in r["history"] if h["iteration"])]
    if with_ce:  # the seeds that recorded it at every evaluation (a seed made by an older version did not)
        seeds = ", ".join(str(r["identity"]["seed"]) for r in with_ce)
        only = "" if len(with_ce) == len(records) else f"; seed{'s' * (len(with_ce) > 1)} {seeds} only"
        band(ax_loss, with_ce, "train_ce", f"train cross-entropy (interval mean{only})", SPLIT_COLORS["train"])
        optimized = "train loss as optimized" + (" (cross-entropy + L2 penalty)" if l2 else "")
        band(ax_loss, records, "train_loss", optimized, SPLIT_COLORS["train"], ls="--", lw=1.0)
    else:  # recorded before the cross-entropy was: the optimized loss is all there is, and it says so
        what = "train loss (interval mean" + (", with the L2 penalty)" if l2 else ")")
        band(ax_loss, records, "train_loss", what, SPLIT_COLORS["train"])
    band(ax_loss, records, f"{split}_loss", f"{SPLIT_NAMES[split]} cross-entropy", SPLIT_COLORS[split])
    ax_loss.set(xlabel="iteration (batch)", ylabel="loss (log scale)", yscale="log")
    plots.log_labels(ax_loss.yaxis, (2, 3, 5))
    ax_loss.set_title("loss", fontsize=10)
    ax_loss.grid(alpha=0.3, which="both")
    ax_loss.legend(fontsize=8)
    size = 10 if len(textwrap.wrap(title, TITLE_CHARS)) <= 2 else 8  # at most two lines, never wider than the panels
    fig.suptitle(textwrap.fill(title, TITLE_CHARS * 10 // size), fontsize=size)
    return plots.save_figure(fig, path, tight=True)


def probe_labels(record: dict, arch: str) -> dict[str, str]:
    """What each statistic's layer is, for the legends: the LeNet-5's conv outputs after the nonlinearity; the
    VGG-style CNN's (airbench's: GELU for ReLU) after batch norm and ReLU where the run recorded them there
    (``conv_probes``), and before them in runs recorded by earlier versions. Its conv2 is the second stage's first."""
    if arch == "lenet5":
        return {n: f"{n} (after the nonlinearity)" for n in CONV_LAYERS}
    which = {"conv1": "the 1st conv", "conv2": "the 3rd conv (stage 2's first)"}
    after, act = "conv_probes" in record["final"], "GELU" if arch.startswith("airbench") else "ReLU"
    return {n: f"{n}: {which[n]}, " + (f"after BN + {act}" if after else f"before BN and {act}") for n in CONV_LAYERS}


def plot_activation_stats(records, name: str, path, read_every: int, arch: str = "lenet5") -> Path:
    """min, max, mean and std of each conv layer's activations over iterations (log axis). Iteration 0 is a dot of its
    own where the runs were not evaluated before their first interval (a line there would draw a trend nobody
    measured); conv2 dashed, so that where both are equal (a ReLU's min is 0) conv1 shows through."""
    fig, axes = plt.subplots(1, 4, figsize=(15, 3.8))
    names = probe_labels(records[0], arch)
    dense = all(r.get("dense_until") for r in records)
    last = max(h["iteration"] for h in records[0]["history"])
    later = [{**r, "history": [h for h in r["history"] if dense or h["iteration"]]} for r in records]
    for ax, stat in zip(axes, ("min", "max", "mean", "std")):
        values = []
        for layer in CONV_LAYERS:
            key, style = f"{layer}_{stat}", plots.LAYER_STYLES[layer]
            xs, mean, _ = band(ax, later, key, names[layer], **style)
            values += [*mean]
            if not dense and len(xs):
                values.append(series(records, key)[1][:, 0].mean())  # the seeds' mean at iteration 0
                ax.plot([0], [values[-1]], "o", color=style["color"], ms=4)
        if len(set(values)) == 1:  # a flat line says less than its value written out
            ax.text(0.5, 0.6, f"both layers: {values[0]:g}\nat every evaluation", transform=ax.transAxes, ha="center")
        for it in range(read_every, last + 1, read_every):
            ax.axvline(it, color="0.6", lw=0.6, ls=":")
        ax.set_xscale("symlog", linthresh=1, linscale=0.3)  # log from 1 on; iteration 0 (the initialization) kept
        ax.set_xticks([0] + [10**e for e in range(1, len(str(last)))])  # no tick at 1: its label hits 0's
        plots.log_labels(ax.xaxis)
        ax.set_xlim(0, last)
        ax.set(title=stat, xlabel="iteration (log scale; 0 = initialization)", ylabel=f"activation {stat}")
        ax.grid(alpha=0.3, which="both")
    handles, labels = axes[0].get_legend_handles_labels()  # one legend under the panels: never over a curve
    read_out = f"the study's read-out points (every {read_every:,} iterations)"
    handles.append(plt.Line2D([], [], color="0.6", lw=0.6, ls=":", label=read_out))
    if not dense:
        handles.append(plt.Line2D([], [], color="0.3", marker="o", ls="none", ms=4, label="the initialization"))
    fig.legend(handles=handles, loc="lower center", ncols=len(handles), fontsize=9, bbox_to_anchor=(0.5, -0.08))
    title = f"conv activations of {name} on the {SPLIT_NAMES[split_of(records[0])]} images"
    fig.suptitle(f"{title}\n({seeds_note([len(records)])}; {plots.evaluated_when(records)})", fontsize=10)
    return plots.save_figure(fig, path, tight=True)


def plot_activation_histograms(record, name: str, path, read_every: int, arch: str = "lenet5", snapshots: int = 7):
    """Each conv layer's activation distribution at the multiples of ``read_every`` and the end, dark to yellow."""
    recorded = [h for h in record["history"] if "conv1_hist" in h]
    if not recorded:
        return None
    picks = [h for h in recorded if h["iteration"] % read_every == 0 or h is recorded[-1]]
    if len(picks) > snapshots:
        picks = [picks[i] for i in sorted(set(np.linspace(0, len(picks) - 1, snapshots).round().astype(int)))]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    names = probe_labels(record, arch)
    for ax, layer in zip(axes, CONV_LAYERS):
        for j, h in enumerate(picks):
            edges, counts = np.asarray(h[f"{layer}_hist"]["edges"]), np.asarray(h[f"{layer}_hist"]["counts"])
            density = counts / max(counts.sum(), 1) / np.diff(edges)
            color = plt.get_cmap("viridis")(j / max(len(picks) - 1, 1))
            ax.stairs(density, edges, color=color, lw=1.4, label=f"iteration {h['iteration']}")
        images = f"{HIST_IMAGES} {SPLIT_NAMES[split_of(record)]} images"
        ax.set_yscale("log")
        ax.set(title=f"{names[layer]}\n({images})", xlabel="activation value", ylabel="density (log scale)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"conv activation histograms of {name}, seed {record['identity']['seed']}", fontsize=10)
    return plots.save_figure(fig, path, tight=True)


def recorded_kernel(record: dict, where: str) -> np.ndarray | None:
    """The conv1 kernel (k, k, channels, maps) a record holds at its start (``"init"``) or end (``"final"``)."""
    kernel = (record["history"][0] if where == "init" else record["final"]).get("conv1_kernel")
    return None if kernel is None else np.asarray(kernel, dtype=np.float64)


def plot_filters(record: dict, name: str, path, init: bool = False) -> Path | None:
    """The trained conv1 filters on one symmetric scale (gray for a gray network, RGB for a color one), the intensity
    ramps (a plane fits with R^2 >= GRADIENT_R2: claim 7) framed in red; ``init``: below the filters at initialization
    (gray networks: how many ramps the training made), with how far training moved each filter."""
    trained = recorded_kernel(record, "final")
    kernels = [recorded_kernel(record, "init"), trained] if init else [trained]
    if any(w is None for w in kernels) or not np.all(np.isfinite(trained)) or init and trained.shape[2] != 1:
        return None
    seed, k, n = record["identity"]["seed"], trained.shape[0], trained.shape[-1]
    filters = np.concatenate([np.moveaxis(w, -1, 0) for w in kernels])  # (maps, k, k, channels)
    ramps = np.concatenate([plane_r2(w) for w in kernels]) >= GRADIENT_R2
    m = max(float(np.abs(w).max()) for w in kernels)
    scale = FILTER_SCALE if k == 5 else m  # gray 5x5 (LeNet-5) filters: one scale for every run
    head, red = f"conv1 filters of {name}, seed {seed}", f"red frame: an intensity ramp (plane R² >= {GRADIENT_R2})"
    if init:  # how far training moved each filter: its correlation with its own start, against other filters' starts
        r = np.corrcoef(kernels[0].reshape(-1, n).T, trained.reshape(-1, n).T)[:n, n:]
        own, other = np.median(np.diag(r)), np.median(np.abs(r[~np.eye(n, dtype=bool)]))
        title = (
            f"{head}, at initialization (rows 1-{max(1, n // 16)}) and trained (the rest), one scale ±{scale:.3g}\n"
            f"{red}: {int(ramps[:n].sum())} of {n} at initialization, {int(ramps[n:].sum())} trained; a trained "
            f"filter's correlation with its own start: median {own:.2f} (|r| with the other starts: {other:.2f})"
        )
        labels = [f"{'init' if i < n else 'trained'} {i % n}" for i in range(2 * n)]
    else:
        labels = [f"{i}" + (" ramp" if r else "") for i, r in enumerate(ramps)]
        if filters.shape[-1] == 3:  # color filters as RGB: 0.5 + w / (2 max|w|) per channel, zero mid gray
            title = f"{head} ({k}x{k})\nRGB 0.5 + w / (2 max|w|), max|w| {m:.3g}; {red}, {int(ramps.sum())} of {n}"
            return image_grid(0.5 + filters / (2 * m), path, title, vmin=0, vmax=1, labels=labels, marked=ramps)
        what = f"its own scale, ±{m:.3g}"  # a 3x3 network's: the VGG's, rescaled by batch norm
        if k == 5:
            what = f"±{FILTER_SCALE:g}, the scale of every LeNet-5 run" + f" (clipped: max|w| {m:.3g})" * (m > scale)
        title = f"{head} ({k}x{k})\n{what}; {red}, {int(ramps.sum())} of {n}"
    style = dict(ncols=16 if init else 8, labels=labels, marked=ramps)
    return image_grid(filters[..., 0], path, title, vmin=-scale, vmax=scale, **style)


def write_run_figures(run: study.RunConfig, records: list[dict], out_dir: Path, read_every: int, study_data: bool):
    """Every figure of one configuration, from its seeds' records; the filters from the lowest seed's."""
    status = {r["status"] for r in records}
    flag = "" if status == {"finished"} else " [" + "/".join(sorted(s.upper() for s in status)) + "]"
    name = f"{study.label(run.name, records[0].get('overrides'))}{flag}"
    reference = run.study_accuracy if study_data else None
    # the curves on the run's own evaluation grid: a dense early rerun's single-batch train numbers are noise there
    every = records[0]["identity"]["eval_every"]
    grid = [{**r, "history": [h for h in r["history"] if h["iteration"] % every == 0]} for r in records]
    written = [plot_curves(grid, f"{name}: {run.describe()}", out_dir / "curves.png", reference, l2=bool(run.l2))]
    # the VGG's statistics where its seeds read the same layers: after BN + ReLU where any seed recorded that
    # (``conv_probes``), else before them (runs recorded by earlier versions); never the two in one band
    stats = [r for r in records if "conv_probes" in r["final"]] or records if run.arch != "lenet5" else records
    if any("conv1_mean" in h for h in stats[0]["history"]):
        written.append(plot_activation_stats(stats, name, out_dir / "activation_stats.png", read_every, run.arch))
        path = out_dir / "activation_histograms.png"
        written.append(plot_activation_histograms(stats[0], name, path, read_every, run.arch))
    written.append(plot_filters(records[0], name, out_dir / "filters.png"))
    written.append(plot_filters(records[0], name, out_dir / "filters_init_vs_trained.png", init=True))
    return [p for p in written if p is not None]
