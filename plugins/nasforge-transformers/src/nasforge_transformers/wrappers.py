"""A Hugging Face model as a module that returns one tensor: what exporters and compressors take.

::

    wrapped = LogitsModel(hf_model, pad_token_id=tokenizer.pad_token_id)
    wrapped(input_ids)                      # attention mask derived: input_ids != pad_token_id
    wrapped(input_ids, attention_mask)      # -> logits tensor

nasforge's export and compression stages work on ``torch.nn.Module`` objects whose forward takes
tensors and returns one tensor; ``transformers`` models take keyword arguments and return a
``ModelOutput``. The wrapper bridges the two; ``wrapped.model`` is the Hugging Face model.
"""

from __future__ import annotations

from typing import Any

from torch import nn


class LogitsModel(nn.Module):
    """``forward(input_ids, attention_mask=None) -> logits`` around a Hugging Face model."""

    def __init__(self, model: Any, pad_token_id: int | None = None) -> None:
        super().__init__()
        self.model = model
        pad = pad_token_id if pad_token_id is not None else getattr(model.config, "pad_token_id", None)
        self.pad_token_id = int(pad) if pad is not None else 0

    @property
    def config(self) -> Any:
        return self.model.config

    def forward(self, input_ids: Any, attention_mask: Any = None) -> Any:
        if attention_mask is None:
            attention_mask = (input_ids != self.pad_token_id).long()
        extra = {"use_cache": False} if getattr(self.model.config, "use_cache", False) else {}  # no key/value cache: one forward pass
        return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).logits


def unwrap(model: Any) -> Any:
    """The Hugging Face model inside a :class:`LogitsModel` (or ``model`` itself)."""
    return model.model if isinstance(model, LogitsModel) else model


def wrap(model: Any, pad_token_id: int | None = None) -> LogitsModel:
    """``model`` as a :class:`LogitsModel` (unchanged if it already is one)."""
    return model if isinstance(model, LogitsModel) else LogitsModel(model, pad_token_id)
