"""nasforge.compression: make trained models smaller and faster.

Compressors (all :class:`~nasforge.compression.base.Compressor` subclasses, registered by name):

* ``channel`` — :class:`ChannelPruner`, structured pruning that physically removes channels
  (torch-pruning's dependency graph keeps residual models consistent);
* ``depth`` — :class:`DepthPruner`, removes whole residual blocks;
* ``magnitude`` — :class:`MagnitudePruner`, unstructured magnitude pruning (layer-wise or global);
* ``distill`` — :class:`DistillationCompressor`, knowledge-distillation fine-tuning;
* ``qat`` — :class:`QuantizationAwareTraining`, int8 fake-quantization with fine-tuning.

Every compressor takes a ``finetune`` option (with ``distill: true`` the uncompressed model is the
teacher) and returns a :class:`CompressionResult` with the new model and a
:class:`CompressionReport` (params, MACs, sparsity, removed channels and blocks, accuracy).
"""

from nasforge.core.lazy import lazy_exports

_EXPORTS = {
    "CompressionContext": "nasforge.compression.base",
    "CompressionReport": "nasforge.compression.base",
    "CompressionResult": "nasforge.compression.base",
    "Compressor": "nasforge.compression.base",
    "ModelSpec": "nasforge.compression.base",
    "DepthPruner": "nasforge.compression.depth",
    "DistillationCompressor": "nasforge.compression.distill",
    "FineTune": "nasforge.compression.finetune",
    "distillation_loss": "nasforge.compression.finetune",
    "evaluate_accuracy": "nasforge.torchutils",  # the one accuracy helper, re-exported
    "fine_tune": "nasforge.compression.finetune",
    "QuantizationAwareTraining": "nasforge.compression.qat",
    "ChannelPruner": "nasforge.compression.structured",
    "MagnitudePruner": "nasforge.compression.unstructured",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "ChannelPruner",
    "CompressionContext",
    "CompressionReport",
    "CompressionResult",
    "Compressor",
    "DepthPruner",
    "DistillationCompressor",
    "FineTune",
    "MagnitudePruner",
    "ModelSpec",
    "QuantizationAwareTraining",
    "distillation_loss",
    "evaluate_accuracy",
    "fine_tune",
]
