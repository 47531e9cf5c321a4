"""Task 2's figures (``figures/deconvnet/``) from the record ``dconvnet_visualizations.py`` saved (``deconvnet.npz``,
see ``common/deconvnet_record.py``) alone: projections, occlusion, guided backprop, the cascading randomization."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

from common import io
from common.cli import UserError
from common.report import stats
from common.report.plots import LAYER_STYLES, plt, save_figure
from common.study import DECONVNET_LAYERS as LAYERS

NPZ, JSON = "deconvnet.npz", "deconvnet.json"
RGB_NOTE = "projections: each panel scaled by its own max |value|, shown as RGB 0.5 + p / 2 (mid gray = 0)"
OUTSIDE = "#f2d675"  # pale yellow: pixels of a receptive field that fall outside the image (NaN in a panel)
PROJ_CMAP = matplotlib.colormaps["RdBu_r"].with_extremes(bad=OUTSIDE)
IMG_CMAP = matplotlib.colormaps["gray"].with_extremes(bad=OUTSIDE)
RULE_TITLES = {
    "deconvnet": "deconvnet\n(rectify signal)",
    "guided": "guided backprop\n(signal > 0 and fwd > 0)",
    "gradient": "gradient\n(fwd > 0 only)",
}


def as_rgba(p: np.ndarray, projection: bool) -> np.ndarray:
    """A panel as RGBA: pixels on [0, 1]; a projection over its max |p|, gray through a colormap, RGB as 0.5 + p / 2."""
    p = np.asarray(p, np.float32)
    p = p[..., 0] if p.ndim == 3 and p.shape[-1] == 1 else p
    if projection and np.any(np.isfinite(p)) and (m := np.nanmax(np.abs(p))) > 0:
        p = p / m
    if p.ndim == 2:
        return PROJ_CMAP((p + 1) / 2) if projection else IMG_CMAP(p)
    rgb = 0.5 + p / 2 if projection else p
    rgba = np.concatenate([np.clip(np.nan_to_num(rgb), 0, 1), np.ones(rgb.shape[:-1] + (1,))], axis=-1)
    rgba[np.isnan(rgb).any(axis=-1)] = matplotlib.colors.to_rgba(OUTSIDE)
    return rgba.astype(np.float32)


def show(ax, p, title=None, fontsize: float = 8, projection: bool = True, **style):
    """One panel without ticks: a projection (each on its own [-1, 1] scale), an image's pixels (``projection``
    False), ``p`` as it is through ``style`` (a colormap), or (``p`` None) nothing; returns its image."""
    im = None if p is None else ax.imshow(p if style else as_rgba(p, projection), interpolation="nearest", **style)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)
    return im


def mosaic(tiles: np.ndarray, ncols: int, projection: bool) -> np.ndarray:
    """(k, s, s) or (k, s, s, 3) tiles -> one RGBA image, white 1-pixel gaps between tiles."""
    k, s = tiles.shape[:2]
    out = np.ones((-(-k // ncols) * (s + 1) - 1, ncols * (s + 1) - 1, 4), np.float32)
    for i, t in enumerate(tiles):
        r, c = divmod(i, ncols)
        out[r * (s + 1) : r * (s + 1) + s, c * (s + 1) : c * (s + 1) + s] = as_rgba(t, projection)
    return out


def subplots(nrows: int, ncols: int, w: float, h: float, dw: float = 1.0, dh: float = 0.8, **kw):
    return plt.subplots(nrows, ncols, figsize=(w * ncols + dw, h * nrows + dh), squeeze=False, **kw)


class Record:
    """One folder's saved arrays and JSON: everything its figures need, passed to every figure."""

    def __init__(self, arrays: dict, meta: dict):
        self.arrays, self.meta = arrays, meta
        self.layers, self.k = tuple(meta["layers"]), int(meta["settings"]["top_k"])
        self.interior = meta["settings"]["mining"] == "interior"
        self.mining = "interior positions only" if self.interior else "all positions"
        self.rgb = arrays["images.pixels"].shape[-1] == 3

    @classmethod
    def load(cls, folder: Path) -> Record:
        folder = Path(folder)
        if not (folder / NPZ).is_file() or not (folder / JSON).is_file():
            raise UserError(f"{folder}: no {NPZ} and {JSON}. Compute them: python dconvnet_visualizations.py")
        with np.load(folder / NPZ) as z:
            return cls({k: z[k] for k in z.files}, io.read_json(folder / JSON))

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    def name(self, c) -> str:
        return self.meta["data"]["class_names"][int(c)]

    def pixels(self, group: str, i: int) -> np.ndarray:
        """Image ``i`` of ``group`` (images, occlusion) on [0, 1]: (H, W, 1) gray or (H, W, 3) RGB."""
        return self[f"{group}.pixels"][i] / 255.0

    def label(self, group: str, i: int, true: str = "") -> str:
        g = lambda key: self[f"{group}.{key}"][i]
        head = f"test #{g('index')}: {true}{self.name(g('label'))}"
        return f"{head}\npredicted {self.name(g('pred'))} ({g('prob').max():.0%})"


