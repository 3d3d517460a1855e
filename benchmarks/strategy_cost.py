"""Suggestion cost of nasforge's TPE and regularized evolution against Optuna's TPESampler.

Every strategy gets the same history of ``--history`` random trials (same architectures, same
scores) on an equivalent space of 11 discrete choices, five of them conditional, answers one
untimed warm-up query, then is timed over ``--queries`` ask+tell rounds on a synthetic
objective. All figures come from one run, on
one thread (the BLAS/OpenMP pools are pinned to 1 before numpy loads), and are printed as
milliseconds per query with the ratio to Optuna.

    python benchmarks/strategy_cost.py --history 1000 --queries 50 --repeats 3
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from nasforge.core.records import Architecture, Observation  # noqa: E402
from nasforge.core.space import SearchSpace  # noqa: E402
from nasforge.strategies import TPE, RegularizedEvolution  # noqa: E402

WIDTHS = [16, 32, 48, 64, 96, 128]
OPS = ["conv3", "conv5", "sep3", "sep5", "pool", "skip"]
ACTS = ["relu", "gelu", "silu", "hswish"]
NORMS = ["batch", "layer", "none"]
DROPOUTS = [0.0, 0.1, 0.2, 0.3, 0.4]


def make_space() -> SearchSpace:
    """11 choices: depth, width_1..4 (active up to depth), op, expansion (only for separable ops), act, norm, dropout, lr."""
    return SearchSpace.from_config(
        [
            {"name": "depth", "type": "int", "low": 1, "high": 4},
            {"name": "width", "values": WIDTHS, "repeat": "depth"},
            {"name": "op", "values": OPS},
            {"name": "expansion", "type": "int", "low": 1, "high": 6, "when": {"op": ["sep3", "sep5"]}},
            {"name": "act", "values": ACTS},
            {"name": "norm", "values": NORMS},
            {"name": "dropout", "values": DROPOUTS, "ordered": True},
            {"name": "lr", "type": "int", "low": 0, "high": 19},
        ],
        name="strategy-cost",
    )


def objective(arch: dict) -> float:
    """A synthetic score with structure: wider, deeper, separable ops with mid expansion, lr near 12."""
    score = sum(np.log2(arch[f"width_{i}"]) for i in range(1, arch["depth"] + 1)) / 4
    score += {"conv3": 0.5, "conv5": 0.6, "sep3": 0.8, "sep5": 0.7, "pool": 0.0, "skip": -0.2}[arch["op"]]
    if "expansion" in arch:
        score -= 0.1 * abs(arch["expansion"] - 4)
    score += {"relu": 0.0, "gelu": 0.2, "silu": 0.25, "hswish": 0.1}[arch["act"]]
    score += {"batch": 0.3, "layer": 0.2, "none": 0.0}[arch["norm"]]
    score -= 2.0 * (arch["dropout"] - 0.2) ** 2
    score -= 0.02 * abs(arch["lr"] - 12)
    return float(score)


# -- Optuna, ask/tell, define-by-run with the same conditional structure ------------------------------
def optuna_params(trial) -> dict:
    """Draw the architecture through Optuna's trial API (conditional choices only when active)."""
    arch: dict = {"depth": trial.suggest_int("depth", 1, 4)}
    for i in range(1, 5):
        if arch["depth"] >= i:
            arch[f"width_{i}"] = trial.suggest_categorical(f"width_{i}", WIDTHS)
    arch["op"] = trial.suggest_categorical("op", OPS)
    if arch["op"] in ("sep3", "sep5"):
        arch["expansion"] = trial.suggest_int("expansion", 1, 6)
    arch["act"] = trial.suggest_categorical("act", ACTS)
    arch["norm"] = trial.suggest_categorical("norm", NORMS)
    arch["dropout"] = trial.suggest_categorical("dropout", DROPOUTS)
    arch["lr"] = trial.suggest_int("lr", 0, 19)
    return arch


def optuna_distributions(arch: dict) -> dict:
    import optuna.distributions as D

    dists = {"depth": D.IntDistribution(1, 4)}
    for i in range(1, arch["depth"] + 1):
        dists[f"width_{i}"] = D.CategoricalDistribution(WIDTHS)
    dists["op"] = D.CategoricalDistribution(OPS)
    if "expansion" in arch:
        dists["expansion"] = D.IntDistribution(1, 6)
    dists["act"] = D.CategoricalDistribution(ACTS)
    dists["norm"] = D.CategoricalDistribution(NORMS)
    dists["dropout"] = D.CategoricalDistribution(DROPOUTS)
    dists["lr"] = D.IntDistribution(0, 19)
    return dists


