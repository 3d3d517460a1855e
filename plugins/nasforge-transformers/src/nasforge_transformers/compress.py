"""Transformer compressors: attention-head pruning, FFN-neuron pruning and layer dropping.

Registered as ``transformer-heads``, ``transformer-ffn`` and ``transformer-layers``; each is a
:class:`nasforge.compression.base.Compressor`, so the after-search pipeline, ``nasforge compress``
and the compressor conformance suite treat them like any other::

    pruner = HeadPruner(ratio=0.5, importance="gradient", finetune={"epochs": 1, "lr": 5e-5})
    result = pruner.compress(LogitsModel(hf_model), (input_ids, attention_mask), data=batches)
    result.model.model           # a real, smaller Hugging Face model (see extract.py)

The model is a BERT/RoBERTa encoder or GPT-2 decoder with a classification or language-model
head, wrapped in :class:`~nasforge_transformers.wrappers.LogitsModel` (a bare Hugging Face model
is wrapped for you). ``data`` is an iterable of ``(input_ids, labels)`` batches, padded with the
pad token (for a language model the labels are ignored: the loss is next-token prediction).

Importance (``importance`` option):

* ``gradient`` (default; needs ``data``): the first-order importance of Michel et al. (2019) —
  a gate multiplies every head's output, FFN neuron and layer residual branch; the importance of
  a unit is ``|d loss / d gate|`` summed over ``importance_batches`` batches (the gates and scores
  of :mod:`nasforge_transformers.importance`, shared with the one-shot search);
* ``magnitude`` (no data): the L2 norm of a head's output-projection columns, of a neuron's
  up-projection row times its down-projection column; layers by position (the last go first).

``ratio`` is the fraction removed: per layer (``scope: layer``) or ranked over all layers after
normalising each layer's scores to sum 1 (``scope: global``); every kept layer keeps at least one
head and one neuron. ``transformer-layers`` takes ``num_layers`` (how many to drop) or ``ratio``.
Fine-tuning afterwards (``finetune``: :class:`~nasforge_transformers.training.FinetuneOptions`
fields, e.g. ``{epochs: 1, lr: 5e-5}``) uses AdamW with linear warm-up and distils from the
uncompressed model's logits; classification heads only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.compression.base import CompressionContext, Compressor
from nasforge.core.errors import ConfigError, UserError
from nasforge_transformers.data import EncodedTexts
from nasforge_transformers.extract import extract, shape_of
from nasforge_transformers.importance import Importance, compute_importance, layer_units, magnitude_importance
from nasforge_transformers.training import FinetuneOptions, finetune, predict_logits
from nasforge_transformers.wrappers import LogitsModel, unwrap, wrap

IMPORTANCE = ("gradient", "magnitude")
SCOPES = ("layer", "global")


def _default_loss(logits: Any, input_ids: Any, labels: Any, pad_token_id: int) -> Any:
    if logits.dim() == 3:  # language model: predict the next token, padding ignored
        targets = input_ids[:, 1:].masked_fill(input_ids[:, 1:] == pad_token_id, -100)
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
    return F.cross_entropy(logits, labels)


def gradient_scores(model: Any, batches: Iterable[Any], max_batches: int = 32) -> Importance:
    """:func:`~nasforge_transformers.importance.compute_importance` on ``(input_ids, labels)``
    batches (padded with the pad token; for a language model the loss is next-token prediction)."""
    wrapped = wrap(model)
    device = next(wrapped.parameters()).device
    pairs = ({"input_ids": ids.to(device), "labels": y.to(device)} for ids, y in batches)
    return compute_importance(
        wrapped, pairs, lambda logits, b: _default_loss(logits, b["input_ids"], b["labels"], wrapped.pad_token_id),
        forward=lambda m, b: m(b["input_ids"]), max_batches=max_batches,
    )


def keep_top(scores: list[list[float]], ratio: float, scope: str) -> dict[int, list[int]]:
    """Indices kept per layer when ``ratio`` of the units are removed, lowest scores first; at
    least one unit per layer stays. ``scope="global"`` ranks all layers together after
    normalising each layer's scores to sum 1."""
    if scope == "layer":
        kept = {}
        for layer, row in enumerate(scores):
            keep = max(1, len(row) - int(math.floor(ratio * len(row) + 1e-9)))
            kept[layer] = sorted(sorted(range(len(row)), key=lambda i: (-row[i], i))[:keep])
        return kept
    normalised = [[s / (sum(row) or 1.0) for s in row] for row in scores]
    ranked = sorted(((s, layer, i) for layer, row in enumerate(normalised) for i, s in enumerate(row)), key=lambda t: (t[0], -t[1], -t[2]))
    budget = int(math.floor(ratio * sum(len(row) for row in scores) + 1e-9))
    left = [len(row) for row in scores]
    removed: set[tuple[int, int]] = set()
    for _, layer, i in ranked:
        if len(removed) >= budget:
            break
        if left[layer] > 1:
            removed.add((layer, i))
            left[layer] -= 1
    return {layer: [i for i in range(len(row)) if (layer, i) not in removed] for layer, row in enumerate(scores)}


