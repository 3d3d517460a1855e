"""How nasforge spaces and observations map onto Optuna studies."""

import math

import optuna
import pytest
import yaml
from optuna.distributions import CategoricalDistribution, IntDistribution

from nasforge.core.config import validate_config
from nasforge.core.errors import ConfigError
from nasforge.core.experiment import Experiment
from nasforge.core.hookspecs import hookimpl
from nasforge.core.records import Architecture, Observation, TrialState
from nasforge.core.space import SearchSpace
from nasforge.testing.strategies import SyntheticObjective, conditional_space, observe
from nasforge_optuna import OptunaCmaEs, OptunaNSGA2, OptunaTPE
from nasforge_optuna.strategies import CONSTRAINT, distribution


def tiny_space():
    return SearchSpace.from_config([{"name": "a", "values": ["x", "y"]}, {"name": "b", "type": "int", "low": 0, "high": 1}], name="tiny")


def test_choices_map_to_optuna_distributions():
    space = SearchSpace.from_config(
        [
            {"name": "n", "type": "int", "low": 2, "high": 10, "step": 4},
            {"name": "drop", "values": [0.0, 0.1, 0.2], "ordered": True},
            {"name": "act", "values": ["relu", True, 1]},
        ]
    )
    assert distribution(space["n"]) == IntDistribution(2, 10, step=4)
    assert distribution(space["drop"]) == IntDistribution(0, 2)  # positions: samplers see the order
    assert distribution(space["act"]) == CategoricalDistribution((0, 1, 2))  # indices: True and 1 stay apart


def test_only_active_choices_reach_optuna_and_values_round_trip():
    strategy = OptunaTPE(conditional_space(), seed=0, n_startup_trials=3)
    objective = SyntheticObjective(strategy.space)
    for i in range(25):
        arch = strategy.ask()
        strategy.tell(observe(strategy, arch, None, objective, i))
    for trial in strategy.study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)):
        arch = Architecture({name: strategy.space[name].domain[v] if name != "depth" and name != "kernel" else v for name, v in trial.params.items()})
        assert strategy.space.validate(arch) == arch  # exactly the active choices, nothing inactive
        assert math.isclose(trial.value, objective(arch))


def test_tpe_uses_optunas_own_defaults():
    strategy = OptunaTPE(conditional_space(), seed=0)
    sampler, default = strategy.study.sampler, optuna.samplers.TPESampler()
    # Optuna 5: multivariate for one objective, independent for several; the plugin leaves it to Optuna.
    assert sampler._is_multivariate(strategy.study) is True
    assert sampler._multivariate == default._multivariate and sampler._group == default._group
    assert sampler._n_startup_trials == default._n_startup_trials and sampler._constant_liar == default._constant_liar


def test_a_repeat_is_told_its_known_value_and_optuna_is_asked_again():
    space = SearchSpace.from_config([{"name": f"c{i}", "values": ["a", "b", "c", "d"]} for i in range(3)], name="small")
    strategy = OptunaTPE(space, seed=0, n_startup_trials=3, max_retries=1000)
    objective = SyntheticObjective(space)
    asked = []
    for i in range(20):
        arch = strategy.ask()
        asked.append(arch)
        strategy.tell(observe(strategy, arch, None, objective, i))
    assert len(set(asked)) == 20
    trials = strategy.study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    value = {tuple(sorted(t.params.items())): t.value for t in complete}
    # Optuna re-proposed known architectures (it samples, it does not remember) ...
    assert strategy.repeats > 0 and len(complete) == 20 + strategy.repeats
    # ... and each repeat was told the value its architecture already had, as an Optuna user's
    # objective would return it: never FAIL, never a random replacement while retries remain.
    assert not [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    for t in complete:
        assert t.value == value[tuple(sorted(t.params.items()))]
    assert strategy.fallbacks == 0


def test_retries_are_bounded_then_an_unseen_architecture_is_enqueued():
    strategy = OptunaTPE(tiny_space(), seed=1, n_startup_trials=1, max_retries=0)
    asked = []
    for i in range(4):
        arch = strategy.ask()
        asked.append(arch)
        strategy.tell(Observation(arch, score=float(i)))
    assert len(set(asked)) == 4 and strategy.ask() is None
    complete = strategy.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    assert len({tuple(sorted(t.params.items())) for t in complete}) == 4
    # No retries allowed: every repeat is told its value, then an unseen architecture is enqueued.
    assert strategy.fallbacks == strategy.repeats > 0


def test_a_repeat_of_a_running_trial_is_failed_not_given_a_value():
    strategy = OptunaTPE(tiny_space(), seed=1, n_startup_trials=1)
    pending = [strategy.ask() for _ in range(4)]  # nothing told: every repeat is of a running trial
    assert len(set(pending)) == 4
    failed = strategy.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))
    assert len(failed) == strategy.repeats > 0


