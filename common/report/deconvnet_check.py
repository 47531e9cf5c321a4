"""The figures that check the network and the deconvnet, drawn from the saved record (``common/report/deconvnet.py``):
``occlusion.png`` (Zeiler & Fergus' Figure 7: does the network use the object or its surround?),
``guided_backprop_projections.png`` (the same activations projected by guided backprop and the plain gradient)
and the sanity check of Adebayo et al. ("Sanity checks for saliency maps", NeurIPS 2018),
``randomization_check.png`` and ``randomization_check.md``.

Cascading randomization: the weights of logits, then fc1, conv2, conv1 re-drawn from their initializers, top
down and cumulatively; after each step the same test images' projections (every activation kept) compared with
the trained network's (Spearman, SSIM), and each shown map's top-k patches compared by identity.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

from common import io
from common.report.deconvnet import Record, colorbar, finish, show_image, show_projection, subplots
from common.report.plots import plt, save_figure

LAYERS = ("conv1", "conv2")
COLORS = {"conv1": "#1f77b4", "conv2": "#d62728"}


def fig_occlusion(rec: Record, out: Path) -> Path:
    """The paper's Figure 7: a gray square slid over correctly classified images."""
    g = lambda key: rec[f"occlusion.{key}"]
    n, names = len(g("index")), rec.meta["data"]["class_names"]
    side, gray = rec.meta["occluder"], rec.meta["occluder_gray"]
    cmap_cls = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    fig, axes = plt.subplots(n, 5, figsize=(14, 2.6 * n), squeeze=False)
    where = "interior " if rec.interior else ""
    for r in range(n):
        show_image(axes[r, 0], rec.pixels("occlusion", r), "(a) " + rec.label("occlusion", r, true="true "))
        axes[r, 0].add_patch(matplotlib.patches.Rectangle((1.5, 1.5), side, side, color="orange", fill=False, lw=1.2))
        s = g("map")[r]
        fig.colorbar(
            axes[r, 1].imshow(g("activation")[r], cmap="viridis", interpolation="nearest"), ax=axes[r, 1], shrink=0.8
        )
        finish(axes[r, 1], f"(b) total {where}activation of conv2\nmap {s} vs. square's center")
        show_projection(axes[r, 2], g("proj")[r], f"(c) projection of conv2 map {s}\n(unoccluded; per-panel max|v|)")
        # one fixed 0..1 scale for every image: a probability that never rises above 0.01 must look dark
        im = axes[r, 3].imshow(g("p_true")[r].astype(np.float32), cmap="magma", vmin=0, vmax=1, interpolation="nearest")
        fig.colorbar(im, ax=axes[r, 3], shrink=0.8).set_label("probability", fontsize=7)
        true = g("label")[r]
        finish(
            axes[r, 3], f"(d) p({names[true]}) (true class) vs. square's\ncenter (unoccluded {g('prob')[r][true]:.2f})"
        )
        am = g("argmax")[r]
        axes[r, 4].imshow(am, cmap=cmap_cls, vmin=-0.5, vmax=cmap_cls.N - 0.5, interpolation="nearest")
        finish(axes[r, 4], "(e) most probable class\nvs. square's center")
        handles = [matplotlib.patches.Patch(color=cmap_cls(int(c)), label=names[c]) for c in np.unique(am)]
        axes[r, 4].legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    n_ok = int(np.sum(g("pred") == g("label")))
    fig.suptitle(
        f"Occlusion sensitivity: a {side}x{side} square of gray {gray} centered on every pixel (orange: one "
        "position); maps are indexed by the square's center\nthe images: test images this network classifies "
        f"correctly ({n_ok} of {n} here; drawn with --image-seed {rec.meta['settings']['image_seed']}); "
        "it never saw occluders in training\n(b), (c): the conv2 map holding the image's strongest single "
        f"activation; {rec.mining_note()}",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, out / "occlusion.png")


RULE_TITLES = {
    "deconvnet": "deconvnet\n(rectify signal)",
    "guided": "guided backprop\n(signal > 0 and fwd > 0)",
    "gradient": "gradient\n(fwd > 0 only)",
}


