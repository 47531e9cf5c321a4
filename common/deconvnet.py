"""A deconvnet (Zeiler & Fergus, ECCV 2014, arXiv 1311.2901) for the study's LeNet-5, whose conv part is
image -> conv1 -> relu -> pool1 -> conv2 -> relu -> pool2; docs/task2.md says how it works and how it is tested:

    conv2 (post-ReLU) -> rectify -> transposed conv2 kernel -> pool1 space
                      -> unpool with pool1's switches -> rectify -> transposed conv1 kernel -> pixels
    conv1 (post-ReLU) -> rectify -> transposed conv1 kernel -> pixels

``rule="guided"`` (guided backpropagation, Springenberg et al., arXiv 1412.6806) and ``rule="gradient"`` take the
same path with other ReLU rules (:data:`RULES`). A call projects P signals, each with its own image's switches, with
``keras.ops`` only: (P, H, W) for a gray network, (P, H, W, 3) for an RGB one. Switches pick the *first* maximal
input of a window in row-major order, the rule of TensorFlow's max-pool gradient, so the projection equals the
"deconvnet" gradient of the kept activations (tested); unpooling puts zeros in a pool's dropped odd row/column.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from common.study import DECONVNET_LAYERS as LAYERS

POOL = 2  # both max-pools are 2x2, stride 2, valid
KERNEL = 5  # both convs are 5x5, stride 1, same
# Receptive field in pixels of one activation: conv1 5; conv2 5 + (5-1)*2 (pool1 doubles
# conv2's steps) + 1 (the 2x2 window's extra pixel) = 14. Offset = first pixel for position 0.
RECEPTIVE_FIELD = {"conv1": (5, -2), "conv2": (14, -6)}  # (size, offset); row0 = stride*i + offset
STRIDE = {"conv1": 1, "conv2": 2}  # pixels per activation step
# What a ReLU's backward pass does with the signal s, z its forward input: the paper's rectification
# relu(s), guided backprop's relu(s) * (z > 0), the gradient's s * (z > 0).
RULES = ("deconvnet", "guided", "gradient")


def _pixels(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Drops the channel axis of a gray (1-channel) array; an RGB array keeps its 3."""
    return np.take(x, 0, axis=axis) if x.shape[axis] == 1 else x


# Max-pool switches and unpooling
def pool_switches(x, pool: int = POOL):
    """One-hot float mask (N, H//p, W//p, C, p*p) of each window's first maximum (its inputs row-major)."""
    x = ops.convert_to_tensor(x, "float32")
    n, h, w, c = x.shape
    h2, w2 = h // pool, w // pool
    x = x[:, : h2 * pool, : w2 * pool, :]  # valid pooling drops odd edges
    x = ops.reshape(x, (-1, h2, pool, w2, pool, c))
    win = ops.reshape(ops.transpose(x, (0, 1, 3, 5, 2, 4)), (-1, h2, w2, c, pool * pool))  # each window's inputs
    is_max = ops.cast(ops.equal(win, ops.max(win, axis=-1, keepdims=True)), "int32")
    return ops.cast(ops.logical_and(ops.equal(is_max, 1), ops.equal(ops.cumsum(is_max, axis=-1), 1)), "float32")


def unpool(y, switches, out_hw: tuple[int, int], pool: int = POOL):
    """Each pooled value back where its window's max came from, zeros elsewhere: (P, h, w, C) -> (P, *out_hw, C)."""
    y = ops.convert_to_tensor(y, "float32")
    _, h2, w2, c = y.shape
    z = switches * y[..., None]  # (P, h, w, C, p*p)
    z = ops.reshape(z, (-1, h2, w2, c, pool, pool))
    z = ops.transpose(z, (0, 1, 4, 2, 5, 3))  # (P, h, p, w, p, C)
    z = ops.reshape(z, (-1, h2 * pool, w2 * pool, c))
    return ops.pad(z, ((0, 0), (0, out_hw[0] - h2 * pool), (0, out_hw[1] - w2 * pool), (0, 0)))  # 0 in dropped edges


