"""Local search: start from the best random architecture, climb through neighbourhoods, restart at local optima."""

from __future__ import annotations

import pytest
from strategy_helpers import tell

from nasforge.core.errors import ConfigError
from nasforge.strategies import LocalSearch


def objective(arch):
    return float(arch["width"] + arch["kernel"] + 2 * (arch["op"] == "skip"))


def _run(strategy, n):
    """Ask/tell n times; return the proposals and the current architecture after each tell."""
    proposals, currents = [], []
    for _ in range(n):
        arch = strategy.ask()
        if arch is None:
            break
        tell(strategy, arch, objective(arch))
        proposals.append(arch)
        currents.append(strategy.current)
    return proposals, currents


def test_starts_from_the_best_of_the_initial_random_architectures(flat_space):
    ls = LocalSearch(flat_space, seed=0, n_initial=5)
    proposals, currents = _run(ls, 5)
    assert currents[:4] == [None] * 4
    assert currents[4] == max(proposals, key=objective)


def test_evaluates_neighbours_and_moves_to_a_better_one(flat_space):
    ls = LocalSearch(flat_space, seed=1, n_initial=3)
    proposals, currents = _run(ls, 40)
    path = [c for i, c in enumerate(currents) if c is not None and (i == 0 or c != currents[i - 1])]
    assert len(path) >= 3
    for before, after in zip(path, path[1:]):
        if after in flat_space.neighbours(before):
            assert objective(after) > objective(before)  # a move, never downhill
    # Between moves only neighbours of the current architecture are proposed.
    first = path[0]
    start = currents.index(first) + 1
    nbs = flat_space.neighbours(first)
    block = proposals[start : start + len(nbs)]
    assert set(block) <= set(nbs)


def test_best_improvement_waits_for_the_whole_neighbourhood(flat_space):
    ls = LocalSearch(flat_space, seed=2, n_initial=1)
    start = ls.ask()
    tell(ls, start, objective(start))
    nbs = flat_space.neighbours(start)
    asked = []
    for _ in range(len(nbs)):
        arch = ls.ask()
        asked.append(arch)
        assert ls.current == start  # no move until every neighbour is scored
        tell(ls, arch, objective(arch))
    assert set(asked) == set(nbs)
    best = max(nbs, key=objective)
    assert ls.current == (best if objective(best) > objective(start) else None)


def test_first_improvement_moves_at_once(flat_space):
    ls = LocalSearch(flat_space, seed=2, n_initial=1, first_improvement=True)
    start = ls.ask()
    tell(ls, start, 0.0)  # everything beats it
    neighbour = ls.ask()
    assert neighbour in flat_space.neighbours(start)
    tell(ls, neighbour, 1.0)
    assert ls.current == neighbour


def test_restarts_at_a_local_optimum_and_records_it(flat_space):
    ls = LocalSearch(flat_space, seed=0, n_initial=2)
    _run(ls, 120)
    assert ls.local_optima, "the whole space was searched without reaching a local optimum"
    optimum, score = ls.local_optima[0]
    assert all(objective(n) <= score for n in flat_space.neighbours(optimum))
    # The objective is separable and monotone per choice: the only local optimum is the global one.
    assert score == 4 + 5 + 2


def test_failed_neighbours_are_never_moved_to(flat_space):
    ls = LocalSearch(flat_space, seed=3, n_initial=1)
    start = ls.ask()
    tell(ls, start, -100.0)
    for _ in flat_space.neighbours(start):
        tell(ls, ls.ask(), None)
    assert ls.local_optima == [(start, -100.0)] and ls.current is None


def test_waiting_for_running_neighbours_proposes_random_unseen_architectures(flat_space):
    ls = LocalSearch(flat_space, seed=4, n_initial=1)
    start = ls.ask()
    tell(ls, start, 1.0)
    nbs = flat_space.neighbours(start)
    running = [ls.ask() for _ in nbs]
    extra = ls.ask()  # all neighbours are running: do not stall, do not repeat
    assert extra is not None and extra not in running and extra != start


def test_local_search_options_are_checked(flat_space):
    with pytest.raises(ConfigError, match="n_initial"):
        LocalSearch(flat_space, n_initial=0)
    with pytest.raises(ConfigError, match="first_improvement"):
        LocalSearch(flat_space, first_improvement="no")
