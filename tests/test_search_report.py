"""The search's report from its study folder alone: drawn from results.jsonl (and trials.json where present) with
no deep-learning framework importable and no Optuna storage; trials.json round-trips an Optuna study."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from common import runs, search, study  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SEARCHES = REPO / "figures" / "cifar" / "search"
STUDY = "cifar_v2-CIFAR10-study-3000it-val"  # a committed search under the protocol (no trials.json)
EARLIER = "cifar_v2-CIFAR10-study-3000it"  # a committed search scored on the test set, before the protocol
BLOCKED = ("keras", "tensorflow", "jax", "common.models", "common.backend", "common.training")

# Run in a fresh interpreter: every module the report must not need raises ImportError, then each folder named on
# the command line is redrawn; the last one twice, and the second drawing must be byte-identical to the first.
DRAW = """
import sys
from pathlib import Path

BLOCKED = {blocked!r}

class Block:
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError(f"{{name}} is blocked: the report must draw from the records alone")
        return None

sys.meta_path.insert(0, Block())
sys.path.insert(0, {repo!r})
from common import runs
from common.report import search

cifar = runs.ResultsIndex(Path({repo!r}) / "figures" / "cifar" / "results.jsonl").read()
for folder in map(Path, sys.argv[1:]):
    first = {{p.name: p.read_bytes() for p in search.rebuild(folder, cifar)}}
    print(folder.name, sorted(first))
again = {{p.name: p.read_bytes() for p in search.rebuild(Path(sys.argv[-1]), cifar)}}
assert first == again, [k for k in first if first[k] != again[k]]
loaded = [m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED)]
assert not loaded, loaded
"""


def copy_records(name: str, to: Path) -> Path:
    (to / name).mkdir(parents=True)
    shutil.copy(SEARCHES / name / "results.jsonl", to / name / "results.jsonl")
    return to / name


def export_from_records(folder: Path) -> list[dict]:
    """A trials.json for a committed folder, as --search-report would have exported it: an in-memory study that
    replays each trial record (the warm start first, as trial 0), its run folder in the trial's user attributes."""
    records = [r for r in runs.ResultsIndex(folder / "results.jsonl").read() if r["name"] == search.trial_name("study")]
    rival = study.RUNS[search.RIVALS["study"]]
    warm = search.warm_start_run(rival, "study", 3000).identity()
    records.sort(key=lambda r: (r["identity"]["config"] != warm, r["run_id"]))
    st = optuna.create_study(direction="maximize", study_name=folder.name)
    for r in records:
        st.enqueue_trial(search.trial_params(r["identity"]["config"], "study", 3000))
        trial = st.ask()
        assert search.sample_run(trial, "study", 3000).identity() == r["identity"]["config"]
        for h in r["history"]:
            trial.report(h["val_accuracy"], h["iteration"])
        trial.set_user_attr("run_dir", f"/elsewhere/runs/{r['name']}/seed{r['seed']}-{r['group_id']}")
        if r["identity"]["config"] == warm:
            trial.set_user_attr("warm_start", True)
        if r["status"] == "pruned":
            st.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            st.tell(trial, r["final"]["val_accuracy"])
    search.export_trials(st, folder / search.TRIALS_FILE)
    return records


def draw(*folders: Path) -> str:
    code = DRAW.format(blocked=BLOCKED, repo=str(REPO))
    done = subprocess.run([sys.executable, "-c", code, *map(str, folders)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_report_draws_a_study_folder_from_its_records_alone(tmp_path):
    alone = copy_records(STUDY, tmp_path / "records")
    earlier = copy_records(EARLIER, tmp_path / "records")
    exported = copy_records(STUDY, tmp_path / "exported")
    export_from_records(exported)
    out = draw(alone, earlier, exported)
    assert out.count("['search.md', 'sensitivity.png', 'trials.png']") == 3, out
    for folder in (alone, earlier, exported):
        assert all((folder / f).stat().st_size > 20_000 for f in ("trials.png", "sensitivity.png"))

    md = (alone / "search.md").read_text()  # the records alone: no trial numbers, the warm start known by its run
    assert "| rank | val acc | parameters |" in md and "| 2 (warm start) | 55.5 |" in md
    assert "so trials are ranked by value" in md and "One trial, known by its parameters, is the hand-tuned" in md
    assert "24m31s of wall time (44,100 iterations) on AMD EPYC" in md  # the trials' records' wall_time_s
    assert "test accuracy 56.1 ± 1.4% (n = 3)" in md and "): 54.7 ± 1.4% (n = 3)" in md  # the winner and run 7
    assert "+1.5 ± 1.1 points" in md and "within noise" in md

    md = (earlier / "search.md").read_text()  # scored on the test set: every label says so
    assert "| rank | test acc | parameters |" in md and "scored, and pruned, on the TEST set" in md
    assert "chosen on the TEST set (the earlier protocol)" in md and "No trial has the hand-tuned" in md
    assert "learning_rate=0.0283, optimizer=adagrad |" in md  # an earlier space: the run's fields, not lr_<opt>

    md = (exported / "search.md").read_text()  # with trials.json: the numbers, the failed count, trial 0
    assert "| rank | trial | val acc | parameters |" in md and "| 2 | 0 (warm start) | 55.5 |" in md
    assert "7 complete, 33 pruned, 0 failed trials" in md and "Trial 0 is the hand-tuned configuration" in md
    alone_md = (alone / "search.md").read_text()
    assert md.split("\n\n", 3)[3] == alone_md.split("\n\n", 3)[3]  # after the table, the same page


def test_trials_json_round_trips_an_optuna_study(tmp_path):
    st = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    rival = study.RUNS[search.RIVALS["all"]]
    st.enqueue_trial(search.params_of(rival, "all", 300), user_attrs={"warm_start": True})

    def objective(trial):
        run = search.sample_run(trial, "all", 300)
        trial.set_user_attr("run_dir", str(tmp_path / "runs" / run.name / f"seed0-{trial.number:08x}"))
        for step in (100, 200, 300):
            trial.report(0.1 + trial.number / 100 + step / 1e4, step)
        if trial.number % 3 == 1:
            raise optuna.TrialPruned()
        if trial.number == 5:
            raise ValueError("a worker's failure")
        return 0.1 + trial.number / 100

    st.optimize(objective, n_trials=8, catch=(ValueError,))
    path = search.export_trials(st, tmp_path / "trials.json")
    text = path.read_text()
    assert str(tmp_path) not in text  # run folders relative to the runs folder
    assert search.export_trials(st, tmp_path / "again.json").read_text() == text  # deterministic
    back = search.read_trials(path)
    fields = ("number", "state", "value", "params", "distributions", "intermediate_values", "system_attrs")
    fields += ("datetime_start", "datetime_complete")
    for a, b in zip(st.trials, back, strict=True):
        assert all(getattr(a, f) == getattr(b, f) for f in fields), a.number
        folder = Path(a.user_attrs["run_dir"])
        assert b.user_attrs == {**a.user_attrs, "run_dir": f"{folder.parent.name}/{folder.name}"}
    assert {t.state.name for t in back} == {"COMPLETE", "PRUNED", "FAIL"} and back[0].user_attrs["warm_start"]
    again = optuna.create_study(direction="maximize")
    again.add_trials(back)  # Optuna takes them back
    assert again.best_trial.params == st.best_trial.params and json.loads(text)["direction"] == "maximize"
