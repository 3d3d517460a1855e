"""Quantization-aware training: accuracy survives int8 rounding, and the QDQ ONNX graph matches."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from nasforge.compression import QuantizationAwareTraining, evaluate_accuracy
from nasforge.compression.qat import FakeQuantLayer
from nasforge.core.errors import ConfigError


def test_qat_keeps_accuracy_and_exports_qdq(digits, trained_digits_cnn, tmp_path):
    model, acc_before = trained_digits_cnn
    train, test, shape = digits
    result = QuantizationAwareTraining(finetune={"epochs": 1, "lr": 0.005}).compress(
        model, torch.randn(2, *shape), data=train, eval_fn=lambda m: evaluate_accuracy(m, test)
    )
    q = result.model
    layers = [m for m in q.modules() if isinstance(m, FakeQuantLayer)]
    assert layers and all(m.frozen for m in layers)
    assert result.report.metrics_after["accuracy"] >= acc_before - 0.03, result.report.table()
    # the weights the model computes with sit on the int8 grid of their channel scale
    w, s = layers[0].layer.weight.detach(), layers[0].w_scale
    q_w = torch.fake_quantize_per_channel_affine(w, s, torch.zeros_like(s, dtype=torch.int32), 0, -128, 127)
    assert torch.allclose(torch.round(q_w / s.view(-1, 1, 1, 1)), q_w / s.view(-1, 1, 1, 1), atol=1e-4)

    import onnxruntime as ort

    from nasforge.export import export_onnx

    x = next(iter(test))[0][:8]
    info = export_onnx(q.eval(), x[:1], tmp_path / "qat.onnx", exporter="torchscript")
    ops = {n.op_type for n in onnx.load(info.path).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    sess = ort.InferenceSession(str(info.path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {sess.get_inputs()[0].name: x.numpy()})[0]
    want = q(x).detach().numpy()
    assert np.array_equal(got.argmax(1), want.argmax(1))
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()


def test_qat_needs_training():
    with pytest.raises(ConfigError, match="at least 1 epoch"):
        QuantizationAwareTraining(finetune={"epochs": 0})