def encoded_from_batches(batches: Iterable[Any], pad_token_id: int) -> EncodedTexts:
    """Padded ``(input_ids, labels)`` batches back to unpadded :class:`EncodedTexts` (for fine-tuning)."""
    ids: list[list[int]] = []
    labels: list[int] = []
    for input_ids, y in batches:
        for row, label in zip(input_ids.tolist(), y.tolist()):
            while len(row) > 1 and row[-1] == pad_token_id:
                row.pop()
            ids.append(row)
            labels.append(int(label))
    return EncodedTexts(ids, labels, pad_token_id)


class _TransformerCompressor(Compressor):
    """Shared options and steps: importance, extraction, AdamW fine-tuning with distillation."""

    #: the compressor suite's options (nasforge.testing.test_installed): magnitude importance needs no data
    conformance_options: dict[str, Any] = {"ratio": 0.5, "importance": "magnitude"}
    conformance_pruner = True

    @staticmethod
    def conformance_model() -> tuple[Any, Any]:
        """The suite's model (a tiny random 3-layer BERT classifier) and example token ids."""
        from nasforge_transformers.testing import tiny_model

        def build() -> LogitsModel:
            model, tokenizer = tiny_model("encoder", "classification", 2, layers=3)
            return LogitsModel(model, tokenizer.pad_token_id)

        return build, torch.randint(5, 60, (2, 8), generator=torch.Generator().manual_seed(0))

    def __init__(self, ratio: float = 0.25, importance: str = "gradient", scope: str = "layer", importance_batches: int = 32, finetune: Mapping[str, Any] | None = None) -> None:
        super().__init__(None)
        field = f"compressor.{self.name}"
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= float(ratio) < 1.0:
            raise ConfigError(f"{field}.ratio", f"must be a number in [0, 1), got {ratio!r}")
        if importance not in IMPORTANCE:
            raise ConfigError(f"{field}.importance", f"must be one of {', '.join(IMPORTANCE)}, got {importance!r}")
        if scope not in SCOPES:
            raise ConfigError(f"{field}.scope", f"must be one of {', '.join(SCOPES)}, got {scope!r}")
        if importance_batches < 1:
            raise ConfigError(f"{field}.importance_batches", f"must be >= 1, got {importance_batches}")
        self.ratio, self.importance, self.scope, self.importance_batches = float(ratio), importance, scope, int(importance_batches)
        self.tune = FinetuneOptions.from_options(finetune, f"{field}.finetune") if finetune else None
        self.options = {"ratio": self.ratio, "importance": importance, "scope": scope, "finetune": dict(finetune or {})}

    def compress(self, model: Any, example_inputs: Any, **kwargs: Any) -> Any:
        return super().compress(wrap(model), example_inputs, **kwargs)

    def _scores(self, model: LogitsModel, ctx: CompressionContext) -> Importance:
        if self.importance == "magnitude":
            return magnitude_importance(model)
        if ctx.data is None:
            raise UserError(f"{self.name}: importance 'gradient' needs data (batches of token ids and labels); pass data or use importance: magnitude")
        return gradient_scores(model, ctx.data, self.importance_batches)

    def _compress(self, model: nn.Module, ctx: CompressionContext) -> nn.Module:
        wrapped = wrap(model)
        before = shape_of(unwrap(wrapped))
        keep_layers, heads, neurons = self._plan(self._scores(wrapped, ctx), before)
        small = LogitsModel(extract(unwrap(wrapped), keep_layers, heads, neurons), wrapped.pad_token_id)
        after = shape_of(small.model)
        ctx.report.notes.append(f"layers {before['layers']} -> {after['layers']}, heads {before['heads']} -> {after['heads']}, FFN {before['intermediate']} -> {after['intermediate']}")
        ctx.report.removed_blocks.extend(f"layer {i}" for i in range(before["layers"]) if i not in keep_layers)
        if self.tune is not None:
            self._finetune(wrapped, small, ctx)
        return small

    def _finetune(self, teacher: LogitsModel, student: LogitsModel, ctx: CompressionContext) -> None:
        if ctx.data is None:
            raise UserError(f"{self.name}: finetune needs data (batches of token ids and labels)")
        train = encoded_from_batches(ctx.data, teacher.pad_token_id)
        with torch.no_grad():
            if teacher(torch.tensor([train.input_ids[0]])).dim() != 2:
                raise UserError(f"{self.name}: finetune supports classification models; a language model is pruned without it")
        logits = predict_logits(teacher.model, train)
        result = finetune(student.model, train, self.tune, teacher_logits=logits)
        ctx.report.finetune_losses = result.losses

    def _plan(self, scores: Importance, shape: dict[str, Any]) -> tuple[list[int], dict[int, list[int]], dict[int, list[int]]]:
        raise NotImplementedError


