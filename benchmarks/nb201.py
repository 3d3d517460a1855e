"""NAS-Bench-201 strategy benchmark: sample efficiency and suggestion cost of every registered strategy.

For each strategy registered with nasforge (built-in and plugin) and each seed, the strategy is
driven directly through ask/tell against an in-memory copy of the NAS-Bench-201 CIFAR-10 table,
until it has made ``max(budgets)`` queries (a query is one distinct architecture looked up at one
fidelity). After 50/100/150/300 queries it records the CIFAR-10 *test* accuracy (200 epochs) of the
architecture that is best by *validation* accuracy among those queried (at the highest fidelity
reached, as the experiment loop reports its best trial). The table printed next to each strategy
gives mean ± std over seeds, and the strategy's own time per ask+tell (lookup excluded).

The full experiment loop (store, trial records, hooks) is deliberately not used: it would
dominate the run time, and the benchmark must finish in under 10 minutes on 2 cores. Strategies
that cannot be built without options are skipped, with the reason printed.

Usage::

    python benchmarks/nb201.py                       # every strategy, 100 seeds, 2 processes
    python benchmarks/nb201.py --seeds 10 --strategies bananas,evolution

Anchors (issue 5, measured on this exact table, CIFAR-10, 100 seeds) are printed alongside.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import platform
import sys
import time
from pathlib import Path

# One BLAS thread, in this process and the workers it forks: set before numpy loads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TABLE = Path(os.environ.get("NASFORGE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")) / "nb201" / "nb201_cifar10.csv.gz"

#: Published anchors on this table (issue 5): mean test accuracy at 50/100/150/300 queries.
ANCHORS = {
    "Optuna 5.0 TPESampler": (94.10, 94.28, 94.35, 94.37),
    "textbook REA (pop 10, sample 3)": (93.80, 94.07, 94.18, 94.31),
    "random search": (93.66, 93.80, 93.86, 93.99),
}
OPTIMUM = 94.37
OPTUNA_TPE_MS = 6.2  # per ask+tell at 1,000 trials of history
#: The row of Optuna's TPESampler driven directly (no nasforge in between), measured in the same run.
OPTUNA_DIRECT = "optuna-direct"

_TABLE = None  # per worker: (valid200, test200, valid12, test12) arrays indexed by architecture_index; valid as fractions, test in %


def _init_worker(table_path: str) -> None:
    global _TABLE
    from nasforge_nasbench201 import accuracy_fraction, load_table

    t = load_table(table_path)
    from nasforge.core.plugins import get_plugin_manager

    get_plugin_manager()  # load every plugin now, so that the pilot runs time the search, not the imports
    # The search is told what the nasbench201 evaluator reports: validation accuracy as a fraction
    # (nasforge's convention). Test accuracy is only printed, in the published percentages.
    valid, test = (np.asarray(t.columns[c]) for c in ("cifar10_valid_acc", "cifar10_test_acc"))
    valid12, test12 = (np.asarray(t.columns[c]) for c in ("cifar10_valid_acc_12ep", "cifar10_test_acc_12ep"))
    _TABLE = (accuracy_fraction(valid), test, accuracy_fraction(valid12), test12)


def options_for(cls: type) -> dict:
    """Options the benchmark passes: multi-fidelity strategies get the table's two fidelities (12 and 200 epochs)."""
    return {"fidelities": [12, 200]} if getattr(cls, "multi_fidelity", False) else {}


#: Reference rows measured in the same run as the strategies: a registered strategy at other
#: settings, or a library driven directly. Label -> (registered strategy or None, its options).
REFERENCE_ROWS: dict[str, tuple[str | None, dict]] = {
    # Real et al.'s settings on NAS-Bench-201 (the textbook REA anchor), so evolution is compared at the same settings.
    "evolution-pop10-s3": ("evolution", {"population_size": 10, "sample_size": 3}),
    # Optuna's TPESampler with its defaults, asked and told directly as an Optuna user would.
    OPTUNA_DIRECT: (None, {}),
}


