"""Knowledge distillation as a compressor of its own: :class:`DistillationCompressor` (``distill``).

Every compressor can already distil from the uncompressed model while fine-tuning (its
``finetune: {distill: true}`` option). This compressor is for the other case: the model you have
is *already* compressed (or is a small model trained some other way) and you want to fine-tune it
against a separate, larger teacher::

    student = ChannelPruner(ratio=0.5).compress(model, x).model
    tuned = DistillationCompressor(teacher=model, epochs=3).compress(student, x, data=batches).model

Without a ``teacher`` the model distils from a frozen copy of itself (self-distillation), which
mostly acts as label smoothing.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from nasforge.core.errors import ConfigError

from .base import CompressionContext, Compressor
from .finetune import FineTune, frozen_copy


class DistillationCompressor(Compressor):
    """Fine-tune a model against a teacher's softened logits (and the labels).

    :param teacher: the teacher module (default: a frozen copy of the model being tuned).
    :param epochs: passes over ``data``.
    :param lr: initial learning rate (SGD with momentum, cosine schedule).
    :param temperature: softening temperature ``T``.
    :param alpha: weight of the distillation term; ``1 - alpha`` goes to cross-entropy.
    :param max_batches: stop each epoch after this many batches.
    """

    name = "distill"
    needs_data = True

    def __init__(
        self,
        teacher: nn.Module | None = None,
        epochs: int = 1,
        lr: float = 0.01,
        temperature: float = 4.0,
        alpha: float = 0.9,
        max_batches: int | None = None,
        **finetune: Any,
    ) -> None:
        if teacher is not None and not isinstance(teacher, nn.Module):
            raise ConfigError("compressor.distill.teacher", f"must be a torch.nn.Module, got {type(teacher).__name__}")
        if "distill" in finetune or "epochs_between_steps" in finetune:
            raise ConfigError("compressor.distill", "the distill compressor always distils and has no steps; drop 'distill'/'epochs_between_steps'")
        super().__init__(FineTune.from_options(dict(finetune, epochs=epochs, lr=lr, temperature=temperature, alpha=alpha, max_batches=max_batches, distill=True), "compressor.distill"))
        if epochs < 1:
            raise ConfigError("compressor.distill.epochs", f"must be at least 1, got {epochs}")
        self.teacher = teacher
        self.options = {"epochs": epochs, "lr": lr, "temperature": temperature, "alpha": alpha, "teacher": type(teacher).__name__ if teacher is not None else "self"}

    def _make_teacher(self, model: nn.Module) -> nn.Module:
        return frozen_copy(self.teacher) if self.teacher is not None else frozen_copy(model)

    def _compress(self, model: nn.Module, ctx: CompressionContext) -> nn.Module:
        # the work happens in the fine-tuning that follows every compressor (see Compressor.compress)
        return model
