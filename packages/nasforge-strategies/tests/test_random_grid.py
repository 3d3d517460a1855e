"""Random and grid search: coverage without repeats, order, shuffling, warm starts."""

from __future__ import annotations

import pytest
from strategy_helpers import tell

from nasforge.core.errors import ConfigError
from nasforge.strategies import GridSearch, RandomSearch


def test_grid_enumerates_every_architecture_exactly_once_in_order(small_space):
    grid = GridSearch(small_space)
    proposals = [grid.ask() for _ in range(small_space.size())]
    assert proposals == list(small_space.enumerate())
    assert grid.ask() is None
    assert grid.ask() is None


def test_grid_skips_architectures_already_told(small_space):
    everything = list(small_space.enumerate())
    grid = GridSearch(small_space)
    for arch in everything[:5]:
        tell(grid, arch, 1.0)  # e.g. a warm start from an earlier experiment
    proposals = [grid.ask() for _ in range(small_space.size() - 5)]
    assert proposals == everything[5:]
    assert grid.ask() is None


def test_shuffled_grid_covers_the_space_in_a_seeded_order(small_space):
    orders = []
    for seed in (0, 0, 1):
        grid = GridSearch(small_space, seed=seed, shuffle=True)
        orders.append([grid.ask() for _ in range(small_space.size())])
        assert grid.ask() is None
    assert sorted(map(repr, orders[0])) == sorted(map(repr, small_space.enumerate()))
    assert orders[0] == orders[1]
    assert orders[0] != orders[2]
    assert orders[0] != list(small_space.enumerate())


def test_shuffled_grid_refuses_a_space_too_large_to_list(small_space):
    with pytest.raises(ConfigError, match="max_shuffle_size=10"):
        GridSearch(small_space, shuffle=True, max_shuffle_size=10)
    with pytest.raises(ConfigError, match="shuffle"):
        GridSearch(small_space, shuffle="yes")


def test_random_search_covers_a_small_space_without_repeats(small_space):
    strategy = RandomSearch(small_space, seed=4)
    proposals = [strategy.ask() for _ in range(small_space.size())]
    assert set(proposals) == set(small_space.enumerate())
    assert strategy.ask() is None


def test_random_search_draws_every_active_choice_uniformly(flat_space):
    strategy = RandomSearch(flat_space, seed=1)
    ops = [strategy.ask()["op"] for _ in range(90)]
    counts = {op: ops.count(op) for op in ("conv", "pool", "skip")}
    assert all(15 <= c <= 45 for c in counts.values()), counts