def test_failed_trials_are_told_fail_and_infeasible_ones_carry_a_violated_constraint():
    strategy = OptunaTPE(conditional_space(), seed=0)
    a, b, c = strategy.ask(), strategy.ask(), strategy.ask()
    strategy.tell(Observation(a, score=None, state=TrialState.FAILED))
    strategy.tell(Observation(b, score=None, objectives=(0.7,), feasible=False))
    strategy.tell(Observation(c, score=0.5, objectives=(0.5,)))
    t_a, t_b, t_c = strategy.study.get_trials()
    assert t_a.state == optuna.trial.TrialState.FAIL
    assert t_b.state == optuna.trial.TrialState.COMPLETE and t_b.constraints == {CONSTRAINT: 1.0} and t_b.value == 0.7
    assert t_c.constraints == {CONSTRAINT: 0.0} and t_c.value == 0.5


def test_cmaes_fails_infeasible_trials_because_it_ignores_constraints():
    strategy = OptunaCmaEs(conditional_space(), seed=0)
    arch = strategy.ask()
    strategy.tell(Observation(arch, score=None, objectives=(0.7,), feasible=False))
    assert strategy.study.get_trials()[0].state == optuna.trial.TrialState.FAIL


def test_observations_optuna_did_not_propose_are_added_to_the_study():
    strategy = OptunaTPE(tiny_space(), seed=0)
    arch = Architecture(a="y", b=1)
    strategy.tell(Observation(arch, score=2.0))  # e.g. a trial re-evaluated after a resume
    (trial,) = strategy.study.get_trials()
    assert trial.params == {"a": 1, "b": 1} and trial.value == 2.0
    assert all(strategy.ask() != arch for _ in range(3))


def test_cmaes_refuses_a_space_without_numeric_choices():
    space = SearchSpace.from_config([{"name": "op", "values": ["conv", "pool"]}, {"name": "act", "values": ["relu", "gelu"]}])
    with pytest.raises(ConfigError, match="only unordered categorical.*optuna_tpe"):
        OptunaCmaEs(space)


def test_nsga2_uses_every_objective_and_checks_their_number():
    strategy = OptunaNSGA2(conditional_space(), seed=0, objectives=2, population_size=4)
    arch = strategy.ask()
    strategy.tell(Observation(arch, score=0.9, objectives=(0.9, -3.0)))
    assert strategy.study.get_trials()[0].values == [0.9, -3.0]
    assert [d.name for d in strategy.study.directions] == ["MAXIMIZE", "MAXIMIZE"]
    with pytest.raises(ConfigError, match="set strategy.options.objectives to 3"):
        strategy.tell(Observation(strategy.ask(), score=0.1, objectives=(0.1, 0.2, 0.3)))


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="n_startup_trials"):
        OptunaTPE(conditional_space(), n_startup_trials=0)
    with pytest.raises(ConfigError, match="multivariate"):
        OptunaTPE(conditional_space(), multivariate=False, group=True)
    with pytest.raises(ConfigError, match="max_retries"):
        OptunaTPE(conditional_space(), max_retries=-1)
    with pytest.raises(ConfigError, match="restart_strategy"):
        OptunaCmaEs(conditional_space(), restart_strategy="sometimes")
    with pytest.raises(ConfigError, match="probability"):
        OptunaNSGA2(conditional_space(), crossover_prob=1.5)


def _demo_config(tmp_path, strategy, budget, objectives=None):
    return {
        "name": "optuna-e2e",
        "seed": 3,
        "space": {"choices": conditional_space().to_config()["choices"]},
        "strategy": strategy,
        "evaluator": {"name": "objective"},
        "objectives": objectives or [{"metric": "score", "direction": "maximize"}],
        "budget": {"trials": budget},
        "output": str(tmp_path),
    }


class _ObjectivePlugin:
    """Registers an evaluator scoring architectures with the conformance suite's objective."""

    @hookimpl
    def nasforge_register_evaluators(self, register):
        from nasforge.core.evaluator import Evaluator

        class Objective(Evaluator):
            metrics = ("score", "size")

            def evaluate(self, architecture, context):
                objective = SyntheticObjective(self.space)
                return {"score": objective(architecture), "size": float(len(architecture))}

        register("objective", Objective)


@pytest.mark.parametrize(
    "strategy, objectives",
    [
        ({"name": "optuna_tpe", "options": {"n_startup_trials": 4}}, None),
        ({"name": "optuna_nsga2", "options": {"population_size": 4}}, [{"metric": "score", "direction": "maximize"}, {"metric": "size", "direction": "minimize"}]),
    ],
)
def test_a_config_runs_and_resumes_with_an_optuna_strategy(tmp_path, nasforge_plugin_manager, strategy, objectives):
    pm = nasforge_plugin_manager
    pm.register(_ObjectivePlugin(), name="objective-plugin")
    config = validate_config(yaml.safe_load(yaml.safe_dump(_demo_config(tmp_path, strategy, 8, objectives))))
    experiment = Experiment.create(config, plugin_manager=pm)
    first = experiment.run()
    experiment.close()
    assert len(first.trials) == 8 and all(t.state is TrialState.COMPLETE for t in first.trials)
    resumed = Experiment.resume(experiment.directory, plugin_manager=pm, budget_trials=14)
    result = resumed.run()
    resumed.close()
    assert len(result.trials) == 14
    assert len({t.architecture for t in result.trials}) == 14  # the restored study still knows what was asked
    assert [t.architecture for t in result.trials[:8]] == [t.architecture for t in first.trials]
