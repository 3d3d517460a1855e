"""latency_ms measured by onnxruntime inside the search: a hardware-aware objective or constraint."""

from __future__ import annotations

import pytest

from nasforge.core.errors import ConfigError
from nasforge.trainer import TrainingEvaluator, cnn_space
from nasforge.trainer.metrics import measure_latency, measure_onnxruntime_latency


def test_onnxruntime_latency_is_measured_on_the_exported_model():
    import torch

    from nasforge.trainer import build_model

    space = cnn_space()
    small = build_model("cnn", space.validate({"stages": 1, "channels_1": 8, "blocks": 1, "kernel_size": 3, "activation": "relu", "residual": False}), (1, 8, 8), 10)
    big = build_model("cnn", space.validate({"stages": 3, "channels_1": 48, "channels_2": 48, "channels_3": 48, "blocks": 2, "kernel_size": 5, "activation": "relu", "residual": True}), (1, 8, 8), 10)
    torch.manual_seed(0)
    small_ms = measure_onnxruntime_latency(small, (1, 8, 8), runs=20, threads=1)
    big_ms = measure_onnxruntime_latency(big, (1, 8, 8), runs=20, threads=1)
    assert 0 < small_ms < big_ms  # 50x the FLOPs must cost more time
    assert measure_latency(small, (1, 8, 8), runs=5) > 0


def test_latency_backend_is_validated():
    with pytest.raises(ConfigError, match="latency_backend"):
        TrainingEvaluator(cnn_space(), latency_backend="tensorrt")
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        with pytest.raises(ConfigError, match="CUDAExecutionProvider"):
            TrainingEvaluator(cnn_space(), latency_backend="onnxruntime-cuda")


def test_a_search_can_constrain_onnxruntime_latency(tmp_path):
    from nasforge.core.config import validate_config
    from nasforge.core.experiment import Experiment

    config = validate_config({
        "name": "hw-aware",
        "space": {"name": "cnn", "options": {"max_stages": 2, "max_blocks": 1}},
        "strategy": {"name": "random"},
        "evaluator": {"name": "trainer", "options": {"epochs": 1, "latency_backend": "onnxruntime", "latency_runs": 5, "tensorboard": False, "save_model": False}},
        "objectives": ["accuracy", "latency_ms:min"],
        "constraints": ["latency_ms <= 1000"],
        "budget": {"trials": 3},
        "output": str(tmp_path),
    })
    result = Experiment.create(config).run()
    assert all(t.metrics["latency_ms"] > 0 for t in result.trials)
    assert result.pareto