class HeadPruner(_TransformerCompressor):
    """Remove the least important attention heads (query/key/value rows and output columns)."""

    name = "transformer-heads"

    def _plan(self, scores, shape):
        return list(range(shape["layers"])), keep_top(scores.heads, self.ratio, self.scope), {}


class FFNPruner(_TransformerCompressor):
    """Remove the least important FFN neurons (up-projection rows, down-projection columns)."""

    name = "transformer-ffn"

    def _plan(self, scores, shape):
        return list(range(shape["layers"])), {}, keep_top(scores.neurons, self.ratio, self.scope)


class LayerDropper(_TransformerCompressor):
    """Drop the least important whole layers (``num_layers`` of them, or ``ratio`` of all)."""

    name = "transformer-layers"
    conformance_options = {"num_layers": 1, "importance": "magnitude"}

    def __init__(self, num_layers: int | None = None, ratio: float = 0.0, importance: str = "gradient", importance_batches: int = 32, finetune: Mapping[str, Any] | None = None) -> None:
        super().__init__(ratio=ratio, importance=importance, importance_batches=importance_batches, finetune=finetune)
        if num_layers is not None and (isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 0):
            raise ConfigError(f"compressor.{self.name}.num_layers", f"must be a whole number >= 0, got {num_layers!r}")
        if num_layers is None and self.ratio == 0.0:
            raise ConfigError(f"compressor.{self.name}", "give num_layers (how many layers to drop) or ratio (the fraction of layers)")
        self.num_layers = num_layers
        self.options["num_layers"] = num_layers

    def _plan(self, scores, shape):
        total = shape["layers"]
        drop = self.num_layers if self.num_layers is not None else int(math.floor(self.ratio * total + 1e-9))
        if drop >= total:
            raise UserError(f"{self.name}: cannot drop {drop} of {total} layers; at least one must stay")
        order = sorted(range(total), key=lambda i: (scores.layers[i], -i))  # least important first; ties: the later layer
        return sorted(set(range(total)) - set(order[:drop])), {}, {}


COMPRESSORS = (HeadPruner, FFNPruner, LayerDropper)

__all__ = ["COMPRESSORS", "FFNPruner", "HeadPruner", "LayerDropper", "encoded_from_batches", "gradient_scores", "keep_top", "layer_units"]
