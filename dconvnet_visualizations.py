"""Task 2, step 2: deconvnet figures of the network trained by dconvnet.py.

    python dconvnet_visualizations.py                          # 5 random test images, both conv layers
    python dconvnet_visualizations.py --indices 3,17,42 --layer conv2 --top-k 9
    python dconvnet_visualizations.py --run beyond_4_tta       # the model dconvnet.py trained for that run

Loads the model dconvnet.py trained for --run and --seed (or --checkpoint) and its snapshots, computes what every
figure needs and saves it in --out-dir as deconvnet.npz (arrays) and deconvnet.json (run, settings, what each array
is); common/report/deconvnet.py then draws every figure from those two files alone (python -m common.report redraws
them; docs/task2.md says what each shows). Searches look at interior positions only (receptive field inside the
image), one map's picks in an image half a field apart (--mining all: every position, no suppression).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from common import cpu  # noqa: E402  (first: the CPU's settings must precede TensorFlow's loading)

cpu.configure()  # oneDNN where TensorFlow leaves it off, TensorFlow's start-up chatter quiet: common/cpu.py

import numpy as np  # noqa: E402

from common import cli, io, study  # noqa: E402
from common.choices import DECONVNET_LAYERS  # noqa: E402
from common.config import COLOR, DATA_DIR, DATASET, IMAGE_SIZE, OUT_DIR, RUNS_DIR, SEED, parse, setting  # noqa: E402
from common.data import as_float_images, load_dataset  # noqa: E402

# Keras' side and the figures load on first use, so --help and a wrong flag answer at once (common/cli.py: lazy)
keras, backend, dn = cli.lazy("keras"), cli.lazy("common.backend"), cli.lazy("common.deconvnet")
report = cli.lazy("common.report.deconvnet")

REQUIRED_LAYERS = ("conv1", "pool1", "conv2")
CONV2_MAPS_SHOWN = 16  # conv2 maps in the top-k-per-map figure (of 64): 4x4 blocks stay readable
EVOLUTION_MAPS = 4  # feature maps per layer in the evolution figure
OCCLUDER, OCCLUDER_GRAY = 7, 0.5  # the gray square: a quarter of the image side, mid gray on the [0, 1] scale
PICK = ("row", "col", "map", "value")  # what top_k_activations returns


@dataclass(frozen=True)
class Settings:
    run: str = setting(
        "relu_adam_normal_dropout_l2", "the run dconvnet.py trained", choices=tuple(study.RUNS), metavar="RUN"
    )
    seed: int = SEED(0, "the seed dconvnet.py trained that run with")
    checkpoint: Path | None = setting(
        None, "a model file instead of --run/--seed's (its snapshots/, if any, give the evolution)", metavar="FILE"
    )
    runs_dir: Path = RUNS_DIR(Path("runs/dconvnet"), "where dconvnet.py put its run folders")
    out_dir: Path | None = OUT_DIR(
        None, "where the arrays and figures go (default: figures/deconvnet, figures/deconvnet/<run> for another run)"
    )
    num_images: int = setting(5, "test images drawn at random with --image-seed", min=1)
    indices: tuple[int, ...] | None = setting(
        None, "test-image indices instead of random ones, comma-separated, e.g. 3,17,42", min=0, metavar="I"
    )
    min_correct: int = setting(
        3, "of the random test images, at least this many correctly classified (occlusion.png: all of them)", min=0
    )
    layer: str = setting("both", "layer(s) to project", choices=DECONVNET_LAYERS + ("both",))
    top_k: int = setting(9, "activations per image / per map", min=1)
    mining: str = setting(
        "interior",
        "where the strongest activations are searched: interior (receptive field inside the image, so never "
        "the zero padding; one map's picks in an image at least half a field apart) or all (every position, "
        "no suppression: border maps win)",
        choices=("interior", "all"),
    )
    image_seed: int = SEED(0, "picks the random test images (and the occlusion figure's correctly classified ones)")
    randomization_seed: int = SEED(0, "draws the re-initialized weights of the randomization check")
    randomization_images: int = setting(100, "test images the randomization check's similarities average over", min=1)
    dataset: str = DATASET(study.STUDY_DATASET)
    data_dir: Path | None = DATA_DIR(None)
    color: str | None = COLOR(None, "read the test images as gray or rgb (default: as the model takes them)")
    image_size: str | None = IMAGE_SIZE(None, "resize the test images to HxW (default: the model's input size)")


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


def choose_images(pred, labels, n: int, min_correct: int, seed: int) -> np.ndarray:
    """n test images in a random order of ``seed``: its first ``min_correct`` correctly classified ones, then the
    next ones of that order whatever their prediction; sorted."""
    order = np.random.default_rng(seed).permutation(len(labels))
    first = order[pred[order] == labels[order]][: min(min_correct, n)]
    return np.sort(np.concatenate([first, [i for i in order if i not in set(first)][: n - len(first)]]).astype(int))


def occlusion_images(idx, pred, labels, seed: int) -> np.ndarray:
    """As many images as ``idx``, all correctly classified: idx's own, then the next ones of ``seed``'s order."""
    ok = pred == labels
    own = [i for i in idx if ok[i]]
    more = [i for i in np.random.default_rng(seed).permutation(len(labels)) if ok[i] and i not in own]
    return np.sort(np.array(own + more[: len(idx) - len(own)], int))


def find_model(s: Settings) -> Path:
    """--checkpoint, else the model dconvnet.py saved for --run and --seed (the newest of several identities)."""
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
    """The model, checked to be the study's LeNet-5: 5x5 'same' convs, stride 1, a 2x2 pool between them."""
    model = io.load_model(path, required_layers=REQUIRED_LAYERS, compile=False)
    conv1, pool1, conv2 = (model.get_layer(n) for n in REQUIRED_LAYERS)
    k, p = (dn.KERNEL,) * 2, (dn.POOL,) * 2
    problems = [
        f"{c.name} is {c.kernel_size} stride {c.strides} {c.padding}, expected {k} stride 1 same"
        for c in (conv1, conv2)
        if tuple(c.kernel_size) != k or tuple(c.strides) != (1, 1) or c.padding != "same"
    ]
    if tuple(pool1.pool_size) != p or tuple(pool1.strides) != p:
        problems.append(f"pool1 is {pool1.pool_size} stride {pool1.strides}, expected 2x2 stride 2")
    if conv2.kernel.shape[2] != conv1.kernel.shape[3] or conv1.kernel.shape[2] not in (1, 3):
        problems.append("conv1/conv2 channel counts do not chain (or the input is neither gray nor RGB)")
    if problems:
        raise io.CheckpointError(
            f"{path}: layers do not match the study's LeNet-5: {'; '.join(problems)}. Retrain it with dconvnet.py."
        )
    return model


