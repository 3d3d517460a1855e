"""The sub-network space of a pretrained BERT-family encoder (DynaBERT / AutoFormer / HAT style).

An architecture of the ``transformer_subnet`` space keeps some of the pretrained model's layers and,
in every kept layer, a share of its attention heads and of its FFN (intermediate) neurons. Widths
are *fractions of the pretrained model*, so one space fits any BERT-family model (MiniLM with 12
heads and 1536 neurons, BERT-base with 12 and 3072 ...). The architecture dictionary::

    {"layers": 3,                       # number of encoder layers kept (min_layers .. num_layers)
     "heads_1": 0.5,  "ffn_1": 0.75,     # kept slot 1: share of heads, share of FFN neurons
     "heads_2": 1.0,  "ffn_2": 0.25,     # kept slot 2
     "heads_3": 0.25, "ffn_3": 0.5}      # kept slot 3 (heads_i / ffn_i exist for i <= layers)

Slot ``i`` is the ``i``-th kept layer in the model's order; *which* pretrained layers are kept for a
given ``layers`` is the space's ``layer_selection`` rule (see :func:`kept_layers`): ``spread``
(evenly spaced over the depth, the default), ``first`` (the DistilBERT-style shortcut) or
``importance`` (the ``layers`` most important ones, ranked by :mod:`nasforge_transformers.importance`).

A fraction becomes a count with :func:`width_count` (``max(1, round(fraction * total))``). Heads
and neurons are always taken in importance order: after :func:`nasforge_transformers.importance.rewire`
the most important ones sit first, so a sub-network keeps index prefixes. :func:`subnetwork_plan`
turns an architecture into a :class:`SubnetPlan` with explicit index lists (original layer indices,
head indices and neuron indices per kept layer), which is what physical extraction consumes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nasforge.core.errors import ConfigError, SpaceError
from nasforge.core.records import Architecture
from nasforge.core.space import Categorical, Choice, Integer, SearchSpace

SPACE_NAME = "transformer_subnet"
DEFAULT_HEAD_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
DEFAULT_FFN_FRACTIONS = (0.25, 0.5, 0.75, 1.0)
LAYER_SELECTIONS = ("spread", "first", "importance")
OPTION = "space.options"


@dataclass(frozen=True)
class ModelShape:
    """The sizes of the pretrained encoder that fractions refer to."""

    num_layers: int
    num_heads: int
    intermediate_size: int

    @classmethod
    def from_config(cls, config: Any) -> ModelShape:
        """From a Hugging Face config (``num_hidden_layers``, ``num_attention_heads``, ``intermediate_size``)."""
        try:
            return cls(int(config.num_hidden_layers), int(config.num_attention_heads), int(config.intermediate_size))
        except AttributeError as exc:
            raise SpaceError(f"the model config is not a BERT-family encoder config: {exc}") from None


@dataclass(frozen=True)
class SubnetPlan:
    """Which parts of the pretrained encoder a sub-network keeps, as index lists.

    ``layers`` are original layer indices in order; ``heads[j]`` / ``neurons[j]`` are the kept
    head and FFN-neuron indices of ``layers[j]`` (prefixes when the model is rewired).
    """

    layers: tuple[int, ...]
    heads: tuple[tuple[int, ...], ...]
    neurons: tuple[tuple[int, ...], ...]
    shape: ModelShape = field(compare=False)

    def head_counts(self) -> dict[int, int]:
        return {layer: len(h) for layer, h in zip(self.layers, self.heads)}

    def neuron_counts(self) -> dict[int, int]:
        return {layer: len(n) for layer, n in zip(self.layers, self.neurons)}

    def to_dict(self) -> dict[str, Any]:
        return {"layers": list(self.layers), "heads": [list(h) for h in self.heads], "neurons": [list(n) for n in self.neurons]}


def _fractions(name: str, values: Any) -> tuple[float, ...]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ConfigError(f"{OPTION}.{name}", f"must be a non-empty list of fractions in (0, 1], got {values!r}")
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
            raise ConfigError(f"{OPTION}.{name}", f"every value must be a fraction in (0, 1], got {v!r}")
        out.append(float(v))
    if len(set(out)) != len(out):
        raise ConfigError(f"{OPTION}.{name}", f"values must be distinct, got {list(values)}")
    return tuple(sorted(out))


def transformer_subnet_space(
    num_layers: int | None = None,
    model: str | None = None,
    min_layers: int = 1,
    head_fractions: Sequence[float] = DEFAULT_HEAD_FRACTIONS,
    ffn_fractions: Sequence[float] = DEFAULT_FFN_FRACTIONS,
    layer_selection: str = "spread",
) -> SearchSpace:
    """The ``transformer_subnet`` space (see the module docstring for the architecture format).

    :param num_layers: encoder layers of the pretrained model; read from ``model``'s config when
        omitted (the embedded MiniLM-L6 has 6).
    :param model: a model folder or hub id whose config gives ``num_layers`` (default: MiniLM-L6).
    :param min_layers: fewest layers a sub-network keeps.
    :param head_fractions: shares of each layer's attention heads to choose from.
    :param ffn_fractions: shares of each layer's FFN neurons to choose from.
    :param layer_selection: which layers ``layers = k`` keeps: ``spread``, ``first`` or ``importance``.
    """
    if num_layers is None:
        num_layers = _layers_of_model(model)
    for name, value in (("num_layers", num_layers), ("min_layers", min_layers)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{OPTION}.{name}", f"must be a positive integer, got {value!r}")
    if min_layers > num_layers:
        raise ConfigError(f"{OPTION}.min_layers", f"is {min_layers}, above the model's {num_layers} layers")
    if layer_selection not in LAYER_SELECTIONS:
        raise ConfigError(f"{OPTION}.layer_selection", f"must be one of {', '.join(LAYER_SELECTIONS)}, got {layer_selection!r}")
    heads = list(_fractions("head_fractions", head_fractions))
    ffn = list(_fractions("ffn_fractions", ffn_fractions))
    choices: list[Choice] = [Integer("layers", min_layers, num_layers)]
    for i in range(1, num_layers + 1):
        when = {"layers": f">= {i}"} if i > min_layers else None
        choices.append(Categorical(f"heads_{i}", heads, when=when, ordered=True))
        choices.append(Categorical(f"ffn_{i}", ffn, when=when, ordered=True))
    space = SearchSpace(choices, name=SPACE_NAME)
    space.layer_selection = layer_selection  # type: ignore[attr-defined]
    return space


def _layers_of_model(model: str | None) -> int:
    return model_shape(model).num_layers


def model_shape(model: str | None = None) -> ModelShape:
    """The encoder sizes read from a model's config (a folder, hub id or ``minilm``, the default)."""
    from transformers import AutoConfig

    from nasforge.core.errors import UserError
    from nasforge_transformers.models import MINILM, resolve_source

    path, local = resolve_source(model or MINILM)
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=local)
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"model {model!r} is not a Hugging Face transformer: {exc}") from None
    return ModelShape.from_config(config)


