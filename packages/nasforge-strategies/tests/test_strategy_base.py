"""The shared base of the native strategies: scores of failures, the seen set, the unseen fallback."""

from __future__ import annotations

import math

import pytest
from strategy_helpers import tell

from nasforge.core.errors import ConfigError
from nasforge.core.records import Architecture, Observation, TrialState
from nasforge.strategies import TPE, LocalSearch, RandomSearch, RegularizedEvolution, Reinforce
from nasforge.strategies.base import check_float, check_int, score_of


def test_failed_and_infeasible_trials_score_below_everything():
    arch = Architecture(op="conv")
    assert score_of(Observation(arch, None, state=TrialState.FAILED)) == -math.inf
    assert score_of(Observation(arch, 3.0, feasible=False)) == -math.inf
    assert score_of(Observation(arch, -1e300)) == -1e300


def test_option_checks_name_the_option():
    with pytest.raises(ConfigError, match=r"strategy\.options\.population_size.*integer >= 1, got 0"):
        check_int("population_size", 0, 1, "evolution")
    with pytest.raises(ConfigError, match="integer"):
        check_int("population_size", True, 1, "evolution")
    with pytest.raises(ConfigError, match=r"strategy\.options\.gamma.*\(0.0, 1.0\]"):
        check_float("gamma", 0.0, 0.0, 1.0, "tpe", low_open=True)
    assert check_float("gamma", 1, 0.0, 1.0, "tpe") == 1.0


def test_propose_unseen_falls_back_to_a_random_unseen_architecture(small_space):
    strategy = RandomSearch(small_space, seed=0)
    first = strategy.ask()
    calls = []

    def always_first():
        calls.append(1)
        return first

    other = strategy.propose_unseen(always_first, tries=5)
    assert len(calls) == 5
    assert other is not None and other != first and other in strategy.seen


def test_random_unseen_finds_the_last_architecture_by_scanning(small_space):
    strategy = RandomSearch(small_space, seed=0)
    everything = list(small_space.enumerate())
    for arch in everything[:-1]:
        tell(strategy, arch, 0.0)
    assert strategy.ask() == everything[-1]  # 200 random draws would rarely find it; the scan always does
    assert strategy.ask() is None


@pytest.mark.parametrize("cls", [RandomSearch, TPE, RegularizedEvolution, Reinforce, LocalSearch])
def test_an_architecture_outside_the_space_is_ignored_with_a_warning(small_space, cls):
    strategy = cls(small_space, seed=0)
    with pytest.warns(UserWarning, match="outside its space"):
        tell(strategy, Architecture(block="huge", act="relu"), 100.0)
    # It neither counts toward exhaustion nor steers the search (e.g. as a parent to mutate).
    proposals = []
    for _ in range(small_space.size()):
        arch = strategy.ask()
        proposals.append(arch)
        tell(strategy, arch, 0.0)
    assert None not in proposals and len(set(proposals)) == small_space.size()
    assert strategy.ask() is None


_SEQUENCE_SCRIPT = """
import json
from nasforge.strategies.plugin import STRATEGIES
from nasforge.testing.strategies import SyntheticObjective, conditional_space, run
space = conditional_space()
out = {name: run(cls(space, seed=3), SyntheticObjective(space), 40) for name, (cls, _) in STRATEGIES.items()}
print(json.dumps(out, sort_keys=True))
"""


def test_suggestions_do_not_depend_on_python_hash_randomisation():
    # String hashes differ between processes; a strategy that iterated a set or dict of
    # architectures to decide would give different suggestions under different PYTHONHASHSEEDs.
    import os
    import subprocess
    import sys

    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run([sys.executable, "-c", _SEQUENCE_SCRIPT], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1]
