"""Time of the default ``nasforge run`` (cnn space on digits, regularized evolution, 20 trials).

Runs the built-in default config through the experiment API — exactly what ``nasforge run``
with no arguments runs — with the evaluator's ``threads`` option set to ``--threads`` (the
evaluator's default is 1), and prints each trial's wall and process-CPU seconds, the metrics,
and the totals. On a shared machine the wall time depends on the load; with one thread the CPU
time is what the trial would take on an idle core.

``--compare-threads N`` instead trains one fixed mid-sized architecture of the default space
N times with 1 and N times with 2 threads, alternating, and prints the wall times of each.

    python benchmarks/default_run_cost.py --threads 1
    python benchmarks/default_run_cost.py --compare-threads 3
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from nasforge.core.config import default_config
from nasforge.core.experiment import Experiment
from nasforge.core.hookspecs import hookimpl
from nasforge.core.plugins import get_plugin_manager


class _TrialClock:
    """A plugin that records wall and CPU time around each trial (before/after lifecycle hooks)."""

    def __init__(self) -> None:
        self.start: dict[int, tuple[float, float]] = {}
        self.rows: list[tuple[int, float, float, dict]] = []

    @hookimpl
    def nasforge_before_trial(self, experiment, trial):
        self.start[trial.number] = (time.perf_counter(), time.process_time())

    @hookimpl
    def nasforge_after_trial(self, experiment, trial):
        wall, cpu = self.start.pop(trial.number)
        self.rows.append((trial.number, time.perf_counter() - wall, time.process_time() - cpu, dict(trial.metrics)))


def compare_threads(repeats: int) -> None:
    """Wall time of the same trial with 1 and 2 torch threads, alternating."""
    from nasforge.core.evaluator import TrialContext
    from nasforge.core.records import Architecture
    from nasforge.trainer import TrainingEvaluator, cnn_space

    arch = Architecture(stages=3, channels_1=16, channels_2=32, channels_3=48, blocks=1, kernel_size=3, activation="relu", residual=True)
    evaluators = {t: TrainingEvaluator(cnn_space(), threads=t, tensorboard=False, save_model=False) for t in (1, 2)}
    times: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(repeats):
            for threads in (1, 2) if rep % 2 == 0 else (2, 1):
                start = time.perf_counter()
                evaluators[threads].evaluate(arch, TrialContext(number=rep, seed=rep, directory=Path(tmp)))
                times[threads].append(time.perf_counter() - start)
    for threads, values in times.items():
        print(f"threads = {threads}: trial wall s {', '.join(f'{v:.2f}' for v in values)} (median {statistics.median(values):.2f})")
    print(f"ratio 2 threads / 1 thread (medians): {statistics.median(times[2]) / statistics.median(times[1]):.2f}x; load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="evaluator 'threads' option (torch.set_num_threads during each trial)")
    parser.add_argument("--trials", type=int, default=None, help="override the budget (default: the config's 20)")
    parser.add_argument("--compare-threads", type=int, default=0, metavar="N", help="time one architecture N times at 1 and at 2 threads instead")
    args = parser.parse_args()
    if args.compare_threads:
        compare_threads(args.compare_threads)
        return

    clock = _TrialClock()
    pm = get_plugin_manager(fresh=True)
    pm.register(clock, name="trial-clock")

    config = default_config()
    data = config.model_dump()
    data["evaluator"]["options"]["threads"] = args.threads
    if args.trials:
        data["budget"]["trials"] = args.trials
    config = type(config).model_validate(data)
    print(f"python {platform.python_version()}, torch {torch.__version__}, {os.cpu_count()} CPUs; evaluator threads = {args.threads}, latency threads = 1")

    wall, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp:
        experiment = Experiment.create(config, directory=Path(tmp) / "run", plugin_manager=pm)
        try:
            result = experiment.run()
        finally:
            experiment.close()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

    print(f"{'trial':>5} {'wall s':>7} {'CPU s':>7} {'acc':>6} {'test':>6} {'params':>8} {'MFLOPs':>7} {'mem MiB':>8} {'lat ms':>7}")
    for number, w, c, m in sorted(clock.rows):
        print(
            f"{number:>5} {w:>7.2f} {c:>7.2f} {m.get('accuracy', float('nan')):>6.3f} {m.get('test_accuracy', float('nan')):>6.3f} "
            f"{m.get('params', 0):>8.0f} {m.get('flops', 0) / 1e6:>7.2f} {m.get('peak_memory_mb', 0):>8.3f} {m.get('latency_ms', float('nan')):>7.3f}"
        )
    walls = [w for _, w, _, _ in clock.rows]
    cpus = [c for _, _, c, _ in clock.rows]
    accs = [m["accuracy"] for *_, m in clock.rows if "accuracy" in m]
    print(f"trials: {len(clock.rows)}, states: {sorted({t.state.value for t in result.trials})}")
    print(f"per trial: wall mean {statistics.mean(walls):.2f} s (max {max(walls):.2f}), CPU mean {statistics.mean(cpus):.2f} s (max {max(cpus):.2f}); threads = {args.threads}")
    print(f"whole run: wall {wall:.1f} s, CPU {cpu:.1f} s; validation accuracy {min(accs):.3f} .. {max(accs):.3f}, best {result.best.metrics['accuracy']:.3f}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (other processes on this machine inflate wall time)")


if __name__ == "__main__":
    main()