def model_view(model, s: Settings, path: Path) -> tuple[str, str]:
    """(color, image size) the model takes (dconvnet.py's --color, --image-size); a flag given here must agree."""
    h, w, channels = model.inputs[0].shape[1:]
    color, size = ("gray" if channels == 1 else "rgb"), f"{h}x{w}"
    for flag, given, own in (("--color", s.color, color), ("--image-size", s.image_size, size)):
        if given is not None and given.lower() != own:
            raise cli.UserError(
                f"{flag} {given}: the model {path} takes {color} {size} images. Leave {flag} out (the images are "
                "then read as the model takes them) or pass the model trained with it."
            )
    return color, size


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


def evolution(snapshots, final: Net, x_all, layers) -> dict:
    """Figure 4: for a few maps (active at every snapshot first, then the strongest at the end), each snapshot's
    strongest activation over the test set, projected and cut to its receptive field."""
    per = {L: [] for L in layers}
    for _, path in snapshots:
        dc = dn.Deconvnet(load_network(path))
        net = Net(dc, dc.forward(x_all), final.interior)
        for L in layers:
            n, r, c, v = (x[:, 0] for x in net.per_map(L))
            per[L].append((v, n, dc.project_activations(net.fwd, L, n, r, c, np.arange(len(v)), tiles=True)))
    a = {"evolution.iteration": np.array([it for it, _ in snapshots])}
    for L in layers:
        v, n, t = (np.stack(z, axis=1) for z in zip(*per[L]))  # (maps, snapshots, ...)
        maps = np.sort(np.lexsort((-final.per_map(L)[3][:, 0], -(v > 0).sum(axis=1)))[:EVOLUTION_MAPS])
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


def randomization(model, x_all, idx, maps, k: int, s: Settings) -> tuple[dict, list]:
    """The cascade on the chosen images plus others (--randomization-images in all); and its steps."""
    others = np.setdiff1d(np.random.default_rng(s.image_seed).permutation(len(x_all)), idx, assume_unique=True)
    images = np.concatenate([idx, others[: max(s.randomization_images - len(idx), 0)]])
    interior = s.mining == "interior"
    steps = dn.cascading_randomization(model, x_all[images], x_all, maps, k, interior, s.randomization_seed)
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


