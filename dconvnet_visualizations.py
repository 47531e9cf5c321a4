"""Task 2, step 2: deconvnet figures of the network trained by dconvnet.py.

    python dconvnet_visualizations.py                          # 5 random test images, both conv layers
    python dconvnet_visualizations.py --indices 3,17,42 --layer conv2 --top-k 9
    python dconvnet_visualizations.py --run tanh_adam_normal --seed 1   # the model dconvnet.py trained so
    python dconvnet_visualizations.py --checkpoint path/to/model.keras

Loads the model dconvnet.py trained for --run and --seed (or --checkpoint), and the training
snapshots beside it, and writes to --out-dir:
  projections_all.png           each image, its conv1 and conv2 projections, every map kept
  projections_top1.png          only the most active map (largest summed activation) of each layer
  projections_top{k}.png        the k strongest single activations, each projected alone
  top{k}_per_map_conv{1,2}.png  Zeiler & Fergus' Figure 2: per feature map, its k strongest
                                activations over the whole test set, projection beside image patch
  evolution.png                 their Figure 4: a few maps' strongest projection at each snapshot
  occlusion.png                 their Figure 7: a gray square slid over each image
  guided_backprop_projections.png  the same conv2 activations projected by the deconvnet, guided
                                backpropagation and the plain gradient
  randomization_check.png/.md   Adebayo et al.'s sanity check: the projections and the top-k patches as
                                the weights are re-drawn layer by layer from the top
Projections are signed; every panel is scaled on its own to [-1, 1] by its largest |value|
(symmetric around zero, red positive, blue negative), as each figure's title says.
The strongest activations are searched among interior positions (receptive field inside the image,
so never the zero padding), one map's picks in one image at least half a field apart (--mining all:
every position, no suppression); each title says which. Random test images include at least
--min-correct correctly classified ones.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from common import cpu  # noqa: E402  (first: the CPU's settings must precede TensorFlow's loading)

cpu.configure()  # oneDNN where TensorFlow leaves it off, TensorFlow's start-up chatter quiet: common/cpu.py

import keras  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

from common import backend, cli, io, study  # noqa: E402
from common.config import COLOR, DATA_DIR, DATASET, IMAGE_SIZE, OUT_DIR, RUNS_DIR, SEED, parse, setting  # noqa: E402
from common.data import as_float_images, load_dataset  # noqa: E402
from common.deconvnet import (  # noqa: E402
    KERNEL,
    LAYERS,
    POOL,
    RECEPTIVE_FIELD,
    Deconvnet,
    cascading_randomization,
    crop_to_field,
    interior_mask,
    min_separation,
    spearman,
    ssim,
    top_k_activations,
    top_k_per_map,
)
from common.report.plots import plt, save_figure  # noqa: E402

# ---------------------------------------------------------------------------
# Constants: edit and rerun, or override with flags (see --help).
REQUIRED_LAYERS = ("conv1", "pool1", "conv2")
CONV2_MAPS_SHOWN = 16  # conv2 maps in the top-k-per-map figure (of 64): 4x4 blocks stay readable
EVOLUTION_MAPS = 4  # feature maps per layer in the evolution figure
OCCLUDER = 7  # side of the gray square in pixels (a quarter of the image side)
OCCLUDER_GRAY = 0.5  # its value: mid gray on the [0, 1] input scale
OUTSIDE = "#f2d675"  # pale yellow: pixels of a receptive field that fall outside the image
PROJ_CMAP = matplotlib.colormaps["RdBu_r"].with_extremes(bad=OUTSIDE)  # NaN marks "outside"
IMG_CMAP = matplotlib.colormaps["gray"].with_extremes(bad=OUTSIDE)
NORM_NOTE = "projections: each panel scaled by its own max |value| to [-1, 1] (red > 0, blue < 0)"
RGB_NOTE = "projections: each panel scaled by its own max |value|, shown as RGB 0.5 + p / 2 (mid gray = 0)"
SNAPSHOT_RE = re.compile(r"iter_(\d+)\.keras$")


@dataclass(frozen=True)
class Settings:
    run: str = setting(
        "relu_adam_normal_dropout_l2",
        "the run dconvnet.py trained (finds its model in --runs-dir)",
        choices=tuple(study.RUNS),
        metavar="RUN",
    )
    seed: int = SEED(0, "the seed dconvnet.py trained that run with")
    checkpoint: Path | None = setting(
        None,
        "a model file to load instead of --run/--seed's (its snapshots/ beside it, if any, give the evolution figure)",
        metavar="FILE",
    )
    runs_dir: Path = RUNS_DIR(Path("runs/dconvnet"), "where dconvnet.py put its run folders")
    out_dir: Path | None = OUT_DIR(
        None,
        "where the PNGs go (default: figures/deconvnet for the study's best run, figures/deconvnet/<run> for another)",
    )
    num_images: int = setting(5, "test images drawn at random with --image-seed", min=1)
    indices: tuple[int, ...] | None = setting(
        None, "test-image indices instead of random ones, comma-separated, e.g. 3,17,42", min=0, metavar="I"
    )
    min_correct: int = setting(
        3, "of the random test images, at least this many correctly classified (not with --indices)", min=0
    )
    layer: str = setting("both", "layer(s) to project", choices=LAYERS + ("both",))
    top_k: int = setting(9, "activations per image / per map", min=1)
    mining: str = setting(
        "interior",
        "where the strongest activations are searched: interior (receptive field inside the image, so never "
        "the zero padding; one map's picks in an image at least half a field apart) or all (every position, "
        "no suppression: border maps win)",
        choices=("interior", "all"),
    )
    image_seed: int = SEED(0, "picks the random test images")
    randomization_seed: int = SEED(0, "draws the re-initialized weights of the randomization check")
    randomization_images: int = setting(100, "test images the randomization check's similarities average over", min=1)
    dataset: str = DATASET(study.STUDY_DATASET)
    data_dir: Path | None = DATA_DIR(None)
    color: str | None = COLOR(None, "read the test images as gray or rgb (default: as the model takes them)")
    image_size: str | None = IMAGE_SIZE(None, "resize the test images to HxW (default: the model's input size)")

    def figures_dir(self) -> Path:
        if self.out_dir is not None:
            return self.out_dir
        default = Path("figures/deconvnet")
        return default if self.run == Settings.run else default / self.run

    @property
    def layers(self) -> tuple[str, ...]:
        return LAYERS if self.layer == "both" else (self.layer,)


@dataclass(frozen=True)
class Mining:
    """Where the searches look (--mining), and how a title says so."""

    interior: bool
    image_hw: tuple[int, int]

    def mask(self, layer: str, acts: np.ndarray):
        return interior_mask(layer, acts.shape[1:3], self.image_hw) if self.interior else None

    def separation(self, layer: str) -> int:
        return min_separation(layer) if self.interior else 1

    def note(self, per_image: bool = False) -> str:
        if not self.interior:
            return "mining: all positions, their fields may reach into the zero padding"
        rule = "; one map's picks >= half a field apart (conv1 3, conv2 4 steps)" if per_image else ""
        return f"mining: interior positions only, their receptive field inside the image{rule}"

    def sums(self, layer: str, acts: np.ndarray) -> np.ndarray:
        """(N, C) each map's activation summed over the searched positions."""
        m = self.mask(layer, acts)
        return (acts if m is None else acts * m[None, :, :, None]).sum(axis=(1, 2))


