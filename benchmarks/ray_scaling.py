"""Trials per hour with 2 workers versus 1: the ``ray`` executor and the core's ``process`` executor.

Runs the digits demo (trainer evaluator, ``cnn`` space, random search with a fixed seed, so every
run evaluates the same architectures) for ``--trials`` trials under four executors: ray with 1 and
2 workers, process with 1 and 2 workers. Every worker and every trial uses exactly one thread
(``threads_per_worker: 1`` and the trainer's ``threads: 1``), so the 2-worker runs use two cores
and the 1-worker runs one.

Two throughputs are printed. "steady" leaves out worker start-up (importing torch, setting up the
evaluator) for both executors alike: with ``w`` workers and trials finishing at sorted times
``t_1 <= ... <= t_n``, it is ``(n - w) / (t_n - t_w)`` trials per second, the rate once every
worker has finished its first trial. "whole" is ``n`` divided by the wall time of the whole
experiment, start-up included. The ratios compare the steady rates.
The ratios are measured in one run of this script, with the machine's load average printed next
to each figure; ``--repeats 2`` runs the four configurations again in reverse order.

    python benchmarks/ray_scaling.py --trials 8
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from nasforge.core.config import default_config
from nasforge.core.experiment import Experiment
from nasforge.core.plugins import get_plugin_manager


def run_once(executor: str, workers: int, trials: int, epochs: int, root: Path) -> dict:
    """One experiment; returns wall times, throughput and the load average around it."""
    data = default_config().model_dump(mode="json")
    data.update(
        name=f"{executor}{workers}",
        output=str(root),
        strategy={"name": "random", "options": {}},
        budget={"trials": trials, "seconds": None},
        executor={"name": executor, "options": {"workers": workers, "threads_per_worker": 1}},
        compress=None,  # the demo's after-search compression and export are not what is measured
        export=None,
    )
    data["evaluator"]["options"].update(threads=1, epochs=epochs)
    from nasforge.core.config import validate_config

    config = validate_config(data)
    # A short folder: Ray's unix sockets live under it.
    directory = Path(tempfile.mkdtemp(prefix=f"{executor[:2]}{workers}-", dir=root))
    load_before = os.getloadavg()[0]
    begun = time.perf_counter()
    experiment = Experiment.create(config, plugin_manager=get_plugin_manager(), directory=directory / "e")
    result = experiment.run()
    wall = time.perf_counter() - begun
    experiment.close()
    done = [t for t in result.trials if t.started_at is not None and t.finished_at is not None]
    failed = [t for t in result.trials if t.state.value != "complete"]
    finishes = sorted(t.finished_at for t in done)
    assert len(finishes) > workers, f"need more than {workers} trials to measure a steady rate"
    span = finishes[-1] - finishes[workers - 1]
    return {
        "executor": executor,
        "workers": workers,
        "trials": len(result.trials),
        "failed": len(failed),
        "span": span,
        "wall": wall,
        "per_hour": 3600.0 * (len(finishes) - workers) / span,
        "whole_per_hour": 3600.0 * len(done) / wall,
        "mean_trial": sum(t.finished_at - t.started_at for t in done) / len(done),
        "load": (load_before, os.getloadavg()[0]),
        "archs": [t.architecture.to_json() for t in result.trials],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8, help="trials per configuration (default 8)")
    parser.add_argument("--epochs", type=int, default=4, help="training epochs per trial (default 4)")
    parser.add_argument("--repeats", type=int, default=1, help="run the four configurations this many times, alternating order")
    parser.add_argument("--executors", default="ray,process", help="comma-separated executors to compare (default ray,process)")
    args = parser.parse_args()

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    root = Path(tempfile.mkdtemp(prefix="nfbench-", dir="/tmp"))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; python {platform.python_version()}")
    print(f"digits demo, cnn space, random search (seed 0), {args.trials} trials of {args.epochs} epochs; 1 thread per worker and per trial")
    configs = [(e, w) for e in args.executors.split(",") for w in (1, 2)]
    rows: list[dict] = []
    for repeat in range(args.repeats):
        for executor, workers in configs if repeat % 2 == 0 else list(reversed(configs)):
            row = run_once(executor, workers, args.trials, args.epochs, root)
            rows.append(row)
            print(
                f"{executor:>8} x{workers} (threads/worker 1): steady {row['per_hour']:6.0f} trials/h  whole {row['whole_per_hour']:6.0f} trials/h  "
                f"wall {row['wall']:6.1f} s  mean trial {row['mean_trial']:5.1f} s  failed {row['failed']}  "
                f"load avg {row['load'][0]:.1f} -> {row['load'][1]:.1f}",
                flush=True,
            )
    reference = rows[0]["archs"]
    assert all(r["archs"] == reference for r in rows), "the runs evaluated different architectures; the comparison would be unfair"
    print()
    for executor in args.executors.split(","):
        one = [r["per_hour"] for r in rows if r["executor"] == executor and r["workers"] == 1]
        two = [r["per_hour"] for r in rows if r["executor"] == executor and r["workers"] == 2]
        ratio = (sum(two) / len(two)) / (sum(one) / len(one))
        whole_one = [r["whole_per_hour"] for r in rows if r["executor"] == executor and r["workers"] == 1]
        whole_two = [r["whole_per_hour"] for r in rows if r["executor"] == executor and r["workers"] == 2]
        whole = (sum(whole_two) / len(whole_two)) / (sum(whole_one) / len(whole_one))
        print(
            f"{executor}: 2 workers / 1 worker = {ratio:.2f}x steady trials per hour, {whole:.2f}x whole-run "
            f"(threads per worker 1; mean of {len(one)} run(s) each)"
        )


if __name__ == "__main__":
    main()
