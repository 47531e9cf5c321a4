"""Task 2's figures, drawn from the arrays ``dconvnet_visualizations.py`` saved, with no network and no data set.

    from common.report import deconvnet
    deconvnet.rebuild(Path("figures/deconvnet"))   # every figure of that folder, from its deconvnet.npz/.json

A folder's record is ``deconvnet.npz`` (the arrays, :data:`ARRAYS` says what each is) and ``deconvnet.json``
(the run, the settings, the image indices and class names, each array's shape). Projections are signed and
saved divided by their panel's largest |value|: every panel is drawn on its own [-1, 1] scale, red positive,
blue negative, pixels outside the image pale yellow. The figures that check the network and the method (occlusion,
guided backprop and the gradient against the deconvnet, the randomization check) are in ``deconvnet_check.py``.
NumPy and matplotlib only: no deep-learning framework is imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np

from common import io
from common.cli import UserError
from common.report.plots import plt, save_figure

NPZ, JSON = "deconvnet.npz", "deconvnet.json"
# What each saved array is; "{L}" stands for a layer (conv1, conv2). P: panels normalized to [-1, 1] by their
# largest |value| (NaN: outside the image); RGB networks' projections carry a last axis of 3.
ARRAYS = {
    "images.index": "(n,) the chosen test images' indices (--indices, or drawn with --image-seed)",
    "images.pixels": "(n, H, W, C) uint8 those images",
    "images.label": "(n,) their true class",
    "images.{pred,prob}": "(n,), (n, classes) the network's predicted class and probabilities (one view, no TTA)",
    "all.{L}": "(n, H, W) P: every activation of {L} kept and projected",
    "top1.{L}.{map,row,col,value}": "(n,) per image, its strongest single activation (where the mining looks)",
    "top1.{L}.proj": "(n, H, W) P: that map kept (where the mining looks) and projected",
    "topk.{L}.{row,col,map,value}": "(n, k) per image, its k strongest activations (mining, suppression)",
    "topk.{L}.proj": "(n, k, H, W) P: each projected alone",
    "permap.{L}.maps": "(m,) the maps the per-map figure shows",
    "permap.{L}.{image,row,col,value}": "(m, k) per map, its k strongest activations over the test set, one per image",
    "permap.{L}.patch": "(m, k, s, s, C) float16 the input patch under each one's receptive field (NaN outside)",
    "permap.conv1.filter": "(m, 5, 5) P: each conv1 map's filter, what any single activation of it projects to",
    "permap.conv2.proj": "(m, k, s, s) P: each activation projected alone, cut to its receptive field",
    "evolution.iteration": "(S,) the training snapshots' iterations",
    "evolution.{L}.maps": "(r,) the maps shown (active at every snapshot first, then strongest at the end)",
    "evolution.{L}.value": "(r, S) each map's strongest activation over the test set per snapshot (<= 0: none)",
    "evolution.{L}.image": "(r, S) the test image holding it",
    "evolution.{L}.tile": "(r, S, s, s) P: its projection cut to its receptive field",
    "occlusion.index": "(o,) the occlusion figure's test images: correctly classified ones only",
    "occlusion.{pixels,label}": "(o, H, W, C) uint8, (o,) those images and their true class",
    "occlusion.{pred,prob}": "(o,), (o, classes) the predicted class and probabilities (unoccluded)",
    "occlusion.map": "(o,) the conv2 map holding the image's strongest single activation (where the mining looks)",
    "occlusion.activation": "(o, H, W) float32 that map's activation summed where the mining looks, per square center",
    "occlusion.p_true": "(o, H, W) float16 p(true class) per square center",
    "occlusion.argmax": "(o, H, W) int8 the most probable class per square center",
    "occlusion.proj": "(o, H, W) P: that map kept and projected (unoccluded)",
    "guided.all": "(3, n, H, W) P: every conv2 activation kept, projected by each backward rule (json rules)",
    "guided.one": "(3, n, H, W) P: each image's strongest single conv2 activation, by each rule",
    "guided.rho_all": "(3, n) float32 Spearman's rho of each rule's guided.all panel with the deconvnet's",
    "guided.rho_one": "(3, n) float32 the same for guided.one",
    "guided.{row,col,map,value}": "(n,) that strongest single conv2 activation",
    "randomization.index": "(N,) the test images the cascade's similarities average over",
    "randomization.shown": "(3,) positions (in randomization.index and images.*) of the images drawn",
    "randomization.{L}.proj": "(steps, 3, H, W) P: every activation of {L} kept, per cascade step (json steps)",
    "randomization.{L}.{spearman,ssim}": "(steps, N) float32 Spearman's rho, SSIM with the trained projection",
    "randomization.{L}.maps": "(M,) the maps the top-k overlap is over (the per-map figure's)",
    "randomization.{L}.overlap": "(steps, M) float32 share of the trained top-k (image, row, col) picks kept",
    "randomization.{L}.baseline": "(2, N) float32 Spearman, SSIM of each trained projection with the next image's",
}
OUTSIDE = "#f2d675"  # pale yellow: pixels of a receptive field that fall outside the image
NO_ACTIVATION = "#e4e4e4"
PROJ_CMAP = matplotlib.colormaps["RdBu_r"].with_extremes(bad=OUTSIDE)  # NaN marks "outside"
IMG_CMAP = matplotlib.colormaps["gray"].with_extremes(bad=OUTSIDE)
NORM_NOTE = "projections: each panel scaled by its own max |value| to [-1, 1] (red > 0, blue < 0)"
RGB_NOTE = "projections: each panel scaled by its own max |value|, shown as RGB 0.5 + p / 2 (mid gray = 0)"


def _described(key: str) -> str | None:
    """ARRAYS' entry for ``key``: "{L}" for a layer's name, "a.{b,c}" for a.b and a.c."""
    generic = ".".join("{L}" if p in ("conv1", "conv2") else p for p in key.split("."))
    for pattern, what in ARRAYS.items():
        head, _, names = pattern.rpartition("{") if pattern.endswith("}") and "," in pattern else (pattern, "", "")
        if key == pattern or generic == pattern or any(generic == head + n for n in names.rstrip("}").split(",")):
            return what
    return None


def write_record(folder: Path, arrays: dict, meta: dict) -> list[Path]:
    """Saves ``arrays`` (compressed) and ``meta`` plus each array's shape, dtype and description (:data:`ARRAYS`;
    an undescribed array is an error) as ``folder``/deconvnet.npz and deconvnet.json."""
    described = {}
    for key, a in arrays.items():
        what = _described(key)
        if what is None:
            raise KeyError(f"{key}: describe it in common/report/deconvnet.py's ARRAYS")
        described[key] = {"shape": list(a.shape), "dtype": str(a.dtype), "what": what}
    with io.atomic(Path(folder) / NPZ) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    io.write_json(Path(folder) / JSON, {**meta, "arrays": described})
    return [Path(folder) / NPZ, Path(folder) / JSON]


@dataclass(frozen=True)
class Record:
    """One folder's saved arrays and JSON: everything its figures need, passed to every figure."""

    arrays: dict
    meta: dict

    @classmethod
    def load(cls, folder: Path) -> Record:
        folder = Path(folder)
        if not (folder / NPZ).is_file() or not (folder / JSON).is_file():
            raise UserError(f"{folder}: no {NPZ} and {JSON}. Compute them: python dconvnet_visualizations.py")
        with np.load(folder / NPZ) as z:
            return cls({k: z[k] for k in z.files}, io.read_json(folder / JSON))

    def __getitem__(self, key: str) -> np.ndarray:
        return self.arrays[key]

    @property
    def layers(self) -> tuple[str, ...]:
        return tuple(self.meta["layers"])

    @property
    def k(self) -> int:
        return int(self.meta["settings"]["top_k"])

    @property
    def interior(self) -> bool:
        return self.meta["settings"]["mining"] == "interior"

    @property
    def rgb(self) -> bool:
        return self["images.pixels"].shape[-1] == 3

    def name(self, c) -> str:
        return self.meta["data"]["class_names"][int(c)]

    def pixels(self, group: str, i: int) -> np.ndarray:
        """Image ``i`` of ``group`` (images, occlusion) on [0, 1]: (H, W) gray or (H, W, 3) RGB."""
        return pixels(self[f"{group}.pixels"][i] / 255.0)

    def label(self, group: str, i: int, true: str = "") -> str:
        g = lambda key: self[f"{group}.{key}"][i]
        head = f"test #{g('index')}: {true}{self.name(g('label'))}"
        return f"{head}\npredicted {self.name(g('pred'))} ({g('prob').max():.0%})"

    def mining_note(self, per_image: bool = False) -> str:
        if not self.interior:
            return "mining: all positions, their fields may reach into the zero padding"
        sep = self.meta["separation"]
        rule = f"; one map's picks >= half a field apart (conv1 {sep['conv1']}, conv2 {sep['conv2']} steps)"
        return "mining: interior positions only, their receptive field inside the image" + (rule if per_image else "")

    def norm_note(self) -> str:
        return RGB_NOTE if self.rgb else NORM_NOTE


