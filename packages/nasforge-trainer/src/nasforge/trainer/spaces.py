"""The trainer's built-in search spaces: ``mlp`` and ``cnn``.

Each factory takes options that resize the space (a config's ``space: {name: cnn, options: {...}}``)
and returns a :class:`~nasforge.core.space.SearchSpace` whose architectures the model builder of
the same name (:mod:`nasforge.trainer.models`) turns into a ``torch.nn.Module``.

Per-layer (``mlp``) and per-stage (``cnn``) widths use the space's ``repeat`` feature, so
``width_3`` only exists when ``depth >= 3`` and architectures never carry inactive choices.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nasforge.core.errors import ConfigError
from nasforge.core.space import SearchSpace

#: Activation names the builders understand, mapped to ``torch.nn`` class names.
ACTIVATIONS = ("relu", "gelu", "silu", "tanh", "leaky_relu")


def _positive_int(field: str, value: Any, low: int = 1, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ConfigError(f"space.options.{field}", f"must be an integer {bound}, got {value!r}")
    return value


def _int_list(field: str, values: Any, low: int = 1) -> list[int]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ConfigError(f"space.options.{field}", f"must be a non-empty list of integers, got {values!r}")
    out = [_positive_int(field, v, low) for v in values]
    if len(set(out)) != len(out):
        raise ConfigError(f"space.options.{field}", f"values must be distinct, got {out}")
    return sorted(out)


def _activation_list(values: Any) -> list[str]:
    if isinstance(values, str) or not isinstance(values, Sequence) or not values:
        raise ConfigError("space.options.activations", f"must be a non-empty list, got {values!r}")
    for v in values:
        if v not in ACTIVATIONS:
            raise ConfigError("space.options.activations", f"unknown activation {v!r}; choose from {list(ACTIVATIONS)}")
    if len(set(values)) != len(values):
        raise ConfigError("space.options.activations", f"values must be distinct, got {list(values)}")
    return list(values)


def mlp_space(
    max_depth: int = 3,
    min_depth: int = 1,
    widths: Sequence[int] = (32, 64, 128, 256),
    activations: Sequence[str] = ("relu", "gelu", "tanh"),
    dropouts: Sequence[float] = (0.0, 0.1, 0.3),
) -> SearchSpace:
    """A multi-layer perceptron: ``depth`` hidden layers, each with its own width.

    Choices: ``depth`` (int ``min_depth..max_depth``), ``width_1 .. width_<max_depth>``
    (``width_i`` active when ``depth >= i``), ``activation`` and ``dropout`` (after every hidden
    layer). The input is flattened, so the space fits any input shape.
    """
    max_depth = _positive_int("max_depth", max_depth, 1, 16)
    min_depth = _positive_int("min_depth", min_depth, 1, max_depth)
    widths = _int_list("widths", widths)
    acts = _activation_list(activations)
    if isinstance(dropouts, (str, bytes)) or not isinstance(dropouts, Sequence) or not dropouts:
        raise ConfigError("space.options.dropouts", f"must be a non-empty list of numbers in [0, 1), got {dropouts!r}")
    drops = []
    for d in dropouts:
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0.0 <= float(d) < 1.0:
            raise ConfigError("space.options.dropouts", f"each dropout must be a number in [0, 1), got {d!r}")
        drops.append(float(d))
    return SearchSpace.from_config(
        [
            {"name": "depth", "type": "int", "low": min_depth, "high": max_depth},
            {"name": "width", "type": "categorical", "values": widths, "ordered": True, "repeat": "depth"},
            {"name": "activation", "type": "categorical", "values": acts},
            {"name": "dropout", "type": "categorical", "values": sorted(set(drops)), "ordered": True},
        ],
        name="mlp",
    )


def cnn_space(
    max_stages: int = 3,
    min_stages: int = 1,
    channels: Sequence[int] = (8, 16, 32, 48),
    max_blocks: int = 2,
    kernel_sizes: Sequence[int] = (3, 5),
    activations: Sequence[str] = ("relu", "silu"),
    residual: Sequence[bool] = (True, False),
) -> SearchSpace:
    """A stage-wise convolutional network with BatchNorm.

    Choices: ``stages`` (int ``min_stages..max_stages``; every stage after the first halves the
    resolution), ``channels_1 .. channels_<max_stages>`` (``channels_i`` active when
    ``stages >= i``), ``blocks`` (conv blocks per stage, ``1..max_blocks``), ``kernel_size``,
    ``activation`` and ``residual`` (whether blocks add a shortcut). Global average pooling
    before the classifier makes the models work for any input size.
    """
    max_stages = _positive_int("max_stages", max_stages, 1, 8)
    min_stages = _positive_int("min_stages", min_stages, 1, max_stages)
    chans = _int_list("channels", channels)
    max_blocks = _positive_int("max_blocks", max_blocks, 1, 8)
    kernels = _int_list("kernel_sizes", kernel_sizes)
    for k in kernels:
        if k % 2 == 0:
            raise ConfigError("space.options.kernel_sizes", f"kernel sizes must be odd (so 'same' padding keeps the size), got {k}")
    acts = _activation_list(activations)
    if isinstance(residual, bool):
        residual = [residual]
    if not isinstance(residual, Sequence) or not residual or not all(isinstance(r, bool) for r in residual):
        raise ConfigError("space.options.residual", f"must be a list of booleans such as [true, false], got {residual!r}")
    choices: list[dict[str, Any]] = [
        {"name": "stages", "type": "int", "low": min_stages, "high": max_stages},
        {"name": "channels", "type": "categorical", "values": chans, "ordered": True, "repeat": "stages"},
        {"name": "blocks", "type": "int", "low": 1, "high": max_blocks},
        {"name": "kernel_size", "type": "categorical", "values": kernels, "ordered": True},
        {"name": "activation", "type": "categorical", "values": acts},
        {"name": "residual", "type": "categorical", "values": list(dict.fromkeys(residual))},
    ]
    return SearchSpace.from_config(choices, name="cnn")
