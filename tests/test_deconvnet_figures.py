"""dconvnet_visualizations.py end to end: every figure, with its panels and title. The figures are drawn from the
record it saves (deconvnet.npz + .json) alone: with the frameworks unimportable, byte for byte the same each time;
and what the record holds is what the figures say (the occlusion images classified correctly, conv1's filter once
per map, the top-1 map's rule)."""

import contextlib
import io
import shutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
from conftest import REPO
from processes import PROCESS_TIMEOUT

import dconvnet_visualizations as viz
from common.cli import UserError
from common.data import as_float_images, load_cifar10
from common.deconvnet import Deconvnet, interior_mask
from common.report import deconvnet as report

K = 4  # activations per image and per map: fewer than the default 9, a faster record
FIGURES = {
    "projections_all.png",
    "projections_top1.png",
    f"projections_top{K}.png",
    f"top{K}_per_map_conv1.png",
    f"top{K}_per_map_conv2.png",
    "evolution.png",
    "occlusion.png",
    "guided_backprop_projections.png",
    "randomization_check.png",
    "randomization_check.md",
}
BLOCKED = ("keras", "tensorflow", "jax", "common.models", "common.backend", "common.training", "common.deconvnet")
EXPECTED_IMAGE_PANELS = {  # axes holding an image, for 3 test images, both layers, k = K
    "projections_all.png": 3 * 3,
    "projections_top1.png": 3 * 3,
    f"projections_top{K}.png": 3 * 2 * (1 + K),
    f"top{K}_per_map_conv1.png": 32 * 2,  # per map: its filter, its K patches
    f"top{K}_per_map_conv2.png": viz.CONV2_MAPS_SHOWN * 2,
    "evolution.png": 2 * viz.EVOLUTION_MAPS * 3,  # at most: a map with no activation at a snapshot has no image
    "occlusion.png": 3 * 5,
    "guided_backprop_projections.png": 3 * 7,  # image, 3 rules x (all kept, strongest single)
    "randomization_check.png": 3 * 2 * (1 + 5),  # per image and layer: image, 5 cascade steps
}


@pytest.fixture(scope="module")
def made(tmp_path_factory, data_root, dconvnet_run):
    """The 20-iteration network of tests/conftest.py, and the record and figures dconvnet_visualizations.py made
    of it; with what it printed, and each figure's count of image panels and its title as the report saved it."""
    out = tmp_path_factory.mktemp("deconvnet_figures") / "fig"
    argv = ["--runs-dir", str(dconvnet_run), "--out-dir", str(out), "--indices", "0,450", "999"]
    argv += ["--data-dir", str(data_root), "--top-k", str(K), "--randomization-images", "8"]
    saved, save = {}, report.save_figure

    def counting_save(fig, path):
        saved[path.name] = (sum(1 for ax in fig.axes if ax.images), fig._suptitle and fig._suptitle.get_text())
        return save(fig, path)

    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stdout(io.StringIO()) as printed:
        mp.setattr(report, "save_figure", counting_save)  # the report draws every figure
        assert viz.main(argv) == 0  # finds the model dconvnet.py trained for the default --run and --seed
    (model,) = dconvnet_run.glob("*/seed0-*/model.keras")
    return model, out, printed.getvalue(), saved


def test_visualizations_write_every_figure(made):
    _, out, printed, saved = made
    with np.load(out / "deconvnet.npz") as arrays:
        active = sum(int((arrays[f"evolution.{layer}.value"] > 0).sum()) for layer in ("conv1", "conv2"))
    assert {name: panels for name, (panels, _) in saved.items()} == {**EXPECTED_IMAGE_PANELS, "evolution.png": active}
    assert all(title for _, title in saved.values()), saved
    for name in EXPECTED_IMAGE_PANELS:
        assert (out / name).stat().st_size > 10_000
    assert "occlusion.png" in printed and "randomization_check.md" in printed and "deconvnet.npz" in printed
    table = (out / "randomization_check.md").read_text()
    assert table.count("\n| ") == 1 + 5 + 1  # header, one row per cascade step, the reference
    assert "| trained | none | 1.000 ± 0.000 | 1.000 ± 0.000 | 1.000 |" in table


@pytest.fixture(scope="module")
def drawn_alone(made, tmp_path_factory):
    """The record copied to a folder of its own and drawn there by a Python that cannot import a framework."""
    folder = tmp_path_factory.mktemp("alone")
    for name in (report.NPZ, report.JSON):
        shutil.copy(made[1] / name, folder / name)
    program = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        BLOCKED = {BLOCKED!r}
        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if any(name == b or name.startswith(b + ".") for b in BLOCKED):
                    raise ImportError(f"the deconvnet report imported {{name}}")
        sys.meta_path.insert(0, Blocker())
        from common.report import deconvnet
        for path in deconvnet.rebuild(Path({str(folder)!r})):
            print(path.name)
        assert not any(m.split(".")[0] in ("keras", "tensorflow", "jax") for m in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO, capture_output=True, text=True, timeout=PROCESS_TIMEOUT
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, set(done.stdout.split())


def test_the_figures_draw_from_the_saved_arrays_alone(made, drawn_alone):
    folder, printed = drawn_alone
    assert printed == FIGURES
    assert {p.name for p in folder.iterdir()} == FIGURES | {report.NPZ, report.JSON}
    for name in FIGURES - {"randomization_check.md"}:
        assert (folder / name).stat().st_size > 10_000
    # the record is small: float16 panels, compressed
    assert (made[1] / report.NPZ).stat().st_size < 2_000_000
    meta = report.Record.load(made[1]).meta
    assert meta["settings"]["top_k"] == K and meta["run"]["name"] == "relu_adam_normal_dropout_l2"
    assert set(meta["arrays"]) == set(report.Record.load(made[1]).arrays)  # every array described
    assert all(a["what"] for a in meta["arrays"].values())


def test_redrawing_gives_the_same_bytes(drawn_alone, tmp_path):
    folder, _ = drawn_alone
    for name in (report.NPZ, report.JSON):
        shutil.copy(folder / name, tmp_path / name)
    written = report.rebuild(tmp_path)  # here, with the frameworks loaded: the same files
    assert {p.name for p in written} == FIGURES
    for name in FIGURES:
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes(), name


def test_a_folder_without_a_record_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="dconvnet_visualizations.py"):
        report.rebuild(tmp_path)


