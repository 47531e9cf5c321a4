"""A deconvnet (Zeiler & Fergus, ECCV 2014, arXiv 1311.2901) for the study's LeNet-5.

Our network's conv part is  image -> conv1 -> relu -> pool1 -> conv2 -> relu -> pool2.
The way up records each max-pool's *switches* (which input of each 2x2 window held
the max). To project chosen activations of a layer back to pixel space, keep them,
zero every other activation of that layer, then go down:

    conv2 (post-ReLU) -> rectify -> transposed conv2 kernel -> pool1 space
                      -> unpool with pool1's switches -> rectify -> transposed conv1 kernel -> pixels
    conv1 (post-ReLU) -> rectify -> transposed conv1 kernel -> pixels

Biases are not used on the way down, as in the paper. Everything is batched: one call
projects P signals, each with the switches of its own image, with ``keras.ops`` only.
Projections of a gray network are (P, H, W); of a color (RGB) network (P, H, W, 3).

Switches pick the *first* maximal input of a window in row-major order (top-left,
top-right, bottom-left, bottom-right), the rule TensorFlow's max-pool gradient uses, so
the projection equals the "deconvnet" gradient of the kept activations (tested).
A pool over an odd size drops the last row/column (``valid`` padding); unpooling
puts zeros there.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

LAYERS = ("conv1", "conv2")
POOL = 2  # both max-pools are 2x2, stride 2, valid
KERNEL = 5  # both convs are 5x5, stride 1, same
# Receptive field in pixels of one activation: conv1 5; conv2 5 + (5-1)*2 (pool1 doubles
# conv2's steps) + 1 (the 2x2 window's extra pixel) = 14. Offset = first pixel for position 0.
RECEPTIVE_FIELD = {"conv1": (5, -2), "conv2": (14, -6)}  # (size, offset); row0 = stride*i + offset
STRIDE = {"conv1": 1, "conv2": 2}  # pixels per activation step


def _pixels(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Drops the channel axis of a gray (1-channel) array; an RGB array keeps its 3."""
    return np.take(x, 0, axis=axis) if x.shape[axis] == 1 else x


# ---------------------------------------------------------------------------
# Max-pool switches and unpooling
def _windows(x, pool: int = POOL):
    """(N, H, W, C) -> (N, H//p, W//p, C, p*p): each pooling window's inputs, row-major."""
    n, h, w, c = x.shape
    h2, w2 = h // pool, w // pool
    x = x[:, : h2 * pool, : w2 * pool, :]  # valid pooling drops odd edges
    x = ops.reshape(x, (-1, h2, pool, w2, pool, c))
    x = ops.transpose(x, (0, 1, 3, 5, 2, 4))
    return ops.reshape(x, (-1, h2, w2, c, pool * pool))


def pool_switches(x, pool: int = POOL):
    """One-hot float mask (N, H//p, W//p, C, p*p) of each window's first maximum."""
    win = _windows(ops.convert_to_tensor(x, "float32"), pool)
    is_max = ops.cast(ops.equal(win, ops.max(win, axis=-1, keepdims=True)), "int32")
    first = ops.logical_and(ops.equal(is_max, 1), ops.equal(ops.cumsum(is_max, axis=-1), 1))
    return ops.cast(first, "float32")


def unpool(y, switches, out_hw: tuple[int, int], pool: int = POOL):
    """Puts each pooled value back where its window's max came from; zeros elsewhere.
    y (P, h, w, C), switches (P, h, w, C, p*p) -> (P, H, W, C), H, W = ``out_hw``."""
    y = ops.convert_to_tensor(y, "float32")
    _, h2, w2, c = y.shape
    z = switches * y[..., None]  # (P, h, w, C, p*p)
    z = ops.reshape(z, (-1, h2, w2, c, pool, pool))
    z = ops.transpose(z, (0, 1, 4, 2, 5, 3))  # (P, h, p, w, p, C)
    z = ops.reshape(z, (-1, h2 * pool, w2 * pool, c))
    pad_h, pad_w = out_hw[0] - h2 * pool, out_hw[1] - w2 * pool
    if pad_h or pad_w:
        z = ops.pad(z, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)))
    return z