def make_strategy(name: str, space, seed: int):
    """The strategy of a table row: a registered name (default options) or a :data:`REFERENCE_ROWS` label."""
    from nasforge.core.plugins import get_plugin_manager

    registered, options = REFERENCE_ROWS.get(name, (name, {}))
    cls = get_plugin_manager().get("strategy", registered)
    return cls(space, seed=seed, **{**options_for(cls), **options})


class OptunaDirect:
    """Optuna's default ``TPESampler`` asked and told directly, with the duplicate handling Optuna users write.

    A re-proposed architecture is told the value it already has and the study is asked again,
    until it proposes an unseen one: one :meth:`ask` here is as many Optuna asks as that takes.
    """

    def __init__(self, seed: int) -> None:
        import optuna

        from nasforge_nasbench201 import EDGE_NAMES, OPERATIONS

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.names, self.operations = EDGE_NAMES, OPERATIONS
        self.study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        self.known: dict[tuple, float] = {}
        self._trial = None

    def add(self, arch: dict, value: float) -> None:
        """A history trial, added without asking (for the cost measurement)."""
        import optuna

        dist = optuna.distributions.CategoricalDistribution(self.operations)
        self.study.add_trial(optuna.trial.create_trial(params=dict(arch), distributions={n: dist for n in self.names}, value=value))
        self.known[tuple(arch[n] for n in self.names)] = value

    def ask(self) -> dict:
        while True:
            trial = self.study.ask()
            key = tuple(trial.suggest_categorical(n, self.operations) for n in self.names)
            if key not in self.known:
                self._trial = trial
                return dict(zip(self.names, key, strict=True))
            self.study.tell(trial, self.known[key])

    def tell(self, arch: dict, value: float) -> None:
        self.study.tell(self._trial, value)
        self.known[tuple(arch[n] for n in self.names)] = value


def run_one(args: tuple[str, int, tuple[int, ...], float]) -> tuple[str, int, list[float], float, float, str | None]:
    """Run one strategy with one seed.

    Returns (name, seed, test accuracy at each budget, CPU seconds per ask+tell, CPU seconds of the
    whole run, error); a run stops, as too slow, once it has taken ``run_seconds`` of wall time. An exception is returned as text (some exception classes do not survive pickling).
    """
    name, seed, budgets, run_seconds = args
    started, cpu = time.perf_counter(), time.process_time()
    try:
        results, per_ask, error = _search(name, seed, budgets, started + run_seconds)
    except Exception as exc:  # reported in the table's notes, never hidden
        return name, seed, [math.nan] * len(budgets), math.nan, time.process_time() - cpu, f"{type(exc).__name__}: {exc}"
    return name, seed, results, per_ask, time.process_time() - cpu, error


def _search(name: str, seed: int, budgets: tuple[int, ...], deadline: float) -> tuple[list[float], float, str | None]:
    from nasforge.core.records import Observation
    from nasforge_nasbench201 import architecture_index, nasbench201_space
    from nasforge_nasbench201.evaluator import epochs_for_fidelity

    started_at = time.perf_counter()
    valid200, test200, valid12, test12 = _TABLE
    if name == OPTUNA_DIRECT:
        return _search_optuna_direct(seed, budgets, deadline)
    strategy = make_strategy(name, nasbench201_space(), seed)
    queried: set[tuple[int, int]] = set()
    best_key: tuple[int, float] | None = None  # (epochs, validation accuracy) of the incumbent
    best_test = math.nan
    results: list[float] = []
    spent = 0.0
    asks = 0
    max_asks = 20 * max(budgets)  # a strategy that keeps re-proposing known archs must still end
    pending = sorted(budgets)
    while pending and asks < max_asks:
        if time.perf_counter() > deadline:
            return [math.nan] * len(budgets), spent / max(asks, 1), f"too slow for this benchmark: {len(queried)} queries in its {deadline - started_at:.0f} s per run"
        t0 = time.process_time()
        suggestion = strategy.ask_with_fidelity()
        spent += time.process_time() - t0
        asks += 1
        if suggestion is None:
            break
        arch, fidelity = suggestion
        i = architecture_index(arch)
        epochs = epochs_for_fidelity(fidelity)
        valid = float(valid200[i] if epochs == 200 else valid12[i])
        obs = Observation(architecture=arch, score=valid, objectives=(valid,), fidelity=fidelity, metrics={"accuracy": valid})
        t0 = time.process_time()
        strategy.tell(obs)
        spent += time.process_time() - t0
        if (i, epochs) in queried:
            continue
        queried.add((i, epochs))
        key = (epochs, valid)
        if best_key is None or key > best_key:
            best_key, best_test = key, float(test200[i])
        while pending and len(queried) >= pending[0]:
            results.append(best_test)
            pending.pop(0)
    error = None
    if pending:
        error = f"stopped after {len(queried)} queries ({'space exhausted' if asks < max_asks else 'too many repeated proposals'})"
        results.extend([best_test] * len(pending))
    return results, spent / max(asks, 1), error


