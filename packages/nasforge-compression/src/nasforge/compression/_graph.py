"""torch-pruning integration: building the dependency graph, spotting what it cannot handle.

torch-pruning's ``DependencyGraph`` traces a model through autograd and couples every layer whose
channels must shrink together (residual additions, concatenation, depthwise convolutions,
BatchNorm, the classifier's input). It treats any operation it does not know as *element-wise*
(channel-preserving). That is right for additions and activations and wrong for, e.g., a pad or a
sum over the channel dimension, or a custom module doing its own maths with raw parameters.
:func:`unsupported_nodes` lists such operations so that the channel pruner can leave every group
that touches them alone and say so, instead of producing a broken model.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch_pruning as tp
from torch import nn
from torch_pruning.pruner.function import BasePruningFunc

from ._utils import PRUNABLE_LAYERS
from .models.cifar_resnet import ChannelPadShortcut

# Autograd functions known to keep the channel dimension as it is (prefix match on grad_fn names).
_CHANNEL_PRESERVING = (
    "Add", "Sub", "Mul", "Div", "Neg", "Abs", "Pow", "Sqrt", "Rsqrt", "Exp", "Log", "Clamp", "Clone",
    "Relu", "Relu6", "Hardtanh", "LeakyRelu", "Elu", "Gelu", "Silu", "Sigmoid", "Tanh", "Hardswish",
    "Hardsigmoid", "Softplus", "Mish", "Prelu", "NativeDropout", "Dropout", "FeatureDropout",
    "MaxPool", "AvgPool", "AdaptiveAvgPool", "AdaptiveMaxPool", "Upsample", "Where", "ToCopy",
    "Contiguous", "Alias", "Unsqueeze", "Squeeze",
)
# Reductions and pads keep channels only when they leave dimension 1 alone.
_DIM_OPS = ("Mean", "Sum", "Amax", "Amin", "Max", "Min")


class ChannelPadShortcutPruner(BasePruningFunc):
    """Teaches torch-pruning the option-A shortcut of :mod:`~nasforge.compression.models.cifar_resnet`.

    Output and input channels of the shortcut are independent (like a convolution's), so pruning
    one side never forces the other; removing an input channel turns the output it fed into zeros.
    """

    def prune_out_channels(self, layer: nn.Module, idxs: Any) -> nn.Module:
        drop = {int(i) for i in idxs}
        keep = [j for j in range(layer.out_channels) if j not in drop]
        layer.source = layer.source[keep]
        return layer

    def prune_in_channels(self, layer: nn.Module, idxs: Any) -> nn.Module:
        drop = {int(i) for i in idxs}
        keep = [j for j in range(layer.in_channels) if j not in drop]
        remap = torch.full((layer.in_channels,), -1, dtype=torch.long)
        remap[keep] = torch.arange(len(keep))
        src = layer.source
        layer.source = torch.where(src < 0, src, remap[src.clamp(min=0)])
        layer.in_channels = len(keep)
        return layer

    def get_out_channels(self, layer: nn.Module) -> int:
        return layer.out_channels

    def get_in_channels(self, layer: nn.Module) -> int:
        return layer.in_channels


#: Pruners for nasforge's own non-standard layers, passed to every dependency graph.
CUSTOM_PRUNERS: dict[Any, BasePruningFunc] = {ChannelPadShortcut: ChannelPadShortcutPruner()}


def build_graph(model: nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> tp.DependencyGraph:
    """The torch-pruning dependency graph of ``model`` (the model's train/eval mode is restored)."""
    was_training = model.training
    try:
        return tp.DependencyGraph().build_dependency(model, example_inputs=example_inputs, customized_pruners=dict(CUSTOM_PRUNERS), verbose=False)
    finally:
        model.train(was_training)


def _dims(grad_fn: Any) -> tuple[int, ...] | None:
    dim = getattr(grad_fn, "_saved_dim", None)
    if dim is None:
        return None
    return tuple(dim) if isinstance(dim, (tuple, list)) else (int(dim),)


def _is_channel_preserving(node: Any) -> bool:
    grad_fn = node.grad_fn
    name = grad_fn.name() if grad_fn is not None and hasattr(grad_fn, "name") else ""
    if not name:
        return False
    base = name.removesuffix("Backward0").removesuffix("Backward1").removesuffix("Backward2")
    if base == "T" and not node.inputs:
        return True  # the transposed weight of a linear layer
    if base == "ConstantPadNd" or base.startswith(("ReflectionPad", "ReplicationPad")):
        pad = getattr(grad_fn, "_saved_pad", None)
        # (left, right, top, bottom, front, back, ...) from the last dimension backwards; on a 4-D
        # tensor entries 4 and 5 pad the channels. Channels appended at the end keep the indices
        # of the existing ones, which is all torch-pruning relies on; channels put in front shift them.
        return pad is not None and (len(pad) < 5 or int(pad[4]) == 0)
    if base in _DIM_OPS:
        dims = _dims(grad_fn)
        if dims is None:
            return base in ("Max", "Min")  # element-wise max/min of two tensors
        ndim = len(getattr(grad_fn, "_saved_self_sym_sizes", ()) or ())
        return 1 not in dims and (ndim == 0 or (1 - ndim) not in dims)
    return base.startswith(_CHANNEL_PRESERVING)


def unsupported_nodes(graph: tp.DependencyGraph, model: nn.Module) -> dict[Any, str]:
    """Nodes torch-pruning cannot prune through safely, mapped to a human-readable description.

    Two kinds: operations torch-pruning treats as element-wise but that may mix or resize
    channels (unknown autograd functions, pads or reductions over dimension 1), and raw
    parameters of custom modules ("unwrapped parameters") whose pruning dimension is a guess.
    """
    param_names = {id(p): n for n, p in model.named_parameters()}
    found: dict[Any, str] = {}
    for module, node in graph.module2node.items():
        if node.type == tp.ops.OPTYPE.ELEMENTWISE and not _is_channel_preserving(node):
            name = node.grad_fn.name() if node.grad_fn is not None and hasattr(node.grad_fn, "name") else "unknown op"
            found[node] = f"operation {name} (unknown to torch-pruning; it may mix channels)"
        elif node.type == tp.ops.OPTYPE.PARAMETER:
            found[node] = f"parameter {param_names.get(id(module), '?')} of a custom module (torch-pruning cannot tell its channel dimension)"
    return found


def output_layers(graph: tp.DependencyGraph) -> list[nn.Module]:
    """The conv/linear layers whose outputs reach the model's output without another layer between.

    Their output channels are the model's outputs (e.g. class logits), so they must not be pruned.
    Found by walking back from the graph's sinks (nodes nothing consumes) to the first layers.
    """
    layers: list[nn.Module] = []
    seen: set[int] = set()
    stack = [node for node in graph.module2node.values() if not node.outputs]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node.module, PRUNABLE_LAYERS):
            layers.append(node.module)
            continue
        if node.type == tp.ops.OPTYPE.PARAMETER or not node.inputs:
            continue
        stack.extend(node.inputs)
    return layers


def group_nodes(group: Iterable[Any]) -> set[Any]:
    """Every node a torch-pruning group touches (source and target of each dependency)."""
    nodes = set()
    for dep, _ in group:
        nodes.add(dep.source)
        nodes.add(dep.target)
    return nodes
