"""Worker processes against one process: a command's independent runs on all the cores, measured.

    python benchmarks/workers.py [--runs relu_adam_normal_dropout_l2,beyond_vgg_nesterov] [--iterations 500]
                                 [--repeats 3] [--inter-op 1,2] [--save figures/speed/workers.json]

For each run, interleaved ``--repeats`` times, each arrangement trains the same ``--workers``-many runs (seeds 0,
1, ...) through ``common.training.train_run`` in fresh processes: (1) one process, the runs one after the other;
(2) one process per run, one intra-op thread and K inter-op threads each, for each K of ``--inter-op``; (3) one
process per run with the default threads. Prints the wall seconds (what a command waits), the summed training
images/s, the images per CPU-second (start-up included, and in the runs alone), each one's ratio to (1) and whether
every run's history and final weights are bit-identical to (1)'s, with the load average beside every repeat
(docs/speed.md). ``--save PATH`` writes it all as a JSON record (``benchmarks/record.py``). Timings only.
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import record  # noqa: E402
from common import config, cpu, study  # noqa: E402  (none loads TensorFlow: a child sets its threads first)

TIMING_KEYS = ("train_time_s", "wall_time_s")  # what may differ between two trainings of one run


def child(run: str, seeds: list[int], runs_dir: str, iterations: int, eval_every: int, data_dir: str | None) -> None:
    """Trains ``run`` with each of ``seeds`` in turn, in a process of its own; prints one JSON line per run."""
    cpu.configure()
    import numpy as np

    with cpu.quiet_import():
        import keras

        from common import evaluation, training
    from common.data import as_float_images, load_cifar10

    data = load_cifar10(data_dir)
    x, x_test = as_float_images(data.x_train), as_float_images(data.x_test)
    run = study.with_overrides(study.RUNS[run], iterations=iterations)
    for seed in seeds:
        evaluate = evaluation.Evaluator(x_test, data.y_test, run.tta, tta_shift=run.tta_shift, final_at=run.iterations)
        spec = training.make_spec(
            run, "benchmark", seed, data, x, data.y_train, Path(runs_dir), eval_every, 500, evaluate
        )
        cpu0 = time.process_time()
        m = training.train_run(spec, log=lambda msg: None)
        run_cpu_s = time.process_time() - cpu0  # the run's CPU seconds: its training and evaluations, no start-up
        model = keras.models.load_model(spec.run_dir / "model.keras", compile=False)
        weights = hashlib.sha256(b"".join(np.asarray(w).tobytes() for w in model.get_weights())).hexdigest()
        history = [{k: v for k, v in h.items() if k not in TIMING_KEYS} for h in m["history"]]
        numbers = hashlib.sha256(json.dumps(history, sort_keys=True).encode()).hexdigest()
        result = {"seed": seed, "images": m["iterations_done"] * spec.batch_size, "train_time_s": m["train_time_s"]}
        result |= {"run_cpu_s": run_cpu_s, "weights": weights, "history": numbers}
        print(json.dumps(result | {"test_accuracy": m["final"].get("test_accuracy")}), flush=True)


def arrangement(s, run: str, processes: int, inter_op: int | None) -> dict:
    """The ``s.workers`` runs of ``run`` in ``processes`` fresh processes started together, with one intra-op
    thread and ``inter_op`` inter-op threads each (None: TensorFlow's default threads); their wall seconds, summed
    training images/s and each run's numbers."""
    seeds = list(range(s.workers))
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        if inter_op is not None:
            env |= {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": str(inter_op)}
        job = dict(run=run, runs_dir=tmp, iterations=s.iterations, eval_every=s.eval_every, data_dir=s.data_dir)
        argv = lambda seeds: [sys.executable, __file__, "--child", json.dumps(job | {"seeds": seeds}, default=str)]
        t0, cpu0 = time.perf_counter(), sum(os.times()[2:4])  # finished children's user + system CPU s
        procs = [
            subprocess.Popen(argv(seeds[i::processes]), env=env, stdout=subprocess.PIPE, text=True)
            for i in range(processes)
        ]
        try:
            outs = [p.communicate()[0] for p in procs]
        finally:
            for p in procs:
                p.kill()
        wall, cpu_s = time.perf_counter() - t0, sum(os.times()[2:4]) - cpu0
    if any(p.returncode for p in procs):
        sys.exit(f"a benchmark process failed (exit {[p.returncode for p in procs]}); its error is above")
    results = sorted((json.loads(line) for out in outs for line in out.splitlines()), key=lambda r: r["seed"])
    images, run_cpu_s = sum(r["images"] for r in results), sum(r["run_cpu_s"] for r in results)
    if processes > 1:  # side by side, the runs' rates add up
        rate = sum(r["images"] / r["train_time_s"] for r in results)
    else:  # one after the other: their images over their summed seconds
        rate = images / sum(r["train_time_s"] for r in results)
    per_cpu = {"images_per_cpu_s": images / cpu_s, "images_per_run_cpu_s": images / run_cpu_s}
    return {"wall_s": wall, "images_per_s": rate, **per_cpu, "runs": results}


def rates(m: dict, summed: str = "") -> str:
    """An arrangement's wall seconds and rates, as each repeat's line and the medians' line print them."""
    return (
        f"{m['wall_s']:.1f} s, {m['images_per_s']:,.0f} images/s{summed}, {m['images_per_cpu_s']:,.0f} images per "
        f"CPU-second ({m['images_per_run_cpu_s']:,.0f} in the runs"
    )


@dataclass(frozen=True)
class Settings:
    runs: tuple[str, ...] = config.setting(
        ("relu_adam_normal_dropout_l2", "beyond_vgg_nesterov"),
        "runs of common/study.py, comma-separated (default: the study's run 7 and CNN-SGD)",
        choices=tuple(study.RUNS),
        metavar="RUNS",
    )
    iterations: int = config.ITERATIONS(500, "iterations of each run")
    eval_every: int = config.EVAL_EVERY(study.EVAL_EVERY)
    workers: int = config.WORKERS(
        cpu.cores(), "worker processes, and runs per arrangement (default: one per core)", min=2
    )
    inter_op: tuple[int, ...] = config.setting((1, 2), "inter-op threads of each worker to try, comma-separated", min=1)
    repeats: int = record.REPEATS(3)
    data_dir: Path | None = config.DATA_DIR(None)
    save: Path | None = record.SAVE(None)


def main(argv=None) -> int:
    s = config.parse(Settings, argv, description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1])
    if s.workers < 2:  # the default, on a CPU of one core
        print(f"error: --workers {s.workers}: the benchmark compares 2 or more processes with one", file=sys.stderr)
        return 2
    setups = {"one process": (1, None)}
    setups |= {f"{s.workers} processes, 1 thread, inter-op {k}": (s.workers, k) for k in s.inter_op}
    setups |= {f"{s.workers} processes, default threads": (s.workers, None)}
    print(
        f"CPU: {cpu.summary()}, {cpu.cores()} cores; {s.workers} runs per arrangement, "
        f"{s.iterations} iterations each, evaluated every {s.eval_every}; {s.repeats} interleaved repeats"
    )
    measured = {run: {name: [] for name in setups} for run in s.runs}
    loads = []
    for r in range(s.repeats):
        for run in s.runs:
            for name, (processes, inter_op) in setups.items():
                loads.append(os.getloadavg()[0])
                m = arrangement(s, run, processes, inter_op)
                measured[run][name].append(m)
                print(f"repeat {r + 1} {run}, {name}: {rates(m)}; load average {loads[-1]:.1f})", flush=True)
    ratios, same_numbers = {}, {}
    print(f"\nmedians and ranges of {s.repeats} repeats ({time.strftime('%Y-%m-%d')}), against one process:")
    for run in s.runs:
        base = measured[run]["one process"]
        numbers = lambda m: [(r["seed"], r["history"], r["weights"]) for r in m["runs"]]
        for name, ms in measured[run].items():
            keys = ("wall_s", "images_per_s", "images_per_cpu_s", "images_per_run_cpu_s")
            values = {k: statistics.median(m[k] for m in ms) for k in keys}
            line = f"  {run}, {name}: {rates(values, ' summed')})"
            if ms is not base:
                ratio = {"finish_sooner": sorted(b["wall_s"] / m["wall_s"] for b, m in zip(base, ms))}
                ratio |= {k: sorted(m[k] / b[k] for b, m in zip(base, ms)) for k in keys[1:]}  # the rates
                same = all(numbers(m) == numbers(base[0]) for m in ms)
                ratios[f"{run}/{name}"], same_numbers[f"{run}/{name}"] = ratio, same
                shown = lambda v: f"{statistics.median(v):.2f}x ({v[0]:.2f}-{v[-1]:.2f})"
                line += (
                    f"\n    finishes {shown(ratio['finish_sooner'])} sooner (target 1.3x); images/s "
                    f"{shown(ratio['images_per_s'])}; images per CPU-second {shown(ratio['images_per_cpu_s'])} "
                    f"({shown(ratio['images_per_run_cpu_s'])} in the runs); "
                    "numbers and final weights " + ("bit-identical to" if same else "DIFFER from") + " one process's"
                )
            print(line)
    with cpu.quiet_import():  # the record's versions load TensorFlow: its start-up lines kept off the terminal
        results = {"measured": measured, "ratios": ratios, "bit_identical": same_numbers, "load_average": loads}
        record.save(s, "workers", results)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:  # a process that arrangement() started
        child(**json.loads(sys.argv[2]))
    else:
        sys.exit(main())
