"""REINFORCE: the policy moves toward rewarded values, inactive choices stay put, failures push away."""

from __future__ import annotations

import numpy as np
import pytest
from strategy_helpers import drive, tell

from nasforge.core.errors import ConfigError
from nasforge.core.records import Architecture
from nasforge.core.space import SearchSpace
from nasforge.strategies import Reinforce


def test_policy_moves_toward_the_rewarded_value(flat_space):
    rl = Reinforce(flat_space, seed=0, learning_rate=0.5)
    good = Architecture(op="skip", width=2, kernel=3, act="relu")
    bad = Architecture(op="pool", width=2, kernel=3, act="relu")
    for _ in range(10):
        tell(rl, good, 1.0)
        tell(rl, bad, 0.0)
    p = rl.probabilities("op")
    assert p.sum() == pytest.approx(1.0)
    assert p[2] > 0.5 > p[1]  # skip up, pool down
    assert p[2] > p[0] > p[1]  # the unplayed conv sits between


def test_inactive_choices_are_not_updated(small_space):
    rl = Reinforce(small_space, seed=0)
    for score in (0.0, 1.0, 0.2, 0.9):
        tell(rl, Architecture(block="plain", act="relu"), score)
    assert np.all(rl.choice_logits("expansion") == 0.0)  # inactive for every plain block
    assert np.any(rl.choice_logits("act") != 0.0)


def test_failures_before_any_success_teach_nothing_and_later_ones_push_away(flat_space):
    rl = Reinforce(flat_space, seed=0)
    broken = Architecture(op="conv", width=1, kernel=1, act="gelu")
    tell(rl, broken, None)
    assert np.all(rl.logits == 0.0)
    for score in (1.0, 2.0, 3.0):
        tell(rl, Architecture(op="pool", width=4, kernel=5, act="relu"), score)
    before = rl.probabilities("op")[0]
    tell(rl, broken, None)  # rewarded as the worst score seen (1.0), below the baseline
    assert rl.probabilities("op")[0] < before


def test_entropy_bonus_keeps_the_policy_less_peaked(flat_space):
    peaks = []
    for weight in (0.0, 0.5):
        rl = Reinforce(flat_space, seed=0, entropy_weight=weight)
        drive(rl, lambda a: float(a["width"] + a["kernel"]), 60)
        peaks.append(rl.probabilities("kernel").max())
    assert peaks[1] < peaks[0]


def test_reinforce_learns_a_separable_objective(flat_space):
    # An irrelevant extra choice keeps the space (1,200 architectures) from running out of good ones.
    space = SearchSpace.from_config([*flat_space.to_config()["choices"], {"name": "pad", "type": "int", "low": 0, "high": 9}])
    rl = Reinforce(space, seed=1)
    proposals = drive(rl, lambda a: float(a["width"] + a["kernel"]), 80)
    assert rl.probabilities("kernel").argmax() >= 3
    assert np.mean([a["kernel"] for a in proposals[-20:]]) > np.mean([a["kernel"] for a in proposals[:20]])


def test_reinforce_options_are_checked(flat_space):
    with pytest.raises(ConfigError, match="learning_rate"):
        Reinforce(flat_space, learning_rate=0)
    with pytest.raises(ConfigError, match="baseline_decay"):
        Reinforce(flat_space, baseline_decay=1.5)
