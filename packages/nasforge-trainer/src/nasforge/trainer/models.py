"""Model builders for the ``mlp`` and ``cnn`` spaces, and :func:`build_model` to call any builder by name.

A builder is called as ``builder(architecture, input_shape=(C, H, W), num_classes=K)`` and
returns a ``torch.nn.Module`` that maps a ``(N, C, H, W)`` batch to ``(N, K)`` logits.

The models are made only of standard modules (``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.Linear``,
activation modules, pooling); the residual addition lives in the small :class:`ConvBlock`
module. That keeps them traceable by pruning libraries (torch-pruning) and exportable to ONNX.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from nasforge.core.errors import ConfigError, SpaceError, UnknownComponentError

_ACTIVATION_MODULES: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "leaky_relu": lambda: nn.LeakyReLU(0.1),
}

ModelBuilder = Callable[..., nn.Module]


def make_activation(name: str) -> nn.Module:
    """A fresh activation module for ``name`` (``relu``, ``gelu``, ``silu``, ``tanh``, ``leaky_relu``)."""
    try:
        return _ACTIVATION_MODULES[str(name)]()
    except KeyError:
        raise SpaceError(f"unknown activation {name!r}; the builders know {sorted(_ACTIVATION_MODULES)}") from None


def _get(arch: Mapping[str, Any], key: str, space: str) -> Any:
    try:
        return arch[key]
    except KeyError:
        raise SpaceError(f"architecture for the {space!r} builder lacks {key!r}; it needs the choices of the {space!r} space, got {dict(arch)}") from None


def _check_shape(input_shape: Sequence[int], num_classes: int) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ConfigError("input_shape", f"must be (channels, height, width) with positive sizes, got {tuple(input_shape)}")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ConfigError("num_classes", f"must be an integer of at least 2, got {num_classes!r}")
    return shape  # type: ignore[return-value]


class MLP(nn.Module):
    """Flatten, then ``depth`` blocks of Linear → activation (→ Dropout), then a Linear classifier."""

    def __init__(self, in_features: int, widths: Sequence[int], activation: str, dropout: float, num_classes: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        previous = in_features
        for width in widths:
            layers += [nn.Linear(previous, int(width)), make_activation(activation)]
            if dropout > 0:
                layers.append(nn.Dropout(float(dropout)))
            previous = int(width)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(previous, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class ConvBlock(nn.Module):
    """Conv → BN → act → Conv → BN, plus an optional shortcut, then act.

    The shortcut is the identity when the shape is unchanged, otherwise a strided 1×1
    convolution with BatchNorm (a "projection" shortcut). ``nasforge_residual`` and
    ``has_identity_shortcut`` tell the compression package's depth pruner which blocks it can
    remove (a residual block with an identity shortcut computes ``x + f(x)``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int, activation: str, residual: bool) -> None:
        super().__init__()
        pad = kernel_size // 2
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=pad, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.act1 = make_activation(activation)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size, stride=1, padding=pad, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.act2 = make_activation(activation)
        self.residual = bool(residual)
        self.shortcut: nn.Module | None = None
        if self.residual and (stride != 1 or in_channels != out_channels):
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    @property
    def nasforge_residual(self) -> bool:
        """True when the block adds a shortcut."""
        return self.residual

    @property
    def has_identity_shortcut(self) -> bool:
        """True when the shortcut is the identity (the block can be dropped without changing shapes)."""
        return self.residual and self.shortcut is None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x)))))
        if self.residual:
            out = out + (x if self.shortcut is None else self.shortcut(x))
        return self.act2(out)


class CNN(nn.Module):
    """A stem convolution, ``stages`` stages of :class:`ConvBlock` s, global average pooling and a Linear classifier."""

    def __init__(
        self,
        in_channels: int,
        stage_channels: Sequence[int],
        blocks: int,
        kernel_size: int,
        activation: str,
        residual: bool,
        num_classes: int,
    ) -> None:
        super().__init__()
        first = int(stage_channels[0])
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, first, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(first),
            make_activation(activation),
        )
        stages: list[nn.Module] = []
        previous = first
        for s, channels in enumerate(stage_channels):
            blocks_here = []
            for b in range(blocks):
                stride = 2 if (s > 0 and b == 0) else 1
                blocks_here.append(ConvBlock(previous, int(channels), kernel_size, stride, activation, residual))
                previous = int(channels)
            stages.append(nn.Sequential(*blocks_here))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(previous, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.flatten(self.pool(self.stages(self.stem(x)))))


def build_mlp(arch: Mapping[str, Any], input_shape: Sequence[int] = (1, 8, 8), num_classes: int = 10) -> nn.Module:
    """Build the :class:`MLP` for an architecture of the ``mlp`` space."""
    c, h, w = _check_shape(input_shape, num_classes)
    depth = int(_get(arch, "depth", "mlp"))
    widths = [int(_get(arch, f"width_{i}", "mlp")) for i in range(1, depth + 1)]
    return MLP(c * h * w, widths, str(_get(arch, "activation", "mlp")), float(arch.get("dropout", 0.0)), num_classes)


def build_cnn(arch: Mapping[str, Any], input_shape: Sequence[int] = (1, 8, 8), num_classes: int = 10) -> nn.Module:
    """Build the :class:`CNN` for an architecture of the ``cnn`` space."""
    c, _, _ = _check_shape(input_shape, num_classes)
    stages = int(_get(arch, "stages", "cnn"))
    channels = [int(_get(arch, f"channels_{i}", "cnn")) for i in range(1, stages + 1)]
    kernel = int(_get(arch, "kernel_size", "cnn"))
    if kernel < 1 or kernel % 2 == 0:
        raise SpaceError(f"kernel_size must be a positive odd integer, got {kernel}")
    return CNN(
        c,
        channels,
        int(_get(arch, "blocks", "cnn")),
        kernel,
        str(_get(arch, "activation", "cnn")),
        bool(_get(arch, "residual", "cnn")),
        num_classes,
    )


#: The trainer's own builders, keyed by space name (also registered through the plugin hook).
BUILDERS: dict[str, ModelBuilder] = {"mlp": build_mlp, "cnn": build_cnn}


def get_model_builder(name: str) -> ModelBuilder:
    """The builder registered for space ``name``: the trainer's own, else any plugin's."""
    if name in BUILDERS:
        return BUILDERS[name]
    from nasforge.core.plugins import get_plugin_manager

    try:
        return get_plugin_manager().get("model_builder", name)
    except UnknownComponentError as exc:
        raise UnknownComponentError(
            f"{exc}. A custom space needs a model builder: set the evaluator option 'model' to a builder name "
            "(e.g. 'cnn' or 'mlp' when the space uses their choices) or register one with nasforge_register_model_builders"
        ) from None


def build_model(space_name: str, arch: Mapping[str, Any], input_shape: Sequence[int], num_classes: int, **model_options: Any) -> nn.Module:
    """Build the model for ``arch`` with the builder registered for ``space_name``.

    :param space_name: the builder's name (``"mlp"``, ``"cnn"`` or one a plugin registered).
    :param arch: the architecture (an :class:`~nasforge.core.records.Architecture` or a plain dict).
    :param input_shape: ``(channels, height, width)`` of one input.
    :param num_classes: number of output logits.
    :param model_options: extra builder arguments the data needs (``DatasetSplits.model_options``,
        e.g. ``vocab_size`` for text models).
    """
    builder = get_model_builder(space_name)
    model = builder(arch, input_shape=tuple(input_shape), num_classes=int(num_classes), **model_options)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model builder {space_name!r} returned {type(model).__name__}, expected a torch.nn.Module")
    return model