# ---------------------------------------------------------------------------
@dataclass
class Forward:
    """The way up for N images: post-ReLU activations and pool1's switches (NumPy)."""

    conv1: np.ndarray  # (N, 28, 28, 32)
    conv2: np.ndarray  # (N, 14, 14, 64)
    switches1: np.ndarray  # (N, 14, 14, 32, 4) one-hot float

    def __getitem__(self, layer: str) -> np.ndarray:
        return {"conv1": self.conv1, "conv2": self.conv2}[layer]


class Deconvnet:
    """Deconvnet of a trained LeNet-5 (layers ``conv1``, ``pool1``, ``conv2``)."""

    def __init__(self, model: keras.Model):
        self.model = model
        # A copy of the weights: under JAX a variable's buffer may be freed when the model is.
        self.kernels = {name: ops.convert_to_tensor(np.array(model.get_layer(name).kernel)) for name in LAYERS}
        # The real model computes the way up, so activations are exactly the network's.
        self._features = keras.Model(model.inputs, [model.get_layer(n).output for n in LAYERS])
        self.image_hw = tuple(model.inputs[0].shape[1:3])

    def forward(self, images: np.ndarray, batch_size: int = 500) -> Forward:
        """images float (N, 28, 28, 1) -> activations and switches of every image."""
        outs = [self._features.predict_on_batch(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        conv1 = np.concatenate([np.asarray(o[0]) for o in outs])
        conv2 = np.concatenate([np.asarray(o[1]) for o in outs])
        return Forward(conv1, conv2, ops.convert_to_numpy(pool_switches(conv1)))

    def project(self, layer: str, kept, switches1=None) -> np.ndarray:
        """Projects P kept-activation tensors of ``layer`` to pixels: (P, 28, 28) (RGB: (P, 28, 28, 3)).

        ``kept``: (P, h, w, C) activations of ``layer`` with everything not chosen zeroed.
        ``switches1``: (P, 14, 14, 32, 4) pool1 switches of each signal's image (conv2 only)."""
        x = ops.relu(ops.convert_to_tensor(kept, "float32"))  # rectify: the ReLU above the layer
        if layer == "conv2":
            x = ops.conv_transpose(x, self.kernels["conv2"], strides=1, padding="same")  # -> pool1 space
            # conv1 is 'same', so pool1's input (unpool's output) has the image's size
            x = unpool(x, ops.convert_to_tensor(switches1, "float32"), self.image_hw)
            x = ops.relu(x)  # rectify: conv1's ReLU
        elif layer != "conv1":
            raise ValueError(f"unknown layer {layer!r}; choose one of {LAYERS}")
        x = ops.conv_transpose(x, self.kernels["conv1"], strides=1, padding="same")  # -> pixels
        return _pixels(ops.convert_to_numpy(x))

    # --- choosing what to keep (vectorized over all projections) --------------------------
    def project_activations(
        self, fwd: Forward, layer: str, image_idx, rows, cols, maps, tiles: bool = False
    ) -> np.ndarray:
        """Each (image, row, col, map) activation projected alone: (P, 28, 28), or with
        ``tiles`` only its receptive field (P, RF, RF), NaN outside the image (RGB: a last axis of 3).

        One activation only reaches its receptive field, so this works in that window
        (cheap), not on whole maps as ``project`` does; tests check both agree."""
        image_idx, rows, cols, maps = (np.asarray(a, dtype=np.int64) for a in (image_idx, rows, cols, maps))
        value = np.maximum(fwd[layer][image_idx, rows, cols, maps], 0)  # rectify
        k, half = KERNEL, KERNEL // 2
        if layer == "conv1":
            # transposed conv of one activation = the filter scaled, placed at (row-2, col-2)
            w1 = _pixels(ops.convert_to_numpy(self.kernels["conv1"]), axis=2)  # (5, 5, 32) or (5, 5, 3, 32)
            tile = value.reshape((-1,) + (1,) * (w1.ndim - 1)) * np.moveaxis(w1[..., maps], -1, 0)
        elif layer == "conv2":
            # transposed conv2 of one activation: its filter scaled, over pool1 cells row-2..row+2
            w2 = ops.convert_to_numpy(self.kernels["conv2"])  # (5, 5, 32, 64)
            x = value[:, None, None, None] * np.moveaxis(w2[..., maps], -1, 0)  # (P, 5, 5, 32)
            # each activation's 5x5 window of pool1 switches; cells off the map get none (zeros)
            ri, ci = rows[:, None] + np.arange(k) - half, cols[:, None] + np.arange(k) - half
            n_r, n_c = fwd.switches1.shape[1:3]
            sw = fwd.switches1[
                image_idx[:, None, None], np.clip(ri, 0, n_r - 1)[:, :, None], np.clip(ci, 0, n_c - 1)[:, None, :]
            ]
            inside = ((ri >= 0) & (ri < n_r))[:, :, None] & ((ci >= 0) & (ci < n_c))[:, None, :]
            sw = sw * inside[..., None, None]
            x = ops.relu(unpool(x, sw, (k * POOL, k * POOL)))  # (P, 10, 10, 32) conv1 space
            # 'valid' transpose = the full 14x14 footprint; the image border is cut below
            tile = _pixels(
                ops.convert_to_numpy(ops.conv_transpose(x, self.kernels["conv1"], strides=1, padding="valid"))
            )
        else:
            raise ValueError(f"unknown layer {layer!r}; choose one of {LAYERS}")
        size, offset = RECEPTIVE_FIELD[layer]
        r0, c0 = STRIDE[layer] * rows + offset, STRIDE[layer] * cols + offset
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

    def project_maps(self, fwd: Forward, layer: str, image_idx, maps) -> np.ndarray:
        """Whole feature map ``maps[p]`` of image ``image_idx[p]`` kept: (P, 28, 28)."""
        acts = fwd[layer]
        image_idx, maps = np.asarray(image_idx, np.int64), np.asarray(maps, np.int64)
        mask = np.eye(acts.shape[-1], dtype=np.float32)[maps][:, None, None, :]
        return self.project(layer, acts[image_idx] * mask, self._switches(fwd, layer, image_idx))

    def project_all(self, fwd: Forward, layer: str, image_idx) -> np.ndarray:
        """Every activation of the layer kept: (P, 28, 28)."""
        image_idx = np.asarray(image_idx, np.int64)
        return self.project(layer, fwd[layer][image_idx], self._switches(fwd, layer, image_idx))

    @staticmethod
    def _switches(fwd: Forward, layer: str, image_idx):
        return fwd.switches1[image_idx] if layer == "conv2" else None


# ---------------------------------------------------------------------------
# Searching activations
def top_k_per_map(acts: np.ndarray, k: int):
    """The k strongest activations of every feature map over a whole image set, at most
    one per image (each image's maximum of that map), as in the paper's Figure 2.

    acts (N, h, w, C) -> (image, row, col, value), each (C, k), strongest first."""
    n, h, w, c = acts.shape
    flat = ops.reshape(ops.convert_to_tensor(acts), (n, h * w, c))
    best_pos = ops.argmax(flat, axis=1)  # (N, C) each image's peak per map
    best_val = ops.max(flat, axis=1)
    values, images = ops.top_k(ops.transpose(best_val), k=min(k, n))  # (C, k)
    images = ops.convert_to_numpy(images)
    pos = np.take_along_axis(ops.convert_to_numpy(ops.transpose(best_pos)), images, axis=1)
    return images, pos // w, pos % w, ops.convert_to_numpy(values)


def top_k_activations(acts: np.ndarray, k: int):
    """The k strongest single activations of each image over all maps and positions.
    acts (N, h, w, C) -> (row, col, map, value), each (N, k), strongest first."""
    n, h, w, c = acts.shape
    values, flat = ops.top_k(ops.reshape(ops.convert_to_tensor(acts), (n, h * w * c)), k=k)
    flat = ops.convert_to_numpy(flat)
    return flat // (w * c), flat // c % w, flat % c, ops.convert_to_numpy(values)


def crop_to_field(images: np.ndarray, layer: str, row: int, col: int, fill=np.nan) -> np.ndarray:
    """The receptive field's window of each image (..., H, W) as a fixed-size tile; the
    part outside the image is ``fill`` (NaN: shown blank). RGB images: pass them channels first."""
    size, offset = RECEPTIVE_FIELD[layer]
    r0, c0 = STRIDE[layer] * row + offset, STRIDE[layer] * col + offset
    h, w = images.shape[-2:]
    tile = np.full(images.shape[:-2] + (size, size), fill, np.float32)
    rs, re_, cs, ce = max(r0, 0), min(r0 + size, h), max(c0, 0), min(c0 + size, w)
    tile[..., rs - r0 : re_ - r0, cs - c0 : ce - c0] = images[..., rs:re_, cs:ce]
    return tile
