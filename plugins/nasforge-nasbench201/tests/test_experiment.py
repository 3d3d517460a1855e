"""End to end through nasforge's experiment loop: the plugin's space and evaluator with nasforge's strategies.

These tests integrate with a second distribution, nasforge-strategies, which this plugin does not
depend on; in an environment without it (the plugin's isolated nox session) they are skipped,
saying so. The workspace's own test runs have it.
"""

from __future__ import annotations

import math

import pytest

from nasforge.core.config import validate_config
from nasforge.core.errors import ConfigError
from nasforge.core.experiment import Experiment
from nasforge.core.plugins import get_plugin_manager
from nasforge.core.records import TrialState
from nasforge_nasbench201 import NASBench201Evaluator, nasbench201_space

pytest.importorskip("nasforge.strategies", reason="integration with nasforge-strategies, which is not installed here")


@pytest.fixture(scope="module")
def pm():
    manager = get_plugin_manager(fresh=True)
    missing = {"bananas", "hyperband", "nsga2", "random"} - set(manager.components("strategy"))
    assert not missing, f"nasforge-strategies is installed but does not register {sorted(missing)}"
    return manager


def _config(tmp_path, table, **overrides):
    data = {
        "name": "nb201",
        "space": {"name": "nasbench201"},
        "strategy": {"name": "bananas"},
        "evaluator": {"name": "nasbench201", "options": {"path": str(table)}},
        "objectives": ["accuracy"],
        "budget": {"trials": 25},
        "output": str(tmp_path),
    }
    data.update(overrides)
    return validate_config(data)


def test_bananas_search_answers_from_the_table(tmp_path, nb201_table_path, pm):
    result = Experiment.create(_config(tmp_path, nb201_table_path), plugin_manager=pm).run()
    assert len(result.trials) == 25 and all(t.state is TrialState.COMPLETE for t in result.trials)
    lookup = NASBench201Evaluator(nasbench201_space(), path=nb201_table_path)
    for trial in result.trials[:5]:
        assert dict(trial.metrics) == pytest.approx(lookup.lookup(trial.architecture))
    assert result.best.metrics["accuracy"] == max(t.metrics["accuracy"] for t in result.trials)


def test_hyperband_passes_fidelities_to_the_table(tmp_path, nb201_table_path, pm):
    config = _config(
        tmp_path,
        nb201_table_path,
        strategy={"name": "hyperband", "options": {"fidelities": [12, 200], "eta": 3, "strategy": "random"}},
        budget={"trials": 12},
    )
    result = Experiment.create(config, plugin_manager=pm).run()
    # The one bracket of 2 rungs with eta 3 starts 3 at 12 epochs and promotes the best to 200 ...
    fidelities = [t.fidelity for t in result.trials]
    assert fidelities[:4] == [12.0, 12.0, 12.0, 200.0]
    low = result.trials[:3]
    assert [t.metrics["epochs"] for t in result.trials[:4]] == [12.0, 12.0, 12.0, 200.0]
    assert result.trials[3].architecture == max(low, key=lambda t: t.metrics["accuracy"]).architecture
    # ... and the best trial is taken at the highest fidelity reached.
    assert result.best.fidelity == 200.0


def test_multi_objective_search_reports_a_front_under_a_constraint(tmp_path, nb201_table_path, pm):
    config = _config(
        tmp_path,
        nb201_table_path,
        strategy={"name": "nsga2", "options": {"population_size": 10}},
        evaluator={"name": "nasbench201", "options": {"path": str(nb201_table_path), "latency_device": "raspi4"}},
        objectives=["accuracy", "latency_ms:min"],
        constraints=["params_m <= 0.8"],
        budget={"trials": 40},
    )
    result = Experiment.create(config, plugin_manager=pm).run()
    assert result.pareto
    front = [(t.metrics["accuracy"], t.metrics["latency_ms"]) for t in result.pareto]
    for t in result.pareto:
        assert t.metrics["params_m"] <= 0.8
        assert t.metrics["latency_ms"] == t.metrics["latency_raspi4"]
    feasible = [t for t in result.trials if t.metrics.get("params_m", math.inf) <= 0.8]
    for a, lat in front:  # nothing feasible dominates a front point
        assert not any(t.metrics["accuracy"] >= a and t.metrics["latency_ms"] <= lat and (t.metrics["accuracy"], t.metrics["latency_ms"]) != (a, lat) for t in feasible)


def test_a_config_without_the_table_path_is_a_clear_error(tmp_path, pm):
    config = validate_config(
        {
            "name": "nb201",
            "space": {"name": "nasbench201"},
            "strategy": {"name": "random"},
            "evaluator": {"name": "nasbench201"},
            "budget": {"trials": 2},
            "output": str(tmp_path),
        }
    )
    with pytest.raises(ConfigError, match="evaluator.options.path"):
        Experiment.create(config, plugin_manager=pm)
