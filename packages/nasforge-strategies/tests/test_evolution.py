"""Regularized evolution: random start, tournament selection, aging, failures."""

from __future__ import annotations

import pytest
from strategy_helpers import drive, tell

from nasforge.core.errors import ConfigError
from nasforge.strategies import RegularizedEvolution


def _differences(a, b):
    return {k for k in set(a) | set(b) if a.get(k) != b.get(k)}


def test_the_oldest_member_ages_out_not_the_worst(flat_space):
    evo = RegularizedEvolution(flat_space, seed=0, population_size=3, sample_size=2)
    archs = [evo.ask() for _ in range(5)]
    scores = [10.0, 1.0, 2.0, 3.0, 4.0]  # the first is the best and still leaves first
    for arch, score in zip(archs, scores):
        tell(evo, arch, score)
    assert [a for a, _ in evo.population] == archs[2:]
    assert [s for _, s in evo.population] == [2.0, 3.0, 4.0]


def test_the_tournament_samples_with_replacement_like_real_et_al(flat_space):
    # Two members, a tournament of two: drawn with replacement (the paper), the worse one is drawn
    # twice in a quarter of the tournaments and wins them; without replacement it never would.
    evo = RegularizedEvolution(flat_space, seed=0, population_size=2, sample_size=2)
    archs = [evo.ask() for _ in range(2)]
    tell(evo, archs[0], 1.0)
    tell(evo, archs[1], 0.0)
    parents = [evo.select_parent() for _ in range(400)]
    assert 0.18 < parents.count(archs[1]) / 400 < 0.32


def test_tournament_over_the_whole_population_without_replacement_picks_the_best(flat_space):
    evo = RegularizedEvolution(flat_space, seed=0, population_size=6, sample_size=6, replace=False)
    archs = [evo.ask() for _ in range(6)]
    for i, arch in enumerate(archs):
        tell(evo, arch, float(i == 3))
    for _ in range(10):
        assert evo.select_parent() == archs[3]


def test_a_small_tournament_picks_the_best_of_its_sample(flat_space):
    evo = RegularizedEvolution(flat_space, seed=2, population_size=10, sample_size=3)
    archs = [evo.ask() for _ in range(10)]
    score = {arch: float(i) for i, arch in enumerate(archs)}
    for arch in archs:
        tell(evo, arch, score[arch])
    parents = [evo.select_parent() for _ in range(1000)]
    # The best of 3 drawn with replacement from 10: the best member wins 1 - 0.9**3 = 27% of
    # tournaments, the worst only when drawn three times (0.1%).
    assert 0.22 < parents.count(archs[9]) / 1000 < 0.32
    assert parents.count(archs[0]) < 10


def test_after_the_random_start_children_are_single_mutations_of_the_best(flat_space):
    evo = RegularizedEvolution(flat_space, seed=3, population_size=8, sample_size=8, replace=False)
    archs = [evo.ask() for _ in range(8)]
    for i, arch in enumerate(archs):
        tell(evo, arch, 100.0 if i == 5 else float(i))
    child = evo.ask()
    assert child not in archs
    assert len(_differences(child, archs[5])) == 1


def test_proposals_stay_random_while_the_whole_start_is_running(flat_space):
    evo = RegularizedEvolution(flat_space, seed=0, population_size=2, sample_size=1)
    proposals = [evo.ask() for _ in range(6)]  # nothing told yet: no parent to mutate
    assert len(set(proposals)) == 6
    assert not evo.population


def test_failed_members_are_never_chosen_over_successful_ones(flat_space):
    evo = RegularizedEvolution(flat_space, seed=0, population_size=4, sample_size=4, replace=False)
    archs = [evo.ask() for _ in range(4)]
    tell(evo, archs[0], -5.0)
    for arch in archs[1:]:
        tell(evo, arch, None)
    assert evo.select_parent() == archs[0]


def test_evolution_improves_on_its_random_start(flat_space):
    def objective(a):
        return a["width"] + a["kernel"] + (a["op"] == "skip") * 3

    evo = RegularizedEvolution(flat_space, seed=0, population_size=10, sample_size=3)
    proposals = drive(evo, objective, 60)
    assert max(map(objective, proposals[10:])) > max(map(objective, proposals[:10]))
    assert max(map(objective, proposals)) == 12  # the optimum: skip, width 4, kernel 5


def test_evolution_options_are_checked(flat_space):
    with pytest.raises(ConfigError, match="sample_size"):
        RegularizedEvolution(flat_space, population_size=4, sample_size=5)
    with pytest.raises(ConfigError, match="population_size"):
        RegularizedEvolution(flat_space, population_size=0)
    assert RegularizedEvolution(flat_space, population_size=3).sample_size == 3  # the default follows a small population
    assert RegularizedEvolution(flat_space).sample_size == 5
    with pytest.raises(ConfigError, match="replace"):
        RegularizedEvolution(flat_space, replace="yes")