def choose_images(probs_all: np.ndarray, labels: np.ndarray, n: int, min_correct: int, seed: int) -> np.ndarray:
    """n test images in a random order of ``seed``: its first ``min_correct`` correctly classified ones,
    then the next ones of that order whatever their prediction; sorted."""
    order = np.random.default_rng(seed).permutation(len(labels))
    correct = probs_all.argmax(axis=1)[order] == labels[order]
    first = order[correct][: min(min_correct, n)]
    rest = [i for i in order if i not in set(first)][: n - len(first)]
    return np.sort(np.concatenate([first, rest]).astype(np.int64))


# ---------------------------------------------------------------------------
# Loading
def check_architecture(model, path) -> None:
    """The deconvnet assumes 5x5 'same' convs, stride 1, and a 2x2 pool between them."""
    conv1, pool1, conv2 = (model.get_layer(n) for n in REQUIRED_LAYERS)
    problems = []
    for conv in (conv1, conv2):
        if tuple(conv.kernel_size) != (KERNEL, KERNEL) or tuple(conv.strides) != (1, 1) or conv.padding != "same":
            problems.append(
                f"{conv.name} is {conv.kernel_size} stride {conv.strides} {conv.padding}, "
                f"expected ({KERNEL}, {KERNEL}) stride 1 same"
            )
    if tuple(pool1.pool_size) != (POOL, POOL) or tuple(pool1.strides) != (POOL, POOL):
        problems.append(f"pool1 is {pool1.pool_size} stride {pool1.strides}, expected 2x2 stride 2")
    if conv2.kernel.shape[2] != conv1.kernel.shape[3] or conv1.kernel.shape[2] not in (1, 3):
        problems.append("conv1/conv2 channel counts do not chain (or the input is neither gray nor RGB)")
    if problems:
        raise io.CheckpointError(
            f"{path}: layers do not match the study's LeNet-5: "
            + "; ".join(problems)
            + ". Retrain it with dconvnet.py."
        )