def titled(fig, title: str, path: Path, fontsize: float = 10, rec: Record | None = None, axes=None, part=None) -> Path:
    """The figure saved with the projections' scale beside ``axes`` (if given; in subfigure ``part``), for RGB panels a
    line under them saying how they are drawn, and its title just above the highest panel (a suptitle at the
    figure's top leaves a band of empty space that grows with the figure)."""
    part = fig if part is None else part
    if axes is not None and rec.rgb:
        part.text(0.5, 0.0, RGB_NOTE, ha="center", va="top", fontsize=8)
    elif axes is not None:
        scale = matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(-1, 1), PROJ_CMAP)
        label = "projection / max |projection| of its panel (red > 0, blue < 0)"
        part.colorbar(scale, ax=axes, shrink=0.6, pad=0.02).set_label(label, fontsize=8)
    top = max(ax.get_tightbbox(fig.canvas.get_renderer()).y1 for ax in fig.axes)
    fig.suptitle(title, y=(top + 4 * fig.dpi / 72) / fig.bbox.height, va="bottom", fontsize=fontsize)
    return save_figure(fig, path)


def field(rec: Record, layer: str, row: int, col: int) -> tuple[int, int, int]:
    """The first pixel (row, col) and the size of the receptive field of ``layer``'s activation at (row, col)."""
    size, offset, stride = rec.meta["receptive_field"][layer]
    return stride * row + offset, stride * col + offset, size


def cut(rec: Record, layer: str, p: np.ndarray, row: int, col: int) -> np.ndarray:
    """A projection cut to the receptive field of ``layer``'s activation at (row, col); NaN outside the image."""
    r0, c0, size = field(rec, layer, row, col)
    padded = np.pad(np.asarray(p, np.float32), [(size, size)] * 2 + [(0, 0)] * (p.ndim - 2), constant_values=np.nan)
    return padded[r0 + size : r0 + 2 * size, c0 + size : c0 + 2 * size]


# Figures
def fig_projections(rec: Record, out: Path, top1: bool) -> Path:
    """Every activation of each layer projected, or (``top1``) the map holding the image's strongest one alone."""
    n, layers = len(rec["images.index"]), rec.layers
    fig, axes = subplots(n, 1 + len(layers), 2.2, 2.3)
    for r in range(n):
        show(axes[r, 0], rec.pixels("images", r), rec.label("images", r), projection=False)
        for c, layer in enumerate(layers):
            if not top1:
                show(axes[r, c + 1], rec[f"all.{layer}"][r], f"{layer}: all {rec.meta['maps'][layer]} maps kept")
                continue
            m, row, col, v = (rec[f"top1.{layer}.{key}"][r] for key in ("map", "row", "col", "value"))
            title = f"{layer}: map {m} only\n(its activation {v:.2f} at ({row},{col}))"
            show(axes[r, c + 1], rec[f"top1.{layer}.proj"][r], title)
            r0, c0, size = field(rec, layer, row, col)  # its receptive field outlined (cut at the image's edge)
            box = matplotlib.patches.Rectangle((c0 - 0.5, r0 - 0.5), size, size, fill=False, ec="#2ca02c", lw=1.2)
            axes[r, c + 1].add_patch(box)
    if not top1:
        title = "Deconvnet projections of every activation of a layer, all kept\n(no search, so no mining: border "
        title += "positions included)"
    else:
        rule = "among interior positions; that map's interior activations kept"
        rule = rule if rec.interior else "at any position; that whole map kept"
        title = (
            f"Deconvnet projection of one map per image and layer: the map holding the image's strongest single "
            f"activation\n{rule} and projected (green: that activation's receptive field)"
        )
    return titled(fig, title, out / f"projections_{'top1' if top1 else 'all'}.png", rec=rec, axes=axes)