@dataclass
class Forward:
    """The way up for N images: post-ReLU activations and pool1's switches (NumPy)."""

    conv1: np.ndarray  # (N, 28, 28, 32)
    conv2: np.ndarray  # (N, 14, 14, 64)

    # On first use: a search for the strongest activations never reads them (dconvnet_visualizations.py --num-images
    # 2 on a 20-iteration network: 25-29 s of CPU computing them at every forward pass, 21-23 s so; 2-core AMD EPYC)
    @functools.cached_property
    def switches1(self) -> np.ndarray:  # (N, 14, 14, 32, 4) one-hot float
        return ops.convert_to_numpy(pool_switches(self.conv1))

    def __getitem__(self, layer: str) -> np.ndarray:
        return {"conv1": self.conv1, "conv2": self.conv2}[layer]


class Deconvnet:
    """Deconvnet of a trained LeNet-5 (layers ``conv1``, ``pool1``, ``conv2``)."""

    def __init__(self, model: keras.Model):
        # A copy of the weights: under JAX a variable's buffer may be freed when the model is.
        self.kernels = {name: ops.convert_to_tensor(np.array(model.get_layer(name).kernel)) for name in LAYERS}
        # The real model computes the way up, so activations are exactly the network's.
        self._features = keras.Model(model.inputs, [model.get_layer(n).output for n in LAYERS])
        self.image_hw = tuple(model.inputs[0].shape[1:3])

    def forward(self, images: np.ndarray, batch_size: int = 500) -> Forward:
        outs = [self._features.predict_on_batch(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        return Forward(*(np.concatenate([np.asarray(o[i]) for o in outs]) for i in (0, 1)))

    def project(self, layer: str, kept, switches1=None, rule: str = "deconvnet", conv1=None) -> np.ndarray:
        """P signals ``kept`` (activations of ``layer``, everything not chosen zeroed) projected to pixels, with
        ``switches1`` (conv2: pool1's switches of each signal's image) and, for conv2 under the guided and gradient
        rules, ``conv1`` (its activations there: > 0 is conv1's ReLU forward mask)."""
        _check_rule(rule)
        # the top ReLU: kept values are post-ReLU activations, zero where it was off, so its forward
        # mask is already in them and the rules differ only in rectifying
        x = ops.convert_to_tensor(kept, "float32")
        x = x if rule == "gradient" else ops.relu(x)
        if layer == "conv2":
            x = ops.conv_transpose(x, self.kernels["conv2"], strides=1, padding="same")  # -> pool1 space
            # conv1 is 'same', so pool1's input (unpool's output) has the image's size
            x = unpool(x, ops.convert_to_tensor(switches1, "float32"), self.image_hw)
            x = _backward_relu(x, rule, conv1)  # conv1's ReLU
        elif layer != "conv1":
            raise ValueError(f"unknown layer {layer!r}; choose one of {LAYERS}")
        x = ops.conv_transpose(x, self.kernels["conv1"], strides=1, padding="same")  # -> pixels
        return _pixels(ops.convert_to_numpy(x))

    # --- choosing what to keep (vectorized over all projections) --------------------------
    def project_activations(
        self, fwd: Forward, layer: str, image_idx, rows, cols, maps, tiles: bool = False, rule: str = "deconvnet"
    ) -> np.ndarray:
        """Each (image, row, col, map) activation projected alone: (P, H, W), or with ``tiles`` only its receptive
        field (P, RF, RF), NaN outside the image. It works in that window only (cheap), where ``project`` goes
        through whole maps; tests check both agree."""
        _check_rule(rule)
        image_idx, rows, cols, maps = (np.asarray(a, dtype=np.int64) for a in (image_idx, rows, cols, maps))
        value = np.maximum(fwd[layer][image_idx, rows, cols, maps], 0)  # rectify (activations: a no-op)
        k, half = KERNEL, KERNEL // 2
        if layer == "conv1":
            # transposed conv of one activation = the filter scaled, placed at (row-2, col-2)
            w1 = _pixels(ops.convert_to_numpy(self.kernels["conv1"]), axis=2)  # (5, 5, 32) or (5, 5, 3, 32)
            tile = value.reshape((-1,) + (1,) * (w1.ndim - 1)) * np.moveaxis(w1[..., maps], -1, 0)
        else:  # conv2 (fwd[layer] above has already refused any other layer)
            # transposed conv2 of one activation: its filter scaled, over pool1 cells row-2..row+2
            w2 = ops.convert_to_numpy(self.kernels["conv2"])  # (5, 5, 32, 64)
            x = value[:, None, None, None] * np.moveaxis(w2[..., maps], -1, 0)  # (P, 5, 5, 32)
            # each activation's 5x5 window of pool1 switches, and conv1's forward ReLU mask over the same
            # 10x10 window of conv1 space (the guided and gradient rules)
            ri, ci = rows[:, None] + np.arange(k) - half, cols[:, None] + np.arange(k) - half
            x = unpool(x, _window(fwd.switches1, image_idx, ri, ci), (k * POOL, k * POOL))  # (P, 10, 10, 32)
            r1, c1 = (POOL * v[:, :1] + np.arange(k * POOL) for v in (ri, ci))
            x = _backward_relu(x, rule, None if rule == "deconvnet" else _window(fwd.conv1, image_idx, r1, c1))
            # 'valid' transpose = the full 14x14 footprint; the image border is cut below
            tile = _pixels(
                ops.convert_to_numpy(ops.conv_transpose(x, self.kernels["conv1"], strides=1, padding="valid"))
            )
        size = RECEPTIVE_FIELD[layer][0]
        r0, c0 = field_origin(layer, rows, cols)
        h, w = self.image_hw
        span = np.arange(size)
        if tiles:
            rr, cc = r0[:, None] + span, c0[:, None] + span  # image coordinates
            outside = ((rr < 0) | (rr >= h))[:, :, None] | ((cc < 0) | (cc >= w))[:, None, :]
            outside = outside.reshape(outside.shape + (1,) * (tile.ndim - 3))  # over the channels of RGB
            return np.where(outside, np.nan, tile).astype(np.float32)
        # Place every tile on a canvas padded by one field, then cut the image out of it.
        canvas = np.zeros((len(image_idx), h + 2 * size, w + 2 * size) + tile.shape[3:], np.float32)
        canvas[
            np.arange(len(image_idx))[:, None, None],
            (r0 + size)[:, None, None] + span[None, :, None],
            (c0 + size)[:, None, None] + span[None, None, :],
        ] = tile
        return canvas[:, size : size + h, size : size + w]

    def project_maps(self, fwd: Forward, layer: str, image_idx, maps=None, rule: str = "deconvnet", where=None):
        """Feature map ``maps[p]`` of image ``image_idx[p]`` kept (None: every map), at ``where``'s (h, w)
        positions only (None: all)."""
        image_idx = np.asarray(image_idx, np.int64)
        kept = fwd[layer][image_idx]
        if maps is not None:
            kept = kept * np.eye(kept.shape[-1], dtype=np.float32)[np.asarray(maps, np.int64)][:, None, None, :]
        if where is not None:
            kept = kept * where[None, :, :, None]
        return self.project(layer, kept, fwd.switches1[image_idx], rule, fwd.conv1[image_idx])


def _window(a: np.ndarray, image_idx, rows, cols) -> np.ndarray:
    """``a[image_idx[p], rows[p, i], cols[p, j]]`` (P, R, C, ...): zeros where a row or column lies off the map."""
    n_r, n_c = a.shape[1:3]
    out = a[image_idx[:, None, None], np.clip(rows, 0, n_r - 1)[:, :, None], np.clip(cols, 0, n_c - 1)[:, None, :]]
    inside = ((rows >= 0) & (rows < n_r))[:, :, None] & ((cols >= 0) & (cols < n_c))[:, None, :]
    return out * inside.reshape(inside.shape + (1,) * (out.ndim - 3))


def _check_rule(rule: str) -> None:
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; choose one of {RULES}")


def _backward_relu(x, rule: str, forward=None):
    """A ReLU's backward pass under ``rule`` (RULES); ``forward``: its post-ReLU output, > 0 where it passed."""
    if rule == "deconvnet":
        return ops.relu(x)
    on = ops.cast(ops.greater(ops.convert_to_tensor(forward, "float32"), 0), "float32")
    return (ops.relu(x) if rule == "guided" else x) * on


# Receptive fields
def field_origin(layer: str, row, col):
    """The first input pixel (row, col) of the receptive field of ``layer``'s activation at (row, col)."""
    offset = RECEPTIVE_FIELD[layer][1]
    return STRIDE[layer] * np.asarray(row) + offset, STRIDE[layer] * np.asarray(col) + offset


def interior_mask(layer: str, map_hw: tuple[int, int], image_hw: tuple[int, int]) -> np.ndarray:
    """(h, w) bool: the positions of ``layer``'s maps whose receptive field lies inside the image, so that their
    value never reads the zero 'same' padding (conv2's included; tested by brute force)."""
    size = RECEPTIVE_FIELD[layer][0]
    r0, c0 = field_origin(layer, np.arange(map_hw[0]), np.arange(map_hw[1]))
    rows, cols = (r0 >= 0) & (r0 + size <= image_hw[0]), (c0 >= 0) & (c0 + size <= image_hw[1])
    return rows[:, None] & cols[None, :]


def min_separation(layer: str) -> int:
    """Near-duplicate suppression: two picks of one map in one image must be at least this many map
    steps apart (Chebyshev), i.e. their receptive fields' centres at least half a field apart in
    pixels (conv1 3 steps = 3 px of a 5-px field, conv2 4 steps = 8 px of a 14-px field)."""
    return int(np.ceil(RECEPTIVE_FIELD[layer][0] / 2 / STRIDE[layer]))


def _masked(acts, mask):
    """Activations with positions outside ``mask`` (h, w) at -inf, so that no search picks them."""
    x = ops.convert_to_tensor(acts, "float32")
    if mask is None:
        return x
    return ops.where(ops.convert_to_tensor(np.asarray(mask, bool))[None, :, :, None], x, -np.inf)


# Searching activations
def top_k_per_map(acts: np.ndarray, k: int, mask=None):
    """The k strongest activations of every map over an image set, at most one per image (the paper's Figure 2),
    only at ``mask``'s positions: acts (N, h, w, C) -> (image, row, col, value), each (C, k), strongest first."""
    n, h, w, c = acts.shape
    flat = ops.reshape(_masked(acts, mask), (n, h * w, c))
    best_pos = ops.argmax(flat, axis=1)  # (N, C) each image's peak per map
    best_val = ops.max(flat, axis=1)
    values, images = ops.top_k(ops.transpose(best_val), k=min(k, n))  # (C, k)
    images = ops.convert_to_numpy(images)
    pos = np.take_along_axis(ops.convert_to_numpy(ops.transpose(best_pos)), images, axis=1)
    return images, pos // w, pos % w, ops.convert_to_numpy(values)


def top_k_activations(acts: np.ndarray, k: int, mask=None, separation: int = 1):
    """The k strongest single activations of each image at ``mask``'s positions: acts (N, h, w, C) -> (row, col,
    map, value), each (N, k), strongest first. ``separation`` > 1 suppresses near-duplicates greedily: a candidate
    is skipped if a pick of the same map lies at Chebyshev distance < ``separation`` (map steps)."""
    n, h, w, c = acts.shape
    x = ops.reshape(_masked(acts, mask), (n, h * w * c))
    if separation <= 1:
        values, flat = (ops.convert_to_numpy(v) for v in ops.top_k(x, k=k))
    else:  # greedy suppression is sequential: NumPy, one image at a time (candidates strongest first)
        x = ops.convert_to_numpy(x)
        flat = np.zeros((n, k), np.int64)
        for i in range(n):
            picked = []  # (flat index, row, col, map)
            for f in np.argsort(-x[i], kind="stable"):
                if x[i, f] == -np.inf:
                    break
                r, col, m = f // (w * c), f // c % w, f % c
                if all(pm != m or max(abs(pr - r), abs(pc - col)) >= separation for _, pr, pc, pm in picked):
                    picked.append((f, r, col, m))
                    if len(picked) == k:
                        break
            if len(picked) < k:
                raise ValueError(f"image {i}: only {len(picked)} activations left after masking and suppression, k={k}")
            flat[i] = [p[0] for p in picked]
        values = np.take_along_axis(x, flat, axis=1)
    return flat // (w * c), flat // c % w, flat % c, values


def crop_to_field(images: np.ndarray, layer: str, row: int, col: int, fill=np.nan) -> np.ndarray:
    """The receptive field's window of each image (..., H, W; RGB channels first), ``fill`` outside the image."""
    size = RECEPTIVE_FIELD[layer][0]
    r0, c0 = (int(v) for v in field_origin(layer, row, col))
    h, w = images.shape[-2:]
    tile = np.full(images.shape[:-2] + (size, size), fill, np.float32)
    rs, re_, cs, ce = max(r0, 0), min(r0 + size, h), max(c0, 0), min(c0 + size, w)
    tile[..., rs - r0 : re_ - r0, cs - c0 : ce - c0] = images[..., rs:re_, cs:ce]
    return tile


# Sanity check: cascading randomization (Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018)
def weighted_layers_top_down(model: keras.Model) -> list[str]:
    """The layers with weights, output first: logits, fc1, conv2, conv1 for the study's LeNet-5."""
    return [layer.name for layer in model.layers if layer.weights][::-1]


def reinitialized(model: keras.Model, names, seed: int = 0) -> keras.Model:
    """A copy of ``model`` whose layers ``names`` have their weights re-drawn from their own initializers
    (layer j of ``weighted_layers_top_down`` with seed ``seed + j``: a layer gets the same draw in every step)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    order = weighted_layers_top_down(model)
    for name in names:
        layer = copy.get_layer(name)
        for attr in ("kernel", "bias"):
            var = getattr(layer, attr, None)
            if var is None:
                continue
            init = getattr(layer, f"{attr}_initializer")
            config = init.get_config()
            if "seed" in config:  # the saved initializer's seed is None: make the draw reproducible
                config["seed"] = seed + order.index(name)
            var.assign(type(init).from_config(config)(tuple(var.shape), var.dtype))
    return copy


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks along the last axis, ties given their average rank (as Spearman's rho needs)."""
    ranks = np.empty(x.shape, np.float64)
    for i, row in enumerate(x):
        _, inverse, counts = np.unique(row, return_inverse=True, return_counts=True)
        ranks[i] = (np.cumsum(counts) - (counts + 1) / 2)[inverse]  # a tie's positions' mean, counted from 0
    return ranks


def spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman's rank correlation of each pair a[p], b[p] (any shape per p): (P,). Exactly 1 for
    identical arrays; two constant arrays count 1 if equal, else 0 (the correlation is undefined)."""
    a, b = (np.asarray(v, np.float64).reshape(len(v), -1) for v in (a, b))
    ra, rb = (r - r.mean(axis=1, keepdims=True) for r in (_ranks(a), _ranks(b)))
    den = np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))  # sqrt(s * s) == s exactly in IEEE
    same = np.all(a == b, axis=1).astype(np.float64)
    return np.where(den > 0, (ra * rb).sum(axis=1) / np.where(den > 0, den, 1), same)


SSIM_SIGMA = 1.5  # Wang et al.'s Gaussian window, cut at 2 sigma (7x7) to fit 28x28 images
SSIM_K = (0.01, 0.03)


def ssim(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean structural similarity of each pair a[p], b[p] of (P, H, W[, 3]) maps: (P,). Each signed map is first put
    on the figures' color scale, 0.5 + p / (2 max|p|) (without the shift a sign-flipped map would score high, both
    luminance factors negative); then Wang et al. (IEEE TIP 2004), eq. 13, with a Gaussian window's local statistics,
    averaged over the window positions inside the map (and RGB channels). Exactly 1 for identical maps."""
    a, b = (np.asarray(v, np.float64) for v in (a, b))
    pairs = len(a)
    a, b = 0.5 + scaled(a) / 2, 0.5 + scaled(b) / 2  # an RGB map on one scale, its three channels together
    if a.ndim == 4:  # RGB: channels as more maps, averaged back into their pair's score below
        a, b = (np.moveaxis(v, -1, 1).reshape(-1, *v.shape[1:3]) for v in (a, b))
    r = int(2 * SSIM_SIGMA + 0.5)
    g = np.exp(-0.5 * (np.arange(-r, r + 1) / SSIM_SIGMA) ** 2)
    g /= g.sum()

    def blur(x):  # separable Gaussian, valid positions only: no padding invents structure
        n = 2 * r + 1
        x = sum(g[i] * x[:, i : x.shape[1] - n + 1 + i, :] for i in range(n))
        return sum(g[i] * x[:, :, i : x.shape[2] - n + 1 + i] for i in range(n))

    c1, c2 = (k**2 for k in SSIM_K)  # L = 1
    mu_a, mu_b = blur(a), blur(b)
    var_a, var_b, cov = blur(a * a) - mu_a * mu_a, blur(b * b) - mu_b * mu_b, blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a * mu_a + mu_b * mu_b + c1) * (var_a + var_b + c2))
    return s.reshape(pairs, -1).mean(axis=1)


