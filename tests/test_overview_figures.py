"""The figures that put the study's runs side by side, each drawn from a small saved index in tmp_path."""

import json
from pathlib import Path

from common import data, study
from common.report import overview, stats

REPO = Path(__file__).resolve().parent.parent


def small_index(tmp_path, seeds=(0,)) -> list[dict]:
    """The committed results of the study's 11 runs for ``seeds``, saved to and read back from tmp_path."""
    keep = []
    for line in (REPO / "figures/cifar/results.jsonl").read_text().splitlines():
        r = json.loads(line)
        run = study.RUNS.get(r["name"])
        if run and run.study_row and r["seed"] in seeds and r["identity"]["config"] == run.identity():
            keep.append(line)
    path = tmp_path / "results.jsonl"
    path.write_text("\n".join(keep) + "\n")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_every_overview_figure_from_a_small_index(tmp_path):
    records = small_index(tmp_path)
    assert len(stats.study_rows(records)) == 11
    made = overview.write_overview(records, tmp_path / "fig", data.CIFAR10_CLASS_NAMES)
    names = sorted(p.name for p in made)
    want = ["overlay_conv_std.png", "overlay_test_accuracy.png", "ramp_share.png", "study_scatter.png"]
    want += ["train_test_gap.png"]  # the gap over training, one panel per run
    run7 = "relu_adam_normal_dropout_l2"  # the study's best run, its seed 0's confusion and reliability recorded
    want += [f"confusion_{run7}.png", f"per_class_{run7}.png", "classes.md", "reliability.png"]
    assert names == sorted(want)
    assert all(p.stat().st_size > 20_000 for p in made if p.suffix == ".png")
    assert f"`{run7}` | 0 |" in (tmp_path / "fig" / "classes.md").read_text()


def test_the_figures_skip_what_the_index_lacks(tmp_path):
    assert overview.write_overview([], tmp_path, data.CIFAR10_CLASS_NAMES) == []


def test_short_labels_name_the_studys_rows():
    assert study.short(study.RUNS["sigmoid_adam_normal"]) == "3. sigmoid, Adam, normal init"
    assert study.short(study.RUNS["relu_adam_normal_dropout_l2_long"]).endswith("dropout + L2, 2x longer")


def test_the_confusion_matrix_rows_sum_to_the_class_counts(tmp_path):
    import numpy as np

    from common.runs import confusion

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), 7)
    logits = rng.normal(size=(70, 10)).astype(np.float32)
    mirror = rng.normal(size=(70, 10)).astype(np.float32)
    m = confusion(logits, labels, mirror)
    assert m.sum(1).tolist() == [7] * 10  # every true class's images, each predicted once
    assert np.trace(confusion(np.eye(10)[labels] * 5, labels)) == 70  # perfect logits: all on the diagonal
    recs = [{"name": "r", "seed": s, "final": {"test_confusion": m.tolist()}} for s in (0, 1)]
    made = overview.write_confusions([("r", "run r", recs)], [f"class {i}" for i in range(10)], tmp_path)
    assert [p.name for p in made] == ["confusion_r.png", "per_class_r.png", "classes.md"]
    assert all(p.exists() for p in made)


def test_the_statistics_read_each_conv_after_its_nonlinearity():
    from common import models
    from common.evaluation import Evaluator
    from common.report.runfigs import probe_labels

    assert Evaluator.probed_layers(models.build_model(study.RUNS["beyond_vgg"])) == ["conv1_relu", "conv2_relu"]
    assert Evaluator.probed_layers(models.build_model(study.RUNS["relu_adam_normal"])) == ["conv1", "conv2"]
    old = {"final": {}}  # a VGG run recorded by an earlier version: before batch norm and ReLU, and said so
    assert "before BN" in probe_labels(old, "vgg")["conv2"]
    assert "after BN + ReLU" in probe_labels({"final": {"conv_probes": {}}}, "vgg")["conv2"]


def test_the_curves_plot_the_cross_entropy_apart_from_the_penalty(tmp_path):
    from common.report.runfigs import plot_curves

    hist = [
        {
            "iteration": i,
            "train_loss": 3.0 - i / 100,
            "train_ce": 2.0 - i / 100,
            "train_accuracy": i / 400,
            "test_loss": 2.2 - i / 200,
            "test_accuracy": i / 500,
        }
        for i in (0, 100, 200)
    ]
    recs = [{"history": hist, "identity": {"seed": s}} for s in (0, 1)]
    path = plot_curves(recs, "a run", tmp_path / "curves.png", l2=True)
    assert path.stat().st_size > 10_000


