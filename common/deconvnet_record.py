"""What the deconvnet figures need, computed from a trained network on the whole test set: the arrays that
``dconvnet_visualizations.py`` saves as ``deconvnet.npz`` (:func:`write_record`; each key's meaning is in
:data:`ARRAYS`) and ``common/report/deconvnet.py`` draws. Projections are stored per panel over its largest
|value|, as float16."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from common import deconvnet as dn
from common import io
from common.report.deconvnet import JSON, NPZ

OCCLUDER, OCCLUDER_GRAY = 7, 0.5  # the gray square: a quarter of the image side, mid gray on the [0, 1] scale
PICK = ("row", "col", "map", "value")  # what top_k_activations returns
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


@dataclass(frozen=True)
class Net:
    """A network's deconvnet and the whole test set's way up through it, searched where --mining says."""

    dc: dn.Deconvnet
    fwd: dn.Forward
    interior: bool

    def mask(self, layer: str):
        return dn.interior_mask(layer, self.fwd[layer].shape[1:3], self.dc.image_hw) if self.interior else None

    def strongest(self, layer: str, images, k: int = 1, apart: bool = False):
        """Each image's k strongest single activations (apart: one map's picks half a field apart)."""
        sep = dn.min_separation(layer) if apart and self.interior else 1
        return dn.top_k_activations(self.fwd[layer][images], k, self.mask(layer), sep)

    def per_map(self, layer: str, k: int = 1):
        """Each map's k strongest activations over the test set, one per image."""
        return dn.top_k_per_map(self.fwd[layer], k, self.mask(layer))


def named(prefix: str, values, keys=PICK) -> dict:
    return {f"{prefix}.{key}": v for key, v in zip(keys, values)}


def unit(p, lead: int = 1) -> np.ndarray:
    """Each panel (the axes after the first ``lead``) over its largest |value| (NaN kept), as float16: every figure
    draws a panel on its own [-1, 1] scale, and float16 keeps the record small."""
    return dn.scaled(np.asarray(p, np.float32), lead).astype(np.float16)


def per_image(net: Net, idx, layers, k: int) -> dict:
    """projections_all, _top1 (the map of the strongest single activation, kept where mining looks), _top<k>."""
    dc, fwd, a = net.dc, net.fwd, {}
    for L in layers:
        top1, found = [x[:, 0] for x in net.strongest(L, idx)], net.strongest(L, idx, k, apart=True)
        proj = dc.project_activations(fwd, L, np.repeat(idx, k), *(f.ravel() for f in found[:3]))
        a |= named(f"top1.{L}", top1) | named(f"topk.{L}", found) | {f"all.{L}": unit(dc.project_maps(fwd, L, idx))}
        a[f"top1.{L}.proj"] = unit(dc.project_maps(fwd, L, idx, top1[2], where=net.mask(L)))  # where mining looks
        a[f"topk.{L}.proj"] = unit(proj.reshape(len(idx), k, *proj.shape[1:]), lead=2)
    return a


def per_map(net: Net, x_all, L: str, maps, k: int) -> dict:
    """Figure 2: per map, its k strongest activations over the test set, their input patches and projections
    (conv1: its filter, once: what each of them projects to, scaled)."""
    images, rows, cols, values = (x[maps] for x in net.per_map(L, k))
    sel, size = (images.ravel(), rows.ravel(), cols.ravel()), dn.RECEPTIVE_FIELD[L][0]
    crops = [np.moveaxis(dn.crop_to_field(np.moveaxis(x_all[n], -1, 0), L, r, c), 0, -1) for n, r, c in zip(*sel)]
    a = named(f"permap.{L}", (maps, images, rows, cols, values), ("maps", "image", "row", "col", "value"))
    a[f"permap.{L}.patch"] = np.stack(crops).reshape(len(maps), -1, size, size, x_all.shape[-1]).astype(np.float16)
    if L == "conv1":
        w = np.moveaxis(keras.ops.convert_to_numpy(net.dc.kernels["conv1"]), -1, 0)[maps]  # (m, 5, 5, C)
        return a | {"permap.conv1.filter": unit(w[..., 0] if w.shape[-1] == 1 else w)}
    tiles = net.dc.project_activations(net.fwd, L, *sel, np.repeat(maps, images.shape[1]), tiles=True)
    return a | {f"permap.{L}.proj": unit(tiles.reshape(len(maps), -1, *tiles.shape[1:]), lead=2)}


def evolution(snapshots, load, final: Net, x_all, layers, n_maps: int) -> dict:
    """Figure 4: for ``n_maps`` maps per layer (active at every snapshot first, then the strongest at the end), each
    snapshot's strongest activation over the test set, projected and cut to its receptive field; ``snapshots``
    are (iteration, path) pairs, ``load`` opens one as a model."""
    per = {L: [] for L in layers}
    for _, path in snapshots:
        dc = dn.Deconvnet(load(path))
        net = Net(dc, dc.forward(x_all), final.interior)
        for L in layers:
            n, r, c, v = (x[:, 0] for x in net.per_map(L))
            per[L].append((v, n, dc.project_activations(net.fwd, L, n, r, c, np.arange(len(v)), tiles=True)))
    a = {"evolution.iteration": np.array([it for it, _ in snapshots])}
    for L in layers:
        v, n, t = (np.stack(z, axis=1) for z in zip(*per[L]))  # (maps, snapshots, ...)
        maps = np.sort(np.lexsort((-final.per_map(L)[3][:, 0], -(v > 0).sum(axis=1)))[:n_maps])
        keys = ("maps", "value", "image", "tile")
        a |= named(f"evolution.{L}", (maps, v[maps], n[maps], unit(t[maps], lead=2)), keys)
    return a