def scaled(p: np.ndarray, lead: int = 1) -> np.ndarray:
    """Each panel (the axes after the first ``lead``) over its largest |value|, NaN kept."""
    m = np.nan_to_num(np.abs(p)).reshape(*p.shape[:lead], -1).max(axis=-1)
    return p / np.where(m > 0, m, 1).reshape(m.shape + (1,) * (p.ndim - lead))


def top_k_overlap(picks_a, picks_b, maps) -> np.ndarray:
    """For each map of ``maps``: the fraction of ``top_k_per_map`` result a's (image, row, col) picks that
    result b also picks for that map (the identity of the Figure 2 patches, not their look)."""
    out = []
    for m in maps:
        sa, sb = ({(int(i), int(r), int(c)) for i, r, c in zip(p[0][m], p[1][m], p[2][m])} for p in (picks_a, picks_b))
        out.append(len(sa & sb) / len(sa))
    return np.array(out)


@dataclass
class RandomizationStep:
    """One step of the cascade: the network with ``randomized`` re-drawn (nothing: the trained one)."""

    name: str  # "trained" or the lowest layer re-drawn so far
    randomized: tuple[str, ...]
    projections: dict  # layer -> (N, H, W) every activation of the layer kept, for the chosen images
    spearman: dict  # layer -> (N,) against the trained network's projections
    ssim: dict  # layer -> (N,)
    overlap: dict  # layer -> (maps,) top-k-per-map patch identities shared with the trained network


