"""The search → compress → export pipeline driven by a config's compress:/export: sections."""

from __future__ import annotations

import json

import pytest
from nasforge_deploy_testing import listed_strategy, register_plugin

from nasforge.core.config import validate_config
from nasforge.core.errors import ConfigError
from nasforge.core.experiment import Experiment
from nasforge.core.plugins import get_plugin_manager

ARCHS = [
    {"stages": 1, "channels_1": 32, "blocks": 1, "kernel_size": 3, "activation": "relu", "residual": False},
    {"stages": 2, "channels_1": 16, "channels_2": 32, "blocks": 1, "kernel_size": 3, "activation": "relu", "residual": True},
]


@pytest.fixture
def pm():
    listed = listed_strategy(ARCHS)
    return register_plugin(get_plugin_manager(fresh=True), "listed_plugin", nasforge_register_strategies=lambda register: register("listed", listed))


def config(tmp_path, **sections):
    data = {
        "name": "deploy",
        "space": {"name": "cnn", "options": {"max_stages": 2, "max_blocks": 1}},
        "strategy": {"name": "listed"},
        "evaluator": {"name": "trainer", "options": {"dataset": "digits", "epochs": 2, "latency_runs": 3, "tensorboard": False}},
        "budget": {"trials": 2},
        "output": str(tmp_path),
        **sections,
    }
    return validate_config(data)


def test_best_architecture_is_pruned_exported_checked_and_benchmarked(tmp_path, pm):
    cfg = config(
        tmp_path,
        compress={"variants": [{"name": "channel", "options": {"ratio": 0.5, "finetune": {"epochs": 4, "lr": 0.05, "distill": True}}}]},
        export={"formats": ["onnx", "onnx-int8"], "calibration_samples": 64, "latency_runs": 5},
    )
    experiment = Experiment.create(cfg, plugin_manager=pm)
    result = experiment.run()
    rows = json.loads((experiment.directory / "deploy" / "summary.json").read_text())
    assert [(r["variant"], r["format"]) for r in rows] == [("uncompressed", "onnx"), ("uncompressed", "onnx-int8"), ("channel", "onnx"), ("channel", "onnx-int8")]
    assert all(r["trial"] == result.best.number for r in rows)
    by = {(r["variant"], r["format"]): r for r in rows}
    assert by["channel", "onnx"]["params"] < 0.6 * by["uncompressed", "onnx"]["params"]  # channels really removed
    assert by["channel", "onnx"]["flops"] < by["uncompressed", "onnx"]["flops"]
    assert by["uncompressed", "onnx-int8"]["file_kb"] < 0.5 * by["uncompressed", "onnx"]["file_kb"]
    for r in rows:
        assert (experiment.directory / "deploy").joinpath(r["file"]).exists()
        assert r["ort_latency_ms"] > 0 and r["ort_threads"] == 1
        assert r["accuracy"] > 0.85, r  # a 2-epoch digits CNN and its compressed/quantized versions
    assert by["uncompressed", "onnx"]["parity_max_abs_diff"] < 1e-3
    assert by["uncompressed", "onnx"]["speedup"] == 1.0
    assert len(experiment.summaries) == 2  # the table and the folder line printed after the search


@pytest.mark.parametrize(
    "sections, field",
    [
        ({"compress": {"variants": [{"name": "chanel"}]}}, "compress.variants[0].name"),
        ({"compress": {"varients": []}}, "compress.varients"),
        ({"export": {"formats": ["tflite"]}}, "export.formats[0]"),
        ({"compress": {"targets": "all"}}, "compress.targets"),
    ],
)
def test_section_mistakes_fail_before_any_folder_exists(tmp_path, pm, sections, field):
    cfg = config(tmp_path, **sections)
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        Experiment.create(cfg, plugin_manager=pm)
    assert not list(tmp_path.glob(f"{cfg.name}-*"))  # no experiment folder was made
