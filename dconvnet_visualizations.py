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
from common.config import COLOR, DATA_DIR, DATASET, IMAGE_SIZE, OUT_DIR, RUNS_DIR, SEED, parse, setting  # noqa: E402
from common.data import as_float_images, load_dataset  # noqa: E402

REQUIRED_LAYERS = ("conv1", "pool1", "conv2")
CONV2_MAPS_SHOWN = 16  # conv2 maps in the top-k-per-map figure (of 64): 4x4 blocks stay readable
EVOLUTION_MAPS = 4  # feature maps per layer in the evolution figure


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
    layer: str = setting("both", "layer(s) to project", choices=study.DECONVNET_LAYERS + ("both",))
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
    from common import deconvnet as dn

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


def run_record(checkpoint: Path) -> dict:
    """The run the model came from, as dconvnet.py recorded it beside the model (nothing for a foreign file)."""
    m = io.read_json(checkpoint.parent / "metrics.json") if (checkpoint.parent / "metrics.json").is_file() else {}
    keys = ("name", "seed", "run_id", "identity", "iterations_done", "final")
    return {"checkpoint": str(checkpoint), **{k: m[k] for k in keys if k in m}}


@cli.entry_point
def main(argv=None) -> int:
    cli.line_buffered()
    s = parse(Settings, argv, description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    with cpu.quiet_import():  # Keras' side after the flags: --help and a wrong flag answer at once
        import keras

        from common import backend
        from common import deconvnet as dn
        from common import deconvnet_record as arrays
        from common.report import deconvnet as report
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
    net = arrays.Net(dc, dc.forward(x_all), s.mining == "interior")  # the whole test set: every search reads it
    peak = net.per_map("conv2")[3][:, 0]  # the per-map figures' maps: all of conv1, conv2's strongest
    maps = {
        "conv1": np.arange(net.fwd["conv1"].shape[-1]),
        "conv2": np.sort(np.argsort(-peak, kind="stable")[:CONV2_MAPS_SHOWN]),
    }
    keys = ("index", "pixels", "label", "pred", "prob")
    a = arrays.named("images", (idx, arrays.u8(x_all[idx]), labels[idx], pred[idx], probs[idx]), keys)
    a |= arrays.per_image(net, idx, layers, s.top_k)
    for L in layers:
        a |= arrays.per_map(net, x_all, L, maps[L], s.top_k)
    snapshots = sorted(
        (int(p.stem[5:]), p) for p in (checkpoint.parent / "snapshots").glob("iter_*.keras") if p.stem[5:].isdigit()
    )
    if snapshots:
        a |= arrays.evolution(snapshots, load_network, net, x_all, layers, EVOLUTION_MAPS)
    else:
        print(f"note: no snapshots in {checkpoint.parent / 'snapshots'}; no evolution figure (dconvnet.py writes them)")
    a |= arrays.occlusion(model, net, x_all, occlusion_images(idx, pred, labels, s.image_seed), labels, probs)
    a |= arrays.guided(net, idx)
    interior, n, seeds = net.interior, s.randomization_images, (s.image_seed, s.randomization_seed)
    cascade, steps = arrays.randomization(model, x_all, idx, maps, s.top_k, interior, n, *seeds)
    data_meta = {"name": data.name, "n_test": n_test, "class_names": list(data.class_names)}
    meta = {"written_by": "dconvnet_visualizations.py", "run": run_record(checkpoint), "backend": backend.banner()}
    meta |= {"test_accuracy": float(np.mean(pred == labels)), "data": data_meta, "layers": list(layers)}  # one view
    meta |= {"settings": dataclasses.asdict(s), "occluder": arrays.OCCLUDER, "occluder_gray": arrays.OCCLUDER_GRAY}
    meta |= {"maps": {L: int(net.fwd[L].shape[-1]) for L in dn.LAYERS}, "rules": list(dn.RULES), "steps": steps}
    meta["receptive_field"] = {L: [*dn.RECEPTIVE_FIELD[L], dn.STRIDE[L]] for L in dn.LAYERS}  # size, offset, stride
    meta["separation"] = {L: dn.min_separation(L) if net.interior else 1 for L in dn.LAYERS}
    written = arrays.write_record(out, a | cascade, meta) + report.rebuild(out)
    for path in written:
        print(f"wrote {path}")
    print(f"[dconvnet_visualizations] {len(written)} files, images {idx.tolist()}, {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
