"""NSGA-II: elitist selection by front and crowding, and the front it finds on a synthetic bi-objective problem."""

from __future__ import annotations

import numpy as np
import pytest

from nasforge.core.errors import ConfigError
from nasforge.core.pareto import pareto_front
from nasforge.core.records import Architecture, Observation
from nasforge.core.space import SearchSpace
from nasforge.strategies.nsga2 import NSGA2


def bi_objective_space() -> SearchSpace:
    """Four ``x_i`` in 0..4 trade one objective for the other; two ``b_j`` only ever hurt unless 'ok'."""
    return SearchSpace.from_config(
        [{"name": f"x{i}", "type": "int", "low": 0, "high": 4} for i in range(4)]
        + [{"name": f"b{j}", "values": ["ok", "p", "q", "r"]} for j in range(2)]
    )


def objectives(arch) -> tuple[float, float]:
    """Both maximised. The Pareto set is every arch with b0 = b1 = 'ok': 17 objective vectors, s = 0..16."""
    s = sum(arch[f"x{i}"] for i in range(4))
    penalty = sum(0.0 if arch[f"b{j}"] == "ok" else 3.0 for j in range(2))
    return float(s) - penalty, float(16 - s) - penalty


def on_true_front(arch) -> bool:
    return arch["b0"] == "ok" and arch["b1"] == "ok"


def run(strategy, n: int) -> list[tuple[Architecture, tuple[float, float]]]:
    out = []
    for i in range(n):
        arch = strategy.ask()
        obj = objectives(arch)
        strategy.tell(Observation(architecture=arch, score=obj[0], objectives=obj, trial_number=i))
        out.append((arch, obj))
    return out


def test_finds_the_whole_front_of_a_synthetic_bi_objective_problem():
    space = bi_objective_space()
    true_front = {(float(s), float(16 - s)) for s in range(17)}
    covered, covered_by_random = [], []
    for seed in range(4):
        history = run(NSGA2(space, seed=seed, population_size=20), 200)
        points = [o for _, o in history]
        found = {points[i] for i in pareto_front(points)}
        assert found <= true_front  # nothing dominated is reported as optimal
        covered.append(len(found))
        late = history[100:]
        # Selection pressure: random search lands on the Pareto set 1 time in 16.
        assert sum(on_true_front(a) for a, _ in late) / len(late) > 0.4
        rng = np.random.default_rng(50 + seed)
        sample = [objectives(space.sample(rng)) for _ in range(200)]
        covered_by_random.append(len({sample[i] for i in pareto_front(sample)} & true_front))
    # Of the 17 front points, NSGA-II covers 13-16 per seed (the ends need all four x at a bound);
    # random search with the same 200 trials covers about 8.
    assert min(covered) >= 12, covered
    assert np.mean(covered) >= np.mean(covered_by_random) + 4, (covered, covered_by_random)


def test_survivors_fill_by_front_then_by_crowding():
    space = bi_objective_space()
    strategy = NSGA2(space, seed=0, population_size=4)
    archs = list(space.enumerate())[:7]
    points = [(0.0, 4.0), (1.0, 3.0), (2.0, 2.0), (4.0, 0.0), (3.0, 1.0), (0.0, 0.0), (1.0, 1.0)]
    # Front 0 holds five points; four survive: the two ends (infinite crowding) and the two of the
    # three middle points with the widest gaps around them.
    strategy._survivors(list(zip(archs, points)))
    kept = {o for _, o in strategy.parents}
    assert len(kept) == 4
    assert {(0.0, 4.0), (4.0, 0.0)} <= kept
    assert (0.0, 0.0) not in kept and (1.0, 1.0) not in kept
    assert strategy._rank == [0, 0, 0, 0]


def test_dominated_points_survive_only_after_the_front():
    space = bi_objective_space()
    strategy = NSGA2(space, seed=0, population_size=3)
    archs = list(space.enumerate())[:4]
    points = [(1.0, 1.0), (2.0, 2.0), (0.0, 0.0), (3.0, 0.0)]
    strategy._survivors(list(zip(archs, points)))
    assert [o for _, o in strategy.parents] == [(2.0, 2.0), (3.0, 0.0), (1.0, 1.0)]
    assert strategy._rank == [0, 0, 1]


def test_children_are_valid_in_a_conditional_space_and_failures_never_become_parents():
    from nasforge.testing.strategies import conditional_space

    space = conditional_space()
    strategy = NSGA2(space, seed=4, population_size=6)
    for i in range(40):
        arch = strategy.ask()
        assert space.validate(arch) == arch
        failed = i % 5 == 0
        strategy.tell(Observation(architecture=arch, score=None if failed else float(i), objectives=() if failed else (float(i), -float(i))))
    assert strategy.parents
    assert all(np.isfinite(o).all() for _, o in strategy.parents)


def test_single_objective_fallback_and_inconsistent_objectives():
    space = bi_objective_space()
    strategy = NSGA2(space, seed=0, population_size=4)
    for _ in range(10):
        arch = strategy.ask()
        strategy.tell(Observation(architecture=arch, score=objectives(arch)[0]))  # no objectives: uses (score,)
    assert all(len(o) == 1 for _, o in strategy.parents)
    with pytest.raises(ConfigError, match="objective"):
        arch = strategy.ask()
        strategy.tell(Observation(architecture=arch, score=1.0, objectives=(1.0, 2.0)))


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="population_size"):
        NSGA2(bi_objective_space(), population_size=1)
    with pytest.raises(ConfigError, match="crossover_probability"):
        NSGA2(bi_objective_space(), crossover_probability=1.5)