def test_a_partly_recorded_cross_entropy_is_not_drawn_and_validation_is_named(tmp_path, monkeypatch):
    """A run resumed across the version that added train_ce has it for its last part only: its optimized loss
    is drawn instead of a line that starts late. A run that chose on validation draws the validation split."""
    from common.report import runfigs

    drawn, band = [], runfigs.band
    draw = lambda ax, recs, key, *a, **k: drawn.append(key) or band(ax, recs, key, *a, **k)  # noqa: E731
    monkeypatch.setattr(runfigs, "band", draw)
    hist = [
        {"iteration": i, "train_loss": 3.0 - i / 100, "train_accuracy": i / 400, "val_loss": 2.0, "val_accuracy": 0.5}
        for i in (0, 100, 200)
    ]
    hist[-1]["train_ce"] = 1.0
    rec = {"history": hist, "identity": {"seed": 0}}
    runfigs.plot_curves([rec], "a run", tmp_path / "curves.png")
    assert drawn == ["train_accuracy", "val_accuracy", "train_loss", "val_loss"]
    assert runfigs.split_of(rec) == "val"
    assert runfigs.split_of({"history": [{"iteration": 0, "test_accuracy": 0.1}]}) == "test"
    # seeds of two versions: the cross-entropy over the seed that recorded it throughout, and named so
    drawn.clear()
    full = {"history": [dict(h, train_ce=1.0) for h in hist], "identity": {"seed": 1}}
    runfigs.plot_curves([rec, full], "a run", tmp_path / "curves2.png")
    assert drawn == ["train_accuracy", "val_accuracy", "train_ce", "train_loss", "val_loss"]


def test_the_filters_at_initialization_are_the_runs_own(tmp_path, monkeypatch):
    """The filter figures are drawn from the conv1 kernels the record holds, which the evaluation writes at
    iteration 0 (the run's own initial weights) and at the run's end, never from a model rebuilt for the figure."""
    import keras
    import numpy as np

    from common import backend, models
    from common.evaluation import Evaluator
    from common.report import runfigs
    from common.runs import GRADIENT_R2, plane_r2

    run = study.RUNS["relu_adam_normal"]
    backend.seed_everything(3)
    model = models.build_model(run)
    start = keras.ops.convert_to_numpy(model.get_layer("conv1").kernel).copy()
    x = np.random.default_rng(0).random((8, *models.INPUT_SHAPE), dtype=np.float32)
    evaluate = Evaluator(x, np.arange(8) % 10, final_at=200)
    first = evaluate(model, 0)
    w = start.copy()
    yy, xx = np.mgrid[0:5, 0:5]
    w[:, :, 0, 0] = 0.05 * (xx - 2)  # "training" made filter 0 a ramp
    model.get_layer("conv1").kernel.assign(w)
    middle, last = evaluate(model, 100), evaluate(model, 200)
    assert "conv1_kernel" in first and "conv1_kernel" not in middle and "conv1_kernel" in last  # start and end only
    record = {"identity": {"seed": 3}, "history": [first, middle, last], "final": last}
    init, trained = runfigs.recorded_kernel(record, "init"), runfigs.recorded_kernel(record, "final")
    np.testing.assert_allclose(init, start, rtol=1e-6)  # the run's own initialization, to the 7 recorded digits
    np.testing.assert_allclose(trained, w, rtol=1e-6)
    backend.seed_everything(4)
    other = keras.ops.convert_to_numpy(models.build_model(run).get_layer("conv1").kernel)
    assert not np.allclose(init, other, atol=1e-3)  # another seed's initialization is not it
    assert first["conv1_filter_plane_r2"] == float(plane_r2(start).mean())  # the history's measure, of that kernel

    grids, image_grid = [], runfigs.image_grid  # what each figure draws
    keep = lambda images, *a, **k: grids.append((np.asarray(images), k)) or image_grid(images, *a, **k)  # noqa: E731
    monkeypatch.setattr(runfigs, "image_grid", keep)
    path = runfigs.plot_filters(record, "t", tmp_path / "a.png", init=True)
    assert path is not None and path.stat().st_size > 10_000
    (both, style), n = grids[-1], init.shape[-1]
    np.testing.assert_array_equal(both, np.concatenate([np.moveaxis(init, -1, 0), np.moveaxis(trained, -1, 0)])[..., 0])
    ramps = np.concatenate([plane_r2(init), plane_r2(trained)]) >= GRADIENT_R2
    assert style["marked"].tolist() == ramps.tolist() and ramps[n] and not ramps[0]  # the trained ramp framed
    assert runfigs.plot_filters(record, "t", tmp_path / "f.png").exists()
    np.testing.assert_array_equal(grids[-1][0], np.moveaxis(trained, -1, 0)[..., 0])  # the record's final kernel
    # a record without its start's kernel (an earlier version's) draws no comparison rather than another start
    older = {**record, "history": [{k: v for k, v in first.items() if k != "conv1_kernel"}, middle, last]}
    assert runfigs.plot_filters(older, "t", tmp_path / "b.png", init=True) is None
