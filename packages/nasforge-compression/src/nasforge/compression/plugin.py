"""The compression package's plugin: registers the compressors (``nasforge compress`` is nasforge-deploy's)."""

from __future__ import annotations

from nasforge.core.hookspecs import hookimpl

#: The built-in compressors by registered name (by reference: torch is imported on first use).
COMPRESSORS = {
    "magnitude": ("nasforge.compression.unstructured:MagnitudePruner", "Unstructured magnitude pruning (layer-wise or global), made permanent"),
    "channel": ("nasforge.compression.structured:ChannelPruner", "Structured channel pruning that physically removes channels (L1/L2/BN/Taylor; ratio, MACs or latency target)"),
    "depth": ("nasforge.compression.depth:DepthPruner", "Remove the least important residual blocks"),
    "distill": ("nasforge.compression.distill:DistillationCompressor", "Fine-tune against a teacher's softened logits (knowledge distillation)"),
    "qat": ("nasforge.compression.qat:QuantizationAwareTraining", "Int8 quantization-aware training (fake-quant weights and activations; QDQ ONNX via the TorchScript exporter)"),
}


@hookimpl
def nasforge_register_compressors(register):
    for name, (cls, description) in COMPRESSORS.items():
        register(name, cls, description)

