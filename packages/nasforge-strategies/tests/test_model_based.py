"""The BANANAS-style model-based strategy: its predictor, its vectorised candidate machinery and its search."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nasforge.core.errors import ConfigError
from nasforge.core.records import Architecture, Observation
from nasforge.core.space import SearchSpace
from nasforge.strategies.model_based import Bananas, MLPEnsemble, _IndexCodec
from nasforge.testing.strategies import random_search_best


def interaction_space() -> SearchSpace:
    """8 categorical choices of 4 values and 2 ordinal ones: 4**8 * 5 * 3 = 983,040 architectures."""
    return SearchSpace.from_config(
        [{"name": f"c{i}", "values": ["a", "b", "c", "d"]} for i in range(8)]
        + [{"name": "depth", "type": "int", "low": 1, "high": 5}, {"name": "drop", "values": [0.0, 0.1, 0.2], "ordered": True}]
    )


class InteractionObjective:
    """Per-value scores plus pairwise interactions between neighbouring choices: not additive, so not TPE's home ground."""

    def __init__(self, space: SearchSpace, seed: int = 7) -> None:
        rng = np.random.default_rng(seed)
        self.names = [c.name for c in space.choices]
        self.unary = {c.name: {v: float(rng.normal()) for v in c.domain} for c in space.choices}
        self.pair = {
            (a.name, b.name): {(u, v): float(rng.normal(0, 0.7)) for u in a.domain for v in b.domain}
            for a, b in zip(space.choices, space.choices[1:])
        }

    def __call__(self, arch) -> float:
        total = sum(self.unary[n][arch[n]] for n in self.names)
        total += sum(table[(arch[a], arch[b])] for (a, b), table in self.pair.items())
        return float(total)


def best_after(strategy, objective, n: int) -> float:
    best = -math.inf
    for _ in range(n):
        arch = strategy.ask()
        score = objective(arch)
        strategy.tell(Observation(architecture=arch, score=score))
        best = max(best, score)
    return best


def test_beats_random_search_on_a_synthetic_objective_with_interactions():
    space = interaction_space()
    objective = InteractionObjective(space)
    n, seeds = 80, range(6)
    mine = [best_after(Bananas(space, seed=s), objective, n) for s in seeds]
    baseline = [random_search_best(space, objective, seed=100 + s, n=n) for s in seeds]
    # Random search's mean best is well below; a learning strategy must clear it by a margin, not by luck.
    assert np.mean(mine) > np.mean(baseline) + 1.0, (np.mean(mine), np.mean(baseline))
    assert sum(m > b for m, b in zip(mine, baseline)) >= 5


def test_conditional_space_is_searched_with_valid_proposals_and_learns():
    from nasforge.testing.strategies import SyntheticObjective, conditional_space

    space = conditional_space()
    objective = SyntheticObjective(space)
    strategy = Bananas(space, seed=3)
    proposed: list[Architecture] = []
    for _ in range(60):
        arch = strategy.ask()
        assert space.validate(arch) == arch
        assert arch not in proposed
        proposed.append(arch)
        strategy.tell(Observation(architecture=arch, score=objective(arch)))
    later = [objective(a) for a in proposed[-20:]]
    assert np.mean(later) > np.mean([objective(space.sample(np.random.default_rng(i))) for i in range(200)])


@pytest.mark.parametrize("conditional", [False, True])
def test_index_codec_matches_the_space(conditional):
    from nasforge.testing.strategies import progress_space

    space = progress_space() if conditional else interaction_space()
    codec = _IndexCodec(space)
    assert codec.conditional == conditional
    rng = np.random.default_rng(0)
    rows = codec.sample(rng, 60)
    encoded = codec.encode(rows)
    for row, x in zip(rows, encoded):
        arch = codec.architecture(row)
        assert space.validate(arch) == arch
        np.testing.assert_allclose(x, space.encode(arch))
        assert (codec.index_of(arch) == row).all()
        neighbours = {codec.architecture(r) for r in codec.neighbours(row)}
        assert neighbours == set(space.neighbours(arch))
    mutated = codec.mutate(rows.copy(), rng)
    crossed = codec.crossover(rows[:30], rows[30:], rng)
    for row in np.concatenate([mutated, crossed]):
        arch = codec.architecture(row)
        assert space.validate(arch) == arch
    changed = (mutated != rows).sum(axis=1)
    assert changed.min() >= 1
    if not conditional:
        assert 1.5 < changed.mean() < 3.0  # about two changes on average
    assert len(set(codec.keys(rows))) == len({tuple(r) for r in rows.tolist()})
    if conditional:  # conditions really switch choices off
        assert (rows < 0).any()


def test_predictor_learns_a_smooth_function():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(120, 12)).astype(float)
    w = rng.normal(size=12)
    y = x @ w + 0.5 * x[:, 0] * x[:, 1]
    model = MLPEnsemble(12, members=5, hidden=16, rng=rng, lr=0.03)
    model.fit(x[:80], y[:80], steps=300)
    predictions = model.predict(x[80:])
    assert predictions.shape == (5, 40)
    assert np.corrcoef(predictions.mean(axis=0), y[80:])[0, 1] > 0.9
    assert predictions.std(axis=0).mean() > 0  # members differ: the ensemble has a spread to sample from


def test_rank_targets_average_ties_and_put_failures_last():
    space = interaction_space()
    strategy = Bananas(space, seed=0)
    for score in (1.0, 3.0, 3.0, 10.0, None):
        strategy.tell(Observation(architecture=strategy.ask(), score=score))
    _, y = strategy._training_data()
    # Ranks 0..4 scaled by 4; the failure ties with the worst success (both rank 0.5 after averaging).
    np.testing.assert_allclose(y, [0.5 / 4, 2.5 / 4, 2.5 / 4, 4 / 4, 0.5 / 4])


def test_a_stalled_run_finishes_its_neighbourhood_then_restarts():
    space = SearchSpace.from_config([{"name": f"c{i}", "values": ["a", "b", "c", "d"]} for i in range(4)])  # 256 archs, 12 neighbours each
    strategy = Bananas(space, seed=1, initial=3, patience=2)
    told: list[Architecture] = []
    restarted_at = None
    for _ in range(60):
        arch = strategy.ask()
        if strategy._start > 0 and restarted_at is None:
            restarted_at = len(told)
        # The first architecture stays the best for ever (everything after scores lower).
        strategy.tell(Observation(architecture=arch, score=1.0 if not told else 0.0))
        told.append(arch)
    assert restarted_at is not None, "no restart although nothing improved for 60 trials"
    # Before the first restart every neighbour of the run's best had been evaluated: a true local optimum.
    assert set(space.neighbours(told[0])) <= set(told[:restarted_at])


def test_bad_options_are_config_errors():
    space = interaction_space()
    with pytest.raises(ConfigError, match="strategy.options.target"):
        Bananas(space, target="mape")
    with pytest.raises(ConfigError, match="strategy.options.top_k"):
        Bananas(space, top_k=0)
    with pytest.raises(ConfigError, match="strategy.options.ensemble_size"):
        Bananas(space, ensemble_size=1)