def _search_optuna_direct(seed: int, budgets: tuple[int, ...], deadline: float) -> tuple[list[float], float, str | None]:
    """:func:`_search` for Optuna's TPESampler driven directly (one fidelity, 200 epochs)."""
    from nasforge_nasbench201 import architecture_index

    valid200, test200 = _TABLE[0], _TABLE[1]
    optuna_run = OptunaDirect(seed)
    best, best_test, results, spent, started_at = -math.inf, math.nan, [], 0.0, time.perf_counter()
    for queries in range(1, max(budgets) + 1):
        if time.perf_counter() > deadline:
            return [math.nan] * len(budgets), spent / queries, f"too slow for this benchmark: {queries - 1} queries in its {deadline - started_at:.0f} s per run"
        t0 = time.process_time()
        arch = optuna_run.ask()
        spent += time.process_time() - t0
        i = architecture_index(arch)
        valid = float(valid200[i])
        t0 = time.process_time()
        optuna_run.tell(arch, valid)
        spent += time.process_time() - t0
        if valid > best:
            best, best_test = valid, float(test200[i])
        if queries in budgets:
            results.append(best_test)
    return results, spent / max(budgets), None


def cost_at_history(name: str, history: int, queries: int, seed: int = 0) -> float:
    """CPU ms per ask+tell of ``name`` after ``history`` random trials were told, over ``queries`` rounds.

    One untimed warm-up round first (a model-based strategy trains on the history there). The
    timed window is long enough to include the periodic retraining a strategy does at that
    history size (``bananas`` retrains once the data grew by 20 %), so the figure is amortised.
    """
    from nasforge.core.records import Observation
    from nasforge_nasbench201 import architecture_from_index, architecture_index, nasbench201_space

    valid200 = _TABLE[0]
    strategy = make_strategy(name, nasbench201_space(), seed)
    rng = np.random.default_rng([seed, 201])
    for i in rng.permutation(len(valid200))[:history].tolist():
        arch = architecture_from_index(i)
        strategy.tell(Observation(architecture=arch, score=float(valid200[i]), objectives=(float(valid200[i]),)))
    spent = 0.0
    for k in range(queries + 1):
        t0 = time.process_time()
        got = strategy.ask_with_fidelity()
        if got is None:
            break
        i = architecture_index(got[0])
        strategy.tell(Observation(architecture=got[0], score=float(valid200[i]), objectives=(float(valid200[i]),), fidelity=got[1]))
        if k:
            spent += time.process_time() - t0
    return 1000 * spent / queries


