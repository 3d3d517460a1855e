"""REINFORCE: the policy moves toward rewarded values, inactive choices stay put, failures push away."""

from __future__ import annotations

import numpy as np
import pytest
from strategy_helpers import drive, tell

from nasforge.core.errors import ConfigError
from nasforge.core.records import Architecture, Observation
from nasforge.core.space import SearchSpace
from nasforge.strategies import Reinforce


def reward(rl, arch, score):
    """One policy-gradient step as if the policy had drawn ``arch`` and it scored ``score`` (None: failed)."""
    rl.update(arch, rl.reward_of(Observation(architecture=arch, score=score)))


def test_policy_moves_toward_the_rewarded_value(flat_space):
    rl = Reinforce(flat_space, seed=0, learning_rate=0.5)
    good = Architecture(op="skip", width=2, kernel=3, act="relu")
    bad = Architecture(op="pool", width=2, kernel=3, act="relu")
    for _ in range(10):
        reward(rl, good, 1.0)
        reward(rl, bad, 0.0)
    p = rl.probabilities("op")
    assert p.sum() == pytest.approx(1.0)
    assert p[2] > 0.5 > p[1]  # skip up, pool down
    assert p[2] > p[0] > p[1]  # the unplayed conv sits between


def test_inactive_choices_are_not_updated(small_space):
    rl = Reinforce(small_space, seed=0)
    for score in (0.0, 1.0, 0.2, 0.9):
        reward(rl, Architecture(block="plain", act="relu"), score)
    assert np.all(rl.choice_logits("expansion") == 0.0)  # inactive for every plain block
    assert np.any(rl.choice_logits("act") != 0.0)


def test_failures_before_any_success_teach_nothing_and_later_ones_push_away(flat_space):
    rl = Reinforce(flat_space, seed=0)
    broken = Architecture(op="conv", width=1, kernel=1, act="gelu")
    reward(rl, broken, None)
    assert np.all(rl.logits == 0.0)
    for score in (1.0, 2.0, 3.0):
        reward(rl, Architecture(op="pool", width=4, kernel=5, act="relu"), score)
    before = rl.probabilities("op")[0]
    reward(rl, broken, None)  # rewarded as the worst score seen (1.0), below the baseline
    assert rl.probabilities("op")[0] < before


def test_entropy_bonus_keeps_the_policy_less_peaked(flat_space):
    # The same draws and rewards, with and without the bonus.
    rng = np.random.default_rng(0)
    draws = [flat_space.sample(rng) for _ in range(60)]
    peaks = []
    for weight in (0.0, 0.5):
        rl = Reinforce(flat_space, seed=0, entropy_weight=weight)
        for arch in draws:
            reward(rl, arch, float(arch["width"] + arch["kernel"]))
        peaks.append(rl.probabilities("kernel").max())
    assert peaks[1] < peaks[0]


def test_reinforce_learns_a_separable_objective(flat_space):
    # An irrelevant extra choice keeps the space (1,200 architectures) from running out of good ones.
    space = SearchSpace.from_config([*flat_space.to_config()["choices"], {"name": "pad", "type": "int", "low": 0, "high": 9}])
    rl = Reinforce(space, seed=1)
    proposals = drive(rl, lambda a: float(a["width"] + a["kernel"]), 80)
    assert rl.probabilities("kernel").argmax() >= 3
    assert np.mean([a["kernel"] for a in proposals[-20:]]) > np.mean([a["kernel"] for a in proposals[:20]])


def test_the_policy_is_never_updated_with_an_architecture_it_did_not_draw(flat_space):
    rl = Reinforce(flat_space, seed=0)
    # Told without being asked (a warm start, a trial added by hand): no policy-gradient step.
    for score in (0.0, 1.0, 5.0):
        tell(rl, Architecture(op="skip", width=4, kernel=5, act="relu"), score)
        tell(rl, flat_space.sample(rl.rng), score)
    assert np.all(rl.logits == 0.0) and rl.updates == 0
    # A policy that always draws one known architecture: every ask falls back to a proposal the
    # policy did not draw, whose result must not move the policy either.
    rl = Reinforce(flat_space, seed=0, sample_tries=3)
    favourite = Architecture(op="conv", width=1, kernel=1, act="relu")
    for name, value in favourite.items():
        rl.logits[rl._slice(rl._position(name))][rl.index.choices[rl._position(name)].index[(False, value)]] = 50.0
    rl._probs = None
    tell(rl, favourite, 1.0)
    for i in range(5):
        arch = rl.ask()
        assert arch != favourite
        logits = rl.logits.copy()
        tell(rl, arch, 100.0 * (i + 1))  # far better than anything: an off-policy update would chase it
        assert np.array_equal(rl.logits, logits)
    assert rl.fallbacks == 5


def test_every_draw_of_the_policy_is_learnt_from_at_equal_weight(flat_space):
    rl = Reinforce(flat_space, seed=3)
    drive(rl, lambda a: float(a["width"] + a["kernel"]), 40)
    drawn = rl.updates - rl.repeat_updates
    # Each proposal the policy drew was learnt from when told (after the first, which sets the
    # baseline); repeat draws of known architectures were learnt from at no evaluation cost.
    assert drawn == 40 - rl.fallbacks - 1
    assert rl.repeat_updates > 0


def test_reinforce_options_are_checked(flat_space):
    with pytest.raises(ConfigError, match="learning_rate"):
        Reinforce(flat_space, learning_rate=0)
    with pytest.raises(ConfigError, match="baseline_decay"):
        Reinforce(flat_space, baseline_decay=1.5)