def run_record(checkpoint: Path) -> dict:
    """The run the model came from, as dconvnet.py recorded it beside the model (nothing for a foreign file)."""
    m = io.read_json(checkpoint.parent / "metrics.json") if (checkpoint.parent / "metrics.json").is_file() else {}
    keys = ("name", "seed", "run_id", "identity", "iterations_done", "final")
    return {"checkpoint": str(checkpoint), **{k: m[k] for k in keys if k in m}}


@cli.entry_point
def main(argv=None) -> int:
    cli.line_buffered()
    s = parse(Settings, argv, description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    t0, layers = time.perf_counter(), dn.LAYERS if s.layer == "both" else (s.layer,)
    out = s.out_dir or Path("figures/deconvnet") / ("" if s.run == Settings.run else s.run)
    io.remove_stale_temps(cli.writable_dir(out, "--out-dir"))  # half-written files of killed processes
    checkpoint = find_model(s)
    model = load_network(checkpoint)
    color, size = model_view(model, s, checkpoint)
    data = load_dataset(s.dataset, s.data_dir, color=color, image_size=size)
    print(f"{data.describe()}\n{backend.banner()}\nmodel: {checkpoint}")
    x_all, labels = as_float_images(data.x_test), data.y_test.astype(np.int64)
    probs = keras.ops.convert_to_numpy(keras.ops.softmax(model.predict(x_all, batch_size=500, verbose=0)))
    pred, n_test = probs.argmax(axis=1), len(x_all)
    if s.indices is not None and (bad := [i for i in s.indices if not 0 <= i < n_test]):
        raise cli.UserError(f"--indices {bad} out of range; the test set has {n_test} images (0..{n_test - 1}).")
    idx = np.array(s.indices or choose_images(pred, labels, min(s.num_images, n_test), s.min_correct, s.image_seed))
    dc = dn.Deconvnet(model)
    net = Net(dc, dc.forward(x_all), s.mining == "interior")  # the whole test set: every search reads it
    peak = net.per_map("conv2")[3][:, 0]  # the per-map figures' maps: all of conv1, conv2's strongest
    maps = {
        "conv1": np.arange(net.fwd["conv1"].shape[-1]),
        "conv2": np.sort(np.argsort(-peak, kind="stable")[:CONV2_MAPS_SHOWN]),
    }
    keys = ("index", "pixels", "label", "pred", "prob")
    a = named("images", (idx, u8(x_all[idx]), labels[idx], pred[idx], probs[idx]), keys)
    a |= per_image(net, idx, layers, s.top_k)
    for L in layers:
        a |= per_map(net, x_all, L, maps[L], s.top_k)
    snapshots = sorted(
        (int(p.stem[5:]), p) for p in (checkpoint.parent / "snapshots").glob("iter_*.keras") if p.stem[5:].isdigit()
    )
    if snapshots:
        a |= evolution(snapshots, net, x_all, layers)
    else:
        print(f"note: no snapshots in {checkpoint.parent / 'snapshots'}; no evolution figure (dconvnet.py writes them)")
    a |= occlusion(model, net, x_all, occlusion_images(idx, pred, labels, s.image_seed), labels, probs)
    a |= guided(net, idx)
    cascade, steps = randomization(model, x_all, idx, maps, s.top_k, s)
    geometry = {"maps": {L: int(net.fwd[L].shape[-1]) for L in dn.LAYERS}, "rules": list(dn.RULES), "steps": steps}
    geometry["receptive_field"] = {L: [*dn.RECEPTIVE_FIELD[L], dn.STRIDE[L]] for L in dn.LAYERS}  # size, offset, stride
    geometry["separation"] = {L: dn.min_separation(L) if net.interior else 1 for L in dn.LAYERS}
    data_meta = {"name": data.name, "n_test": n_test, "class_names": list(data.class_names)}
    meta = {"written_by": "dconvnet_visualizations.py", "run": run_record(checkpoint), "backend": backend.banner()}
    meta |= {"test_accuracy": float(np.mean(pred == labels)), "data": data_meta, "layers": list(layers)}  # one view
    meta |= {"settings": dataclasses.asdict(s), "occluder": OCCLUDER, "occluder_gray": OCCLUDER_GRAY, **geometry}
    written = report.write_record(out, a | cascade, meta) + report.draw(out)
    for path in written:
        print(f"wrote {path}")
    print(f"[dconvnet_visualizations] {len(written)} files, images {idx.tolist()}, {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