def cascading_randomization(
    model: keras.Model, images, pool_images, maps: dict, k: int = 9, interior: bool = True, seed: int = 0
) -> list[RandomizationStep]:
    """Adebayo et al.'s cascading randomization of the deconvnet: re-draw the top layer's weights, then the next
    one's too, ... down to conv1; after each step compare the projections of ``images`` (every activation kept) with
    the trained network's (Spearman, SSIM), and the k strongest activations of ``maps[layer]`` over ``pool_images``.
    A projection of layer L reads only the weights of layers <= L: re-drawing those above leaves it bit for bit."""
    trained, names, steps = Deconvnet(model), weighted_layers_top_down(model), []
    for j in range(len(names) + 1):
        randomized = tuple(names[:j])
        dc = trained if j == 0 else Deconvnet(reinitialized(model, randomized, seed))
        fwd, pool = dc.forward(images), dc.forward(pool_images)
        proj = {layer: dc.project_maps(fwd, layer, np.arange(len(images))) for layer in LAYERS}
        masks = {L: interior_mask(L, pool[L].shape[1:3], dc.image_hw) if interior else None for L in LAYERS}
        picks = {layer: top_k_per_map(pool[layer], k, masks[layer]) for layer in LAYERS}
        if j == 0:
            ref = (proj, picks)
        steps.append(
            RandomizationStep(
                name=names[j - 1] if j else "trained",
                randomized=randomized,
                projections=proj,
                spearman={layer: spearman(ref[0][layer], proj[layer]) for layer in LAYERS},
                ssim={layer: ssim(ref[0][layer], proj[layer]) for layer in LAYERS},
                overlap={layer: top_k_overlap(ref[1][layer], picks[layer], maps[layer]) for layer in LAYERS},
            )
        )
    return steps
