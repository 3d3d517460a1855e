"""The NAS-Bench-201 network in PyTorch, built from a cell architecture.

The macro skeleton is the benchmark's (Dong & Yang, ICLR 2020)::

    stem: Conv3x3(3 -> 16) + BN
    stage 1: 5 cells at 16 channels
    ResNet basic block, stride 2, 16 -> 32
    stage 2: 5 cells at 32 channels
    ResNet basic block, stride 2, 32 -> 64
    stage 3: 5 cells at 64 channels
    BN + ReLU, global average pool, Linear(64 -> num_classes)

Convolutions inside cells are ReLU-Conv-BN; ``avg_pool_3x3`` does not count padding; ``none``
contributes nothing (a node whose inputs are all ``none`` is zero). With ``num_classes=10`` the
parameter count equals the benchmark's ``params_m`` column (in millions, 6 decimals) for every
cell.

This module imports torch at the top; the plugin imports it only when a model is built, so the
space and the tabular evaluator work without torch installed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without torch
    raise ImportError(
        "building NAS-Bench-201 models needs PyTorch; install it with `pip install 'nasforge-nasbench201[torch]'`"
    ) from exc

from nasforge.core.errors import SpaceError
from nasforge_nasbench201.space import EDGES, NUM_NODES, from_arch_str, nasbench201_space


class ReLUConvBN(nn.Sequential):
    """ReLU, then a bias-free convolution, then batch norm (the benchmark's convolution op)."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int, padding: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False),
            nn.BatchNorm2d(c_out),
        )


def _make_op(name: str, channels: int) -> nn.Module | None:
    """The module for one cell edge (stride 1, same channels in and out); ``None`` for ``none``."""
    if name == "none":
        return None
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3, 1, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise SpaceError(f"unknown NAS-Bench-201 operation {name!r}")


class Cell(nn.Module):
    """One NAS-Bench-201 cell: node ``j`` is the sum of its incoming edges' outputs; node 3 is the output."""

    def __init__(self, ops: Sequence[str], channels: int) -> None:
        super().__init__()
        self.edges = nn.ModuleDict()
        # For each node: the (source node, edge key) pairs that are not ``none``.
        self.inputs: list[list[tuple[int, str]]] = [[] for _ in range(NUM_NODES)]
        for (src, dst), op in zip(EDGES, ops, strict=True):
            module = _make_op(op, channels)
            if module is not None:
                key = f"{src}_{dst}"
                self.edges[key] = module
                self.inputs[dst].append((src, key))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for dst in range(1, NUM_NODES):
            total = None
            for src, key in self.inputs[dst]:
                out = self.edges[key](nodes[src])
                total = out if total is None else total + out
            nodes.append(x * 0.0 if total is None else total)
        return nodes[-1]


class ResNetReduction(nn.Module):
    """The residual block between stages: two ReLU-Conv-BN 3x3 (first with stride 2) plus AvgPool-Conv1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, 2, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class NASBench201Network(nn.Module):
    """The benchmark's CIFAR network for one cell (see the module docstring for its layout)."""

    def __init__(self, ops: Sequence[str], in_channels: int = 3, num_classes: int = 10, channels: int = 16, cells_per_stage: int = 5) -> None:
        super().__init__()
        self.ops = tuple(ops)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels))
        layers: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResNetReduction(c, c * 2))
                c *= 2
            layers.extend(Cell(self.ops, c) for _ in range(cells_per_stage))
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.ReLU(inplace=False), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.cells(self.stem(x))))


def build_nasbench201(
    architecture: Mapping[str, Any] | str,
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    channels: int = 16,
    cells_per_stage: int = 5,
) -> NASBench201Network:
    """Build the NAS-Bench-201 network for ``architecture`` (a mapping of this space or an architecture string).

    ``input_shape`` is ``(channels, height, width)``; only the channel count matters (the network
    ends in global pooling), but height and width must be at least 4 for the two reductions.
    ``channels`` and ``cells_per_stage`` default to the benchmark's 16 and 5; other values give a
    wider/narrower or deeper/shallower network whose parameters no longer match the table.
    """
    arch = from_arch_str(architecture) if isinstance(architecture, str) else nasbench201_space().validate(architecture)
    shape = tuple(input_shape)
    if len(shape) != 3 or any(not isinstance(d, int) or d < 1 for d in shape):
        raise SpaceError(f"input_shape must be (channels, height, width) with positive integers, got {input_shape!r}")
    if min(shape[1:]) < 4:
        raise SpaceError(f"input_shape {shape} is too small: the network halves height and width twice, so both must be at least 4")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise SpaceError(f"num_classes must be a positive integer, got {num_classes!r}")
    from nasforge_nasbench201.space import EDGE_NAMES

    ops = [str(arch[name]) for name in EDGE_NAMES]
    return NASBench201Network(ops, in_channels=shape[0], num_classes=num_classes, channels=channels, cells_per_stage=cells_per_stage)
