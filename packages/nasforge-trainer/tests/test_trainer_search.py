"""End to end through the core's experiment loop: trainer evaluator, cnn space, TensorBoard hooks."""

from __future__ import annotations

from pathlib import Path

import pytest

from nasforge.core.config import validate_config
from nasforge.core.experiment import Experiment
from nasforge.core.hookspecs import hookimpl
from nasforge.core.plugins import get_plugin_manager
from nasforge.core.records import TrialState
from nasforge.core.strategy import SearchStrategy
from nasforge.trainer import load_trained_model


class _Sample(SearchStrategy):
    """Uniform samples (the trainer does not depend on nasforge-strategies, so the test brings its own)."""

    def suggest(self):
        return self.space.sample(self.rng)

    def observe(self, observation):
        pass


class _TestStrategies:
    @hookimpl
    def nasforge_register_strategies(self, register):
        register("trainer_test_sample", _Sample)


@pytest.mark.slow
def test_search_on_digits_writes_metrics_weights_and_tensorboard(tmp_path: Path):
    config = validate_config(
        {
            "name": "digits-e2e",
            "seed": 0,
            "space": {"name": "cnn", "options": {"max_stages": 2, "channels": [8, 16], "max_blocks": 1}},
            "strategy": {"name": "trainer_test_sample"},
            "evaluator": {
                "name": "trainer",
                "options": {"epochs": 1, "max_train_samples": 300, "threads": 1, "latency_runs": 2, "latency_warmup": 1},
            },
            "objectives": [{"metric": "accuracy"}, {"metric": "latency_ms", "direction": "minimize"}],
            "budget": {"trials": 3},
            "output": str(tmp_path),
        }
    )
    pm = get_plugin_manager(fresh=True)
    pm.register(_TestStrategies(), name="trainer-test-strategies")
    experiment = Experiment.create(config, directory=tmp_path / "run", plugin_manager=pm)
    try:
        result = experiment.run()
    finally:
        experiment.close()
    assert [t.state for t in result.trials] == [TrialState.COMPLETE] * 3, [t.error for t in result.trials]
    for trial in result.trials:
        assert {"accuracy", "test_accuracy", "params", "flops", "peak_memory_mb", "latency_ms"} <= set(trial.metrics)
        model, spec = load_trained_model(Path(trial.artifacts["model"]).parent)
        assert spec.architecture == trial.architecture
        assert (Path(trial.artifacts["model"]).parent / "tensorboard").is_dir()
    board = tmp_path / "run" / "tensorboard"
    assert any(board.glob("events.out.tfevents.*"))
    assert sorted(p.name for p in board.iterdir() if p.is_dir()) == ["trial-00000", "trial-00001", "trial-00002"]