def fig_projections_topk(rec: Record, out: Path) -> Path:
    k, n = rec.k, len(rec["images.index"])
    rows = [(r, layer) for r in range(n) for layer in rec.layers]
    fig, axes = subplots(len(rows), k + 1, 1.25, 1.45, 1, 0)
    for row, (r, layer) in enumerate(rows):
        ri, ci, mi, vi = (rec[f"topk.{layer}.{key}"][r] for key in ("row", "col", "map", "value"))
        head = f"#{rec['images.index'][r]} {rec.name(rec['images.label'][r])}\n{layer}:"
        show(axes[row, 0], rec.pixels("images", r), head, projection=False)
        for j in range(k):
            title = f"map {mi[j]} ({ri[j]},{ci[j]})\n= {vi[j]:.2f}"
            show(axes[row, j + 1], cut(rec, layer, rec[f"topk.{layer}.proj"][r, j], ri[j], ci[j]), title, fontsize=6.5)
    apart = "; one map's picks at least half a field apart" if rec.interior else ""
    title = (
        f"The {k} strongest single activations of each layer, each projected alone and cut to its receptive field\n"
        f"(panel title: map (row, col) = activation; {rec.mining}{apart})"
    )
    return titled(fig, title, out / f"projections_top{k}.png", rec=rec, axes=axes)


