"""Per-trial overhead of nasforge's experiment loop against a plain PyTorch loop doing the same work.

Both sides train the same fixed ``cnn`` architecture on the same digits split, with the same
seeds, optimizer (Adam, cosine schedule), batches and epochs, measure validation accuracy after
every epoch and test accuracy at the end:

* **nasforge**: ``Experiment.create`` + ``run`` with the ``trainer`` evaluator and the grid
  strategy over a space whose only varying choice (``replica``) the model ignores, so each of the
  ``--trials`` trials trains the same architecture. It includes everything the loop does per
  trial: strategy ask/tell, SQLite writes, trial folders, lifecycle hooks (including the
  trainer's experiment-wide TensorBoard log), context checks and reports, and the evaluator's
  cost metrics (params, FLOPs, peak memory). The evaluator's optional extras are off in the
  like-for-like configuration (``measure_latency``, per-trial TensorBoard, saving weights) and on
  in the "defaults" configuration, reported separately.
* **plain**: a hand-written loop over pre-normalised tensors (``torch.randperm`` batches, no
  DataLoader), the fastest straightforward PyTorch loop.

The two alternate, round by round, in one process with ``torch.set_num_threads(--threads)``.
Because both follow the same seeds, their accuracies must agree exactly; the script checks it.
Printed: seconds per trial (wall and process CPU time) and nasforge/plain ratios.

    python benchmarks/loop_overhead.py --trials 5 --rounds 3 --epochs 8 --threads 1
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from nasforge.core.config import validate_config
from nasforge.core.experiment import Experiment
from nasforge.trainer import build_model, load_dataset
from nasforge.trainer.evaluator import seed_everything

ARCH = {"stages": 2, "channels_1": 16, "channels_2": 32, "blocks": 1, "kernel_size": 3, "activation": "relu", "residual": True}
SEED = 0  # experiment seed; trial n is seeded SEED * 100003 + n by the loop


def space_choices(trials: int) -> list[dict]:
    fixed = [{"name": k, "values": [v]} for k, v in ARCH.items()]
    return [*fixed, {"name": "replica", "type": "int", "low": 0, "high": trials - 1}]


def run_nasforge(trials: int, epochs: int, threads: int, extras: bool, workdir: Path) -> tuple[float, float, list[float]]:
    """One experiment of ``trials`` identical trials; returns (wall s, CPU s, accuracies)."""
    options = {"model": "cnn", "epochs": epochs, "threads": threads}
    if not extras:
        options.update(measure_latency=False, tensorboard=False, save_model=False)
    config = validate_config(
        {
            "name": "loop-overhead",
            "seed": SEED,
            "space": {"choices": space_choices(trials)},
            "strategy": {"name": "grid"},
            "evaluator": {"name": "trainer", "options": options},
            "budget": {"trials": trials},
            "output": str(workdir),
        }
    )
    wall, cpu = time.perf_counter(), time.process_time()
    experiment = Experiment.create(config, directory=workdir / f"run-{time.monotonic_ns()}")
    try:
        result = experiment.run()
    finally:
        experiment.close()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    accs = [t.metrics.get("accuracy", math.nan) for t in sorted(result.trials, key=lambda t: t.number)]
    return wall, cpu, accs


def run_plain(trials: int, epochs: int, data: dict[str, torch.Tensor], batch_size: int = 64, lr: float = 0.01) -> tuple[float, float, list[float]]:
    """The same training and evaluation, hand-written."""
    x_train, y_train = data["x_train"], data["y_train"]
    x_valid, y_valid, x_test, y_test = data["x_valid"], data["y_valid"], data["x_test"], data["y_test"]

    @torch.no_grad()
    def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
        model.eval()
        correct = 0
        for i in range(0, len(y), 512):
            correct += int((model(x[i : i + 512]).argmax(1) == y[i : i + 512]).sum())
        return correct / len(y)

    wall, cpu = time.perf_counter(), time.process_time()
    accs = []
    for n in range(trials):
        seed = SEED * 100_003 + n
        seed_everything(seed)
        model = build_model("cnn", ARCH, tuple(x_train.shape[1:]), 10)
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        steps = epochs * math.ceil(len(y_train) / batch_size)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
        for _ in range(epochs):
            model.train()
            order = torch.randperm(len(y_train), generator=generator)
            for i in range(0, len(y_train), batch_size):
                idx = order[i : i + batch_size]
                if len(idx) < 2:
                    continue
                loss = F.cross_entropy(model(x_train[idx]), y_train[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
            valid_acc = accuracy(model, x_valid, y_valid)
        accuracy(model, x_test, y_test)
        accs.append(valid_acc)
    return time.perf_counter() - wall, time.process_time() - cpu, accs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5, help="trials per side per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    splits = load_dataset("digits")  # the same split the evaluator makes (seed 0)
    data = {}
    for part in ("train", "valid", "test"):
        ds = getattr(splits, part)
        x, y = ds.batch(torch.arange(len(ds)))  # normalised once, as a hand-written loop would
        data[f"x_{part}"], data[f"y_{part}"] = x.contiguous(), y
    print(f"python {platform.python_version()}, torch {torch.__version__}, {platform.machine()}; torch threads = {torch.get_num_threads()}")
    print(f"{args.trials} trials x {args.rounds} rounds per side, {args.epochs} epochs, digits ({len(data['y_train'])} train samples), arch {ARCH}")

    # warm-up: imports, allocator, first-call costs on both sides
    with tempfile.TemporaryDirectory() as tmp:
        run_nasforge(1, 1, args.threads, False, Path(tmp))
    run_plain(1, 1, data)

    times: dict[str, list[tuple[float, float]]] = {"plain": [], "nasforge": [], "nasforge+extras": []}
    accs: dict[str, list[float]] = {k: [] for k in times}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            order = ["plain", "nasforge", "nasforge+extras"]
            if r % 2:
                order.reverse()
            for side in order:
                if side == "plain":
                    wall, cpu, acc = run_plain(args.trials, args.epochs, data)
                else:
                    wall, cpu, acc = run_nasforge(args.trials, args.epochs, args.threads, side == "nasforge+extras", Path(tmp))
                times[side].append((wall / args.trials, cpu / args.trials))
                accs[side].extend(acc)

    same = accs["plain"] == accs["nasforge"] == accs["nasforge+extras"]
    print(f"validation accuracies identical on all sides: {same} (plain {statistics.mean(accs['plain']):.4f}, nasforge {statistics.mean(accs['nasforge']):.4f})")
    base_wall = statistics.median(w for w, _ in times["plain"])
    base_cpu = statistics.median(c for _, c in times["plain"])
    print(f"{'side':<18}{'wall s/trial':>14}{'CPU s/trial':>14}{'wall ratio':>12}{'CPU ratio':>12}   threads")
    for side, values in times.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(f"{side:<18}{wall:>14.3f}{cpu:>14.3f}{wall / base_wall:>11.3f}x{cpu / base_cpu:>11.3f}x   {args.threads}")
    per_round = [n[0] / p[0] for n, p in zip(times["nasforge"], times["plain"])]
    print(f"nasforge/plain wall ratio per round: {', '.join(f'{x:.3f}' for x in per_round)} (median of per-trial medians above)")


if __name__ == "__main__":
    main()
