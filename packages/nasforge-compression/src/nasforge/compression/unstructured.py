"""Unstructured magnitude pruning: :class:`MagnitudePruner`.

Zeroes the individual weights with the smallest absolute value, either the same fraction in every
layer (``scope: layer``) or the smallest across all layers together (``scope: global``), with
``torch.nn.utils.prune``. During fine-tuning the masks stay in place (pruned weights stay zero);
afterwards ``prune.remove`` makes the zeros permanent, so the result is a plain module with
ordinary ``weight`` parameters.

The tensors keep their shapes: parameter count and MACs do not change, the number of non-zero
parameters does. Dense runtimes (onnxruntime on CPU) do not get faster from this; it pays off with
sparse kernels or compression of the stored file. Use :class:`~nasforge.compression.structured.ChannelPruner`
for speed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn
from torch.nn.utils import prune

from nasforge.core.errors import ConfigError

from ._utils import check_fraction, check_positive, prunable_layers, resolve_modules, weight_sparsity
from .base import CompressionContext, Compressor, FineTune


class MagnitudePruner(Compressor):
    """Zero the smallest-magnitude weights of conv and linear layers.

    :param sparsity: fraction of weights to zero, in ``[0, 1)``.
    :param scope: ``"layer"`` (the same fraction in each layer) or ``"global"`` (one threshold).
    :param layers: names of the layers to prune (default: every conv and linear layer).
    :param ignore: names of layers to leave dense.
    :param steps: reach ``sparsity`` in this many stages (fine-tuning between them).
    :param finetune: see :class:`~nasforge.compression.finetune.FineTune`.
    """

    name = "magnitude"

    def __init__(
        self,
        sparsity: float = 0.5,
        scope: str = "layer",
        layers: Sequence[str] | None = None,
        ignore: Sequence[str] = (),
        steps: int = 1,
        finetune: FineTune | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(finetune)
        self.sparsity = check_fraction("compressor.magnitude.sparsity", sparsity)
        if scope not in ("layer", "global"):
            raise ConfigError("compressor.magnitude.scope", f"must be 'layer' or 'global', got {scope!r}")
        check_positive("compressor.magnitude.steps", steps, integer=True)
        for field, names in (("layers", layers or ()), ("ignore", ignore)):
            if isinstance(names, str) or not all(isinstance(n, str) for n in names):
                raise ConfigError(f"compressor.magnitude.{field}", f"must be a list of layer names, got {names!r}")
        self.scope = scope
        self.layers = list(layers) if layers is not None else None
        self.ignore = list(ignore)
        self.steps = steps
        self.options = {"sparsity": self.sparsity, "scope": scope, "steps": steps}
        if self.layers is not None:
            self.options["layers"] = self.layers
        if self.ignore:
            self.options["ignore"] = self.ignore

    def _targets(self, model: nn.Module) -> dict[str, nn.Module]:
        if self.layers is not None:
            chosen = resolve_modules(model, self.layers, "compressor.magnitude.layers")
            for name, m in chosen.items():
                if not isinstance(getattr(m, "weight", None), nn.Parameter):
                    raise ConfigError("compressor.magnitude.layers", f"layer {name!r} ({type(m).__name__}) has no weight to prune")
        else:
            chosen = prunable_layers(model)
        resolve_modules(model, self.ignore, "compressor.magnitude.ignore")
        chosen = {n: m for n, m in chosen.items() if n not in self.ignore}
        if not chosen:
            raise ConfigError("compressor.magnitude.layers", "no layer left to prune (the model has no conv/linear layers, or all are ignored)")
        return chosen

    def _check_model(self, model: nn.Module) -> None:
        self._targets(model)

    def _compress(self, model: nn.Module, ctx: CompressionContext) -> nn.Module:
        targets = self._targets(model)
        for step in range(self.steps):
            # cumulative sparsity after this step; torch's pruning of an already-masked tensor
            # applies the new amount to the weights still alive, hence the conversion
            goal = self.sparsity * (step + 1) / self.steps
            current = weight_sparsity(targets)
            amount = 0.0 if current >= goal else (goal - current) / (1.0 - current)
            if self.scope == "global":
                prune.global_unstructured([(m, "weight") for m in targets.values()], pruning_method=prune.L1Unstructured, amount=amount)
            else:
                for m in targets.values():
                    prune.l1_unstructured(m, "weight", amount=amount)
            ctx.report.steps.append({"step": step + 1, "sparsity": weight_sparsity(targets)})
            if step < self.steps - 1:
                ctx.between_steps(model, step)
        return model

    def _finalize(self, model: nn.Module, ctx: CompressionContext) -> nn.Module:
        layers = {}
        for name, m in model.named_modules():
            if prune.is_pruned(m) and hasattr(m, "weight_orig"):
                prune.remove(m, "weight")
                layers[name] = m
        ctx.report.removed_channels = {}
        ctx.report.steps.append({"final_layer_sparsity": {n: round(weight_sparsity({n: m}), 4) for n, m in layers.items()}})
        return model
