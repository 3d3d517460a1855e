"""NNI's multi-trial strategies: the nasforge conformance suite, the space mapping, and a real experiment with resume."""

from __future__ import annotations

import json

import pytest

from nasforge.core.errors import ConfigError
from nasforge.core.records import Architecture, Observation
from nasforge.core.space import SearchSpace
from nasforge.testing.strategies import STRATEGY_CHECKS, conditional_space, run_check, small_space
from nasforge_nni.space import NNISpace
from nasforge_nni.strategies import STRATEGIES, NNIGridSearch, NNIRegularizedEvolution


@pytest.mark.parametrize("check", sorted(STRATEGY_CHECKS))
@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_conformance(name, check):
    if name == "nni_rl" and check == "progress":
        pytest.skip("run by test_rl_progress, marked slow")
    run_check(check, name)


@pytest.mark.slow
def test_rl_progress():
    run_check("progress", "nni_rl")


def test_every_wrapper_is_registered_under_its_name(nasforge_plugin_manager):
    strategies = nasforge_plugin_manager.components("strategy")
    for name, (cls, _) in STRATEGIES.items():
        assert nasforge_plugin_manager.get("strategy", name) is cls
        assert name in strategies


def test_projection_keeps_exactly_the_active_choices():
    space = conditional_space()
    nni_space = NNISpace(space)
    sample = {c.name: c.domain[-1] for c in space.choices}  # depth 3, op skip: kernel inactive
    arch = nni_space.project(sample)
    assert arch["depth"] == 3 and {"width_1", "width_2", "width_3"} <= set(arch)
    assert "kernel" not in arch and arch["op"] == "skip"
    sample.update(depth=1, op="conv")
    arch = nni_space.project(sample)
    assert "width_2" not in arch and "width_3" not in arch and arch["kernel"] == 7
    for arch in list(space.enumerate())[:50]:
        assert nni_space.project(nni_space.lift(arch)) == arch


def test_samples_naming_one_architecture_are_evaluated_once_and_nni_hears_the_score():
    # Grid without shuffle walks NNI's grid in order: (plain, 1), (plain, 2) ... name the same architecture.
    space = SearchSpace.from_config([{"name": "block", "values": ["plain", "fancy"]}, {"name": "expansion", "type": "int", "low": 1, "high": 3, "when": {"block": "fancy"}}])
    strategy = NNIGridSearch(space, seed=0, shuffle=False)
    seen = []
    while (arch := strategy.ask()) is not None:
        seen.append(arch)
        strategy.tell(Observation(architecture=arch, score=1.0))
    assert len(seen) == len(set(seen)) == space.size() == 4
    assert strategy.duplicate_draws == 2  # (plain, 2) and (plain, 3)


def test_evolution_population_gets_the_scores_and_skips_failures():
    strategy = NNIRegularizedEvolution(small_space(), seed=0, population_size=4, sample_size=2)
    for i in range(6):
        arch = strategy.ask()
        strategy.tell(Observation(architecture=arch, score=None if i % 2 else float(i)))
    population = list(strategy.nni._population)
    # Only successes join (an NNI sample naming an already-scored architecture joins with that score).
    assert population and {ind.y for ind in population} <= {0.0, 2.0, 4.0}


def test_unknown_and_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="unknown option"):
        STRATEGIES["nni_random"][0](small_space(), seed=0, population_size=3)
    with pytest.raises(ConfigError, match="sample_size"):
        NNIRegularizedEvolution(small_space(), seed=0, population_size=3, sample_size=5)


def test_checkpoint_is_json_and_resumes(tmp_path):
    strategy = STRATEGIES["nni_tpe"][0](conditional_space(), seed=4)
    asked = [strategy.ask() for _ in range(5)]
    for i, arch in enumerate(asked):
        strategy.tell(Observation(architecture=arch, score=float(i)))
    state = json.loads(json.dumps(strategy.state_dict()))
    clone = STRATEGIES["nni_tpe"][0](conditional_space(), seed=4)
    clone.load_state_dict(state)
    assert [clone.ask() for _ in range(3)] == [strategy.ask() for _ in range(3)]
    assert all(isinstance(a, Architecture) for a in asked)


@pytest.mark.parametrize("name", ["nni_evolution", "nni_tpe"])
def test_a_nasforge_experiment_runs_and_resumes_with_an_nni_strategy(tmp_path, name, nasforge_plugin_manager):
    from nasforge.core.config import validate_config
    from nasforge.core.experiment import Experiment

    def config(folder, trials):
        return validate_config(
            {
                "name": "nni",
                "seed": 3,
                "space": {"choices": conditional_space().to_config()["choices"]},
                "strategy": {"name": name, "options": {"population_size": 4, "sample_size": 2} if name == "nni_evolution" else {}},
                "evaluator": {"name": "function", "options": {"function": "conftest:objective"}},
                "objectives": [{"metric": "score", "direction": "maximize"}],
                "budget": {"trials": trials},
                "output": str(folder),
            }
        )

    experiment = Experiment.create(config(tmp_path / "a", 6), plugin_manager=nasforge_plugin_manager)
    experiment.run()
    experiment.close()
    resumed = Experiment.resume(experiment.directory, plugin_manager=nasforge_plugin_manager, budget_trials=12).run()
    straight = Experiment.create(config(tmp_path / "b", 12), plugin_manager=nasforge_plugin_manager).run()
    assert [t.architecture for t in resumed.trials] == [t.architecture for t in straight.trials]
    assert len({t.architecture for t in straight.trials}) == 12
