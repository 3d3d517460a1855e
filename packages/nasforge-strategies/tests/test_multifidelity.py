"""Successive halving and Hyperband: rungs, promotions of the top 1/eta, brackets, the inner strategy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nasforge.core.errors import ConfigError
from nasforge.core.records import Observation
from nasforge.core.space import SearchSpace
from nasforge.strategies.multifidelity import Hyperband, SuccessiveHalving, rung_fidelities


@pytest.fixture
def space() -> SearchSpace:
    return SearchSpace.from_config([{"name": f"c{i}", "values": list(range(6))} for i in range(5)])


def quality(arch) -> float:
    """The 'true' quality of an architecture."""
    return float(sum((i + 1) * v for i, v in enumerate(arch[f"c{i}"] for i in range(5))))


def noisy(arch, fidelity: float) -> float:
    """What a trial at ``fidelity`` measures: quality plus noise that shrinks as fidelity grows.

    The noise is a fixed function of (arch, fidelity), so rankings at different rungs differ.
    """
    seed = hash((tuple(arch[f"c{i}"] for i in range(5)), fidelity)) % (2**32)
    return quality(arch) + float(np.random.default_rng(seed).normal(0.0, 20.0 / fidelity))


def tell(strategy, arch, fidelity, score):
    strategy.tell(Observation(architecture=arch, score=score, fidelity=fidelity))


def test_geometric_rungs():
    assert rung_fidelities(1, 27, 3) == [1, 3, 9, 27]
    assert rung_fidelities(1, 30, 3) == pytest.approx([30 / 27, 30 / 9, 30 / 3, 30])
    assert rung_fidelities(12, 200, 16) == pytest.approx([12.5, 200])
    assert rung_fidelities(12, 200, 16.7) == [200]  # 200 / 16.7 is below 12: one rung
    assert rung_fidelities(5, 5, 3) == [5]


def test_successive_halving_promotes_the_top_third_of_each_rung(space):
    sh = SuccessiveHalving(space, seed=0, fidelities=[1, 3, 9], eta=3)
    rung0 = [sh.ask_with_fidelity() for _ in range(9)]
    assert [f for _, f in rung0] == [1.0] * 9
    scores0 = {a: noisy(a, 1.0) for a, _ in rung0}
    for arch, fidelity in rung0:
        tell(sh, arch, fidelity, scores0[arch])
    rung1 = [sh.ask_with_fidelity() for _ in range(3)]
    assert [f for _, f in rung1] == [3.0] * 3
    top3 = sorted(scores0, key=scores0.get, reverse=True)[:3]
    assert [a for a, _ in rung1] == top3  # best first
    scores1 = {a: noisy(a, 3.0) for a, _ in rung1}
    for arch, fidelity in rung1:
        tell(sh, arch, fidelity, scores1[arch])
    (winner, fidelity) = sh.ask_with_fidelity()
    assert fidelity == 9.0
    assert winner == max(scores1, key=scores1.get)  # chosen by the rung-3 scores, not the rung-1 ones
    tell(sh, winner, fidelity, noisy(winner, 9.0))
    nxt, f = sh.ask_with_fidelity()  # the next bracket starts at the bottom
    assert f == 1.0 and nxt not in scores0


def test_promotion_waits_for_the_whole_rung_and_new_brackets_fill_the_gap(space):
    sh = SuccessiveHalving(space, seed=1, fidelities=[1, 3], eta=3, n_configs=6)
    first = [sh.ask_with_fidelity() for _ in range(6)]
    for arch, fidelity in first[:5]:
        tell(sh, arch, fidelity, quality(arch))
    # One result is missing: no promotion yet; the next ask opens a second bracket at fidelity 1.
    arch, fidelity = sh.ask_with_fidelity()
    assert fidelity == 1.0 and len(sh.brackets) == 2
    tell(sh, *first[5], quality(first[5][0]))
    promoted = [sh.ask_with_fidelity() for _ in range(2)]
    assert [f for _, f in promoted] == [3.0, 3.0]
    expected = sorted((a for a, _ in first), key=quality, reverse=True)[:2]
    assert [a for a, _ in promoted] == expected


def test_failed_trials_are_never_promoted(space):
    sh = SuccessiveHalving(space, seed=2, fidelities=[1, 3], eta=3, n_configs=3)
    jobs = [sh.ask_with_fidelity() for _ in range(3)]
    best = max((a for a, _ in jobs), key=quality)
    for arch, fidelity in jobs:
        tell(sh, arch, fidelity, None if arch == best else quality(arch))
    promoted, fidelity = sh.ask_with_fidelity()
    assert fidelity == 3.0 and promoted != best
    assert promoted == max((a for a, _ in jobs if a != best), key=quality)


def test_hyperband_runs_its_brackets_in_turn(space):
    hb = Hyperband(space, seed=0, min_fidelity=1, max_fidelity=9, eta=3)
    fidelities = []
    for _ in range(9 + 3 + 1 + 5 + 1 + 3):
        arch, fidelity = hb.ask_with_fidelity()
        fidelities.append(fidelity)
        tell(hb, arch, fidelity, noisy(arch, fidelity))
    # s=2: 9 at 1, 3 at 3, 1 at 9; s=1: ceil(3/2*3)=5 at 3, 1 at 9; s=0: 3 at 9.
    assert fidelities == [1.0] * 9 + [3.0] * 3 + [9.0] + [3.0] * 5 + [9.0] + [9.0] * 3
    assert hb.ask_with_fidelity()[1] == 1.0  # and round again


def test_inner_strategy_is_told_every_result_with_its_fidelity_and_learns(space):
    sh = SuccessiveHalving(space, seed=3, strategy="evolution", strategy_options={"population_size": 6, "sample_size": 2}, fidelities=[1, 3], eta=3)
    jobs = []
    for _ in range(120):
        arch, fidelity = sh.ask_with_fidelity()
        jobs.append((arch.to_dict(), fidelity))
        tell(sh, arch, fidelity, noisy(arch, fidelity))
    assert len(sh.inner.population) == 6
    told = [entry for entry in sh.inner.state_dict()["log"] if entry[0] == "tell"]
    # Every result, promotions included, reaches the inner strategy with the fidelity it was measured at.
    assert [(e[1]["architecture"], e[1]["fidelity"]) for e in told] == jobs
    assert {f for _, f in jobs} == {1.0, 3.0}
    told = [e for e in told if e[1]["fidelity"] == 1.0]
    # Evolution behind successive halving finds better architectures than it starts with.
    early = np.mean([quality(sh.inner.space.validate(e[1]["architecture"])) for e in told[:10]])
    late = np.mean([quality(sh.inner.space.validate(e[1]["architecture"])) for e in told[-10:]])
    assert late > early


@pytest.mark.parametrize("inner", ["tpe", "bananas"])
def test_a_model_based_inner_strategy_learns_each_architecture_at_its_highest_fidelity(space, inner):
    sh = SuccessiveHalving(space, seed=0, strategy=inner, fidelities=[1, 3], eta=3, n_configs=3)
    jobs = [sh.ask_with_fidelity() for _ in range(3)]
    for arch, fidelity in jobs:
        tell(sh, arch, fidelity, 1.0 + jobs.index((arch, fidelity)))
    promoted, fidelity = sh.ask_with_fidelity()
    assert fidelity == 3.0
    tell(sh, promoted, fidelity, -50.0)  # the 3-epoch score replaces the 1-epoch one
    model = sh.inner
    scores = list(model._scores[: model._n]) if inner == "tpe" else list(model._scores)
    assert len(scores) == 3 and -50.0 in scores and 3.0 not in scores
    # A later, lower-fidelity result of the same architecture does not overwrite the better one.
    model.tell(Observation(architecture=promoted, score=99.0, fidelity=1.0))
    scores = list(model._scores[: model._n]) if inner == "tpe" else list(model._scores)
    assert sorted(scores) == [-50.0, 1.0, 2.0]


def test_listed_rungs_that_do_not_follow_eta_are_said_to_be_unbalanced(space):
    with pytest.warns(UserWarning, match="not budget-balanced"):
        sh = SuccessiveHalving(space, fidelities=[12, 200], eta=3)
    assert sh.rung_budgets(0) == [36.0, 200.0]  # 3 architectures x 12 epochs, then 1 x 200
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        balanced = Hyperband(space, fidelities=[1, 3, 9], eta=3)
        assert balanced.rung_budgets(0) == [9.0, 9.0, 9.0]


def test_exhausted_inner_strategy_finishes_its_brackets_then_stops():
    space = SearchSpace.from_config([{"name": "a", "values": [0, 1, 2, 3]}])
    sh = SuccessiveHalving(space, seed=0, fidelities=[1, 3], eta=3)
    seen = []
    while (job := sh.ask_with_fidelity()) is not None:
        seen.append(job)
        tell(sh, job[0], job[1], float(job[0]["a"]) * job[1])
        assert len(seen) < 20
    bottom = [a["a"] for a, f in seen if f == 1.0]
    top = [a["a"] for a, f in seen if f == 3.0]
    assert sorted(bottom) == [0, 1, 2, 3]
    # Brackets of 3 then 1 (all that was left): their best go up.
    assert sorted(top) == sorted([max(bottom[:3]), bottom[3]])


def test_bad_options_are_config_errors(space):
    with pytest.raises(ConfigError, match="strategy.options.strategy.*no_such"):
        SuccessiveHalving(space, strategy="no_such")
    with pytest.raises(ConfigError, match="multi-fidelity"):
        SuccessiveHalving(space, strategy="hyperband")
    with pytest.raises(ConfigError, match="strategy.options.fidelities"):
        SuccessiveHalving(space, fidelities=[3, 1])
    with pytest.raises(ConfigError, match="strategy.options.max_fidelity"):
        Hyperband(space, min_fidelity=10, max_fidelity=1)
    with pytest.raises(ConfigError, match="strategy.options.eta"):
        SuccessiveHalving(space, eta=1)
    with pytest.raises(ConfigError, match="strategy_options"):
        SuccessiveHalving(space, strategy="random", strategy_options={"bogus": 1})
    assert math.isclose(SuccessiveHalving(space).rungs[-1], 27)
