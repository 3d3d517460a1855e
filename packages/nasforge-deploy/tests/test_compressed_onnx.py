"""Pruned models export to ONNX and run in onnxruntime with the same outputs."""

from __future__ import annotations

import pytest
import torch

from nasforge.compression import ChannelPruner, DepthPruner, MagnitudePruner
from nasforge.compression.models.cifar_resnet import resnet20
from nasforge.export import OnnxRuntimeLatency, check_parity, export_onnx


@pytest.mark.parametrize(
    "compressor",
    [ChannelPruner(ratio=0.5, round_to=4), DepthPruner(num_blocks=2, criterion="residual_norm"), MagnitudePruner(sparsity=0.5)],
    ids=["channel", "depth", "magnitude"],
)
def test_compressed_resnet_exports_and_matches_onnxruntime(compressor, tmp_path):
    torch.manual_seed(0)
    x = torch.randn(4, 3, 32, 32)
    model = compressor.compress(resnet20(), x).model.eval()
    info = export_onnx(model, x[:1], tmp_path / "m.onnx", exporter="torchscript")
    report = check_parity(model, info.path, x)
    assert report.passed and report.argmax_agreement == 1.0
    assert report.max_abs_diff < 1e-4


def test_latency_callback_measures_a_smaller_model_as_faster():
    x = torch.randn(1, 3, 32, 32)
    big = resnet20()
    small = ChannelPruner(ratio=0.75).compress(big, x).model
    latency = OnnxRuntimeLatency(x, threads=1, runs=30, warmup=5)
    assert 0 < latency(small) < latency(big)
