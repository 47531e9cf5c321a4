"""What the deconvnet figures need, computed from a trained network on the whole test set: the arrays that
``dconvnet_visualizations.py`` saves as ``deconvnet.npz`` and ``common/report/deconvnet.py`` draws (each key's
meaning is in ``common/report/deconvnet.py``'s ``ARRAYS``). Projections are stored per panel over its largest
|value|, as float16."""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from common import deconvnet as dn

OCCLUDER, OCCLUDER_GRAY = 7, 0.5  # the gray square: a quarter of the image side, mid gray on the [0, 1] scale
PICK = ("row", "col", "map", "value")  # what top_k_activations returns


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
    """Each panel (the axes after the first ``lead``) over its largest |value| (NaN: outside the image, kept), as
    float16: every figure draws a panel on its own [-1, 1] scale, and float16 keeps the record small."""
    p = np.asarray(p, np.float32)
    m = np.nan_to_num(np.abs(p)).reshape(*p.shape[:lead], -1).max(axis=-1)
    return (p / np.where(m > 0, m, 1).reshape(m.shape + (1,) * (p.ndim - lead))).astype(np.float16)


def per_image(net: Net, idx, layers, k: int) -> dict:
    """projections_all, _top1 (the map of the strongest single activation, kept where mining looks), _top<k>."""
    dc, fwd, a = net.dc, net.fwd, {}
    for L in layers:
        top1, found = [x[:, 0] for x in net.strongest(L, idx)], net.strongest(L, idx, k, apart=True)
        proj = dc.project_activations(fwd, L, np.repeat(idx, k), *(f.ravel() for f in found[:3]))
        a |= named(f"top1.{L}", top1) | named(f"topk.{L}", found) | {f"all.{L}": unit(dc.project_all(fwd, L, idx))}
        keep = np.eye(fwd[L].shape[-1], dtype=np.float32)[top1[2]][:, None, None, :]  # that map only, and
        keep = keep if net.mask(L) is None else keep * net.mask(L)[None, :, :, None]  # where the mining looks
        a[f"top1.{L}.proj"] = unit(dc.project(L, fwd[L][idx] * keep, fwd.switches1[idx] if L == "conv2" else None))
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
    every = np.stack([net.dc.project_all(net.fwd, "conv2", idx, rule=rule) for rule in dn.RULES])
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