# ---------------------------------------------------------------------------
# Drawing helpers
def scaled(p: np.ndarray) -> np.ndarray:
    """Per-panel symmetric normalization: p / max|p| (NaN kept), so 0 stays white."""
    p = np.asarray(p, np.float32)
    m = np.nanmax(np.abs(p)) if np.any(np.isfinite(p)) else 0.0
    return p / m if m > 0 else p


def pixels(img: np.ndarray) -> np.ndarray:
    """An image (H, W, C) as imshow takes it: (H, W) for gray, (H, W, 3) for RGB."""
    return img[..., 0] if img.shape[-1] == 1 else img


def as_rgba(p: np.ndarray, projection: bool) -> np.ndarray:
    """A panel as RGBA: gray panels through the projection or image colormap; RGB projections as
    0.5 + p / (2 max|p|) per channel (zero is mid gray), RGB patches as they are; NaN (outside) in OUTSIDE."""
    p = np.asarray(p, np.float32)
    if p.ndim == 2:
        return PROJ_CMAP((scaled(p) + 1) / 2) if projection else IMG_CMAP(p)
    rgb = 0.5 + scaled(p) / 2 if projection else p
    outside = np.isnan(rgb).any(axis=-1)
    rgba = np.concatenate([np.clip(np.nan_to_num(rgb), 0, 1), np.ones(rgb.shape[:-1] + (1,))], axis=-1)
    rgba[outside] = matplotlib.colors.to_rgba(OUTSIDE)
    return rgba.astype(np.float32)