def time_optuna(history: list[tuple[Architecture, float]], queries: int, seed: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        study.add_trials(
            [optuna.trial.create_trial(params=arch.to_dict(), distributions=optuna_distributions(arch.to_dict()), value=score) for arch, score in history]
        )
    trial = study.ask()  # warm-up query, untimed, like the others'
    study.tell(trial, objective(optuna_params(trial)))
    start = time.perf_counter()
    for _ in range(queries):
        trial = study.ask()
        study.tell(trial, objective(optuna_params(trial)))
    return (time.perf_counter() - start) / queries


def time_nasforge(make: Callable[[], object], history: list[tuple[Architecture, float]], queries: int) -> float:
    strategy = make()
    for arch, score in history:
        strategy.tell(Observation(arch, score))
    arch = strategy.ask()  # warm-up query, untimed: includes the one-off count of the space's size
    strategy.tell(Observation(arch, objective(arch)))
    start = time.perf_counter()
    for _ in range(queries):
        arch = strategy.ask()
        strategy.tell(Observation(arch, objective(arch)))
    return (time.perf_counter() - start) / queries


def best_optuna(trials: int, seed: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    best = -np.inf
    for _ in range(trials):
        trial = study.ask()
        value = objective(optuna_params(trial))
        study.tell(trial, value)
        best = max(best, value)
    return best


def best_nasforge(strategy, trials: int) -> float:
    best = -np.inf
    for _ in range(trials):
        arch = strategy.ask()
        value = objective(arch)
        strategy.tell(Observation(arch, value))
        best = max(best, value)
    return best


def thread_report() -> str:
    try:
        from threadpoolctl import threadpool_info

        pools = ", ".join(f"{p['internal_api']}={p['num_threads']}" for p in threadpool_info()) or "no BLAS/OpenMP pools loaded"
    except ImportError:
        pools = "threadpoolctl not installed"
    return f"python single-threaded; numpy pools: {pools}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=1000, help="trials told before timing (default 1000)")
    parser.add_argument("--queries", type=int, default=50, help="timed ask+tell rounds per repeat (default 50)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats; the median is reported (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quality-trials", type=int, default=200, help="trials of the from-scratch quality check (0 skips it)")
    parser.add_argument("--quality-seeds", type=int, default=3, help="seeds of the quality check (default 3)")
    args = parser.parse_args()

    import optuna

    space = make_space()
    rng = np.random.default_rng([args.seed, 2024])  # not the strategies' seeds: their random draws must not replay the history
    history = []
    for _ in range(args.history):
        arch = space.sample(rng)
        history.append((arch, objective(arch.to_dict())))

    contenders: dict[str, Callable[[int], float]] = {
        f"optuna {optuna.__version__} TPESampler": lambda r: time_optuna(history, args.queries, args.seed + r),
        "nasforge tpe": lambda r: time_nasforge(lambda: TPE(space, seed=args.seed + r), history, args.queries),
        "nasforge evolution": lambda r: time_nasforge(lambda: RegularizedEvolution(space, seed=args.seed + r), history, args.queries),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(args.repeats):  # interleaved, so drifting machine load hits every contender alike
        for name, fn in contenders.items():
            times[name].append(fn(r))

    threads = thread_report()
    print(f"space: {len(space.choices)} choices, {space.size():,} architectures; history {args.history} trials; "
          f"{args.queries} timed ask+tell per repeat, median of {args.repeats} repeats")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; python {platform.python_version()}, numpy {np.__version__}")
    print(f"threads: 1 ({threads})")
    baseline = statistics.median(times[next(iter(contenders))])
    print(f"{'strategy':<32} {'ms/query':>10} {'vs optuna':>10}  threads")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:<32} {median * 1e3:>10.3f} {median / baseline:>9.3f}x  1")

    if args.quality_trials > 0:
        # Speed means little if the suggestions are worse: the best score found from scratch, same objective.
        from nasforge.strategies import RandomSearch

        seeds = range(args.seed, args.seed + args.quality_seeds)
        optimum = 4 * np.log2(128) / 4 + 0.8 + 0.25 + 0.3  # depth 4 at width 128, sep3 with expansion 4, silu, batch, dropout 0.2, lr 12
        print(f"\nbest score after {args.quality_trials} trials from scratch, mean of {args.quality_seeds} seeds (optimum {optimum:.3f}; threads: 1)")
        rows = {
            f"optuna {optuna.__version__} TPESampler": [best_optuna(args.quality_trials, s) for s in seeds],
            "nasforge tpe": [best_nasforge(TPE(space, seed=s), args.quality_trials) for s in seeds],
            "nasforge evolution": [best_nasforge(RegularizedEvolution(space, seed=s), args.quality_trials) for s in seeds],
            "nasforge random": [best_nasforge(RandomSearch(space, seed=s), args.quality_trials) for s in seeds],
        }
        for name, values in rows.items():
            print(f"{name:<32} {np.mean(values):>10.3f}")


if __name__ == "__main__":
    main()
