"""int8 static quantization and fp16 conversion, judged by accuracy on held-out digits."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from nasforge_export_testing import torch_accuracy
from onnx import numpy_helper

from nasforge.core.errors import UserError
from nasforge.export import ArrayCalibrationReader, check_parity, convert_fp16, evaluate_onnx_accuracy, quantize_int8

#: Stated bound: static int8 may lose at most this much top-1 accuracy on the digits test split.
MAX_INT8_DROP = 0.02


def test_int8_keeps_accuracy_and_shrinks_the_file(digits_model, digits_onnx, tmp_path):
    model, x_train, _, x_test, y_test = digits_model
    fp32 = evaluate_onnx_accuracy(digits_onnx, x_test, y_test)
    assert fp32 == pytest.approx(torch_accuracy(model, x_test, y_test), abs=1e-3)
    assert fp32 > 0.85, "the quickly trained digits model should be a real classifier"

    result = quantize_int8(digits_onnx, tmp_path / "digits.int8.onnx", x_train[:300])
    int8 = evaluate_onnx_accuracy(result.path, x_test, y_test)
    assert fp32 - int8 <= MAX_INT8_DROP, f"int8 accuracy {int8:.4f} vs fp32 {fp32:.4f}"
    assert result.size_bytes < 0.5 * result.source_size_bytes
    assert result.calibration_samples == 300
    ops = {n.op_type for n in onnx.load(str(result.path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops  # QDQ format
    # per-channel: the conv weight scales are vectors, one per output channel
    proto = onnx.load(str(result.path))
    scales = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    weight_dq = [n for n in proto.graph.node if n.op_type == "DequantizeLinear" and scales.get(n.input[0]) is not None and scales[n.input[0]].dtype == np.int8 and scales[n.input[0]].ndim == 4]
    assert weight_dq and all(scales[n.input[1]].ndim == 1 and scales[n.input[1]].size > 1 for n in weight_dq)


def test_exclude_last_layer_keeps_the_classifier_in_float(digits_model, digits_onnx, tmp_path):
    _, x_train, _, x_test, y_test = digits_model
    result = quantize_int8(digits_onnx, tmp_path / "q.onnx", x_train[:200], exclude_last_layer=True)
    assert len(result.excluded_nodes) == 1
    proto = onnx.load(str(result.path))
    head = next(n for n in proto.graph.node if n.name == result.excluded_nodes[0])
    assert head.op_type in ("Gemm", "MatMul")
    floats = {i.name for i in proto.graph.initializer if i.data_type == onnx.TensorProto.FLOAT}
    assert head.input[1] in floats  # its weight is not behind a DequantizeLinear
    assert evaluate_onnx_accuracy(result.path, x_test, y_test) > 0.85


def test_qoperator_format_and_options_validation(digits_model, digits_onnx, tmp_path):
    _, x_train, _, x_test, y_test = digits_model
    result = quantize_int8(digits_onnx, tmp_path / "qop.onnx", x_train[:100], quant_format="qoperator", activation_type="uint8")
    ops = {n.op_type for n in onnx.load(str(result.path)).graph.node}
    assert "QLinearConv" in ops
    assert evaluate_onnx_accuracy(result.path, x_test, y_test) > 0.85
    with pytest.raises(UserError, match="quant_format"):
        quantize_int8(digits_onnx, tmp_path / "x.onnx", x_train[:10], quant_format="int4")
    with pytest.raises(UserError, match="not in the graph"):
        quantize_int8(digits_onnx, tmp_path / "x.onnx", x_train[:10], nodes_to_exclude=("no_such_node",))


def test_op_types_limit_what_is_quantized_and_an_exporter_takes_the_models_hint(digits_model, digits_onnx, tmp_path):
    from nasforge.export.exporters import OnnxInt8Exporter

    model, x_train, _, x_test, y_test = digits_model

    def quantized_consumers(path):
        proto = onnx.load(str(path))
        dq = {o for n in proto.graph.node if n.op_type == "DequantizeLinear" for o in n.output}
        return {n.op_type for n in proto.graph.node if n.op_type not in ("QuantizeLinear", "DequantizeLinear") and set(n.input) & dq}

    assert "Conv" in quantized_consumers(quantize_int8(digits_onnx, tmp_path / "all.onnx", x_train[:50]).path)
    only = quantize_int8(digits_onnx, tmp_path / "gemm.onnx", x_train[:50], op_types=("Gemm",))
    assert quantized_consumers(only.path) == {"Gemm"} and only.options.op_types == ("Gemm",)
    with pytest.raises(UserError, match="op_types"):
        quantize_int8(digits_onnx, tmp_path / "x.onnx", x_train[:10], op_types="Gemm")
    # a model naming its op types in onnx_int8_op_types gets them unless the exporter is told otherwise
    model.onnx_int8_op_types = ("Gemm",)
    try:
        hinted = OnnxInt8Exporter().export(model, x_train[:1], tmp_path / "hint", "m", calibration=x_train[:50])
        told = OnnxInt8Exporter(op_types=["Conv"]).export(model, x_train[:1], tmp_path / "told", "m", calibration=x_train[:50])
    finally:
        del model.onnx_int8_op_types
    assert quantized_consumers(hinted.path) == {"Gemm"} and list(hinted.card["quantization"]["options"]["op_types"]) == ["Gemm"]
    assert "Conv" in quantized_consumers(told.path) and "Gemm" not in quantized_consumers(told.path)


def test_calibration_reader_batches_and_rewinds():
    reader = ArrayCalibrationReader(["input"], np.zeros((10, 1, 8, 8), np.float64), batch_size=4)
    sizes = []
    while (batch := reader.get_next()) is not None:
        sizes.append(batch["input"].shape[0])
        assert batch["input"].dtype == np.float32
    assert sizes == [4, 4, 2]
    reader.rewind()
    assert reader.get_next()["input"].shape == (4, 1, 8, 8)
    with pytest.raises(UserError, match="model takes 2"):
        ArrayCalibrationReader(["a", "b"], np.zeros((3, 2)))


def test_fp16_conversion_runs_and_stays_close(digits_model, digits_onnx, tmp_path):
    model, _, _, x_test, y_test = digits_model
    path = convert_fp16(digits_onnx, tmp_path / "digits.fp16.onnx")
    proto = onnx.load(str(path))
    assert any(i.data_type == onnx.TensorProto.FLOAT16 for i in proto.graph.initializer)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # io types kept
    assert path.stat().st_size < 0.7 * digits_onnx.stat().st_size  # weights halve; graph overhead stays
    report = check_parity(model, path, x_test, atol=1e-2, rtol=1e-2, min_argmax_agreement=0.98)
    assert report.max_abs_diff > 0  # really reduced precision
    assert abs(evaluate_onnx_accuracy(path, x_test, y_test) - evaluate_onnx_accuracy(digits_onnx, x_test, y_test)) <= 0.01


def test_accuracy_helper_checks_its_inputs(digits_onnx):
    with pytest.raises(UserError, match="labels"):
        evaluate_onnx_accuracy(digits_onnx, torch.zeros(4, 1, 8, 8), [0, 1])


def test_sort_topologically_repairs_node_order():
    from onnx import helper

    from nasforge.export.quantize import sort_topologically

    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])
    z = helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, [2])
    nodes = [helper.make_node("Neg", ["y2"], ["z"], name="c"), helper.make_node("Relu", ["y1"], ["y2"], name="b"), helper.make_node("Abs", ["x"], ["y1"], name="a")]
    graph = helper.make_graph(nodes, "g", [x], [z])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(onnx.checker.ValidationError):
        onnx.checker.check_model(model)
    sort_topologically(model.graph)
    assert [n.name for n in model.graph.node] == ["a", "b", "c"]
    onnx.checker.check_model(model)