def fig_top_per_map(rec: Record, layer: str, out: Path) -> Path:
    """The paper's Figure 2: per map, its k strongest activations' projections (conv1: its filter) and patches."""
    g = lambda key: rec[f"permap.{layer}.{key}"]
    maps, values, patches = g("maps"), g("value"), g("patch")
    m, k, size = len(maps), patches.shape[1], patches.shape[2]
    grid, per_row = int(np.ceil(np.sqrt(k))), 4
    fig, axes = subplots(-(-m // per_row), 2 * per_row, 1.35, 1.55, 1, 0, gridspec_kw={"wspace": 0.15, "hspace": 0.35})
    for ax in axes.flat:
        ax.axis("off")
    for i, ch in enumerate(maps):
        a_proj, a_patch = axes[i // per_row, 2 * (i % per_row)], axes[i // per_row, 2 * (i % per_row) + 1]
        picture = as_rgba(g("filter")[i], True) if layer == "conv1" else mosaic(g("proj")[i], grid, True)
        a_proj.imshow(picture, interpolation="nearest")
        a_proj.set_title(f"map {ch}", fontsize=7)
        a_patch.imshow(mosaic(patches[i], grid, projection=False), interpolation="nearest")
        a_patch.set_title(f"patches (max {values[i, 0]:.2f})", fontsize=7)
    total = rec.meta["maps"][layer]
    which = f"all {m} maps" if m == total else f"the {m} of {total} maps with the largest top activation"
    left = "left: each activation projected alone, cut to its receptive field"
    if layer == "conv1":  # one conv1 activation projects to its filter times the activation
        left = "left: its filter, shown once (each of its activations projects to it, scaled)"
    title = (
        f"{layer}, {which}: the {k} strongest activations of each over all {rec.meta['data']['n_test']:,} test "
        f"images ({rec.mining})\n{left}; right: the {size}x{size}-pixel input patch under each"
    )
    return titled(fig, title, out / f"top{k}_per_map_{layer}.png", 9, rec=rec, axes=axes)


def fig_evolution(rec: Record, out: Path) -> Path:
    """The paper's Figure 4: a few maps' strongest projection over the test set at each training snapshot."""
    its = rec["evolution.iteration"]
    rows = [(layer, i) for layer in rec.layers for i in range(len(rec[f"evolution.{layer}.maps"]))]
    fig, axes = subplots(len(rows), len(its), 1.3, 1.35, 1.2, 0.9)
    for i, (layer, r) in enumerate(rows):
        g = lambda key: rec[f"evolution.{layer}.{key}"]
        for j, it in enumerate(its):
            v, n, ax = g("value")[r, j], g("image")[r, j], axes[i, j]
            head = f"iter {it}\n" if i == 0 else ""
            if v <= 0:  # the map is zero on every test image: said so, not drawn as an image
                ax.set_facecolor("#e4e4e4")
                note = "no activation\nat this\nsnapshot"
                ax.text(0.5, 0.5, note, ha="center", va="center", fontsize=6.5, transform=ax.transAxes)
            title = f"{head}act {v:.2f}, #{n}" if v > 0 else f"{head}act 0 (all images)"
            show(ax, g("tile")[r, j] if v > 0 else None, title, 6.5)
        axes[i, 0].set_ylabel(f"{layer}\nmap {g('maps')[r]}", fontsize=8)
    title = (
        "Feature evolution: each map's strongest activation over all test images at each training snapshot, "
        "projected and cut to its receptive field\n(panel title: activation, test image #; gray panel: the map is "
        f"zero on every test image at that snapshot; {rec.mining})"
    )
    return titled(fig, title, out / "evolution.png", 9, rec=rec, axes=axes)


# The checks of the network and the method
def fig_occlusion(rec: Record, out: Path) -> Path:
    """The paper's Figure 7: a gray square slid over correctly classified images."""
    g = lambda key: rec[f"occlusion.{key}"]
    n, names = len(g("index")), rec.meta["data"]["class_names"]
    side, gray = rec.meta["occluder"], rec.meta["occluder_gray"]
    cmap_cls = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    classes = dict(cmap=cmap_cls, vmin=-0.5, vmax=cmap_cls.N - 0.5)  # one colour per class
    fig, axes = plt.subplots(n, 5, figsize=(14, 2.6 * n), squeeze=False)
    for r in range(n):
        show(axes[r, 0], rec.pixels("occlusion", r), "(a) " + rec.label("occlusion", r, true="true "), projection=False)
        axes[r, 0].add_patch(matplotlib.patches.Rectangle((1.5, 1.5), side, side, color="orange", fill=False, lw=1.2))
        s = g("map")[r]
        title = f"(b) total {'interior ' * rec.interior}activation of conv2\nmap {s} vs. square's center"
        im = show(axes[r, 1], g("activation")[r], title, cmap="viridis")
        fig.colorbar(im, ax=axes[r, 1], shrink=0.8).set_label("activation, summed over the map", fontsize=7)
        show(axes[r, 2], g("proj")[r], f"(c) projection of conv2 map {s}\n(unoccluded; per-panel max|v|)")
        # one fixed 0..1 scale for every image: a probability that never rises above 0.01 must look dark
        true = g("label")[r]
        title = f"(d) p({names[true]}) (true class) vs. square's\ncenter (unoccluded {g('prob')[r][true]:.2f})"
        im = show(axes[r, 3], g("p_true")[r].astype(np.float32), title, cmap="magma", vmin=0, vmax=1)
        fig.colorbar(im, ax=axes[r, 3], shrink=0.8).set_label("probability", fontsize=7)
        am = g("argmax")[r]
        show(axes[r, 4], am, "(e) most probable class\nvs. square's center", **classes)
        handles = [matplotlib.patches.Patch(color=cmap_cls(int(c)), label=names[c]) for c in np.unique(am)]
        axes[r, 4].legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    n_ok = int(np.sum(g("pred") == g("label")))
    fig.tight_layout()
    title = (
        f"Occlusion sensitivity: a {side}x{side} square of gray {gray} centered on every pixel (orange: one position); "
        "each map is indexed by the square's center\ntest images drawn at random that the network classifies "
        f"correctly ({n_ok} of {n}); (b), (c): the conv2 map holding the image's strongest activation ({rec.mining})"
    )
    return titled(fig, title, out / "occlusion.png")


def fig_guided_backprop(rec: Record, out: Path) -> Path:
    """The same conv2 activations projected by the three backward rules: all kept, and each image's strongest one."""
    rules, n = rec.meta["rules"], len(rec["images.index"])
    fig, axes = subplots(n, 1 + 2 * len(rules), 1.75, 2.3, 1, 1.2)
    for r in range(n):
        head = f"#{rec['images.index'][r]} {rec.name(rec['images.label'][r])}"
        show(axes[r, 0], rec.pixels("images", r), head, projection=False)
        one = ", ".join(f"{rec[f'guided.{key}'][r]}" for key in ("row", "col"))
        for j, rule in enumerate(rules):
            vs = "" if rule == "deconvnet" else "rho vs. deconvnet {:.2f}"
            top = lambda what: f"{what}:\n{RULE_TITLES[rule]}\n" if r == 0 else ""
            title = top("all conv2 kept") + vs.format(rec["guided.rho_all"][j, r])
            show(axes[r, 1 + j], rec["guided.all"][j, r], title, 7)
            title = top("strongest conv2") + f"map {rec['guided.map'][r]} ({one}) = {rec['guided.value'][r]:.2f}"
            title += "\n" + vs.format(rec["guided.rho_one"][j, r]) if vs else ""
            show(axes[r, 1 + len(rules) + j], rec["guided.one"][j, r], title, 7)
    title = (
        "conv2 activations projected to pixels by three backward rules for the ReLUs (same switches, same filters): "
        "deconvnet (Zeiler & Fergus),\nguided backprop (Springenberg et al.), the gradient; columns 2-4: every "
        f"conv2 activation kept; 5-7: each image's strongest single one ({rec.mining})"
    )
    return titled(fig, title, out / "guided_backprop_projections.png", 9, rec=rec, axes=axes)


def step_label(step: dict) -> str:
    return "trained" if step["name"] == "trained" else f"+ {step['name']}"


def reads_randomized(step: dict, layer: str) -> bool:
    """Whether ``layer``'s projection reads a re-drawn layer: its own or one below (conv2 reads conv1)."""
    return any(name in LAYERS[: LAYERS.index(layer) + 1] for name in step["randomized"])


def fig_randomization(rec: Record, out: Path) -> Path:
    """Projections per step for a few images (top), the similarity to the trained network per step (bottom)."""
    steps, shown = rec.meta["steps"], rec["randomization.shown"]
    rows = [(r, layer) for r in range(len(shown)) for layer in LAYERS]  # top: each shown image's projections
    fig = plt.figure(figsize=(1.6 * (1 + len(steps)) + 4.5, 1.7 * len(rows) + 4.4))
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.7 * len(rows), 3.4])
    axes = top.subplots(len(rows), 1 + len(steps), squeeze=False, gridspec_kw={"hspace": 0.5, "wspace": 0.1})
    top.subplots_adjust(top=0.99, bottom=0.01)
    for row, (r, layer) in enumerate(rows):
        i = shown[r]
        head = f"test #{rec['randomization.index'][i]} {rec.name(rec['images.label'][i])}\n{layer}:"
        show(axes[row, 0], rec.pixels("images", i), head, projection=False)
        for j, step in enumerate(steps):
            sp, ss = (rec[f"randomization.{layer}.{key}"][j, i] for key in ("spearman", "ssim"))
            note = f"rho {sp:.2f}, SSIM {ss:.2f}" if reads_randomized(step, layer) else "identical"
            if step["name"] == "trained":
                note = "trained network"
            head = f"{step_label(step)}\n" if row == 0 and step["name"] != "trained" else ""
            show(axes[row, 1 + j], rec[f"randomization.{layer}.proj"][j, r], head + note, 7)
            if reads_randomized(step, layer):
                plt.setp(axes[row, 1 + j].spines.values(), color="#d62728", linewidth=1.5)
    # bottom: similarity to the trained projections (a) and top-k overlap (b) per step
    x_steps, labels = np.arange(len(steps)), [step_label(st) for st in steps]
    ax_sim, ax_ov = bottom.subplots(1, 2, gridspec_kw={"wspace": 0.3})
    bottom.subplots_adjust(top=0.86, bottom=0.14)
    for layer in LAYERS:
        g = lambda key: rec[f"randomization.{layer}.{key}"].astype(np.float64)
        color = LAYER_STYLES[layer]["color"]  # as in every figure of the layers
        for m, (metric, name, style) in enumerate((("spearman", "Spearman rho", "-o"), ("ssim", "SSIM", "--s"))):
            # the band: ± 1 std of these images (ddof 0: the images are all there is to describe), as in the table
            mean, std = g(metric).mean(axis=1), g(metric).std(axis=1)
            ax_sim.plot(x_steps, mean, style, color=color, label=f"{layer} {name}")
            ax_sim.fill_between(x_steps, mean - std, mean + std, color=color, alpha=0.12)
            ax_sim.axhline(g("baseline")[m].mean(), color=color, ls=":" if m == 0 else "-.", lw=1)
        ov = g("overlap")
        ax_ov.plot(x_steps, ov.mean(axis=1), "-o", color=color, label=f"{layer} ({ov.shape[1]} maps)")
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
        f"(b) top-{rec.k} patches per map over all {rec.meta['data']['n_test']} test images ({rec.mining}):\nshare "
        "of (image, row, col) picks the trained network also picks",
        fontsize=8,
    )
    ax_ov.set_ylabel(f"top-{rec.k} overlap, mean over maps")
    for a in ax_sim, ax_ov:
        a.set_xticks(x_steps, labels, fontsize=8)
        a.set_xlabel("layers re-drawn so far, top down (cumulative)", fontsize=8)
        a.set_ylim(-0.1, 1.05)
        a.axhline(0, color="gray", lw=0.6)
        a.grid(alpha=0.3)
    ax_sim.legend(fontsize=7, loc="center left")  # where every line is at 1 or far below: over none of them
    ax_ov.legend(fontsize=7, loc="lower left")
    title = (
        "Cascading randomization (Adebayo et al. 2018): the deconvnet's weights re-drawn from their initializers, top "
        "layer first, cumulatively; top: every activation kept\nred frame: the projection reads a re-drawn layer; "
        "identical: it reads none (a layer's projection reads only its own and lower layers' weights)"
    )
    return titled(fig, title, out / "randomization_check.png", 9, rec, axes[:, 1:], top)