def fig_guided_backprop(rec: Record, out: Path) -> Path:
    """The same conv2 activations projected by the three backward rules: all kept, and each image's strongest one."""
    rules, n = rec.meta["rules"], len(rec["images.index"])
    fig, axes = subplots(n, 1 + 2 * len(rules), 1.75, 2.3, 1, 1.2)
    for r in range(n):
        show_image(axes[r, 0], rec.pixels("images", r), f"#{rec['images.index'][r]} {rec.name(rec['images.label'][r])}")
        one = ", ".join(f"{rec[f'guided.{key}'][r]}" for key in ("row", "col"))
        for j, rule in enumerate(rules):
            vs = "" if rule == "deconvnet" else "rho vs. deconvnet {:.2f}"
            top = lambda what: f"{what}:\n{RULE_TITLES[rule]}\n" if r == 0 else ""
            title = top("all conv2 kept") + vs.format(rec["guided.rho_all"][j, r])
            show_projection(axes[r, 1 + j], rec["guided.all"][j, r], title, 7)
            title = top("strongest conv2") + f"map {rec['guided.map'][r]} ({one}) = {rec['guided.value'][r]:.2f}"
            title += "\n" + vs.format(rec["guided.rho_one"][j, r]) if vs else ""
            show_projection(axes[r, 1 + len(rules) + j], rec["guided.one"][j, r], title, 7)
    fig.suptitle(
        "conv2 activations projected to pixels by three backward rules for the ReLUs (same switches, same filters):\n"
        "deconvnet (Zeiler & Fergus) rectifies the signal; guided backprop (Springenberg et al.) also needs the "
        "forward input > 0; the gradient only that\n"
        "columns 2-4: every conv2 activation kept; 5-7: each image's strongest single one "
        f"({rec.mining_note()}). conv1's projections are the same under all three rules\n"
        f"(its only ReLU is the one its kept activations come out of). {rec.norm_note()}",
        fontsize=9,
    )
    colorbar(fig, axes, rec)
    return save_figure(fig, out / "guided_backprop_projections.png")


def step_label(step: dict) -> str:
    return "trained" if step["name"] == "trained" else f"+ {step['name']}"


def reads_randomized(step: dict, layer: str) -> bool:
    """Whether ``layer``'s projection reads a re-drawn layer: its own or one below (conv2 reads conv1)."""
    return any(name in LAYERS[: LAYERS.index(layer) + 1] for name in step["randomized"])


def _projections(rec: Record, top, steps: list[dict]):
    """The top of the figure: per shown image and layer, the image and its projection at every step."""
    shown = rec["randomization.shown"]
    rows = [(r, layer) for r in range(len(shown)) for layer in LAYERS]
    ncols = 1 + len(steps)
    axes = top.subplots(len(rows), ncols, squeeze=False, gridspec_kw={"hspace": 0.5, "wspace": 0.1})
    top.subplots_adjust(top=1 - 1.1 / (1.7 * len(rows)), bottom=0.01)  # room for the title and the step names
    for row, (r, layer) in enumerate(rows):
        i = shown[r]
        head = f"test #{rec['randomization.index'][i]} {rec.name(rec['images.label'][i])}\n{layer}:"
        show_image(axes[row, 0], rec.pixels("images", i), head)
        for j, step in enumerate(steps):
            if step["name"] == "trained":
                note = "trained network"
            elif not reads_randomized(step, layer):
                note = "identical (weights\n<= layer unchanged)"
            else:
                sp, ss = (rec[f"randomization.{layer}.{key}"][j, i] for key in ("spearman", "ssim"))
                note = f"rho {sp:.2f}, SSIM {ss:.2f}"
            head = f"{step_label(step)}\n" if row == 0 and step["name"] != "trained" else ""
            show_projection(axes[row, 1 + j], rec[f"randomization.{layer}.proj"][j, r], head + note, 7)
            if reads_randomized(step, layer):
                for spine in axes[row, 1 + j].spines.values():
                    spine.set(color="#d62728", linewidth=1.5)
    colorbar(top, axes[:, 1:], rec)


def _curves(rec: Record, bottom, steps: list[dict]):
    """The bottom: similarity to the trained projections (a) and top-k overlap (b) per step."""
    x_steps, labels = np.arange(len(steps)), [step_label(st) for st in steps]
    ax_sim, ax_ov = bottom.subplots(1, 2, gridspec_kw={"wspace": 0.3})
    bottom.subplots_adjust(top=0.86, bottom=0.14)
    for layer in LAYERS:
        g = lambda key: rec[f"randomization.{layer}.{key}"].astype(np.float64)
        for m, (metric, style) in enumerate((("spearman", "-o"), ("ssim", "--s"))):
            v = g(metric)  # (steps, images)
            name = "Spearman rho" if metric == "spearman" else "SSIM"
            mean, std = v.mean(axis=1), v.std(axis=1, ddof=1)  # the band: ± 1 std over the images, as elsewhere
            ax_sim.plot(x_steps, mean, style, color=COLORS[layer], label=f"{layer} {name}")
            ax_sim.fill_between(x_steps, mean - std, mean + std, color=COLORS[layer], alpha=0.12)
            ax_sim.axhline(g("baseline")[m].mean(), color=COLORS[layer], ls=":" if m == 0 else "-.", lw=1)
        ov = g("overlap")
        ax_ov.plot(x_steps, ov.mean(axis=1), "-o", color=COLORS[layer], label=f"{layer} ({ov.shape[1]} maps)")
    ax_sim.plot([], [], ":", color="gray", label="two different images, trained (rho)")
    ax_sim.plot([], [], "-.", color="gray", label="two different images, trained (SSIM)")
    n_images = rec["randomization.conv1.spearman"].shape[1]
    ax_sim.set_title(
        f"(a) projection (every activation kept) vs. the trained network's,\nmean over {n_images} test images "
        "(band: ± 1 std over the images)",
        fontsize=8,
    )
    ax_sim.set_ylabel("similarity to the trained network's projection")
    ax_ov.set_title(
        f"(b) top-{rec.k} patches per map over all {rec.meta['data']['n_test']} test images:\nshare of (image, "
        "row, col) picks the trained network also picks",
        fontsize=8,
    )
    ax_ov.set_ylabel(f"top-{rec.k} overlap, mean over maps")
    for a in ax_sim, ax_ov:
        a.set_xticks(x_steps, labels, fontsize=8)
        a.set_xlabel("layers re-drawn so far, top down (cumulative)", fontsize=8)
        a.set_ylim(-0.1, 1.05)
        a.axhline(0, color="gray", lw=0.6)
        a.grid(alpha=0.3)
        a.legend(fontsize=7, loc="lower left")