def occlusion(model, net: Net, x_all, images, labels, probs) -> dict:
    """Figure 7: the gray square centered on every pixel (cut at the border) of each image: p(true class), the
    most probable class, and the total activation of the conv2 map holding the image's strongest activation."""
    probe = keras.Model(model.inputs, [model.outputs[0], model.get_layer("conv2").output])
    mask, strongest = net.mask("conv2"), net.strongest("conv2", images)[2][:, 0]
    h, w = x_all.shape[1:3]
    near = lambda g: np.abs(g[None] - g.reshape(-1, 1, 1)) <= OCCLUDER // 2
    square = (near(np.mgrid[0:h, 0:w][0]) & near(np.mgrid[0:h, 0:w][1]))[..., None]  # one copy per center pixel
    p_true, argmax, total = [], [], []
    for i, m in zip(images, strongest):
        logits, conv2 = probe.predict_on_batch(np.where(square, OCCLUDER_GRAY, x_all[i][None]).astype(np.float32))
        p, act = keras.ops.convert_to_numpy(keras.ops.softmax(logits)), keras.ops.convert_to_numpy(conv2)[..., m]
        total.append((act if mask is None else act * mask).sum(axis=(1, 2)).reshape(h, w))
        p_true.append(p[:, labels[i]].reshape(h, w))
        argmax.append(p.argmax(axis=1).reshape(h, w))
    a = named("occlusion", (images, u8(x_all[images]), labels[images]), ("index", "pixels", "label"))
    a |= {"occlusion.pred": probs[images].argmax(1), "occlusion.prob": probs[images], "occlusion.map": strongest}
    a |= {"occlusion.activation": np.array(total, np.float32), "occlusion.p_true": np.array(p_true, np.float16)}
    proj = unit(net.dc.project_maps(net.fwd, "conv2", images, strongest))
    return a | {"occlusion.argmax": np.array(argmax, np.int8), "occlusion.proj": proj}


def guided(net: Net, idx) -> dict:
    """The same conv2 activations projected by every backward rule: all kept, and each image's strongest one."""
    r, c, m, v = (x[:, 0] for x in net.strongest("conv2", idx))
    every = np.stack([net.dc.project_maps(net.fwd, "conv2", idx, rule=rule) for rule in dn.RULES])
    one = np.stack([net.dc.project_activations(net.fwd, "conv2", idx, r, c, m, rule=rule) for rule in dn.RULES])
    rho = lambda p: np.stack([dn.spearman(q, p[0]) for q in p]).astype(np.float32)  # RULES[0] is the deconvnet
    a = {"guided.all": unit(every, 2), "guided.one": unit(one, 2), "guided.rho_all": rho(every)}
    return a | {"guided.rho_one": rho(one)} | named("guided", (r, c, m, v))


def randomization(model, x_all, idx, maps, k: int, interior: bool, n_images: int, image_seed: int, seed: int):
    """The cascade (weights re-drawn from ``seed``) on the chosen images plus others of ``image_seed``'s order,
    ``n_images`` in all: its arrays, and its steps."""
    others = np.setdiff1d(np.random.default_rng(image_seed).permutation(len(x_all)), idx, assume_unique=True)
    images = np.concatenate([idx, others[: max(n_images - len(idx), 0)]])
    steps = dn.cascading_randomization(model, x_all[images], x_all, maps, k, interior, seed)
    shown = np.arange(min(3, len(idx)))  # the first chosen images, as in the other figures
    a = {"randomization.index": images, "randomization.shown": shown}
    for L in dn.LAYERS:
        trained, other = steps[0].projections[L], np.roll(steps[0].projections[L], 1, axis=0)  # two images' scores
        for key in ("spearman", "ssim", "overlap"):
            a[f"randomization.{L}.{key}"] = np.stack([getattr(st, key)[L] for st in steps]).astype(np.float32)
        a[f"randomization.{L}.proj"] = unit(np.stack([st.projections[L][shown] for st in steps]), lead=2)
        base = np.stack([dn.spearman(trained, other), dn.ssim(trained, other)]).astype(np.float32)
        a |= {f"randomization.{L}.maps": maps[L], f"randomization.{L}.baseline": base}
    return a, [{"name": st.name, "randomized": list(st.randomized)} for st in steps]


def u8(x) -> np.ndarray:
    return np.round(np.asarray(x) * 255).astype(np.uint8)


def _described(key: str) -> str:
    """ARRAYS' entry for ``key``: "{L}" for a layer's name, "a.{b,c}" for a.b and a.c."""
    alternatives = lambda m: "(" + ("conv1,conv2" if m[1] == "L" else m[1]).replace(",", "|") + ")"
    for pattern, what in ARRAYS.items():
        if re.fullmatch(re.sub(r"{(.*?)}", alternatives, pattern.replace(".", r"\.")), key):
            return what
    raise KeyError(f"{key}: describe it in common/deconvnet_record.py's ARRAYS")


def write_record(folder: Path, arrays: dict, meta: dict) -> list[Path]:
    """Saves ``arrays`` (compressed) and ``meta`` plus each array's shape, dtype and description (:data:`ARRAYS`;
    an undescribed array is an error) as ``folder``/deconvnet.npz and deconvnet.json."""
    described = {k: {"shape": list(a.shape), "dtype": str(a.dtype), "what": _described(k)} for k, a in arrays.items()}
    with io.atomic(Path(folder) / NPZ) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    io.write_json(Path(folder) / JSON, {**meta, "arrays": described})
    return [Path(folder) / NPZ, Path(folder) / JSON]