def optuna_cost_at_history(history: int, queries: int, seed: int = 0) -> float | None:
    """The same measurement for Optuna's default ``TPESampler`` driven directly (:class:`OptunaDirect`), or None without Optuna."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        return None
    from nasforge_nasbench201 import architecture_from_index, architecture_index

    valid200 = _TABLE[0]
    optuna_run = OptunaDirect(seed)
    rng = np.random.default_rng([seed, 201])
    for i in rng.permutation(len(valid200))[:history].tolist():
        optuna_run.add(architecture_from_index(i), float(valid200[i]))
    spent = 0.0
    for k in range(queries + 1):
        t0 = time.process_time()
        arch = optuna_run.ask()
        optuna_run.tell(arch, float(valid200[architecture_index(arch)]))
        if k:
            spent += time.process_time() - t0
    return 1000 * spent / queries


def buildable(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """The strategies that can be constructed with no options, and why the others cannot."""
    from nasforge_nasbench201 import nasbench201_space

    ok, skipped = [], {}
    for name in names:
        try:
            if name == OPTUNA_DIRECT:
                OptunaDirect(0)
            else:
                make_strategy(name, nasbench201_space(), 0)
        except Exception as exc:  # report, never hide: the reason is printed
            skipped[name] = f"{type(exc).__name__}: {exc}"
            continue
        ok.append(name)
    return ok, skipped


def distribution_of(name: str, registered: dict) -> str:
    """The distribution column of a row."""
    if name == OPTUNA_DIRECT:
        import optuna

        return f"optuna {optuna.__version__} (no nasforge)"
    return registered[REFERENCE_ROWS.get(name, (name, {}))[0]].plugin.distribution


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", default=str(DEFAULT_TABLE), help="path to nb201_cifar10.csv.gz")
    parser.add_argument("--seeds", type=int, default=100, help="seeds per strategy (default 100)")
    parser.add_argument(
        "--strategies",
        default="",
        help=f"comma-separated strategy names or reference rows {sorted(REFERENCE_ROWS)} (default: every registered strategy and every reference row)",
    )
    parser.add_argument("--budgets", default="50,100,150,300", help="query budgets to report (default 50,100,150,300)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--run-seconds", type=float, default=30.0, help="wall-time limit of one (strategy, seed) run; slower strategies are reported as too slow (default 30)")
    parser.add_argument("--strategy-seconds", type=float, default=60.0, help="CPU-time budget per strategy (projected from its seed-0 run); slower ones run fewer seeds (default 60)")
    parser.add_argument("--cost-history", type=int, default=1000, help="also time each strategy after this many told trials, next to Optuna's TPE (0 skips; default 1000)")
    parser.add_argument("--cost-queries", type=int, default=200, help="timed ask+tell rounds of that measurement (default 200)")
    args = parser.parse_args(argv)

    if not Path(args.table).is_file():
        print(f"NAS-Bench-201 table not found at {args.table}; pass --table or set NASFORGE_SHARED_DATA", file=sys.stderr)
        return 2
    budgets = tuple(int(b) for b in args.budgets.split(","))
    from nasforge.core.plugins import get_plugin_manager

    pm = get_plugin_manager()
    registered = pm.components("strategy")
    names = [n.strip() for n in args.strategies.split(",") if n.strip()] or [*registered, *REFERENCE_ROWS]
    unknown = [n for n in names if n not in registered and n not in REFERENCE_ROWS]
    if unknown:
        print(f"unknown strateg{'y' if len(unknown) == 1 else 'ies'} {unknown}; registered: {sorted(registered)}", file=sys.stderr)
        return 2
    names, skipped = buildable(names)

    started = time.perf_counter()
    ctx = mp.get_context("fork" if sys.platform != "win32" else "spawn")
    with ctx.Pool(args.jobs, initializer=_init_worker, initargs=(args.table,)) as pool:
        # A pilot run (seed 0) of every strategy sizes the rest: a strategy whose projected time
        # exceeds --strategy-seconds runs fewer seeds (said in the table) so the whole benchmark
        # stays within its time limit.
        outcomes = pool.map(run_one, [(name, 0, budgets, args.run_seconds) for name in names], chunksize=1)
        seeds_for = {}
        for name, _seed, _results, _per_ask, cpu_s, error in outcomes:
            if error and "stopped after" not in error:
                seeds_for[name] = 1  # it raised: one failure is enough to report
                continue
            # CPU time, not wall time: on a shared machine wall time says more about the neighbours.
            projected = cpu_s * (args.seeds - 1) / args.jobs
            seeds_for[name] = args.seeds if projected <= args.strategy_seconds else max(2, min(args.seeds, int(args.strategy_seconds * args.jobs / max(cpu_s, 1e-9)) + 1))
        tasks = [(name, seed, budgets, args.run_seconds) for name in names for seed in range(1, seeds_for[name])]
        outcomes += pool.map(run_one, tasks, chunksize=1)
    wall = time.perf_counter() - started

    by_name: dict[str, list[tuple[list[float], float, str | None]]] = {n: [] for n in names}
    for name, _seed, results, per_ask, _wall, error in outcomes:
        by_name[name].append((results, per_ask, error))

    head = " | ".join(f"{b} queries" for b in budgets)
    print(f"NAS-Bench-201 CIFAR-10, test accuracy (%) of the best-by-validation architecture, mean ± std over {args.seeds} seeds")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, {args.jobs} worker processes, 1 BLAS thread each, "
        f"{os.cpu_count()} CPUs, wall {wall:.0f} s; times are CPU seconds of the strategy's ask+tell (table lookup excluded)"
    )
    mf = [n for n in names if n in registered and getattr(registered[n].obj, "multi_fidelity", False)]
    if mf:
        print(f"multi-fidelity strategies ({', '.join(mf)}) run with fidelities [12, 200]; every (architecture, epochs) lookup counts as a query")
    print()
    print(f"| strategy | {head} | ms CPU per ask+tell (1 thread) | distribution |")
    print("|---" * (len(budgets) + 3) + "|")
    failed = {}
    for name in names:
        runs = by_name[name]
        crashed = [e for _, _, e in runs if e and "stopped after" not in e]  # raised, or hit --run-seconds
        if crashed:
            failed[name] = crashed[0]
            continue
        arr = np.array([r for r, _, _ in runs])
        # Sample standard deviation over seeds (ddof=1), as the anchors report it.
        cells = " | ".join(f"{arr[:, k].mean():.2f} ± {arr[:, k].std(ddof=1) if len(arr) > 1 else 0.0:.2f}" for k in range(len(budgets)))
        ms = 1000 * float(np.mean([t for _, t, _ in runs]))
        label = name if len(runs) == args.seeds else f"{name} ({len(runs)} seeds)"
        print(f"| {label} | {cells} | {ms:.3f} | {distribution_of(name, registered)} |")
    for label, values in ANCHORS.items():
        anchor = dict(zip((50, 100, 150, 300), values, strict=True))
        cells = " | ".join(f"{anchor[b]:.2f}" if b in anchor else "" for b in budgets)
        cost = f"{OPTUNA_TPE_MS} (at 1,000 trials)" if "Optuna" in label else ""
        print(f"| *anchor: {label}* | {cells} | {cost} | |")
    print(f"| *table optimum* | {' | '.join(f'{OPTIMUM:.2f}' for _ in budgets)} | | |")
    if args.cost_history:
        _init_worker(args.table)
        print()
        print(f"Cost per ask+tell after {args.cost_history} told random trials, {args.cost_queries} timed rounds (CPU ms, 1 thread, this process):")
        print()
        optuna_ms = optuna_cost_at_history(args.cost_history, args.cost_queries)
        print("| strategy | ms CPU per ask+tell | vs Optuna TPE, same machine |")
        print("|---|---|---|")
        for name in names:
            if name == OPTUNA_DIRECT:
                continue  # the reference, printed last
            if name in failed or seeds_for.get(name, 0) < args.seeds:
                print(f"| {name} | not measured ({'failed' if name in failed else 'too slow for this benchmark'}) | |")
                continue
            ms = cost_at_history(name, args.cost_history, args.cost_queries)
            reference = optuna_ms
            if optuna_ms and name.startswith("optuna_"):
                # Optuna's own samplers behind nasforge: interleave, timing Optuna again right after.
                again = optuna_cost_at_history(args.cost_history, args.cost_queries)
                reference = (optuna_ms + again) / 2
            ratio = f"{ms / reference:.3f}x" if reference else "n/a"
            print(f"| {name} | {ms:.3f} | {ratio} |")
        if optuna_ms is not None:
            import optuna

            print(f"| *Optuna {optuna.__version__} TPESampler (default)* | {optuna_ms:.3f} | 1.000x |")
        else:
            print("(Optuna is not installed: no same-machine reference; the issue's anchor is 6.2 ms)")
    errors = {n: e for n in names for _, _, e in by_name[n] if e and n not in failed}
    if errors:
        print("\nnotes:")
        for name, error in errors.items():
            print(f"- {name}: {error}")
    if failed:
        print("\nnot in the table (raised, or slower than --run-seconds per run):")
        for name, error in failed.items():
            print(f"- {name}: {error}")
    if skipped:
        print("\nskipped:")
        for name, why in skipped.items():
            print(f"- {name}: {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
