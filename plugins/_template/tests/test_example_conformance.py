"""The example plugin passes nasforge's conformance suites (copy this into your plugin's tests)."""

import pytest

from nasforge.core.records import Observation
from nasforge.testing.evaluators import EVALUATOR_CHECKS
from nasforge.testing.evaluators import run_check as run_evaluator_check
from nasforge.testing.strategies import STRATEGY_CHECKS
from nasforge.testing.strategies import run_check as run_strategy_check
from nasforge_example import ExampleScore, ExampleWalk
from nasforge_example.evaluator import example_space


@pytest.mark.parametrize("check", sorted(STRATEGY_CHECKS))
def test_strategy_conforms(check):
    run_strategy_check(check, ExampleWalk)


@pytest.mark.parametrize("check", sorted(EVALUATOR_CHECKS))
def test_evaluator_conforms(check, tmp_path):
    run_evaluator_check(check, ExampleScore, example_space(), tmp_path)


def test_the_plugin_registers_its_components(nasforge_plugin_manager):
    assert nasforge_plugin_manager.get("strategy", "example_walk") is ExampleWalk
    assert nasforge_plugin_manager.get("evaluator", "example_score") is ExampleScore
    info = nasforge_plugin_manager.components("strategy")["example_walk"].plugin
    assert info.distribution == "nasforge-example"


def test_the_walk_climbs_from_the_best_architecture():
    space = example_space()
    walk = ExampleWalk(space, seed=0, warmup=2)
    first, second = walk.ask(), walk.ask()
    walk.tell(Observation(first, score=1.0))
    walk.tell(Observation(second, score=None))  # failed: never the best
    third = walk.ask()
    assert third in space.neighbours(first)