def extreme_architecture(space: SearchSpace, largest: bool) -> Architecture:
    """The largest (every choice at its top value) or smallest sub-network of ``space``."""
    pick = max if largest else min
    assignment: dict[str, Any] = {}
    for choice in space.choices:
        if choice.is_active(assignment):
            assignment[choice.name] = pick(choice.domain)  # type: ignore[type-var]
    return Architecture(assignment)


def width_count(fraction: float, total: int) -> int:
    """How many of ``total`` heads or neurons a ``fraction`` keeps (at least one)."""
    return max(1, min(total, int(round(float(fraction) * total))))


def kept_layers(count: int, num_layers: int, selection: str = "spread", layer_order: Sequence[int] | None = None) -> tuple[int, ...]:
    """Original indices (ascending) of the ``count`` layers a sub-network keeps.

    ``spread`` spaces them evenly from the first to the last layer (one layer: the first);
    ``first`` keeps the bottom ``count``; ``importance`` keeps the ``count`` first entries of
    ``layer_order`` (most important first, from
    :func:`nasforge_transformers.importance.compute_importance`).
    """
    if not 1 <= count <= num_layers:
        raise SpaceError(f"cannot keep {count} of {num_layers} layers")
    if selection == "first":
        return tuple(range(count))
    if selection == "spread":
        if count == 1:
            return (0,)
        step = (num_layers - 1) / (count - 1)
        return tuple(sorted({int(round(i * step)) for i in range(count)}))
    if selection == "importance":
        if layer_order is None or sorted(layer_order) != list(range(num_layers)):
            raise SpaceError("layer_selection 'importance' needs the layer ranking of the model (a permutation of its layer indices)")
        return tuple(sorted(int(i) for i in layer_order[:count]))
    raise SpaceError(f"unknown layer selection {selection!r}; use one of {', '.join(LAYER_SELECTIONS)}")


def subnetwork_plan(
    architecture: Mapping[str, Any],
    shape: ModelShape,
    selection: str = "spread",
    layer_order: Sequence[int] | None = None,
    head_order: Sequence[Sequence[int]] | None = None,
    neuron_order: Sequence[Sequence[int]] | None = None,
) -> SubnetPlan:
    """Index lists of the parts of the pretrained model that ``architecture`` keeps.

    ``head_order[l]`` / ``neuron_order[l]`` rank layer ``l``'s heads / neurons, most important
    first; omitted (a rewired model), they are the identity, so prefixes are kept.
    """
    count = int(architecture["layers"])
    layers = kept_layers(count, shape.num_layers, selection, layer_order)
    heads, neurons = [], []
    for slot, layer in enumerate(layers, start=1):
        try:
            h = width_count(architecture[f"heads_{slot}"], shape.num_heads)
            n = width_count(architecture[f"ffn_{slot}"], shape.intermediate_size)
        except KeyError as exc:
            raise SpaceError(f"architecture keeps {count} layers but has no {exc.args[0]!r}") from None
        h_rank = list(head_order[layer]) if head_order is not None else list(range(shape.num_heads))
        n_rank = list(neuron_order[layer]) if neuron_order is not None else list(range(shape.intermediate_size))
        heads.append(tuple(sorted(h_rank[:h])))
        neurons.append(tuple(sorted(n_rank[:n])))
    return SubnetPlan(tuple(layers), tuple(heads), tuple(neurons), shape)
