"""Quantization-aware training (``qat``): int8 fake quantization of weights and activations.

Every convolution and linear layer is wrapped in a :class:`FakeQuantLayer`:

* its **input** is fake-quantized per tensor to ``uint8`` (affine, zero point), with the range
  tracked by an exponential moving average of the min/max seen while training or calibrating;
* its **weight** is fake-quantized per output channel to ``int8`` (symmetric, scale
  ``max|w| / 127``).

``torch.fake_quantize_*`` pass gradients straight through, so fine-tuning (the ``finetune``
option; required) learns weights that survive rounding. Afterwards the scales are frozen into
buffers, and exporting the model with the export package's ``export_onnx(..., exporter="torchscript")``
(or ``torch.onnx.export(..., dynamo=False)``) gives an ONNX graph with ``QuantizeLinear`` /
``DequantizeLinear`` pairs (QDQ) that onnxruntime runs and can fuse into int8 kernels.

Limits, measured on torch 2.14: the **dynamo** ONNX exporter cannot convert the fake-quantize
operators (``ConversionError``), so use the TorchScript exporter; and the exported graph keeps
float weights with QDQ around them (onnxruntime quantizes them when it builds the session). For
post-training int8 without training, use the export package's ``quantize_int8`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.core.errors import ConfigError, UserError

from ._utils import check_positive, module_parent, prunable_layers, resolve_modules
from .base import CompressionContext, Compressor, FineTune


class FakeQuantLayer(nn.Module):
    """A conv or linear layer with int8 fake quantization of its weight and input (see the module docstring)."""

    def __init__(self, layer: nn.Module, momentum: float = 0.1) -> None:
        super().__init__()
        if not isinstance(layer, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            raise TypeError(f"FakeQuantLayer wraps conv and linear layers, not {type(layer).__name__}")
        self.layer = layer
        self.momentum = momentum
        self.register_buffer("in_min", torch.tensor(float("inf")))
        self.register_buffer("in_max", torch.tensor(float("-inf")))
        self.register_buffer("in_scale", torch.tensor(1.0))
        self.register_buffer("in_zero_point", torch.tensor(0, dtype=torch.int32))
        self.register_buffer("w_scale", torch.ones(layer.weight.shape[0]))
        self.observe = True
        self.frozen = False

    def _update_range(self, x: torch.Tensor) -> None:
        lo, hi = x.detach().min(), x.detach().max()
        if torch.isinf(self.in_min):
            self.in_min.copy_(lo)
            self.in_max.copy_(hi)
        else:
            self.in_min.lerp_(lo, self.momentum)
            self.in_max.lerp_(hi, self.momentum)
        lo_r, hi_r = torch.clamp(self.in_min, max=0.0), torch.clamp(self.in_max, min=0.0)  # the range must hold 0
        scale = ((hi_r - lo_r) / 255.0).clamp_min(1e-8)
        self.in_scale.copy_(scale)
        self.in_zero_point.copy_(torch.clamp(torch.round(-lo_r / scale), 0, 255).to(torch.int32))

    def _weight_scale(self) -> torch.Tensor:
        w = self.layer.weight.detach()
        return (w.abs().reshape(w.shape[0], -1).amax(dim=1) / 127.0).clamp_min(1e-8)

    def freeze(self) -> None:
        """Stop observing and fix the weight scales (constants in an exported graph)."""
        self.w_scale.copy_(self._weight_scale())
        self.observe = False
        self.frozen = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observe:
            self._update_range(x)
        x = torch.fake_quantize_per_tensor_affine(x, self.in_scale, self.in_zero_point, 0, 255)
        scale = self.w_scale if self.frozen else self._weight_scale()
        w = torch.fake_quantize_per_channel_affine(self.layer.weight, scale, torch.zeros_like(scale, dtype=torch.int32), 0, -128, 127)
        layer = self.layer
        if isinstance(layer, nn.Linear):
            return F.linear(x, w, layer.bias)
        conv = {nn.Conv1d: F.conv1d, nn.Conv2d: F.conv2d, nn.Conv3d: F.conv3d}[type(layer)]
        if layer.padding_mode != "zeros":
            raise UserError(f"qat does not support padding_mode={layer.padding_mode!r}; ignore that layer")
        return conv(x, w, layer.bias, layer.stride, layer.padding, layer.dilation, layer.groups)


class QuantizationAwareTraining(Compressor):
    """Int8 quantization-aware training of conv and linear layers (weights per channel, inputs per tensor).

    :param ignore: names of layers to keep in float.
    :param calibration_batches: batches of ``data`` run (without training) to set activation
        ranges before fine-tuning starts.
    :param momentum: of the moving min/max of activations.
    :param finetune: see :class:`~nasforge.compression.finetune.FineTune`; ``epochs`` of at least
        1 is required (that is the "training" in QAT). Distillation from the float model works.
    """

    name = "qat"
    needs_data = True
    #: options for nasforge.testing's compressor conformance suite
    conformance_options = {"calibration_batches": 2, "finetune": {"epochs": 1, "max_batches": 2, "lr": 0.001}}

    def __init__(
        self,
        ignore: Sequence[str] = (),
        calibration_batches: int = 8,
        momentum: float = 0.1,
        finetune: FineTune | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(finetune if finetune is not None else {"epochs": 1, "lr": 0.001})
        if self.finetune.epochs < 1:
            raise ConfigError("compressor.qat.finetune.epochs", "quantization-aware training needs at least 1 epoch of fine-tuning")
        if isinstance(ignore, str) or not all(isinstance(n, str) for n in ignore):
            raise ConfigError("compressor.qat.ignore", f"must be a list of layer names, got {ignore!r}")
        check_positive("compressor.qat.calibration_batches", calibration_batches, integer=True, strict=False)
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 < momentum <= 1:
            raise ConfigError("compressor.qat.momentum", f"must be in (0, 1], got {momentum!r}")
        self.ignore = list(ignore)
        self.calibration_batches = calibration_batches
        self.momentum = float(momentum)
        self.options = {"ignore": self.ignore or None, "calibration_batches": calibration_batches, "momentum": self.momentum}
        self.options = {k: v for k, v in self.options.items() if v is not None}

    def _check_model(self, model: nn.Module) -> None:
        resolve_modules(model, self.ignore, "compressor.qat.ignore")

    def _compress(self, model: nn.Module, ctx: CompressionContext) -> nn.Module:
        wrapped = []
        for name, layer in prunable_layers(model).items():
            if name in self.ignore:
                ctx.report.skipped.append(f"{name} (in 'ignore', kept in float)")
                continue
            parent, attr = module_parent(model, name)
            setattr(parent, attr, FakeQuantLayer(layer, self.momentum))
            wrapped.append(name)
        if not wrapped:
            raise UserError("qat found no conv or linear layer to quantize")
        with torch.no_grad():
            model.eval()
            for i, (x, _) in enumerate(ctx.data or []):
                if i >= self.calibration_batches:
                    break
                model(x)
        ctx.report.notes.append(f"{len(wrapped)} layers fake-quantized to int8 (weights per channel, inputs per tensor)")
        ctx.report.steps.append({"quantized_layers": wrapped})
        return model

    def _finalize(self, model: nn.Module, ctx: CompressionContext) -> nn.Module:
        for m in model.modules():
            if isinstance(m, FakeQuantLayer):
                m.freeze()
        ctx.report.notes.append("export with export_onnx(..., exporter='torchscript') of the export package for a QDQ graph; the dynamo exporter cannot convert fake-quantize ops")
        return model
