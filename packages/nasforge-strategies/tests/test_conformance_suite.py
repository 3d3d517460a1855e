"""The conformance suite itself: each check catches the contract breach it is for."""

from __future__ import annotations

import random

import pytest

from nasforge.core.errors import SpaceError
from nasforge.core.records import Architecture, Observation
from nasforge.core.strategy import SearchStrategy, StrategyError
from nasforge.strategies import TPE, GridSearch, NativeStrategy, RandomSearch
from nasforge.testing.strategies import (
    check_checkpoint,
    check_determinism,
    check_failed_trials,
    check_no_duplicates,
    check_progress,
    check_valid_suggestions,
    make_strategy,
    run_check,
    skip_reason,
    small_space,
)


class UnseededRandom(SearchStrategy):
    """Draws from Python's global generator instead of self.rng."""

    def suggest(self):
        return self.space.sample(__import__("numpy").random.default_rng(random.randrange(1 << 30)))

    def observe(self, observation):
        pass


class Repeats(SearchStrategy):
    """Samples with self.rng but never checks what it proposed before."""

    def suggest(self):
        return self.space.sample(self.rng)

    def observe(self, observation):
        pass


class Invalid(SearchStrategy):
    """Proposes a value outside the space."""

    def suggest(self):
        return Architecture({**self.space.sample(self.rng), "depth": 99})

    def observe(self, observation):
        pass


class FailureLover(NativeStrategy):
    """Greedy hill climbing that reads a failed trial's score None as 0 -- the bug failed_trials looks for."""

    def __init__(self, space, seed=0):
        super().__init__(space, seed=seed)
        self.best: tuple[float, Architecture] | None = None

    def suggest(self):
        if self.best is None:
            return self.random_unseen()
        parent = self.best[1]
        return self.propose_unseen(lambda: self.space.mutate(parent, self.rng), 20)

    def learn(self, observation):
        score = 0.0 if observation.score is None else observation.score
        if self.best is None or score >= self.best[0]:  # the newest of equals: keeps climbing across plateaus
            self.best = (score, observation.architecture)


class FixedOrder(GridSearch):
    """Grid search that forgot to opt out of the progress check."""

    conformance_skip_progress = None


class Forgetful(RandomSearch):
    """Saves a state_dict that drops what it proposed, so a restored copy repeats itself."""

    def state_dict(self):
        return {"format": "replay", "log": []}


def test_unseeded_randomness_fails_determinism():
    with pytest.raises(AssertionError, match="diverged"):
        check_determinism(UnseededRandom)


def test_repeated_proposals_fail_no_duplicates():
    with pytest.raises(AssertionError, match="twice"):
        check_no_duplicates(Repeats)


def test_invalid_architectures_are_caught():
    with pytest.raises(SpaceError, match="99 is not allowed for 'depth'"):
        check_valid_suggestions(Invalid)


def test_reading_failures_as_zero_fails_failed_trials():
    with pytest.raises(AssertionError, match="failing architecture"):
        check_failed_trials(FailureLover)


def test_a_strategy_that_does_not_learn_fails_progress():
    with pytest.raises(AssertionError, match="below random search"):
        check_progress(FixedOrder)


def test_a_lossy_state_dict_fails_checkpoint():
    with pytest.raises((AssertionError, StrategyError)):
        check_checkpoint(Forgetful)


def test_factories_can_be_names_classes_or_callables():
    space = small_space()
    assert isinstance(make_strategy("tpe", space, seed=1), TPE)
    assert isinstance(make_strategy(TPE, space, seed=1), TPE)
    built = make_strategy(lambda s, seed: TPE(s, seed=seed, n_startup_trials=3), space, seed=1)
    assert built.n_startup_trials == 3 and built.seed == 1


def test_opt_outs_are_read_from_class_attributes():
    assert "baseline" in skip_reason(RandomSearch, "progress")
    assert skip_reason(TPE, "progress") is None
    with pytest.raises(pytest.skip.Exception, match="fixed order"):
        run_check("progress", GridSearch)
    with pytest.raises(KeyError, match="unknown strategy check"):
        run_check("speed", TPE)


def test_conformance_options_are_passed_to_the_strategy():
    class Light(TPE):
        conformance_options = {"n_ei_candidates": 3}

    assert make_strategy(Light, small_space()).n_ei_candidates == 3
    assert make_strategy(Light, small_space(), options={"n_ei_candidates": 5}).n_ei_candidates == 5


def test_a_multi_fidelity_strategy_is_driven_through_ask_with_fidelity():
    class TwoRungs(NativeStrategy):
        """Proposes each architecture at fidelity 0.5, then again at 1.0."""

        def __init__(self, space, seed=0):
            super().__init__(space, seed=seed)
            self.promote: list[Architecture] = []

        def suggest(self):
            if self.promote:
                return self.promote.pop(0), 1.0
            arch = self.random_unseen()
            return None if arch is None else (arch, 0.5)

        def learn(self, observation: Observation):
            if observation.fidelity == 0.5:
                self.promote.append(observation.architecture)

    check_no_duplicates(TwoRungs)  # the same architecture at two fidelities is not a duplicate
    check_checkpoint(TwoRungs)
    check_valid_suggestions(TwoRungs)