def randomization_table(rec: Record) -> list:
    """randomization_check.md: per cascade step, the similarities (mean ± std over the images) and overlaps."""
    steps, k = rec.meta["steps"], rec.k
    fields = (
        "their receptive field inside the image" if rec.interior else "their fields may reach into the zero padding"
    )
    n_images = rec["randomization.conv1.spearman"].shape[1]
    pm = lambda v: stats.pm(v.astype(np.float64).mean(), v.astype(np.float64).std(), 3, scale=1)  # over the images
    head = ["step", "re-drawn", *(f"{layer} {m}" for layer in LAYERS for m in ("Spearman", "SSIM", "top-k overlap"))]
    rows = []
    for j, st in enumerate(steps):
        cells = [step_label(st), ", ".join(st["randomized"]) or "none"]
        for layer in LAYERS:
            g = lambda key: rec[f"randomization.{layer}.{key}"][j]
            cells += [pm(g("spearman")), pm(g("ssim")), f"{g('overlap').astype(np.float64).mean():.3f}"]
        rows.append(cells)
    base = [rec[f"randomization.{layer}.baseline"] for layer in LAYERS]
    rows.append(
        ["reference", "trained; each image vs. the next image", *(c for b in base for c in (pm(b[0]), pm(b[1]), ""))]
    )
    intro = (
        "Computed by `dconvnet_visualizations.py`, drawn from its `deconvnet.npz` by `common/report/deconvnet.py`. "
        "Each step re-draws one more layer's weights from its own initializer, top down (seed "
        f"{rec.meta['settings']['randomization_seed']}). Projections: every activation of the layer kept, compared "
        f"with the trained network's on {n_images} test images (mean ± std over them; SSIM on the figures' color "
        f"scale). Top-{k} overlap: per map, the share of the trained network's top-{k} patches (image, row, col) over "
        "all test images that the randomized network also picks, mean over the maps the per-map figures show; mining: "
        f"{rec.mining}, {fields}."
    )
    reads = (
        "A layer's projection, and the activations that choose what to project, read only the weights of that "
        "layer and the layers below it: the rows before that layer is re-drawn are exactly 1. The reference row "
        "compares the trained projections of two different images: what sharing the network and nothing else scores."
    )
    rules, rho = rec.meta["rules"], {w: rec[f"guided.rho_{w}"].astype(np.float64) for w in ("all", "one")}
    each = [
        f"{rule}: {stats.span(rho['all'][j], '{:.2f}')} with every conv2 activation kept, "
        f"{stats.span(rho['one'][j], '{:.2f}')} for each image's strongest"
        for j, rule in enumerate(rules)
        if rule != "deconvnet"
    ]
    against = (
        f"Against the deconvnet's conv2 projections (Spearman's rho, range over the {rho['all'].shape[1]} "
        f"images of `guided_backprop_projections.png`): {'; '.join(each)}."
    )
    title = "# Cascading randomization of the deconvnet (Adebayo et al., NeurIPS 2018)"
    return [title, intro, stats.markdown(head, rows), reads, against]


def rebuild(folder: Path) -> list[Path]:
    """Every figure and randomization_check.md of ``folder`` from the record saved there alone; UserError if none."""
    folder, rec = Path(folder), Record.load(folder)
    written = [fig_projections(rec, folder, top1) for top1 in (False, True)] + [fig_projections_topk(rec, folder)]
    written += [fig_top_per_map(rec, layer, folder) for layer in rec.layers]
    if "evolution.iteration" in rec.arrays:  # a model without snapshots has none
        written.append(fig_evolution(rec, folder))
    if len(rec.arrays.get("occlusion.index", ())):  # none if the network classified no image right
        written.append(fig_occlusion(rec, folder))
    written += [fig_guided_backprop(rec, folder), fig_randomization(rec, folder)]
    return [*written, stats.write_page(folder / "randomization_check.md", *randomization_table(rec))]