def fig_randomization(rec: Record, out: Path) -> Path:
    """Projections per step for a few images (top), the similarity to the trained network per step (bottom)."""
    steps = rec.meta["steps"]
    n_rows = 2 * len(rec["randomization.shown"])
    fig = plt.figure(figsize=(1.6 * (1 + len(steps)) + 4.5, 1.7 * n_rows + 4.4))
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.7 * n_rows, 3.4])
    _projections(rec, top, steps)
    _curves(rec, bottom, steps)
    fig.suptitle(
        "Cascading randomization (Adebayo et al. 2018) of the deconvnet: weights re-drawn from their initializers, "
        "top layer first, cumulatively\n"
        "a layer's projection (and the activations that choose it) reads only its own and lower layers' weights "
        "(red frame: one of them re-drawn),\nso re-drawing logits and fc1 changes nothing. "
        f"Top: every activation of the layer kept; {rec.norm_note()}\n(b): {rec.mining_note()}",
        fontsize=9,
        y=1.0,
        va="bottom",  # above the subfigures (the tight bounding box takes it in)
    )
    return save_figure(fig, out / "randomization_check.png")


def _pm(v: np.ndarray) -> str:
    v = v.astype(np.float64)
    return f"{v.mean():.3f} ± {v.std():.3f}"


def randomization_table(rec: Record) -> str:
    """randomization_check.md: per cascade step, the similarities (mean ± std over the images) and overlaps."""
    steps, k = rec.meta["steps"], rec.k
    n_images = rec["randomization.conv1.spearman"].shape[1]
    lines = [
        "# Cascading randomization of the deconvnet (Adebayo et al., NeurIPS 2018)",
        "",
        "Computed by `dconvnet_visualizations.py`, drawn from its `deconvnet.npz` by "
        "`common/report/deconvnet_check.py`. "
        f"Each step re-draws one more layer's weights from its own initializer, top down (seed "
        f"{rec.meta['settings']['randomization_seed']}). Projections: every activation of the layer kept, compared "
        f"with the trained network's on {n_images} test images (mean ± std over them; SSIM on the figures' color "
        f"scale). Top-{k} overlap: per map, the share of the trained network's top-{k} patches (image, row, col) over "
        f"all test images that the randomized network also picks, mean over the maps the per-map figures show; "
        f"{rec.mining_note()}.",
        "",
        "| step | re-drawn | conv1 Spearman | conv1 SSIM | conv1 top-k overlap | conv2 Spearman | conv2 SSIM "
        "| conv2 top-k overlap |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for j, st in enumerate(steps):
        cells = [step_label(st), ", ".join(st["randomized"]) or "none"]
        for layer in LAYERS:
            g = lambda key: rec[f"randomization.{layer}.{key}"][j]
            cells += [_pm(g("spearman")), _pm(g("ssim")), f"{g('overlap').astype(np.float64).mean():.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["reference", "trained; each image vs. the next image"]
    for layer in LAYERS:
        base = rec[f"randomization.{layer}.baseline"]
        cells += [_pm(base[0]), _pm(base[1]), ""]
    lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "A layer's projection, and the activations that choose what to project, read only the weights of that "
        "layer and the layers below it: the rows before that layer is re-drawn are exactly 1. The reference row "
        "compares the trained projections of two different images: what sharing the network and nothing else scores.",
    ]
    return "\n".join(lines) + "\n"


def draw(rec: Record, out: Path) -> list[Path]:
    """occlusion.png, guided_backprop_projections.png, randomization_check.png and .md of ``rec`` into ``out``."""
    figs = [fig_occlusion(rec, out)] if len(rec.arrays.get("occlusion.index", ())) else []  # none classified right
    figs += [fig_guided_backprop(rec, out), fig_randomization(rec, out)]
    io.write_text(out / "randomization_check.md", randomization_table(rec))
    return [*figs, out / "randomization_check.md"]
