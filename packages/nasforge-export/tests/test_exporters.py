"""Conformance suite: every registered exporter writes a checked file and an honest model card."""

from __future__ import annotations

import json

import onnx
import pytest

from nasforge.core.errors import UserError
from nasforge.core.plugins import get_plugin_manager
from nasforge.export import Exporter, ParityError, read_card, verify_card
from nasforge.export._common import sha256_file

EXPORTERS = sorted(get_plugin_manager(fresh=True).components("exporter"))


def test_builtin_exporters_are_registered():
    assert {"onnx", "onnx-int8", "onnx-fp16"} <= set(EXPORTERS)


@pytest.mark.parametrize("name", EXPORTERS)
def test_exporter_conformance(name, digits_model, tmp_path):
    cls = get_plugin_manager().get("exporter", name)
    assert issubclass(cls, Exporter) and cls.__doc__
    if getattr(cls, "conformance_skip_export", None):
        # an exporter for another kind of model (e.g. token-id inputs) says so and tests itself
        pytest.skip(f"{name}: {cls.conformance_skip_export}")
    model, x_train, _, x_test, y_test = digits_model
    exporter = cls(benchmark=True, benchmark_options={"batch_sizes": (1, 8), "runs": 3, "warmup": 1})
    result = exporter.export(model, x_train[:1], tmp_path, "digits", x_train[:128], evaluation=(x_test, y_test), source={"arch": {"width": 16}})

    assert result.path.is_file() and result.path.parent == tmp_path
    onnx.checker.check_model(str(result.path))
    assert result.card_path == result.path.with_name(result.path.stem + ".card.json")
    card = json.loads(result.card_path.read_text())
    assert card == read_card(result.path)
    assert card["sha256"] == sha256_file(result.path) and verify_card(result.card_path)
    assert card["file"] == result.path.name and card["variant"] == cls.variant
    prov = card["provenance"]
    for key in ("created", "torch", "onnx", "onnxruntime", "nasforge"):
        assert prov[key]
    assert prov["source"]["arch"] == {"width": 16} and prov["sample_input_shapes"] == [[1, 1, 8, 8]]
    assert card["opset"] >= 13 and card["inputs"][0]["shape"] == ["batch", 1, 8, 8]
    assert card["parity"]["passed"] and card["parity"]["samples"] == 128 and card["parity"]["inputs"] == "calibration samples"
    assert 0.85 < card["metrics"]["accuracy"] <= 1.0 and card["metrics"]["evaluation_samples"] == len(y_test)
    if "accuracy_fp32" in card["metrics"]:
        assert card["metrics"]["accuracy_drop"] == pytest.approx(card["metrics"]["accuracy_fp32"] - card["metrics"]["accuracy"])
        assert card["metrics"]["size_ratio_vs_fp32"] < 0.7
    assert {(b["batch_size"], b["threads"]) for b in card["benchmark"]} == {(1, 1), (8, 1)}
    assert result.card_path.with_suffix(".md").read_text().startswith(f"# {result.path.stem}")

    # tampering with the file is detected by the card
    result.path.write_bytes(result.path.read_bytes() + b"\0")
    assert not verify_card(result.card_path)


def test_int8_without_calibration_is_a_user_error(digits_model, tmp_path):
    model, x_train, *_ = digits_model
    with pytest.raises(UserError, match="calibration"):
        get_plugin_manager().get("exporter", "onnx-int8")().export(model, x_train[:1], tmp_path, "d")


def test_exporter_parity_threshold_is_configurable(digits_model, tmp_path):
    model, x_train, *_ = digits_model
    int8 = get_plugin_manager().get("exporter", "onnx-int8")
    with pytest.raises(ParityError) as err:  # demanding float-exact output from an int8 model fails loudly
        int8(atol=1e-6, rtol=0.0).export(model, x_train[:1], tmp_path, "d", x_train[:64])
    assert not err.value.report.passed and err.value.report.max_abs_diff > 1e-6
    card = read_card(tmp_path / "d.int8.onnx")  # written anyway, so that the numbers can be inspected
    assert card["parity"]["passed"] is False and "PARITY FAILED" in card["notes"][0]


def test_bad_export_name(digits_model, tmp_path):
    model, x_train, *_ = digits_model
    with pytest.raises(UserError, match="file stem"):
        get_plugin_manager().get("exporter", "onnx")().export(model, x_train[:1], tmp_path, "a/b")
