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
  a unit is ``|d loss / d gate|`` summed over ``importance_batches`` batches;
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
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.compression.base import CompressionContext, Compressor
from nasforge.core.errors import ConfigError, UserError
from nasforge_transformers.data import EncodedTexts
from nasforge_transformers.extract import extract, layer_modules, shape_of
from nasforge_transformers.training import FinetuneOptions, finetune, predict_logits
from nasforge_transformers.wrappers import LogitsModel, unwrap, wrap

IMPORTANCE = ("gradient", "magnitude")
SCOPES = ("layer", "global")


@dataclass(frozen=True)
class LayerUnits:
    """The modules whose *inputs* are a layer's head outputs and FFN activations, and their sizes."""

    attention_output: nn.Module
    ffn_up: nn.Module
    ffn_down: nn.Module
    num_heads: int
    head_dim: int
    decoder: bool

    @property
    def intermediate(self) -> int:
        return int(self.ffn_down.weight.shape[0] if self.decoder else self.ffn_down.weight.shape[1])


def layer_units(model: Any) -> list[LayerUnits]:
    """:class:`LayerUnits` of every layer of a supported (possibly already pruned) model."""
    hf = unwrap(model)
    out = []
    for layer in layer_modules(hf):
        if hasattr(layer, "attn"):  # GPT-2 block (Conv1D weights are (in, out))
            out.append(LayerUnits(layer.attn.c_proj, layer.mlp.c_fc, layer.mlp.c_proj, int(layer.attn.num_heads), int(layer.attn.head_dim), True))
        else:
            attention = layer.attention.self
            out.append(LayerUnits(layer.attention.output.dense, layer.intermediate.dense, layer.output.dense, int(attention.num_attention_heads), int(attention.attention_head_size), False))
    return out


@dataclass
class UnitScores:
    """Importance per layer: ``heads[l][h]``, ``neurons[l][n]``, ``layers[l]`` (higher = keep)."""

    heads: list[list[float]]
    neurons: list[list[float]]
    layers: list[float]


def magnitude_scores(model: Any) -> UnitScores:
    """Weight-norm importance (no data); layers scored by position, the first highest."""
    heads, neurons = [], []
    with torch.no_grad():
        for units in layer_units(model):
            w_o = units.attention_output.weight
            cols = w_o if units.decoder else w_o.t()  # rows = the head-output features
            heads.append(cols.reshape(units.num_heads, -1).norm(dim=1).tolist())
            up = units.ffn_up.weight.t() if units.decoder else units.ffn_up.weight  # (neurons, hidden)
            down = units.ffn_down.weight if units.decoder else units.ffn_down.weight.t()  # (neurons, hidden)
            neurons.append((up.norm(dim=1) * down.norm(dim=1)).tolist())
    n = len(heads)
    return UnitScores(heads, neurons, [float(n - i) for i in range(n)])


def _default_loss(logits: Any, input_ids: Any, labels: Any, pad_token_id: int) -> Any:
    if logits.dim() == 3:  # language model: predict the next token, padding ignored
        targets = input_ids[:, 1:].masked_fill(input_ids[:, 1:] == pad_token_id, -100)
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
    return F.cross_entropy(logits, labels)


def gradient_scores(model: Any, batches: Iterable[Any], max_batches: int = 32) -> UnitScores:
    """``|d loss / d gate|`` summed over batches for every head, FFN neuron and layer (see the
    module docstring). ``batches`` yields ``(input_ids, labels)``; the model's weights get no
    gradient and its mode is restored."""
    wrapped = wrap(model)
    units = layer_units(wrapped)
    layers = layer_modules(unwrap(wrapped))
    device = next(wrapped.parameters()).device
    head_gates = [torch.ones(u.num_heads, device=device, requires_grad=True) for u in units]
    neuron_gates = [torch.ones(u.intermediate, device=device, requires_grad=True) for u in units]
    layer_gates = [torch.ones((), device=device, requires_grad=True) for _ in units]

    def gate_input(gate: Any, repeat: int, module: Any, args: tuple[Any, ...]) -> Any:
        return (args[0] * gate.repeat_interleave(repeat).to(args[0].dtype), *args[1:])

    def gate_layer(gate: Any, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> Any:
        # the layer's own contribution (its output minus its input) is scaled by the gate
        x = args[0] if args else kwargs["hidden_states"]
        main = out[0] if isinstance(out, tuple) else out
        mixed = x + gate * (main - x)
        return (mixed, *out[1:]) if isinstance(out, tuple) else mixed

    handles = []
    for u, layer, hg, ng, lg in zip(units, layers, head_gates, neuron_gates, layer_gates):
        handles.append(u.attention_output.register_forward_pre_hook(partial(gate_input, hg, u.head_dim)))
        handles.append(u.ffn_down.register_forward_pre_hook(partial(gate_input, ng, 1)))
        handles.append(layer.register_forward_hook(partial(gate_layer, lg), with_kwargs=True))
    flags = [(p, p.requires_grad) for p in wrapped.parameters()]
    was_training = wrapped.training
    wrapped.eval()
    heads = [torch.zeros(u.num_heads) for u in units]
    neurons = [torch.zeros(u.intermediate) for u in units]
    layer_scores = torch.zeros(len(units))
    seen = 0
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        for input_ids, labels in batches:
            if seen >= max_batches:
                break
            input_ids, labels = input_ids.to(device), labels.to(device)
            logits = wrapped(input_ids)
            loss = _default_loss(logits, input_ids, labels, wrapped.pad_token_id)
            grads = torch.autograd.grad(loss, [*head_gates, *neuron_gates, *layer_gates])
            n = len(units)
            for i in range(n):
                heads[i] += grads[i].abs().cpu()
                neurons[i] += grads[n + i].abs().cpu()
                layer_scores[i] += grads[2 * n + i].abs().cpu()
            seen += 1
    finally:
        for handle in handles:
            handle.remove()
        for p, flag in flags:
            p.requires_grad_(flag)
        wrapped.train(was_training)
    if seen == 0:
        raise UserError("gradient importance needs at least one batch of data")
    return UnitScores([h.tolist() for h in heads], [n.tolist() for n in neurons], layer_scores.tolist())


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

    def _scores(self, model: LogitsModel, ctx: CompressionContext) -> UnitScores:
        if self.importance == "magnitude":
            return magnitude_scores(model)
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

    def _plan(self, scores: UnitScores, shape: dict[str, Any]) -> tuple[list[int], dict[int, list[int]], dict[int, list[int]]]:
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