def test_the_occlusion_images_are_all_correctly_classified(made, data_root):
    model_path, out, *_ = made
    rec = report.Record.load(out)
    data = load_cifar10(data_root)
    idx = rec["occlusion.index"]
    assert len(idx) == 3 and len(set(idx.tolist())) == 3
    model = keras.models.load_model(model_path, compile=False)
    pred = np.asarray(model.predict(as_float_images(data.x_test[idx]), verbose=0)).argmax(axis=1)
    np.testing.assert_array_equal(pred, data.y_test[idx])
    np.testing.assert_array_equal(rec["occlusion.label"], data.y_test[idx])
    np.testing.assert_array_equal(rec["occlusion.pred"], pred)
    # the choice: the chosen images that are right, then the next right ones of --image-seed's order
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    guess = np.array([0, 9, 2, 9, 4, 9, 6, 7])  # images 1, 3, 5 wrong
    chosen = viz.occlusion_images(np.array([0, 1, 3]), guess, labels, seed=0)
    assert len(chosen) == 3 and 0 in chosen and np.all(guess[chosen] == labels[chosen])
    np.testing.assert_array_equal(chosen, viz.occlusion_images(np.array([0, 1, 3]), guess, labels, seed=0))


def test_the_top1_map_holds_the_strongest_interior_activation(made, data_root):
    model_path, out, *_ = made
    rec = report.Record.load(out)
    idx = rec["images.index"]
    fwd = Deconvnet(keras.models.load_model(model_path, compile=False)).forward(
        as_float_images(load_cifar10(data_root).x_test[idx])
    )
    for layer in ("conv1", "conv2"):
        acts = np.where(interior_mask(layer, fwd[layer].shape[1:3], (28, 28))[None, :, :, None], fwd[layer], -np.inf)
        peak = acts.max(axis=(1, 2))  # (images, maps): each map's strongest interior activation
        np.testing.assert_array_equal(rec[f"top1.{layer}.map"], peak.argmax(axis=1))
        np.testing.assert_allclose(rec[f"top1.{layer}.value"], peak.max(axis=1), rtol=1e-5)


def test_the_conv1_per_map_figure_shows_one_filter_per_map(made, tmp_path, monkeypatch):
    model_path, out, *_ = made
    rec = report.Record.load(out)
    kernel = np.asarray(keras.models.load_model(model_path, compile=False).get_layer("conv1").kernel)[:, :, 0, :]
    filters = rec["permap.conv1.filter"]
    assert filters.shape == (32, 5, 5) and "permap.conv1.proj" not in rec.arrays  # no nine copies saved
    expected = np.moveaxis(kernel, -1, 0) / np.abs(kernel).max(axis=(0, 1))[:, None, None]
    np.testing.assert_allclose(filters.astype(np.float32), expected, atol=1e-3)
    shapes = []

    def inspect(fig, path):
        shapes.extend(ax.images[0].get_array().shape for ax in fig.axes if ax.images)
        assert "its filter" in fig._suptitle.get_text() and "shown once" in fig._suptitle.get_text()
        return path

    monkeypatch.setattr(report, "save_figure", inspect)
    report.fig_top_per_map(rec, "conv1", tmp_path)
    mosaic = 2 * 5 + 1  # the 4 patches in 2x2 tiles of 5 pixels, 1-pixel gaps
    assert sorted(set(shapes)) == [(5, 5, 4), (mosaic, mosaic, 4)]
    assert shapes.count((5, 5, 4)) == 32 and shapes.count((mosaic, mosaic, 4)) == 32  # one filter per map
    # conv2's per-map figure keeps one projection per activation
    assert rec["permap.conv2.proj"].shape[:2] == (viz.CONV2_MAPS_SHOWN, K)


def test_a_map_with_no_activation_is_marked_not_drawn(made, tmp_path, monkeypatch):
    rec = report.Record.load(made[1])
    arrays = dict(rec.arrays)
    arrays["evolution.conv2.value"] = arrays["evolution.conv2.value"].copy()
    arrays["evolution.conv2.value"][0, 0] = 0.0  # the first conv2 map silent at the first snapshot
    silent = sum(int((arrays[f"evolution.{layer}.value"] <= 0).sum()) for layer in ("conv1", "conv2"))
    seen = {}

    def inspect(fig, path):
        seen["marked"] = [t.get_text() for ax in fig.axes for t in ax.texts].count("no activation\nat this\nsnapshot")
        seen["images"] = sum(1 for ax in fig.axes if ax.images)
        return path

    monkeypatch.setattr(report, "save_figure", inspect)
    report.fig_evolution(report.Record(arrays, rec.meta), tmp_path)
    panels = sum(arrays[f"evolution.{layer}.value"].size for layer in ("conv1", "conv2"))
    assert silent >= 1 and seen == {"marked": silent, "images": panels - silent}
