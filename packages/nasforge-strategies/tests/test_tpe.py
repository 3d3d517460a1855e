"""TPE: Parzen estimators, the good/bad split, conditional choices, concentration on good regions."""

from __future__ import annotations

import numpy as np
import pytest
from strategy_helpers import drive, tell

from nasforge.core.errors import ConfigError
from nasforge.core.records import Architecture
from nasforge.core.space import SearchSpace
from nasforge.strategies import TPE, RandomSearch
from nasforge.strategies.tpe import _kernel_density


def test_kernel_density_is_a_distribution_peaked_at_the_observations():
    counts = np.array([0, 0, 0, 0, 1, 2, 5, 2, 1], dtype=float)
    p = _kernel_density(counts, n=11, prior_weight=1.0)
    assert p.sum() == pytest.approx(1.0)
    assert p.argmax() == 6
    assert p[5] > p[3] > p[0] > 0  # smooth: nearer positions are likelier, every value stays possible
    assert p[7] > p[8]
    sharp = _kernel_density(np.array([0, 0, 0, 0, 0, 0, 11, 0, 0], dtype=float), n=11, prior_weight=1.0)
    assert sharp[6] > p[6]  # observations that agree give a narrower bump
    assert np.allclose(_kernel_density(np.zeros(4), n=0, prior_weight=1.0), 0.25)


def test_densities_of_a_conditional_choice_use_only_observations_where_it_is_active():
    space = SearchSpace.from_config(
        [
            {"name": "block", "values": ["plain", "fancy"]},
            {"name": "expansion", "type": "int", "low": 1, "high": 6, "when": {"block": "fancy"}},
            {"name": "width", "type": "int", "low": 1, "high": 20},
        ]
    )
    tpe = TPE(space, seed=0)
    # 20 distinct architectures (a repeated one is kept once, at its latest/highest-fidelity result)
    for width in range(1, 21):
        tell(tpe, Architecture(block="plain", width=width), 1.0)
    tell(tpe, Architecture(block="fancy", expansion=5, width=1), 0.5)
    probs = tpe._densities(tpe._counts)
    block = probs[0:2]
    expansion = probs[2:8]
    assert block.sum() == pytest.approx(1.0) and expansion.sum() == pytest.approx(1.0)
    assert block[0] > 0.9  # 20 of 21 observations
    # Fitted on the one observation where it is active (not on all 21): a bump at 5 plus the prior.
    one = np.zeros(6)
    one[4] = 1
    assert np.allclose(expansion, _kernel_density(one, n=1, prior_weight=1.0))
    assert expansion.argmax() == 4


def test_good_set_is_the_top_quantile_and_failures_are_always_bad(flat_space):
    tpe = TPE(flat_space, seed=0, gamma=0.25, max_good=25)
    archs = list(flat_space.enumerate())[:12]
    for i, arch in enumerate(archs[:8]):
        tell(tpe, arch, float(i))
    for arch in archs[8:]:
        tell(tpe, arch, None)
    good, bad = tpe._split_counts()
    # ceil(0.25 * 8 successes) = 2 good observations: scores 6 and 7.
    assert good.sum() == 2 * 4
    expected = np.zeros_like(good)
    for arch in archs[6:8]:
        expected += np.bincount(tpe.index.encode(arch) + tpe.index.offsets, minlength=tpe.index.n_values)
    assert np.array_equal(good, expected)
    assert bad.sum() == 10 * 4


def test_tpe_concentrates_on_the_good_region():
    space = SearchSpace.from_config(
        [
            {"name": "op", "values": ["a", "b", "c", "d", "e"]},
            {"name": "width", "type": "int", "low": 1, "high": 8},
            {"name": "act", "values": ["relu", "gelu", "silu"]},
            {"name": "norm", "values": ["batch", "layer"]},
            {"name": "pad", "type": "int", "low": 0, "high": 9},  # irrelevant, keeps the good region large
        ]
    )

    def objective(arch):
        return 5.0 * (arch["op"] == "c") - abs(arch["width"] - 6)

    tpe = drive(TPE(space, seed=1), objective, 60)
    rand = drive(RandomSearch(space, seed=1), objective, 60)
    late_tpe, late_rand = tpe[30:], rand[30:]
    assert sum(a["op"] == "c" for a in late_tpe) >= 20  # random proposes "c" a fifth of the time
    assert sum(abs(a["width"] - 6) <= 1 for a in late_tpe) >= 20
    assert np.mean([objective(a) for a in late_tpe]) > np.mean([objective(a) for a in late_rand]) + 2


def test_startup_trials_are_random_then_the_model_takes_over(flat_space):
    tpe = TPE(flat_space, seed=0, n_startup_trials=5)
    called = []
    original = tpe._split_counts
    tpe._split_counts = lambda: called.append(1) or original()
    drive(tpe, lambda a: float(a["width"]), 5)
    assert not called
    drive(tpe, lambda a: float(a["width"]), 1)
    assert called


def test_only_failures_so_far_means_random_proposals(flat_space):
    tpe = TPE(flat_space, seed=0, n_startup_trials=2)
    for _ in range(4):
        tell(tpe, tpe.ask(), None)
    assert tpe.ask() is not None  # no good set to fit yet: falls back to a random unseen architecture


def test_a_long_history_grows_the_buffer(flat_space):
    tpe = TPE(flat_space, seed=0)
    drive(tpe, lambda a: float(a["kernel"]), 100)
    assert tpe._n == 100 and tpe._rows.shape[0] >= 100
    assert tpe.describe() == {"observations": 100, "successful": 100, "good": 10}


@pytest.mark.parametrize(
    "options, field",
    [({"gamma": 0.0}, "gamma"), ({"gamma": 1.5}, "gamma"), ({"n_ei_candidates": 0}, "n_ei_candidates"), ({"prior_weight": 0}, "prior_weight")],
)
def test_tpe_options_are_checked(flat_space, options, field):
    with pytest.raises(ConfigError, match=f"strategy.options.{field}"):
        TPE(flat_space, **options)
