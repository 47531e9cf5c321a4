"""common/training.py and common/runs.py on small real runs: speed settings that must not change
numbers, checkpoints that must match, the results index."""

import json

import numpy as np
import pytest

from common import io, models, runs, study
from common.data import as_float_images, load_cifar10
from common.evaluation import make_test_evaluator
from common.training import RunSpec, load_checkpoint, save_checkpoint, train_run

RUN = study.RunConfig("tiny", dropout=0.5, iterations=40)


@pytest.fixture(scope="module")
def data(data_root):
    return load_cifar10(data_root)


def spec(data, tmp, **kw):
    x, xt = as_float_images(data.x_train), as_float_images(data.x_test)
    identity = runs.make_identity("test", RUN.identity(), 0, data, 20)
    args = dict(
        name="tiny",
        identity=identity,
        run_dir=tmp,
        build=lambda: models.build_model(RUN),
        x=x,
        y=data.y_train,
        iterations=40,
        batch_size=50,
        eval_every=20,
        checkpoint_every=20,
        evaluate=make_test_evaluator(xt, data.y_test),
    )
    return RunSpec(**{**args, **kw})


def numbers(m):
    return [{k: v for k, v in h.items() if k != "train_time_s"} for h in m["history"]]


def test_steps_per_execution_changes_no_number(data, tmp_path):
    one = train_run(spec(data, tmp_path / "a", steps_per_execution=1), log=lambda s: None)
    many = train_run(spec(data, tmp_path / "b", steps_per_execution=20), log=lambda s: None)
    assert numbers(one) == numbers(many)


def test_checkpoint_round_trip_and_mismatch(data, tmp_path):
    s = spec(data, tmp_path)
    model = s.build()
    model.optimizer.build(model.trainable_variables)
    save_checkpoint(tmp_path / "c.npz", model, {"identity": s.identity, "iteration": 20})
    restored, state = load_checkpoint(tmp_path / "c.npz", s)
    assert state["iteration"] == 20
    for a, b in zip(model.variables, restored.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    other = spec(data, tmp_path, identity={**s.identity, "seed": 1})
    with pytest.raises(io.CheckpointError, match="another run identity"):
        load_checkpoint(tmp_path / "c.npz", other)
    (tmp_path / "cut.npz").write_bytes((tmp_path / "c.npz").read_bytes()[:1000])
    with pytest.raises(io.CheckpointError, match="unreadable checkpoint"):
        load_checkpoint(tmp_path / "cut.npz", s)


def test_corrupt_files_are_set_aside_with_a_message(data, tmp_path):
    s = spec(data, tmp_path / "run")
    s.run_dir.mkdir()
    (s.run_dir / "checkpoint.npz").write_bytes(b"PK\x03\x04 truncated")
    (s.run_dir / "metrics.json").write_text('{"status": "finis')
    logs = []
    m = train_run(s, log=logs.append)
    assert m["status"] == "finished"
    text = "\n".join(logs)
    assert "metrics.json: not valid JSON" in text and "unreadable checkpoint" in text and "Moved it to" in text
    assert len(list(s.run_dir.glob("*.bad-*"))) == 2  # kept, not deleted


def test_index_upserts_and_skips_bad_lines(tmp_path):
    index = runs.ResultsIndex(tmp_path / "results.jsonl")
    rec = lambda rid, seed: {"run_id": rid, "name": "r", "identity": {"seed": seed}, "x": seed}
    index.upsert([rec("a", 0), rec("b", 1)])
    index.upsert([{**rec("a", 0), "x": 5}])
    with open(index.path, "a") as f:
        f.write("{not json\n")
    logs = []
    records = index.read(log=logs.append)
    assert [(r["run_id"], r["x"]) for r in records] == [("a", 5), ("b", 1)] and "line 3" in logs[0]


def test_stale_temporary_files_of_dead_processes_are_removed(tmp_path):
    dead = tmp_path / ".metrics.tmp999999.json"
    alive = tmp_path / f".metrics.tmp{__import__('os').getpid()}.json"
    dead.write_text("{}")
    alive.write_text("{}")
    assert io.remove_stale_temps(tmp_path) == 1
    assert not dead.exists() and alive.exists()


def test_identity_folders(data):
    ident = runs.make_identity("t", {"a": 1}, 3, data, 100)
    assert ident["data"] == {"name": "CIFAR10", "fingerprint": data.fingerprint}
    folder = runs.run_folder("runs", "x", ident)
    assert folder.name == f"seed3-{runs.group_id(ident)}"
    assert runs.group_id(ident) == runs.group_id({**ident, "seed": 4})
    assert runs.run_id("x", ident) != runs.run_id("x", {**ident, "seed": 4})
    assert runs.run_id("x", ident) != runs.run_id("y", ident)
    assert runs.group_id(ident) != runs.group_id({**ident, "backend": "jax"})
    json.dumps(ident)
