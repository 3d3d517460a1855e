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

from .base import CompressionContext, CompressionReport, CompressionResult, Compressor, ModelSpec
from .depth import DepthPruner
from .distill import DistillationCompressor
from .finetune import FineTune, distillation_loss, evaluate_accuracy, fine_tune
from .qat import QuantizationAwareTraining
from .structured import ChannelPruner
from .unstructured import MagnitudePruner

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
