"""Gates on heads, FFN neurons and layers; head/neuron/layer importance; rewiring. One module
serves the one-shot search and the compressors (``compress.py``).

:class:`UnitGates` puts a gate on every attention head (on the input of the attention output
projection), every FFN neuron (on the input of the FFN down-projection) and every layer (the
layer's output is ``x + g * (layer(x) - x)``; a dropped layer is skipped, not computed) of a
BERT/RoBERTa encoder or GPT-2 decoder. The weights are not touched. :class:`ElasticEncoder` uses
the gates to switch one BERT-family model between sub-networks (:meth:`ElasticEncoder.apply` with a
:class:`~nasforge_transformers.subnet_space.SubnetPlan`): the same model serves every
sub-network, which is what one-shot weight-sharing search needs.

:func:`compute_importance` is the first-order importance of Michel et al. (2019, "Are sixteen
heads really better than one?") and DynaBERT's rewiring (Hou et al., 2020): with every gate at 1,
the importance of a head, neuron or layer is the absolute gradient of the loss with respect to
its gate, accumulated over a seeded sample of training batches. :func:`rewire` permutes each
layer's heads and neurons so that the most important come first; after it, every sub-network of
the :mod:`~nasforge_transformers.subnet_space` keeps index prefixes and inherits the most
important weights. Importance is order-preserving under rewiring (:meth:`Importance.permuted`).
:func:`magnitude_importance` scores from the weights alone, when no data is at hand.

Torch is imported lazily by the functions that need it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from nasforge.core.errors import UserError
from nasforge_transformers.subnet_space import ModelShape, SubnetPlan


def encoder_layers(model: Any) -> Any:
    """The ``ModuleList`` of BERT-family layers inside ``model`` (raises :class:`UserError` if none)."""
    from torch import nn

    for _, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) > 0 and all(_is_bert_layer(m) for m in module):
            return module
    raise UserError(f"{type(model).__name__} has no BERT-family encoder layers (attention.self.query, intermediate.dense, output.dense); the sub-network space covers BERT-family encoders")


def _is_bert_layer(module: Any) -> bool:
    attention = getattr(module, "attention", None)
    return (
        attention is not None
        and hasattr(getattr(attention, "self", None), "query")
        and hasattr(getattr(attention, "output", None), "dense")
        and hasattr(getattr(module, "intermediate", None), "dense")
        and hasattr(getattr(module, "output", None), "dense")
    )


def encoder_shape(model: Any) -> ModelShape:
    """Layers, heads per layer and FFN width of ``model``'s encoder (all layers must agree)."""
    layers = encoder_layers(model)
    heads = {int(layer.attention.self.num_attention_heads) for layer in layers}
    widths = {int(layer.intermediate.dense.out_features) for layer in layers}
    if len(heads) != 1 or len(widths) != 1:
        raise UserError("the encoder's layers differ in heads or FFN width (an already pruned model); search the unpruned model")
    return ModelShape(len(layers), heads.pop(), widths.pop())


def logits_of(output: Any) -> Any:
    """The logits of a model output (a ``ModelOutput`` with ``.logits``, a tuple or a tensor)."""
    if hasattr(output, "logits"):
        return output.logits
    if isinstance(output, (tuple, list)):
        return output[0]
    return output


@dataclass(frozen=True)
class LayerUnits:
    """The modules whose *inputs* are a layer's head outputs and FFN activations, and their sizes."""

    attention_output: Any
    ffn_up: Any
    ffn_down: Any
    num_heads: int
    head_dim: int
    decoder: bool

    @property
    def intermediate(self) -> int:
        return int(self.ffn_down.weight.shape[0] if self.decoder else self.ffn_down.weight.shape[1])


def layer_units(model: Any) -> list[LayerUnits]:
    """:class:`LayerUnits` of every layer of a supported BERT/RoBERTa/GPT-2 model (possibly already
    pruned: sizes may differ per layer; a :class:`~nasforge_transformers.wrappers.LogitsModel` is unwrapped)."""
    from nasforge_transformers.extract import layer_modules
    from nasforge_transformers.wrappers import unwrap

    out = []
    for layer in layer_modules(unwrap(model)):
        if hasattr(layer, "attn"):  # GPT-2 block (Conv1D weights are (in, out))
            out.append(LayerUnits(layer.attn.c_proj, layer.mlp.c_fc, layer.mlp.c_proj, int(layer.attn.num_heads), int(layer.attn.head_dim), True))
        else:
            attention = layer.attention.self
            out.append(LayerUnits(layer.attention.output.dense, layer.intermediate.dense, layer.output.dense, int(attention.num_attention_heads), int(attention.attention_head_size), False))
    return out


