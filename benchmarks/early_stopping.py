"""Early stopping from learning curves: trained epochs and best accuracy with and without it.

The same search three times in one process, contenders one after another with identical seeds:
the trainer's ``cnn`` space on scikit-learn's digits, ``random`` strategy (its draws do not depend
on results, so every run trains the same architectures in the same order), each trial up to
``--epochs`` epochs with one torch thread. Runs: no early stopping, then each ``--rules`` contender
(default: ``median`` and ``asha`` at the config's defaults, grace 1, eta 3, min_trials 3). Prints, per run, the best validation accuracy, the epochs
actually trained (complete trials: their epochs; stopped ones: the epochs they reported) and the
ratio to the run without early stopping, then whether the target holds: the same best accuracy
with at most 0.5x the epochs.

    python benchmarks/early_stopping.py --trials 16 --epochs 8
    python benchmarks/early_stopping.py --trials 16 --epochs 8 --seed 1 --rules median asha asha:grace=2,eta=4

``--rules`` names the contenders as ``RULE`` or ``RULE:key=value,...``; options left out take the
config's defaults (``early_stopping`` in docs/config.md).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import tempfile
import time
from pathlib import Path

import torch

import nasforge.api as nf
from nasforge.core.early_stopping import read_curve
from nasforge.core.records import TrialState


def trained_epochs(result: nf.Result) -> int:
    total = 0
    for t in result.trials:
        if t.state is TrialState.COMPLETE:
            total += int(t.metrics["epochs"])
        else:
            total += len(read_curve(result.directory / "trials" / f"{t.number:05d}"))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rules", nargs="+", default=["median", "asha"], help="contenders, RULE or RULE:key=value,... (default: median asha, at the config's defaults)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, torch threads 1 (evaluator threads=1), {platform.processor() or platform.machine()}, seed {args.seed}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    runs: dict[str, dict | None] = {"none": None}
    for spec in args.rules:
        rule, _, opts = spec.partition(":")
        runs[spec] = {"rule": rule, **{k: int(v) for k, v in (o.split("=") for o in opts.split(",") if o)}}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, rule in runs.items():
            start = time.perf_counter()
            fields = {"early_stopping": rule} if rule else {}
            result = nf.run(
                name="es-" + re.sub(r"[^A-Za-z0-9_.\-]", "-", name), space={"name": "cnn"}, strategy="random", seed=args.seed, budget={"trials": args.trials},
                evaluator={"name": "trainer", "options": {"dataset": "digits", "epochs": args.epochs, "threads": 1, "measure_latency": False}},
                output=str(Path(tmp) / name), **fields,
            )
            seconds = time.perf_counter() - start
            epochs = trained_epochs(result)
            pruned = sum(t.state is TrialState.PRUNED for t in result.trials)
            results[name] = (result.best.metrics["accuracy"], epochs, result.best.number)
            print(f"{name:>24}: best accuracy {result.best.metrics['accuracy']:.4f} (trial {result.best.number}), trained epochs {epochs}, "
                  f"{pruned} of {len(result.trials)} trials stopped early, {seconds:.0f} s wall, load average {os.getloadavg()[0]:.1f}", flush=True)
    base_acc, base_epochs, _ = results["none"]
    for name in list(runs)[1:]:
        acc, epochs, _ = results[name]
        ratio = epochs / base_epochs
        verdict = "met" if acc >= base_acc and ratio <= 0.5 else "NOT met"
        print(f"{name:>24}: epochs ratio {ratio:.2f}x, best accuracy {acc:.4f} vs {base_acc:.4f} -> target (same best, <= 0.5x epochs) {verdict}")


if __name__ == "__main__":
    main()