def finish(ax, title=None, fontsize: float = 8):
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=fontsize)


def show_projection(ax, p, title=None, fontsize: float = 8):
    if p.ndim == 2:
        ax.imshow(scaled(p), cmap=PROJ_CMAP, vmin=-1, vmax=1, interpolation="nearest")
    else:
        ax.imshow(as_rgba(p, projection=True), interpolation="nearest")
    finish(ax, title, fontsize)


def show_image(ax, img, title=None, fontsize: float = 8):
    if img.ndim == 2:
        ax.imshow(img, cmap=IMG_CMAP, vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(as_rgba(img, projection=False), interpolation="nearest")
    finish(ax, title, fontsize)


def mosaic(tiles: np.ndarray, ncols: int, projection: bool) -> np.ndarray:
    """(k, s, s) or (k, s, s, 3) tiles -> one RGBA image, white 1-pixel gaps between tiles."""
    k, s = tiles.shape[:2]
    out = np.ones((-(-k // ncols) * (s + 1) - 1, ncols * (s + 1) - 1, 4), np.float32)
    for i, t in enumerate(tiles):
        r, c = divmod(i, ncols)
        out[r * (s + 1) : r * (s + 1) + s, c * (s + 1) : c * (s + 1) + s] = as_rgba(t, projection)
    return out


def colorbar(fig, axes, rec: Record):
    if rec.rgb:  # RGB panels have no one-dimensional scale to show
        return
    cb = fig.colorbar(
        matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(-1, 1), PROJ_CMAP), ax=axes, shrink=0.6, pad=0.02
    )
    cb.set_label("projection / max|projection| of its panel", fontsize=8)


def subplots(nrows: int, ncols: int, w: float, h: float, dw: float = 1.0, dh: float = 0.8, **kw):
    return plt.subplots(nrows, ncols, figsize=(w * ncols + dw, h * nrows + dh), squeeze=False, **kw)


def field_box(ax, rec: Record, layer: str, row: int, col: int):
    """Outlines the receptive field of ``layer``'s activation at (row, col) (cut at the image's edge)."""
    size, offset, stride = rec.meta["receptive_field"][layer]
    r0, c0 = stride * row + offset, stride * col + offset
    ax.add_patch(matplotlib.patches.Rectangle((c0 - 0.5, r0 - 0.5), size, size, fill=False, ec="#2ca02c", lw=1.2))


# ---------------------------------------------------------------------------
# Figures
def fig_projections_all(rec: Record, out: Path) -> Path:
    n, layers = len(rec["images.index"]), rec.layers
    fig, axes = subplots(n, 1 + len(layers), 2.2, 2.3)
    for r in range(n):
        show_image(axes[r, 0], rec.pixels("images", r), rec.label("images", r))
        for c, layer in enumerate(layers):
            show_projection(axes[r, c + 1], rec[f"all.{layer}"][r], f"{layer}: all {rec.meta['maps'][layer]} maps kept")
    fig.suptitle(
        "Deconvnet projections of every activation of a layer (no search, so no mining: border positions "
        f"included)\n{rec.norm_note()}",
        fontsize=10,
    )
    colorbar(fig, axes, rec)
    return save_figure(fig, out / "projections_all.png")


def fig_projections_top1(rec: Record, out: Path) -> Path:
    n, layers = len(rec["images.index"]), rec.layers
    fig, axes = subplots(n, 1 + len(layers), 2.2, 2.3)
    for r in range(n):
        show_image(axes[r, 0], rec.pixels("images", r), rec.label("images", r))
        for c, layer in enumerate(layers):
            m, row, col, v = (rec[f"top1.{layer}.{key}"][r] for key in ("map", "row", "col", "value"))
            title = f"{layer}: map {m} only\n(its activation {v:.2f} at ({row},{col}))"
            show_projection(axes[r, c + 1], rec[f"top1.{layer}.proj"][r], title)
            field_box(axes[r, c + 1], rec, layer, row, col)
    if rec.interior:
        rule = "among interior positions (receptive field inside the image); that map's interior activations kept"
    else:
        rule = "at any position; that whole map kept"
    fig.suptitle(
        f"Deconvnet projection of one map per image and layer: the map holding the image's strongest single "
        f"activation\n{rule} and projected (green: that activation's receptive field)\n{rec.norm_note()}",
        fontsize=10,
    )
    colorbar(fig, axes, rec)
    return save_figure(fig, out / "projections_top1.png")


def fig_projections_topk(rec: Record, out: Path) -> Path:
    k, n = rec.k, len(rec["images.index"])
    rows = [(r, layer) for r in range(n) for layer in rec.layers]
    fig, axes = plt.subplots(len(rows), k + 1, figsize=(1.25 * (k + 1) + 1, 1.45 * len(rows)), squeeze=False)
    for row, (r, layer) in enumerate(rows):
        ri, ci, mi, vi = (rec[f"topk.{layer}.{key}"][r] for key in ("row", "col", "map", "value"))
        head = f"#{rec['images.index'][r]} {rec.name(rec['images.label'][r])}\n{layer}:"
        show_image(axes[row, 0], rec.pixels("images", r), head)
        for j in range(k):
            title = f"map {mi[j]} ({ri[j]},{ci[j]})\n= {vi[j]:.2f}"
            show_projection(axes[row, j + 1], rec[f"topk.{layer}.proj"][r, j], title, fontsize=6.5)
    fig.suptitle(
        f"The {k} strongest single activations of each layer, each projected alone "
        f"(title: map (row, col) = activation)\n{rec.mining_note(per_image=True)}\n{rec.norm_note()}",
        fontsize=10,
    )
    colorbar(fig, axes, rec)
    return save_figure(fig, out / f"projections_top{k}.png")


def fig_top_per_map(rec: Record, layer: str, out: Path) -> Path:
    """The paper's Figure 2: per map, its k strongest activations' projections (conv1: its filter, which is what
    each of them projects to) beside their input patches."""
    g = lambda key: rec[f"permap.{layer}.{key}"]
    maps, values, patches = g("maps"), g("value"), g("patch")
    m, k, size = len(maps), patches.shape[1], patches.shape[2]
    grid, per_row = int(np.ceil(np.sqrt(k))), 4
    nrows = -(-m // per_row)
    spec = {"wspace": 0.08, "hspace": 0.35}
    fig, axes = plt.subplots(nrows, 2 * per_row, figsize=(2.7 * per_row, 1.55 * nrows), squeeze=False, gridspec_kw=spec)
    for ax in axes.flat:
        ax.axis("off")
    for i, ch in enumerate(maps):
        a_proj, a_patch = axes[i // per_row, 2 * (i % per_row)], axes[i // per_row, 2 * (i % per_row) + 1]
        if layer == "conv1":
            a_proj.imshow(as_rgba(g("filter")[i], projection=True), interpolation="nearest")
            a_proj.set_title(f"map {ch}: filter", fontsize=7)
        else:
            a_proj.imshow(mosaic(g("proj")[i], grid, projection=True), interpolation="nearest")
            a_proj.set_title(f"map {ch}: projections", fontsize=7)
        a_patch.imshow(
            mosaic(np.stack([pixels(p) for p in patches[i]]), grid, projection=False), interpolation="nearest"
        )
        a_patch.set_title(f"patches (max {values[i, 0]:.2f})", fontsize=7)
    total = rec.meta["maps"][layer]
    which = f"all {m} maps" if m == total else f"the {m} of {total} maps with the largest top activation"
    if layer == "conv1":
        left = (
            "left: the map's filter, shown once: one conv1 activation projects to its filter times the activation "
            f"(one linear layer reversed),\nso the {k} projections would be this one picture, scaled"
        )
    else:
        left = "left: each activation projected alone, cut to its receptive field"
    fig.subplots_adjust(top=1 - 1.4 / (nrows * 1.55))  # room for the 5-line title above the first row
    fig.suptitle(
        f"{layer}, {which}: the {k} strongest activations of each map over all {rec.meta['data']['n_test']} test "
        f"images (at most one per image)\n{left}\nright: the {size}x{size}-pixel input patch under each one's "
        f"receptive field (title: the strongest activation; yellow = outside the image; raw [0, 1] pixel scale)\n"
        f"{rec.mining_note()}\n{rec.norm_note()}",
        fontsize=9,
    )
    return save_figure(fig, out / f"top{k}_per_map_{layer}.png")


def no_activation(ax, title: str):
    """A panel with nothing to project (the map is zero on every test image), said so, not drawn as an image."""
    ax.set_facecolor(NO_ACTIVATION)
    ax.text(
        0.5, 0.5, "no activation\nat this\nsnapshot", ha="center", va="center", fontsize=6.5, transform=ax.transAxes
    )
    finish(ax, title, 6.5)


def fig_evolution(rec: Record, out: Path) -> Path:
    """The paper's Figure 4: a few maps' strongest projection over the test set at each training snapshot."""
    its = rec["evolution.iteration"]
    rows = [(layer, i) for layer in rec.layers for i in range(len(rec[f"evolution.{layer}.maps"]))]
    fig, axes = subplots(len(rows), len(its), 1.3, 1.35, 1.2, 0.9)
    for i, (layer, r) in enumerate(rows):
        g = lambda key: rec[f"evolution.{layer}.{key}"]
        for j, it in enumerate(its):
            v, n = g("value")[r, j], g("image")[r, j]
            head = f"iter {it}\n" if i == 0 else ""
            if v > 0:
                show_projection(axes[i, j], g("tile")[r, j], f"{head}act {v:.2f}, #{n}", 6.5)
            else:
                no_activation(axes[i, j], f"{head}act 0 (all images)")
        axes[i, 0].set_ylabel(f"{layer}\nmap {g('maps')[r]}", fontsize=8)
    fig.suptitle(
        "Feature evolution during training: each map's strongest activation over all test images at each snapshot,\n"
        "projected and cut to its receptive field (title: activation, test image #; yellow: outside the image);\n"
        "maps: per layer, the strongest at the end among those active at every snapshot; gray panel: the map is "
        "zero on every test image at that snapshot\n"
        f"{rec.mining_note()}\n{rec.norm_note()}",
        fontsize=9,
    )
    colorbar(fig, axes, rec)
    return save_figure(fig, out / "evolution.png")


def draw(folder: Path, rec: Record | None = None) -> list[Path]:
    """Every figure of one folder's record (``rec``: already loaded), and randomization_check.md, into that folder."""
    from common.report import deconvnet_check  # it uses this module's helpers: imported here, not at the top

    folder = Path(folder)
    rec = Record.load(folder) if rec is None else rec
    written = [fig(rec, folder) for fig in (fig_projections_all, fig_projections_top1, fig_projections_topk)]
    written += [fig_top_per_map(rec, layer, folder) for layer in rec.layers]
    if "evolution.iteration" in rec.arrays:  # a model without snapshots has none
        written.append(fig_evolution(rec, folder))
    return written + deconvnet_check.draw(rec, folder)


def rebuild(folder: Path) -> list[Path]:
    """Redraws every deconvnet figure (the PNGs and randomization_check.md) of ``folder``, e.g. figures/deconvnet
    or figures/deconvnet/beyond_4_tta, from the record dconvnet_visualizations.py saved there (deconvnet.npz and
    deconvnet.json) alone: no network, no data set, no deep-learning framework. Byte for byte the same files each
    time for the same record. Returns the paths written; raises UserError where the folder holds no record."""
    return draw(Path(folder))