class UnitGates:
    """Gates on every attention head, FFN neuron and layer of a BERT-family or GPT-2 model.

    A head gate multiplies the head's slice of the attention output projection's input, a neuron
    gate the FFN down-projection's input, and a layer gate the layer's own contribution (its
    output is ``x + g * (layer(x) - x)``); an inactive layer is skipped, not computed. ``None``
    gates cost nothing. Use as a context manager, or call :meth:`close` to remove the hooks;
    :meth:`suspended` gives the plain model inside a block.
    """

    def __init__(self, model: Any) -> None:
        import torch

        from nasforge_transformers.extract import layer_modules
        from nasforge_transformers.wrappers import unwrap

        self.model = model
        self.units = layer_units(model)
        self.modules = layer_modules(unwrap(model))
        n = len(self.units)
        self.head_gates: list[Any] = [None] * n
        self.neuron_gates: list[Any] = [None] * n
        self.layer_gates: list[Any] = [None] * n
        self.active = [True] * n
        self._torch = torch
        self._handles: list[Any] = []
        self._install()

    def _install(self) -> None:
        for i, (units, layer) in enumerate(zip(self.units, self.modules)):
            self._handles.append(units.attention_output.register_forward_pre_hook(partial(self._gate_heads, i)))
            self._handles.append(units.ffn_down.register_forward_pre_hook(partial(self._gate_neurons, i)))
            layer.forward = partial(self._layer_forward, i, layer.forward)

    def _gate_heads(self, i: int, module: Any, args: tuple[Any, ...]) -> Any:
        gate = self.head_gates[i]
        if gate is None:
            return None
        x = args[0]
        return (x * gate.repeat_interleave(self.units[i].head_dim).to(x.dtype), *args[1:])

    def _gate_neurons(self, i: int, module: Any, args: tuple[Any, ...]) -> Any:
        gate = self.neuron_gates[i]
        if gate is None:
            return None
        return (args[0] * gate.to(args[0].dtype), *args[1:])

    def _layer_forward(self, i: int, forward: Callable[..., Any], hidden_states: Any, *args: Any, **kwargs: Any) -> Any:
        if not self.active[i]:
            return hidden_states
        out = forward(hidden_states, *args, **kwargs)
        gate = self.layer_gates[i]
        if gate is None:
            return out
        main = out[0] if isinstance(out, tuple) else out
        mixed = hidden_states + gate * (main - hidden_states)
        return (mixed, *out[1:]) if isinstance(out, tuple) else mixed

    def _device(self) -> Any:
        return next(self.model.parameters()).device

    def reset(self) -> None:
        """Every gate off (``None``) and every layer active: the full model."""
        n = len(self.units)
        self.head_gates, self.neuron_gates, self.layer_gates = [None] * n, [None] * n, [None] * n
        self.active = [True] * n

    def enable_gradients(self) -> None:
        """Full model with every gate a ones tensor that requires a gradient (the importance signal)."""
        torch, device = self._torch, self._device()
        self.active = [True] * len(self.units)
        self.head_gates = [torch.ones(u.num_heads, device=device, requires_grad=True) for u in self.units]
        self.neuron_gates = [torch.ones(u.intermediate, device=device, requires_grad=True) for u in self.units]
        self.layer_gates = [torch.ones((), device=device, requires_grad=True) for _ in self.units]

    def close(self) -> None:
        """Remove the hooks; the model is as it was."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        for layer in self.modules:
            layer.__dict__.pop("forward", None)

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        """The plain model inside the block (hooks removed, e.g. to copy it), gates back after."""
        self.close()
        try:
            yield
        finally:
            self._install()

    def __enter__(self) -> UnitGates:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ElasticEncoder(UnitGates):
    """:class:`UnitGates` on a BERT-family encoder whose layers all have the same shape, switched
    between the sub-networks of :class:`~nasforge_transformers.subnet_space.SubnetPlan`: ``apply(plan)``
    selects one, ``apply(None)`` the full model. The weights are never touched."""

    def __init__(self, model: Any) -> None:
        encoder_layers(model)  # BERT-family only: a clear error otherwise
        self.shape = encoder_shape(model)
        super().__init__(model)

    def apply(self, plan: SubnetPlan | None) -> None:
        """Select the sub-network ``plan`` keeps (``None``: the full model)."""
        torch = self._torch
        self.reset()
        if plan is None:
            return
        if plan.shape != self.shape:
            raise UserError(f"the sub-network plan is for a model of shape {plan.shape}, this model is {self.shape}")
        self.active = [i in plan.layers for i in range(self.shape.num_layers)]
        device = self._device()
        for layer, heads, neurons in zip(plan.layers, plan.heads, plan.neurons):
            if len(heads) < self.shape.num_heads:
                gate = torch.zeros(self.shape.num_heads, device=device)
                gate[list(heads)] = 1.0
                self.head_gates[layer] = gate
            if len(neurons) < self.shape.intermediate_size:
                gate = torch.zeros(self.shape.intermediate_size, device=device)
                gate[list(neurons)] = 1.0
                self.neuron_gates[layer] = gate


@dataclass
class Importance:
    """Importance scores: ``heads[l][h]``, ``neurons[l][n]`` and ``layers[l]`` (higher = more important)."""

    heads: list[list[float]]
    neurons: list[list[float]]
    layers: list[float]
    batches: int

    def head_order(self) -> list[list[int]]:
        return [_descending(scores) for scores in self.heads]

    def neuron_order(self) -> list[list[int]]:
        return [_descending(scores) for scores in self.neurons]

    def layer_order(self) -> list[int]:
        return _descending(self.layers)

    def permuted(self, head_order: list[list[int]], neuron_order: list[list[int]]) -> Importance:
        """The scores after :func:`rewire` moved head ``head_order[l][j]`` to position ``j``."""
        return Importance(
            [[h[j] for j in order] for h, order in zip(self.heads, head_order)],
            [[n[j] for j in order] for n, order in zip(self.neurons, neuron_order)],
            list(self.layers),
            self.batches,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"heads": self.heads, "neurons": self.neurons, "layers": self.layers, "batches": self.batches}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Importance:
        return cls([list(map(float, h)) for h in data["heads"]], [list(map(float, n)) for n in data["neurons"]], list(map(float, data["layers"])), int(data["batches"]))


def _descending(scores: list[float]) -> list[int]:
    # stable: ties keep the original order, so an all-zero score leaves the model as it is
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))


def compute_importance(
    model: Any,
    batches: Iterable[Mapping[str, Any]],
    loss_fn: Callable[[Any, Mapping[str, Any]], Any],
    forward: Callable[[Any, Mapping[str, Any]], Any] | None = None,
    max_batches: int | None = None,
) -> Importance:
    """Accumulate ``|d loss / d gate|`` over ``batches`` for every head, neuron and layer.

    Works on BERT/RoBERTa encoders and GPT-2 decoders, pruned ones too (per-layer sizes).
    ``batches`` yields mappings of tensors on the model's device; ``forward(model, batch)`` returns
    the logits (default: the model called with every key but ``labels`` and ``index``) and
    ``loss_fn(logits, batch)`` the scalar loss (cross-entropy on labels, a distillation loss, a
    language model's next-token loss). At most ``max_batches`` are used. The model runs in eval
    mode (no dropout) and its parameters get no gradients; both are restored afterwards.
    """
    import torch

    def default_forward(m: Any, batch: Mapping[str, Any]) -> Any:
        return logits_of(m(**{k: v for k, v in batch.items() if k not in ("labels", "index")}))

    forward = forward or default_forward
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    gates = UnitGates(model)
    n = len(gates.units)
    heads = [torch.zeros(u.num_heads) for u in gates.units]
    neurons = [torch.zeros(u.intermediate) for u in gates.units]
    layers = torch.zeros(n)
    count = 0
    try:
        gates.enable_gradients()
        for batch in batches:
            if max_batches is not None and count >= max_batches:
                break
            loss = loss_fn(forward(model, batch), batch)
            grads = torch.autograd.grad(loss, [*gates.head_gates, *gates.neuron_gates, *gates.layer_gates], allow_unused=True)
            for i in range(n):
                for target, grad in ((heads, grads[i]), (neurons, grads[n + i])):
                    if grad is not None:
                        target[i] += grad.detach().abs().cpu()
                if grads[2 * n + i] is not None:
                    layers[i] += grads[2 * n + i].detach().abs().cpu()
            count += 1
    finally:
        gates.close()
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)
    if count == 0:
        raise UserError("importance needs at least one batch of training data")
    return Importance([h.tolist() for h in heads], [x.tolist() for x in neurons], layers.tolist(), count)


def magnitude_importance(model: Any) -> Importance:
    """Weight-norm importance (no data): a head's output-projection columns, a neuron's
    up-projection row times its down-projection column; layers by position, the first highest."""
    import torch

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
    return Importance(heads, neurons, [float(n - i) for i in range(n)], 0)


def rewire(model: Any, importance: Importance) -> tuple[list[list[int]], list[list[int]]]:
    """Reorder every layer's heads and FFN neurons, most important first (in place).

    The function the model computes is unchanged (a permutation of heads and of neurons inside a
    layer). Returns ``(head_order, neuron_order)``: position ``j`` of layer ``l`` now holds what
    was head / neuron ``order[l][j]``.
    """
    import torch

    layers = encoder_layers(model)
    head_order, neuron_order = importance.head_order(), importance.neuron_order()
    with torch.no_grad():
        for layer, h_order, n_order in zip(layers, head_order, neuron_order):
            d = int(layer.attention.self.attention_head_size)
            idx = torch.tensor([h * d + k for h in h_order for k in range(d)], dtype=torch.long)
            for lin in (layer.attention.self.query, layer.attention.self.key, layer.attention.self.value):
                _permute_rows(lin, idx)
            _permute_columns(layer.attention.output.dense, idx)
            n_idx = torch.tensor(n_order, dtype=torch.long)
            _permute_rows(layer.intermediate.dense, n_idx)
            _permute_columns(layer.output.dense, n_idx)
    return head_order, neuron_order


def _permute_rows(linear: Any, idx: Any) -> None:
    linear.weight.copy_(linear.weight[idx.to(linear.weight.device)])
    if linear.bias is not None:
        linear.bias.copy_(linear.bias[idx.to(linear.bias.device)])


def _permute_columns(linear: Any, idx: Any) -> None:
    linear.weight.copy_(linear.weight[:, idx.to(linear.weight.device)])


def subnet_params(shape: ModelShape, plan: SubnetPlan, total_params: int, hidden_size: int, layer_params: int) -> int:
    """Parameters of the extracted sub-network, from the full model's count (no extraction needed).

    ``layer_params`` is the parameter count of one full encoder layer.
    """
    d = hidden_size // shape.num_heads
    removed = (shape.num_layers - len(plan.layers)) * layer_params
    for heads, neurons in zip(plan.heads, plan.neurons):
        gone_heads = shape.num_heads - len(heads)
        gone_neurons = shape.intermediate_size - len(neurons)
        removed += gone_heads * d * (3 * hidden_size + 3)  # query/key/value rows and biases
        removed += gone_heads * d * hidden_size  # attention output columns
        removed += gone_neurons * (hidden_size + 1)  # FFN up-projection rows and biases
        removed += gone_neurons * hidden_size  # FFN down-projection columns
    return int(total_params - removed)


def slice_subnetwork(model: Any, plan: SubnetPlan) -> Any:
    """A new model holding only what ``plan`` keeps, cut out with :func:`nasforge_transformers.extract.extract`.

    With the same inputs it computes what :meth:`ElasticEncoder.apply` computes with gates; it is
    a real, smaller model that ``save_extracted`` writes as a Hugging Face folder.
    """
    from nasforge_transformers.extract import extract

    if encoder_shape(model) != plan.shape:
        raise UserError(f"the sub-network plan is for a model of shape {plan.shape}, this model is {encoder_shape(model)}")
    return extract(model, keep_layers=plan.layers, heads=dict(zip(plan.layers, plan.heads)), neurons=dict(zip(plan.layers, plan.neurons)))