def find_model(s: Settings) -> Path:
    """--checkpoint, else the model dconvnet.py saved for --run and --seed (the newest if several
    identities, e.g. backends or data sets, trained it)."""
    if s.checkpoint is not None:
        return s.checkpoint
    found = sorted(s.runs_dir.glob(f"{s.run}/seed{s.seed}-*/model.keras"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise io.CheckpointError(
            f"no model of run {s.run} seed {s.seed} in {s.runs_dir}. Train it first: "
            f"python dconvnet.py --run {s.run} --seed {s.seed} (or pass --checkpoint FILE)."
        )
    if len(found) > 1:
        print(f"note: {len(found)} trained identities of {s.run} seed {s.seed}; using the newest, {found[-1]}")
    return found[-1]


def load_network(path: Path):
    model = io.load_model(path, required_layers=REQUIRED_LAYERS, compile=False)
    check_architecture(model, path)
    return model


def model_view(model, s: Settings, path: Path) -> tuple[str, str]:
    """(color, image size) to read the test images as the model takes them: its input's channels and
    size, which dconvnet.py's --color and --image-size set. A flag given here must agree."""
    h, w, channels = model.inputs[0].shape[1:]
    color, size = ("gray" if channels == 1 else "rgb"), f"{h}x{w}"
    for flag, given, own in (("--color", s.color, color), ("--image-size", s.image_size, size)):
        if given is not None and given.lower() != own:
            raise cli.UserError(
                f"{flag} {given}: the model {path} takes {color} {size} images. Leave {flag} out (the images are "
                "then read as the model takes them) or pass the model trained with it."
            )
    return color, size


def find_snapshots(checkpoint: Path) -> list[tuple[int, Path]]:
    """dconvnet.py's snapshots (``snapshots/iter_NNNNNN.keras`` beside the model), by iteration."""
    found = [
        (int(m.group(1)), p)
        for p in (checkpoint.parent / "snapshots").glob("iter_*.keras")
        if (m := SNAPSHOT_RE.search(p.name))
    ]
    return sorted(found)


# ---------------------------------------------------------------------------
# Drawing helpers
def scaled(p: np.ndarray) -> np.ndarray:
    """Per-panel symmetric normalization: p / max|p| (NaN kept), so 0 stays white."""
    m = np.nanmax(np.abs(p)) if np.any(np.isfinite(p)) else 0.0
    return p / m if m > 0 else p


def pixels(img: np.ndarray) -> np.ndarray:
    """An image (H, W, C) as imshow takes it: (H, W) for gray, (H, W, 3) for RGB."""
    return img[..., 0] if img.shape[-1] == 1 else img


def as_rgba(p: np.ndarray, projection: bool) -> np.ndarray:
    """A panel as RGBA: gray panels through the projection or image colormap; RGB projections as
    0.5 + p / (2 max|p|) per channel (zero is mid gray), RGB patches as they are; NaN (outside the
    image) in OUTSIDE."""
    if p.ndim == 2:
        return PROJ_CMAP((scaled(p) + 1) / 2) if projection else IMG_CMAP(p)
    rgb = 0.5 + scaled(p) / 2 if projection else p
    outside = np.isnan(rgb).any(axis=-1)
    rgba = np.concatenate([np.clip(np.nan_to_num(rgb), 0, 1), np.ones(rgb.shape[:-1] + (1,))], axis=-1)
    rgba[outside] = matplotlib.colors.to_rgba(OUTSIDE)
    return rgba.astype(np.float32)


def show_projection(ax, p, title=None):
    if p.ndim == 2:
        ax.imshow(scaled(p), cmap=PROJ_CMAP, vmin=-1, vmax=1, interpolation="nearest")
    else:
        ax.imshow(as_rgba(p, projection=True), interpolation="nearest")
    _finish(ax, title)


def show_image(ax, img, title=None):
    if img.ndim == 2:
        ax.imshow(img, cmap=IMG_CMAP, vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(as_rgba(img, projection=False), interpolation="nearest")
    _finish(ax, title)


def _finish(ax, title):
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def mosaic(tiles: np.ndarray, ncols: int, projection: bool) -> np.ndarray:
    """(k, s, s) or (k, s, s, 3) tiles -> one RGBA image, white 1-pixel gaps between tiles; projections
    each scaled on their own, patches on [0, 1]; NaN (outside the image) in OUTSIDE."""
    k, s = tiles.shape[:2]
    nrows = -(-k // ncols)
    out = np.ones((nrows * (s + 1) - 1, ncols * (s + 1) - 1, 4), np.float32)
    for i, t in enumerate(tiles):
        r, c = divmod(i, ncols)
        out[r * (s + 1) : r * (s + 1) + s, c * (s + 1) : c * (s + 1) + s] = as_rgba(t, projection)
    return out


def norm_note(x) -> str:
    """How the projections of images ``x`` (..., C) are scaled: a colormap for gray, RGB for color."""
    return RGB_NOTE if x.shape[-1] == 3 else NORM_NOTE


def projection_colorbar(fig, axes, x):
    if x.shape[-1] == 3:  # RGB panels have no one-dimensional scale to show
        return
    cb = fig.colorbar(
        matplotlib.cm.ScalarMappable(matplotlib.colors.Normalize(-1, 1), PROJ_CMAP), ax=axes, shrink=0.6, pad=0.02
    )
    cb.set_label("projection / max|projection| of its panel", fontsize=8)


def image_label(data, idx, probs=None) -> str:
    label = f"test #{idx}: {data.class_names[data.y_test[idx]]}"
    if probs is not None:
        label += f"\npredicted {data.class_names[int(np.argmax(probs))]} ({np.max(probs):.0%})"
    return label


# ---------------------------------------------------------------------------
# Figures
def fig_projections_all(dc, fwd, x, data, idx, layers, probs, out):
    fig, axes = plt.subplots(
        len(idx), 1 + len(layers), figsize=(2.2 * (1 + len(layers)) + 1, 2.3 * len(idx) + 0.8), squeeze=False
    )
    projs = {layer: dc.project_all(fwd, layer, np.arange(len(idx))) for layer in layers}
    for r, i in enumerate(idx):
        show_image(axes[r, 0], pixels(x[r]), image_label(data, i, probs[r]))
        for c, layer in enumerate(layers):
            show_projection(axes[r, c + 1], projs[layer][r], f"{layer}: all {fwd[layer].shape[-1]} maps kept")
    fig.suptitle(
        "Deconvnet projections of every activation of a layer (no search, so no mining: border positions "
        f"included)\n{norm_note(x)}",
        fontsize=10,
    )
    projection_colorbar(fig, axes, x)
    return save_figure(fig, out / "projections_all.png")


def fig_projections_top1(dc, fwd, x, data, idx, layers, probs, mining, out):
    fig, axes = plt.subplots(
        len(idx), 1 + len(layers), figsize=(2.2 * (1 + len(layers)) + 1, 2.3 * len(idx) + 0.8), squeeze=False
    )
    for c, layer in enumerate(layers):
        totals = mining.sums(layer, fwd[layer])  # (N, C) summed activation of each map where mining looks
        where = "interior " if mining.interior else ""
        best = totals.argmax(axis=1)
        projs = dc.project_maps(fwd, layer, np.arange(len(idx)), best)
        for r in range(len(idx)):
            show_projection(
                axes[r, c + 1], projs[r], f"{layer}: map {best[r]} only\n({where}sum {totals[r, best[r]]:.1f})"
            )
    for r, i in enumerate(idx):
        show_image(axes[r, 0], pixels(x[r]), image_label(data, i, probs[r]))
    fig.suptitle(
        "Deconvnet projection of the single most active map (largest summed activation), the whole map kept\n"
        f"the map chosen by its sum; {mining.note()}\n{norm_note(x)}",
        fontsize=10,
    )
    projection_colorbar(fig, axes, x)
    return save_figure(fig, out / "projections_top1.png")


def fig_projections_topk(dc, fwd, x, data, idx, layers, k, mining, out):
    rows = [(r, layer) for r in range(len(idx)) for layer in layers]
    fig, axes = plt.subplots(len(rows), k + 1, figsize=(1.25 * (k + 1) + 1, 1.45 * len(rows)), squeeze=False)
    found = {
        layer: top_k_activations(fwd[layer], k, mining.mask(layer, fwd[layer]), mining.separation(layer))
        for layer in layers
    }
    for row, (r, layer) in enumerate(rows):
        ri, ci, mi, vi = (a[r] for a in found[layer])
        projs = dc.project_activations(fwd, layer, np.full(k, r), ri, ci, mi)
        show_image(axes[row, 0], pixels(x[r]), f"#{idx[r]} {data.class_names[data.y_test[idx[r]]]}\n{layer}:")
        for j in range(k):
            show_projection(axes[row, j + 1], projs[j], f"map {mi[j]} ({ri[j]},{ci[j]})\n= {vi[j]:.2f}")
            axes[row, j + 1].title.set_fontsize(6.5)
    fig.suptitle(
        f"The {k} strongest single activations of each layer, each projected alone "
        f"(title: map (row, col) = activation)\n{mining.note(per_image=True)}\n{norm_note(x)}",
        fontsize=10,
    )
    projection_colorbar(fig, axes, x)
    return save_figure(fig, out / f"projections_top{k}.png")


def shown_maps(fwd, layer: str, mining) -> np.ndarray:
    """The maps the per-map figure shows: all of conv1; the CONV2_MAPS_SHOWN conv2 maps with the largest
    activation where mining looks (all positions favour maps that fire on the border)."""
    n_maps = fwd[layer].shape[-1]
    if layer != "conv2":
        return np.arange(n_maps)
    peak = top_k_per_map(fwd[layer], 1, mining.mask(layer, fwd[layer]))[3][:, 0]
    return np.sort(np.argsort(-peak, kind="stable")[:CONV2_MAPS_SHOWN])


def fig_top_per_map(dc, fwd, x_all, layer, k, mining, out):
    """Figure 2 of the paper: per map, k strongest projections (left) and input patches (right)."""
    images, rows, cols, values = top_k_per_map(fwd[layer], k, mining.mask(layer, fwd[layer]))  # (C, k) each
    maps = shown_maps(fwd, layer, mining)
    m = len(maps)
    sel = (images[maps].ravel(), rows[maps].ravel(), cols[maps].ravel())
    channel = np.repeat(maps, images.shape[1])
    tiles = dc.project_activations(fwd, layer, *sel, channel, tiles=True)
    tiles = tiles.reshape(m, -1, *tiles.shape[1:])  # (maps, k, size, size[, 3])
    # the image's channels first for crop_to_field, then last again: (P, size, size[, 3])
    patches = np.stack(
        [pixels(np.moveaxis(crop_to_field(np.moveaxis(x_all[n], -1, 0), layer, r, c), 0, -1)) for n, r, c in zip(*sel)]
    )
    patches = patches.reshape(tiles.shape)
    grid = int(np.ceil(np.sqrt(tiles.shape[1])))
    per_row = 4
    nrows = -(-m // per_row)
    fig, axes = plt.subplots(
        nrows,
        2 * per_row,
        figsize=(2 * per_row * 1.35, nrows * 1.55),
        squeeze=False,
        gridspec_kw={"wspace": 0.08, "hspace": 0.35},
    )
    for ax in axes.flat:
        ax.axis("off")
    for i, ch in enumerate(maps):
        a_proj, a_patch = axes[i // per_row, 2 * (i % per_row)], axes[i // per_row, 2 * (i % per_row) + 1]
        a_proj.imshow(mosaic(tiles[i], grid, projection=True), interpolation="nearest")
        a_patch.imshow(mosaic(patches[i], grid, projection=False), interpolation="nearest")
        a_proj.set_title(f"map {ch} (top {values[ch, 0]:.2f})", fontsize=7)
        a_patch.set_title("its input patches", fontsize=7)
    size = RECEPTIVE_FIELD[layer][0]
    which = (
        f"all {m} maps"
        if m == fwd[layer].shape[-1]
        else f"the {m} of {fwd[layer].shape[-1]} maps with the largest top activation"
        + (" (interior)" if mining.interior else "")
    )
    fig.subplots_adjust(top=1 - 1.25 / (nrows * 1.55))  # room for the 5-line title above the first row
    fig.suptitle(
        f"{layer}, {which}: the {tiles.shape[1]} strongest activations of each map over all "
        f"{len(x_all)} test images (at most one per image)\n"
        f"left: projection, right: the {size}x{size}-pixel input patch under its receptive field "
        f"(yellow = outside the image)\n{mining.note()}\n{norm_note(x_all)}; patches on the raw [0, 1] pixel scale",
        fontsize=9,
    )
    return save_figure(fig, out / f"top{k}_per_map_{layer}.png")


def fig_evolution(snapshots, final_fwd, x_all, layers, mining, out):
    """Figure 4 of the paper: for a few maps, the strongest activation's projection at each snapshot."""
    chosen = []
    for layer in layers:  # maps that fire most at the end of training
        peak = top_k_per_map(final_fwd[layer], 1, mining.mask(layer, final_fwd[layer]))[3][:, 0]
        chosen += [(layer, int(c)) for c in np.sort(np.argsort(-peak)[:EVOLUTION_MAPS])]
    cols = []
    for it, path in snapshots:
        dc = Deconvnet(load_network(path))
        fwd = dc.forward(x_all)
        col = []
        for layer in layers:
            n, r, c, v = top_k_per_map(fwd[layer], 1, mining.mask(layer, fwd[layer]))
            maps = np.array([ch for lay, ch in chosen if lay == layer])
            tiles = dc.project_activations(fwd, layer, n[maps, 0], r[maps, 0], c[maps, 0], maps, tiles=True)
            col += list(zip(tiles, v[maps, 0], n[maps, 0]))
        cols.append((it, col))
    fig, axes = plt.subplots(
        len(chosen), len(cols), figsize=(1.3 * len(cols) + 1.2, 1.35 * len(chosen) + 0.9), squeeze=False
    )
    for j, (it, col) in enumerate(cols):
        for i, ((layer, ch), (tile, v, n)) in enumerate(zip(chosen, col)):
            show_projection(axes[i, j], tile, f"act {v:.2f}, #{n}")
            axes[i, j].title.set_fontsize(6.5)
            if i == 0:
                axes[i, j].set_title(f"iter {it}\nact {v:.2f}, #{n}", fontsize=7)
            if j == 0:
                axes[i, j].set_ylabel(f"{layer}\nmap {ch}", fontsize=8)
    fig.suptitle(
        "Feature evolution during training: each map's strongest activation over all test images,\n"
        "projected and cropped to its receptive field (title: activation, test image #; yellow: outside the image)\n"
        f"{mining.note()}\n{norm_note(x_all)}",
        fontsize=9,
    )
    projection_colorbar(fig, axes, x_all)
    return save_figure(fig, out / "evolution.png")


def occlusion_maps(model, dc, x, labels, mining):
    """For each image: p(true class), the argmax class and the strongest conv2 map's total
    activation (summed where mining looks), with the gray square centered on every pixel (cut at the border)."""
    probe = keras.Model(model.inputs, [model.outputs[0], model.get_layer("conv2").output])
    h, w = x.shape[1:3]
    half = OCCLUDER // 2
    rr, cc = np.mgrid[0:h, 0:w]
    results = []
    for img, label in zip(x, labels):
        logits, conv2 = (np.asarray(a) for a in probe.predict_on_batch(img[None]))
        strongest = int(mining.sums("conv2", conv2)[0].argmax())
        # One occluded copy per center pixel: a (h*w, h, w) mask built by broadcasting.
        centers_r, centers_c = rr.ravel()[:, None, None], cc.ravel()[:, None, None]
        inside = (np.abs(rr[None] - centers_r) <= half) & (np.abs(cc[None] - centers_c) <= half)
        occluded = np.where(inside[..., None], OCCLUDER_GRAY, img[None]).astype(np.float32)
        logits_o, conv2_o = (np.asarray(a) for a in probe.predict_on_batch(occluded))
        probs = keras.ops.convert_to_numpy(keras.ops.softmax(logits_o))
        results.append(
            {
                "strongest": strongest,
                "p_true": probs[:, label].reshape(h, w),
                "argmax": probs.argmax(1).reshape(h, w),
                "activation": mining.sums("conv2", conv2_o)[:, strongest].reshape(h, w),
                "probs": keras.ops.convert_to_numpy(keras.ops.softmax(logits))[0],
            }
        )
    return results


def fig_occlusion(model, dc, fwd, x, data, idx, mining, out):
    res = occlusion_maps(model, dc, x, data.y_test[idx], mining)
    names = data.class_names
    cmap_cls = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    fig, axes = plt.subplots(len(idx), 5, figsize=(14, 2.6 * len(idx)), squeeze=False)
    for r, (i, res_r) in enumerate(zip(idx, res)):
        ax = axes[r, 0]
        show_image(ax, pixels(x[r]), "(a) " + image_label(data, i, res_r["probs"]))
        ax.add_patch(
            matplotlib.patches.Rectangle((2 - 0.5, 2 - 0.5), OCCLUDER, OCCLUDER, color="orange", fill=False, lw=1.2)
        )
        s = res_r["strongest"]
        im = axes[r, 1].imshow(res_r["activation"], cmap="viridis", interpolation="nearest")
        fig.colorbar(im, ax=axes[r, 1], shrink=0.8)
        where = "interior " if mining.interior else ""
        _finish(axes[r, 1], f"(b) total {where}activation of conv2\nmap {s} (its strongest) vs. square's center")
        show_projection(
            axes[r, 2],
            dc.project_maps(fwd, "conv2", [r], [s])[0],
            f"(c) projection of conv2 map {s}\n(unoccluded; per-panel max|v|)",
        )
        # one fixed 0..1 scale for every image: a probability that never rises above 0.01 must look dark
        im = axes[r, 3].imshow(res_r["p_true"], cmap="magma", vmin=0, vmax=1, interpolation="nearest")
        fig.colorbar(im, ax=axes[r, 3], shrink=0.8).set_label("probability", fontsize=7)
        p_clean = res_r["probs"][data.y_test[i]]
        _finish(
            axes[r, 3],
            f"(d) p({names[data.y_test[i]]}) (true class) vs. square's\ncenter (unoccluded {p_clean:.2f}; scale 0..1)",
        )
        am = res_r["argmax"]
        axes[r, 4].imshow(am, cmap=cmap_cls, vmin=-0.5, vmax=cmap_cls.N - 0.5, interpolation="nearest")
        _finish(axes[r, 4], "(e) most probable class\nvs. square's center")
        present = np.unique(am)
        handles = [matplotlib.patches.Patch(color=cmap_cls(int(c)), label=names[c]) for c in present]
        axes[r, 4].legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    n_ok = int(sum(r_["probs"].argmax() == data.y_test[i] for i, r_ in zip(idx, res)))
    fig.suptitle(
        f"Occlusion sensitivity: a {OCCLUDER}x{OCCLUDER} square of gray {OCCLUDER_GRAY} centered on every pixel "
        "(orange: one position)\nmaps are indexed by the square's center; the model never saw occluders "
        f"in training; {n_ok} of {len(idx)} images correctly classified unoccluded\n"
        f"(b), (c): the conv2 map with the largest summed activation, {mining.note()}",
        fontsize=10,
    )
    fig.tight_layout()
    return save_figure(fig, out / "occlusion.png")


RULE_TITLES = {
    "deconvnet": "deconvnet\n(rectify signal)",
    "guided": "guided backprop\n(signal > 0 and fwd > 0)",
    "gradient": "gradient\n(fwd > 0 only)",
}


def fig_guided_backprop(dc, fwd, x, data, idx, mining, out):
    """The same conv2 activations projected by the three backward rules: every activation kept, and
    each image's strongest single activation."""
    rules = tuple(RULE_TITLES)
    rows, cols, maps, values = (a[:, 0] for a in top_k_activations(fwd.conv2, 1, mining.mask("conv2", fwd.conv2)))
    n = len(idx)
    everything = {rule: dc.project_all(fwd, "conv2", np.arange(n), rule=rule) for rule in rules}
    single = {rule: dc.project_activations(fwd, "conv2", np.arange(n), rows, cols, maps, rule=rule) for rule in rules}
    # how far each rule's picture is from the deconvnet's, per panel
    rho = {
        (kind, rule): spearman(p[rule], p["deconvnet"])
        for kind, p in (("all", everything), ("one", single))
        for rule in rules
    }
    fig, axes = plt.subplots(
        n, 1 + 2 * len(rules), figsize=(1.75 * (1 + 2 * len(rules)) + 1, 2.3 * n + 1.2), squeeze=False
    )
    for r, i in enumerate(idx):
        show_image(axes[r, 0], pixels(x[r]), f"#{i} {data.class_names[data.y_test[i]]}")
        for j, rule in enumerate(rules):
            top = r == 0
            vs = "" if rule == "deconvnet" else "rho vs. deconvnet {:.2f}"
            show_projection(
                axes[r, 1 + j],
                everything[rule][r],
                (f"all conv2 kept:\n{RULE_TITLES[rule]}\n" if top else "") + vs.format(rho["all", rule][r]),
            )
            show_projection(
                axes[r, 1 + len(rules) + j],
                single[rule][r],
                (f"strongest conv2:\n{RULE_TITLES[rule]}\n" if top else "")
                + f"map {maps[r]} ({rows[r]},{cols[r]}) = {values[r]:.2f}"
                + ("\n" + vs.format(rho["one", rule][r]) if vs else ""),
            )
            for a in axes[r, 1 + j], axes[r, 1 + len(rules) + j]:
                a.title.set_fontsize(7)
    fig.suptitle(
        "conv2 activations projected to pixels by three backward rules for the ReLUs (same switches, same filters):\n"
        "deconvnet (Zeiler & Fergus) rectifies the signal; guided backprop (Springenberg et al.) also needs the "
        "forward input > 0; the gradient only that\n"
        "columns 2-4: every conv2 activation kept; 5-7: each image's strongest single one "
        f"({mining.note()}). conv1's projections are the same under all three rules\n"
        f"(its only ReLU is the one its kept activations come out of). {norm_note(x)}",
        fontsize=9,
    )
    projection_colorbar(fig, axes, x)
    return save_figure(fig, out / "guided_backprop_projections.png")


STEP_LABELS = {"trained": "trained"}  # then "+<layer>": that layer re-drawn too


def step_label(step) -> str:
    return STEP_LABELS.get(step.name, f"+ {step.name}")


def reads_randomized(step, layer: str) -> bool:
    """Whether ``layer``'s projection reads a re-drawn layer: its own or one below (conv2 reads conv1)."""
    return any(name in LAYERS[: LAYERS.index(layer) + 1] for name in step.randomized)


def unrelated_baseline(steps) -> dict:
    """layer -> (Spearman, SSIM) of each image's trained projection with the next image's: what two
    projections that share nothing but the network score, to read the cascade's numbers against."""
    out = {}
    for layer in LAYERS:
        p = steps[0].projections[layer]
        out[layer] = (spearman(p, np.roll(p, 1, axis=0)), ssim(p, np.roll(p, 1, axis=0)))
    return out


def fig_randomization(steps, x, data, idx, shown, k, mining, out):
    """Projections per step for a few images (top), the similarity to the trained network per step (bottom)."""
    rows = [(r, layer) for r in range(len(shown)) for layer in LAYERS]
    ncols = 1 + len(steps)
    fig = plt.figure(figsize=(1.6 * ncols + 4.5, 1.7 * len(rows) + 4.4))
    top, bottom = fig.subfigures(2, 1, height_ratios=[1.7 * len(rows), 3.4])
    axes = top.subplots(len(rows), ncols, squeeze=False, gridspec_kw={"hspace": 0.5, "wspace": 0.1})
    top.subplots_adjust(top=1 - 1.1 / (1.7 * len(rows)), bottom=0.01)  # room for the title and the step names
    for row, (r, layer) in enumerate(rows):
        i = shown[r]
        show_image(axes[row, 0], pixels(x[i]), f"test #{idx[i]} {data.class_names[data.y_test[idx[i]]]}\n{layer}:")
        for j, step in enumerate(steps):
            ax = axes[row, 1 + j]
            if step.name == "trained":
                note = "trained network"
            elif not reads_randomized(step, layer):
                note = "identical (weights\n<= layer unchanged)"
            else:
                note = f"rho {step.spearman[layer][i]:.2f}, SSIM {step.ssim[layer][i]:.2f}"
            head = f"{step_label(step)}\n" if row == 0 and step.name != "trained" else ""
            show_projection(ax, step.projections[layer][i], head + note)
            ax.title.set_fontsize(7)
            if reads_randomized(step, layer):
                for spine in ax.spines.values():
                    spine.set(color="#d62728", linewidth=1.5)
    projection_colorbar(top, axes[:, 1:], x)
    x_steps = np.arange(len(steps))
    labels = [step_label(st) for st in steps]
    ax_sim, ax_ov = bottom.subplots(1, 2, gridspec_kw={"wspace": 0.3})
    bottom.subplots_adjust(top=0.86, bottom=0.14)
    colors = {"conv1": "#1f77b4", "conv2": "#d62728"}
    base = unrelated_baseline(steps)
    n_images = len(steps[0].spearman["conv1"])
    for layer in LAYERS:
        for m, (metric, style) in enumerate((("spearman", "-o"), ("ssim", "--s"))):
            v = np.array([getattr(st, metric)[layer] for st in steps])  # (steps, images)
            name = "Spearman rho" if metric == "spearman" else "SSIM"
            ax_sim.plot(x_steps, v.mean(axis=1), style, color=colors[layer], label=f"{layer} {name}")
            mean, std = v.mean(axis=1), v.std(axis=1, ddof=1)  # the band: ± 1 std over the images, as elsewhere
            ax_sim.fill_between(x_steps, mean - std, mean + std, color=colors[layer], alpha=0.12)
            ax_sim.axhline(base[layer][m].mean(), color=colors[layer], ls=":" if m == 0 else "-.", lw=1)
        ov = np.array([st.overlap[layer] for st in steps])
        ax_ov.plot(x_steps, ov.mean(axis=1), "-o", color=colors[layer], label=f"{layer} ({ov.shape[1]} maps)")
    ax_sim.plot([], [], ":", color="gray", label="two different images, trained (rho)")
    ax_sim.plot([], [], "-.", color="gray", label="two different images, trained (SSIM)")
    ax_sim.set_title(
        f"(a) projection (every activation kept) vs. the trained network's,\nmean over {n_images} test images "
        "(band: ± 1 std over the images)",
        fontsize=8,
    )
    ax_sim.set_ylabel("similarity to the trained network's projection")
    ax_ov.set_title(
        f"(b) top-{k} patches per map over all {data.x_test.shape[0]} test images:\nshare of (image, row, col) "
        "picks the trained network also picks",
        fontsize=8,
    )
    ax_ov.set_ylabel(f"top-{k} overlap, mean over maps")
    for a in ax_sim, ax_ov:
        a.set_xticks(x_steps, labels, fontsize=8)
        a.set_xlabel("layers re-drawn so far, top down (cumulative)", fontsize=8)
        a.set_ylim(-0.1, 1.05)
        a.axhline(0, color="gray", lw=0.6)
        a.grid(alpha=0.3)
        a.legend(fontsize=7, loc="lower left")
    fig.suptitle(
        "Cascading randomization (Adebayo et al. 2018) of the deconvnet: weights re-drawn from their initializers, "
        "top layer first, cumulatively\n"
        "a layer's projection (and the activations that choose it) reads only its own and lower layers' weights "
        "(red frame: one of them re-drawn),\nso re-drawing logits and fc1 changes nothing. "
        f"Top: every activation of the layer kept; {norm_note(x)}\n(b): {mining.note()}",
        fontsize=9,
        y=1.0,
        va="bottom",  # above the subfigures (the tight bounding box takes it in)
    )
    return save_figure(fig, out / "randomization_check.png")


def randomization_check(model, dc, fwd_all, x_all, data, idx, k, mining, s, out) -> list[Path]:
    """The cascade on the chosen images plus random others (--randomization-images in all), the top-k
    search over the whole test set for the maps the per-map figures show; figure, table, printed table."""
    others = np.setdiff1d(np.random.default_rng(s.image_seed).permutation(len(x_all)), idx, assume_unique=True)
    images = np.concatenate([idx, others[: max(s.randomization_images - len(idx), 0)]])
    maps = {layer: shown_maps(fwd_all, layer, mining) for layer in LAYERS}
    steps = cascading_randomization(
        model, x_all[images], x_all, maps, k=k, interior=mining.interior, seed=s.randomization_seed
    )
    shown = np.arange(min(3, len(idx)))  # the first chosen images, as in the other figures
    fig = fig_randomization(steps, x_all[images], data, images, shown, k, mining, out)
    table = randomization_table(steps, k, mining, s.randomization_seed)
    io.write_text(out / "randomization_check.md", table)
    print(table)
    return [fig, out / "randomization_check.md"]


def randomization_table(steps, k, mining, seed) -> str:
    n_images = len(steps[0].spearman["conv1"])
    lines = [
        "# Cascading randomization of the deconvnet (Adebayo et al., NeurIPS 2018)",
        "",
        "Written by `dconvnet_visualizations.py`. Each step re-draws one more layer's weights from its own "
        f"initializer, top down (seed {seed}). Projections: every activation of the layer kept, compared with the "
        f"trained network's on {n_images} test images (mean ± std over them; SSIM on the figures' color scale). "
        f"Top-{k} overlap: per map, the share of the trained network's top-{k} patches (image, row, col) over all "
        f"test images that the randomized network also picks, mean over the maps the per-map figures show; "
        f"{mining.note()}.",
        "",
        "| step | re-drawn | conv1 Spearman | conv1 SSIM | conv1 top-k overlap | conv2 Spearman | conv2 SSIM "
        "| conv2 top-k overlap |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for st in steps:
        cells = [step_label(st), ", ".join(st.randomized) or "none"]
        for layer in LAYERS:
            cells += [
                f"{st.spearman[layer].mean():.3f} ± {st.spearman[layer].std():.3f}",
                f"{st.ssim[layer].mean():.3f} ± {st.ssim[layer].std():.3f}",
                f"{st.overlap[layer].mean():.3f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    base = unrelated_baseline(steps)
    cells = ["reference", "trained; each image vs. the next image"]
    for layer in LAYERS:
        cells += [f"{base[layer][0].mean():.3f} ± {base[layer][0].std():.3f}"]
        cells += [f"{base[layer][1].mean():.3f} ± {base[layer][1].std():.3f}", ""]
    lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "A layer's projection, and the activations that choose what to project, read only the weights of that "
        "layer and the layers below it: the rows before that layer is re-drawn are exactly 1. The reference row "
        "compares the trained projections of two different images: what sharing the network and nothing else scores.",
    ]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
@cli.entry_point
def main(argv=None) -> int:
    cli.line_buffered()
    s = parse(Settings, argv, description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    t0 = time.perf_counter()
    out = cli.writable_dir(s.figures_dir(), "--out-dir")
    io.remove_stale_temps(out)  # half-written figures of killed processes
    checkpoint = find_model(s)
    model = load_network(checkpoint)
    color, size = model_view(model, s, checkpoint)
    data = load_dataset(s.dataset, s.data_dir, color=color, image_size=size)
    print(f"{data.describe()}\n{backend.banner()}\nmodel: {checkpoint}")
    n_test = len(data.x_test)
    x_all = as_float_images(data.x_test)
    probs_all = keras.ops.convert_to_numpy(keras.ops.softmax(model.predict(x_all, batch_size=500, verbose=0)))
    if s.indices is not None:
        bad = [i for i in s.indices if not 0 <= i < n_test]
        if bad:
            raise cli.UserError(f"--indices {bad} out of range; the test set has {n_test} images (0..{n_test - 1}).")
        idx = np.array(s.indices)
    else:
        idx = choose_images(probs_all, data.y_test, min(s.num_images, n_test), s.min_correct, s.image_seed)
    x = x_all[idx]
    dc = Deconvnet(model)
    fwd = dc.forward(x)  # the chosen images
    fwd_all = dc.forward(x_all)  # the whole test set, for the per-map search
    probs = probs_all[idx]
    k = s.top_k
    mining = Mining(s.mining == "interior", dc.image_hw)

    written = [
        fig_projections_all(dc, fwd, x, data, idx, s.layers, probs, out),
        fig_projections_top1(dc, fwd, x, data, idx, s.layers, probs, mining, out),
        fig_projections_topk(dc, fwd, x, data, idx, s.layers, k, mining, out),
    ]
    written += [fig_top_per_map(dc, fwd_all, x_all, layer, k, mining, out) for layer in s.layers]
    snapshots = find_snapshots(checkpoint)
    if snapshots:
        written.append(fig_evolution(snapshots, fwd_all, x_all, s.layers, mining, out))
    else:
        print(
            f"note: no snapshots in {checkpoint.parent / 'snapshots'}; evolution.png skipped (dconvnet.py writes them)."
        )
    written.append(fig_occlusion(model, dc, fwd, x, data, idx, mining, out))
    written.append(fig_guided_backprop(dc, fwd, x, data, idx, mining, out))
    written += randomization_check(model, dc, fwd_all, x_all, data, idx, k, mining, s, out)
    for path in written:
        print(f"wrote {path}")
    print(
        f"[dconvnet_visualizations] {len(written)} figures for test images {idx.tolist()} "
        f"in {time.perf_counter() - t0:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
