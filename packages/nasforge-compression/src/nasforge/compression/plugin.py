"""The compression package's plugin: registers the compressors (``nasforge compress`` is nasforge-deploy's)."""

from __future__ import annotations

from nasforge.core.registration import ComponentTable

#: The built-in compressors by registered name (by reference: torch is imported on first use).
COMPRESSORS = ComponentTable([
    ("compressor", "magnitude", "nasforge.compression.unstructured:MagnitudePruner", "Unstructured magnitude pruning (layer-wise or global), made permanent"),
    ("compressor", "channel", "nasforge.compression.structured:ChannelPruner", "Structured channel pruning that physically removes channels (L1/L2/BN/Taylor; ratio, MACs or latency target)"),
    ("compressor", "depth", "nasforge.compression.depth:DepthPruner", "Remove the least important residual blocks"),
    ("compressor", "distill", "nasforge.compression.distill:DistillationCompressor", "Fine-tune against a teacher's softened logits (knowledge distillation)"),
    ("compressor", "qat", "nasforge.compression.qat:QuantizationAwareTraining", "Int8 quantization-aware training (fake-quant weights and activations; QDQ ONNX via the TorchScript exporter)"),
])
nasforge_register_compressors = COMPRESSORS.hook("compressor")

