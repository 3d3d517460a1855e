"""A conformance suite for search strategies: the same checks for every strategy, built-in or plugin.

Each check is a plain function taking a *strategy factory* and raising :class:`AssertionError`
with an explanation when the strategy breaks the contract. A factory is one of:

* a registered strategy name (looked up with :func:`~nasforge.core.plugins.get_plugin_manager`);
* a :class:`~nasforge.core.strategy.SearchStrategy` subclass;
* any callable ``factory(space, seed=..., **options)`` returning a strategy.

Use them from pytest, e.g. in a plugin's own tests::

    import pytest
    from nasforge.testing.strategies import STRATEGY_CHECKS, run_check

    @pytest.mark.parametrize("check", sorted(STRATEGY_CHECKS))
    def test_my_strategy_conforms(check):
        run_check(check, MyStrategy)   # calls pytest.skip when MyStrategy opts out of the check

The checks:

``valid_suggestions``
    In a space with conditional choices every suggestion is a valid
    :class:`~nasforge.core.records.Architecture` of the space (exactly its active choices).
``determinism``
    The same seed and the same observations give the same suggestions; other seeds give a
    different sequence for at least one of three seeds (opt out with ``seed_variation``).
``no_duplicates``
    In a space of 24 architectures, the first 24 asks return 24 distinct architectures and the
    25th returns ``None`` (opt out of the last part with ``exhaustion``); both when each ask is
    told at once and when asks are answered in batches, in reverse order. For a strategy that
    proposes fidelities, "distinct" means distinct (architecture, fidelity) pairs and the
    exhaustion part is not checked.
``outstanding_asks``
    Eight asks before any tell give eight distinct valid architectures, and the strategy goes
    on after they are told in reverse order.
``progress``
    On a structured synthetic objective (a sum of per-choice value scores, smooth along ordinal
    choices), the best score after :data:`PROGRESS_TRIALS` trials, averaged over
    :data:`PROGRESS_SEEDS`, is at least that of uniform random search without repeats.
``failed_trials``
    Failed and infeasible trials (``score=None``) raise nothing and are not treated as good.
    First the first three trials fail (nothing has succeeded yet) and the strategy must go on;
    then, in a fresh run, every architecture whose last choice is ``"broken"`` fails while every
    success scores below zero, and in the second half of that run at most half the suggestions
    may be broken (random search proposes a third; a strategy that read ``None`` as 0 would
    chase them).
``checkpoint``
    ``state_dict()`` survives a JSON round trip; loading it into a fresh instance mid-run (with
    two asks outstanding) gives the same next ten suggestions as the original.

A strategy opts out of a check by setting a class attribute ``conformance_skip_<check>`` to the
reason, e.g. ``conformance_skip_progress = "baseline; does not learn"``, and may give lighter
options for the suite in a class attribute ``conformance_options`` (a dict).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from nasforge.core.records import Architecture, Observation, TrialState
from nasforge.core.space import SearchSpace
from nasforge.core.strategy import SearchStrategy

StrategyFactory = Any  # str | type[SearchStrategy] | Callable[..., SearchStrategy]

#: Trials per run and seeds of the progress check.
PROGRESS_TRIALS = 100
PROGRESS_SEEDS = (0, 1, 2, 3, 4)


# -- spaces and objectives --------------------------------------------------------------------------
def conditional_space() -> SearchSpace:
    """A space with integer, categorical, ordered and conditional choices (1,404 architectures)."""
    return SearchSpace.from_config(
        [
            {"name": "depth", "type": "int", "low": 1, "high": 3},
            {"name": "width", "type": "categorical", "values": [16, 32, 64], "repeat": "depth"},
            {"name": "op", "values": ["conv", "pool", "skip"]},
            {"name": "kernel", "type": "int", "low": 1, "high": 7, "step": 2, "when": {"op": "conv"}},
            {"name": "dropout", "values": [0.0, 0.1, 0.2], "ordered": True},
            {"name": "residual", "values": [True, False]},
        ],
        name="conformance",
    )


def small_space() -> SearchSpace:
    """A conditional space of exactly 24 architectures, for the no-duplicates check."""
    return SearchSpace.from_config(
        [
            {"name": "block", "values": ["plain", "fancy"]},
            {"name": "expansion", "type": "int", "low": 1, "high": 5, "when": {"block": "fancy"}},
            {"name": "act", "values": ["relu", "gelu", "silu", "tanh"]},
        ],
        name="conformance-small",
    )


def progress_space() -> SearchSpace:
    """A larger conditional space for the progress check (about 7.2 million architectures)."""
    return SearchSpace.from_config(
        [
            {"name": "depth", "type": "int", "low": 1, "high": 4},
            {"name": "width", "values": [8, 16, 24, 32, 48, 64], "repeat": "depth"},
            {"name": "op", "values": ["conv", "sep", "pool", "skip", "attn"]},
            {"name": "kernel", "type": "int", "low": 1, "high": 9, "when": {"op": ["conv", "sep"]}},
            {"name": "norm", "values": ["batch", "layer", "group", "none"]},
            {"name": "lr", "type": "int", "low": 0, "high": 10},
            {"name": "act", "values": ["relu", "gelu", "silu", "elu", "tanh"]},
        ],
        name="conformance-progress",
    )


def failure_space() -> SearchSpace:
    """:func:`conditional_space` plus a last choice ``mode`` whose value ``"broken"`` always fails."""
    base = conditional_space().to_config()["choices"]
    return SearchSpace.from_config([*base, {"name": "mode", "values": ["a", "b", "broken"]}], name="conformance-failure")


class SyntheticObjective:
    """A structured, deterministic objective: a sum of per-choice value scores.

    Categorical values get independent normal scores; ordinal choices get a smooth bump
    ``-(position - peak)^2`` (scaled) around a random peak, so neighbouring values score alike.
    Inactive choices contribute nothing. A second objective (:meth:`cost`) is the negated
    number of active choices, for multi-objective strategies.
    """

    def __init__(self, space: SearchSpace, seed: int = 2024) -> None:
        rng = np.random.default_rng(seed)
        self.space = space
        self.table: dict[str, dict[Any, float]] = {}
        for choice in space.choices:
            domain = choice.domain
            if choice.ordinal and len(domain) > 2:
                peak = rng.uniform(0, len(domain) - 1)
                width = (len(domain) - 1) / 2
                scores = [1.5 - 3.0 * ((i - peak) / width) ** 2 for i in range(len(domain))]
            else:
                scores = rng.normal(0.0, 1.0, size=len(domain)).tolist()
            self.table[choice.name] = {_key(v): float(s) for v, s in zip(domain, scores)}

    def __call__(self, arch: Mapping[str, Any]) -> float:
        return float(sum(self.table[name][_key(value)] for name, value in arch.items()))

    def cost(self, arch: Mapping[str, Any]) -> float:
        return -float(len(arch))

    def best(self) -> float:
        """The optimum, by enumeration (only for small spaces)."""
        return max(self(a) for a in self.space.enumerate())


def _key(value: Any) -> tuple[bool, Any]:
    return (isinstance(value, bool), value)


# -- building and driving strategies ------------------------------------------------------------------
def strategy_class(factory: StrategyFactory) -> type | None:
    """The strategy class behind ``factory`` (``None`` for a plain callable)."""
    if isinstance(factory, str):
        from nasforge.core.plugins import get_plugin_manager

        return get_plugin_manager().get("strategy", factory)
    if isinstance(factory, type):
        return factory
    return None


def skip_reason(factory: StrategyFactory, check: str) -> str | None:
    """The reason the strategy gives for opting out of ``check`` (attribute ``conformance_skip_<check>``), if any."""
    cls = strategy_class(factory)
    reason = getattr(cls, f"conformance_skip_{check}", None) if cls is not None else None
    return str(reason) if reason else None


def make_strategy(factory: StrategyFactory, space: SearchSpace, seed: int = 0, options: Mapping[str, Any] | None = None) -> SearchStrategy:
    """Build a strategy from a name, a class or a callable, with ``conformance_options`` then ``options``."""
    cls = strategy_class(factory)
    build: Callable[..., SearchStrategy] = cls if cls is not None else factory
    merged = {**dict(getattr(cls, "conformance_options", None) or {}), **dict(options or {})}
    strategy = build(space, seed=seed, **merged)
    assert isinstance(strategy, SearchStrategy), f"the factory returned {type(strategy).__name__}, not a SearchStrategy"
    return strategy


def _name(strategy: SearchStrategy) -> str:
    return type(strategy).__name__


def observe(strategy: SearchStrategy, arch: Architecture, fidelity: float | None, objective: SyntheticObjective, number: int) -> Observation:
    """The observation the suite tells for ``arch`` (a complete trial scored by ``objective``)."""
    score = objective(arch)
    return Observation(
        architecture=arch,
        score=score,
        objectives=(score, objective.cost(arch)),
        fidelity=fidelity,
        trial_number=number,
        metrics={"score": score},
    )


def ask(strategy: SearchStrategy) -> tuple[Architecture, float | None] | None:
    """One ask through :meth:`~nasforge.core.strategy.SearchStrategy.ask_with_fidelity`, checked for shape."""
    got = strategy.ask_with_fidelity()
    if got is None:
        return None
    arch, fidelity = got
    assert isinstance(arch, Architecture), f"{_name(strategy)} proposed {arch!r}, not an Architecture"
    if fidelity is not None:
        ok = isinstance(fidelity, float) and math.isfinite(fidelity) and fidelity > 0
        assert ok, f"{_name(strategy)} asked for fidelity {fidelity!r}; it must be a positive number"
    return arch, fidelity


def run(strategy: SearchStrategy, objective: SyntheticObjective, n: int, start: int = 0) -> list[tuple[dict[str, Any], float | None]]:
    """Ask and tell ``n`` times (stopping early at ``None``); return the (architecture dict, fidelity) sequence."""
    out: list[tuple[dict[str, Any], float | None]] = []
    for i in range(n):
        got = ask(strategy)
        if got is None:
            break
        arch, fidelity = got
        strategy.tell(observe(strategy, arch, fidelity, objective, start + i))
        out.append((arch.to_dict(), fidelity))
    return out


# -- the checks -----------------------------------------------------------------------------------------------
def check_valid_suggestions(factory: StrategyFactory, options: Mapping[str, Any] | None = None, n: int = 40) -> None:
    """Every suggestion in a conditional space is a valid architecture holding exactly its active choices."""
    space = conditional_space()
    objective = SyntheticObjective(space)
    strategy = make_strategy(factory, space, seed=0, options=options)
    for i in range(n):
        got = ask(strategy)
        assert got is not None, f"{_name(strategy)} returned None after {i} asks, but the space has {space.size()} architectures"
        arch, fidelity = got
        assert space.validate(arch) == arch, f"{_name(strategy)} proposed {arch}, which is not a valid architecture of the space"
        strategy.tell(observe(strategy, arch, fidelity, objective, i))


def check_determinism(factory: StrategyFactory, options: Mapping[str, Any] | None = None, n: int = 30) -> None:
    """Same seed and observations give the same suggestions; a different seed (one of three) gives others."""
    space = conditional_space()
    objective = SyntheticObjective(space)
    first = run(make_strategy(factory, space, seed=7, options=options), objective, n)
    second = run(make_strategy(factory, space, seed=7, options=options), objective, n)
    for i, (a, b) in enumerate(zip(first, second)):
        assert a == b, f"two strategies with seed 7 diverged at ask {i}: {a} vs {b}; draw every random number from self.rng"
    assert len(first) == len(second), "two strategies with seed 7 stopped after different numbers of asks"
    if skip_reason(factory, "seed_variation"):
        return
    others = [run(make_strategy(factory, space, seed=s, options=options), objective, n) for s in (8, 9, 10)]
    assert any(o != first for o in others), "seeds 7, 8, 9 and 10 all gave the same suggestions; the seed must drive the strategy's randomness"


def check_no_duplicates(factory: StrategyFactory, options: Mapping[str, Any] | None = None) -> None:
    """In a 24-architecture space the first 24 asks are distinct and the 25th is ``None`` (told at once, or in batches)."""
    space = small_space()
    size = space.size()
    objective = SyntheticObjective(space)
    for batch in (1, 6):
        strategy = make_strategy(factory, space, seed=3, options=options)
        seen: list[tuple[Architecture, float | None]] = []
        uses_fidelity = False
        while len(seen) < size:
            pending = []
            for _ in range(min(batch, size - len(seen))):
                got = ask(strategy)
                assert got is not None, f"{_name(strategy)} returned None after {len(seen)} asks (batches of {batch}), but the space has {size} architectures"
                assert got not in seen, f"{_name(strategy)} proposed {got[0]} (fidelity {got[1]}) twice within {size} asks (batches of {batch})"
                uses_fidelity = uses_fidelity or got[1] is not None
                seen.append(got)
                pending.append(got)
            for arch, fidelity in reversed(pending):
                strategy.tell(observe(strategy, arch, fidelity, objective, len(seen)))
        if uses_fidelity or skip_reason(factory, "exhaustion"):
            continue
        extra = ask(strategy)
        assert extra is None, f"{_name(strategy)} proposed {extra} after all {size} architectures of the space were evaluated; it should return None"


def check_outstanding_asks(factory: StrategyFactory, options: Mapping[str, Any] | None = None, n: int = 8) -> None:
    """``n`` asks before any tell are distinct and valid; telling them in reverse order and going on works."""
    space = conditional_space()
    objective = SyntheticObjective(space)
    strategy = make_strategy(factory, space, seed=5, options=options)
    pending = []
    for i in range(n):
        got = ask(strategy)
        assert got is not None, f"{_name(strategy)} returned None at outstanding ask {i}"
        assert got not in pending, f"{_name(strategy)} proposed {got[0]} twice while both were still running"
        assert space.validate(got[0]) == got[0]
        pending.append(got)
    for i, (arch, fidelity) in enumerate(reversed(pending)):
        strategy.tell(observe(strategy, arch, fidelity, objective, i))
    more = run(strategy, objective, n, start=n)
    assert len(more) == n, f"{_name(strategy)} stopped after {len(more)} further asks"


def random_search_best(space: SearchSpace, objective: SyntheticObjective, seed: int, n: int) -> float:
    """Best objective value of ``n`` distinct uniformly sampled architectures (the baseline to beat)."""
    rng = np.random.default_rng(seed)
    seen: set[Architecture] = set()
    best = -math.inf
    while len(seen) < n:
        arch = space.sample(rng)
        if arch not in seen:
            seen.add(arch)
            best = max(best, objective(arch))
    return best


def progress_report(
    factory: StrategyFactory,
    options: Mapping[str, Any] | None = None,
    n_trials: int = PROGRESS_TRIALS,
    seeds: tuple[int, ...] = PROGRESS_SEEDS,
) -> tuple[float, float]:
    """Mean best score after ``n_trials`` over ``seeds``: (strategy, uniform random search)."""
    space = progress_space()
    objective = SyntheticObjective(space)
    strategy_bests, random_bests = [], []
    for seed in seeds:
        strategy = make_strategy(factory, space, seed=seed, options=options)
        history = run(strategy, objective, n_trials)
        assert history, f"{_name(strategy)} proposed nothing"
        strategy_bests.append(max(objective(arch) for arch, _ in history))
        random_bests.append(random_search_best(space, objective, seed + 1000, n_trials))
    return float(np.mean(strategy_bests)), float(np.mean(random_bests))


def check_progress(factory: StrategyFactory, options: Mapping[str, Any] | None = None) -> None:
    """The mean best score after :data:`PROGRESS_TRIALS` trials beats (or ties) uniform random search."""
    mine, baseline = progress_report(factory, options)
    assert mine >= baseline, (
        f"after {PROGRESS_TRIALS} trials the mean best score over {len(PROGRESS_SEEDS)} seeds is {mine:.3f}, "
        f"below random search's {baseline:.3f}; a strategy that does not learn should set conformance_skip_progress"
    )


def _failed(arch: Architecture, fidelity: float | None, number: int) -> Observation:
    """A failed trial (even ``number``) or a complete but infeasible one (odd), both with ``score=None``."""
    failed_state = number % 2 == 0
    return Observation(
        architecture=arch,
        score=None,
        feasible=failed_state,
        state=TrialState.FAILED if failed_state else TrialState.COMPLETE,
        fidelity=fidelity,
        trial_number=number,
    )


def check_failed_trials(factory: StrategyFactory, options: Mapping[str, Any] | None = None, n: int = 60) -> None:
    """Failed/infeasible trials raise nothing and are not treated as good (broken proposals do not take over)."""
    space = failure_space()
    objective = SyntheticObjective(space)
    # Failures before any success: the strategy must go on proposing valid architectures.
    strategy = make_strategy(factory, space, seed=17, options=options)
    for i in range(13):
        got = ask(strategy)
        assert got is not None, f"{_name(strategy)} returned None at ask {i}"
        assert space.validate(got[0]) == got[0]
        strategy.tell(_failed(got[0], got[1], i) if i < 3 else observe(strategy, got[0], got[1], objective, i))
    # Every architecture whose last choice is "broken" fails. Every successful score is negative,
    # so a strategy reading None as 0 (or as anything good) would chase the failures.
    strategy = make_strategy(factory, space, seed=11, options=options)
    broken: list[bool] = []
    for i in range(n):
        got = ask(strategy)
        assert got is not None, f"{_name(strategy)} returned None at ask {i}"
        arch, fidelity = got
        broken.append(arch["mode"] == "broken")
        if broken[-1]:
            strategy.tell(_failed(arch, fidelity, i))
        else:
            score = -1.0 - abs(objective(arch))
            strategy.tell(Observation(architecture=arch, score=score, objectives=(score, objective.cost(arch)), fidelity=fidelity, trial_number=i))
    late = broken[n // 2 :]
    rate = sum(late) / len(late)
    assert rate <= 0.5, (
        f"{_name(strategy)} proposed a failing architecture in {rate:.0%} of its last {len(late)} asks; "
        "failed trials (score None) must count as worse than any success"
    )


def check_checkpoint(factory: StrategyFactory, options: Mapping[str, Any] | None = None, n_before: int = 15, n_after: int = 10) -> None:
    """state_dict -> JSON -> load_state_dict into a fresh instance mid-run gives the same next suggestions."""
    space = conditional_space()
    objective = SyntheticObjective(space)
    original = make_strategy(factory, space, seed=13, options=options)
    run(original, objective, n_before)
    outstanding = [ask(original), ask(original)]
    assert all(o is not None for o in outstanding), f"{_name(original)} returned None mid-run"
    try:
        text = json.dumps(original.state_dict())
    except TypeError as exc:
        raise AssertionError(f"{_name(original)}.state_dict() is not JSON-serialisable: {exc}") from None
    restored = make_strategy(factory, space, seed=13, options=options)
    restored.load_state_dict(json.loads(text))
    sequences = []
    for strategy in (original, restored):
        for i, (arch, fidelity) in enumerate(outstanding):  # type: ignore[misc]
            strategy.tell(observe(strategy, arch, fidelity, objective, n_before + i))
        sequences.append(run(strategy, objective, n_after, start=n_before + 2))
    assert sequences[0] == sequences[1], (
        f"{_name(original)} restored from its state_dict proposed {sequences[1]} where the original proposed {sequences[0]}"
    )


#: Every check by name, for pytest parametrisation.
STRATEGY_CHECKS: dict[str, Callable[..., None]] = {
    "valid_suggestions": check_valid_suggestions,
    "determinism": check_determinism,
    "no_duplicates": check_no_duplicates,
    "outstanding_asks": check_outstanding_asks,
    "progress": check_progress,
    "failed_trials": check_failed_trials,
    "checkpoint": check_checkpoint,
}


def run_check(check: str, factory: StrategyFactory, options: Mapping[str, Any] | None = None) -> None:
    """Run one named check; calls ``pytest.skip`` with the strategy's reason when it opts out."""
    if check not in STRATEGY_CHECKS:
        raise KeyError(f"unknown strategy check {check!r}; checks: {sorted(STRATEGY_CHECKS)}")
    reason = skip_reason(factory, check)
    if reason:
        import pytest

        pytest.skip(f"{check}: {reason}")
    STRATEGY_CHECKS[check](factory, options)


def run_all(factory: StrategyFactory, options: Mapping[str, Any] | None = None) -> None:
    """Run every check the strategy does not opt out of (outside pytest)."""
    for check, fn in STRATEGY_CHECKS.items():
        if not skip_reason(factory, check):
            fn(factory, options)
