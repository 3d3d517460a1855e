"""CIFAR-10 ResNets of He et al. (2016), option A: ``resnet20``, ``resnet32``, ``resnet44``, ``resnet56``.

The layout matches the widely used checkpoints of akamaster/pytorch_resnet_cifar10 (keys such as
``conv1.weight``, ``layer1.0.conv1.weight``, ``linear.weight``), so a checkpoint loads with
:func:`load_checkpoint` after its ``module.`` prefixes are stripped.

Option A shortcuts (used where a block halves the resolution and doubles the width) subsample the
input by 2 and zero-pad the channels. The original code does this with a ``LambdaLayer`` around
``F.pad``; torch-pruning cannot see through such a lambda (it would treat the channel padding as an
element-wise op and couple a 16-channel tensor with a 32-channel one). Here the shortcut is a small
module, :class:`ChannelPadShortcut`, that keeps an explicit map from output to input channels, so
that structured pruning can remove channels on either side of it. It has no parameters, so the
checkpoints load unchanged.

Each stage takes its own number of blocks (``blocks=(9, 9, 9)`` for ResNet-56), which lets depth
pruning rebuild a network with fewer blocks per stage.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "BasicBlock",
    "ChannelPadShortcut",
    "CifarResNet",
    "load_checkpoint",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
]


class ChannelPadShortcut(nn.Module):
    """Option A shortcut: subsample by ``stride`` and place input channels among zero channels.

    ``source[j]`` is the input channel copied to output channel ``j``, or ``-1`` for a channel of
    zeros. A fresh shortcut from ``in_channels`` to ``out_channels`` puts the input in the middle,
    as the original ``F.pad(x, (0, 0, 0, 0, pad, pad))`` does. Pruning edits ``source``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(f"ChannelPadShortcut cannot shrink channels ({in_channels} -> {out_channels})")
        pad = (out_channels - in_channels) // 2
        source = torch.full((out_channels,), -1, dtype=torch.long)
        source[pad : pad + in_channels] = torch.arange(in_channels)
        self.in_channels = in_channels
        self.stride = stride
        # Not persistent: the checkpoints have no entry for it and it is derived from the widths.
        self.register_buffer("source", source, persistent=False)

    @property
    def out_channels(self) -> int:
        return int(self.source.numel())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        # Append one zero channel and gather: -1 picks the zero channel.
        x = F.pad(x, (0, 0, 0, 0, 0, 1))
        index = torch.where(self.source < 0, torch.full_like(self.source, self.in_channels), self.source)
        return x.index_select(1, index)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a residual connection (identity or :class:`ChannelPadShortcut`)."""

    #: depth pruning may replace this block by its shortcut when the shortcut is the identity
    nasforge_residual = True

    def __init__(self, in_planes: int, planes: int, stride: int = 1, mid_planes: int | None = None) -> None:
        super().__init__()
        mid = planes if mid_planes is None else mid_planes
        self.conv1 = nn.Conv2d(in_planes, mid, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        if stride != 1 or in_planes != planes:
            self.shortcut: nn.Module = ChannelPadShortcut(in_planes, planes, stride)
        else:
            self.shortcut = nn.Identity()

    @property
    def has_identity_shortcut(self) -> bool:
        """True when the block maps its input to an output of the same shape through ``x + f(x)``."""
        return isinstance(self.shortcut, nn.Identity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """A CIFAR ResNet: a 3x3 stem, three stages of :class:`BasicBlock`, global pooling and a linear head.

    :param blocks: number of blocks in each of the three stages (``(9, 9, 9)`` is ResNet-56).
    :param num_classes: outputs of the linear head.
    :param widths: channels of the three stages (16, 32, 64 in the paper).
    """

    def __init__(self, blocks: Sequence[int] = (3, 3, 3), num_classes: int = 10, widths: Sequence[int] = (16, 32, 64)) -> None:
        super().__init__()
        blocks = tuple(int(b) for b in blocks)
        widths = tuple(int(w) for w in widths)
        if len(blocks) != 3 or any(b < 1 for b in blocks):
            raise ValueError(f"blocks must be three positive integers, got {blocks}")
        if len(widths) != 3 or any(w < 1 for w in widths):
            raise ValueError(f"widths must be three positive integers, got {widths}")
        self.blocks = blocks
        self.widths = widths
        self.num_classes = num_classes
        self.conv1 = nn.Conv2d(3, widths[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        in_planes = widths[0]
        stages = []
        for i, (n, width) in enumerate(zip(blocks, widths)):
            layers = []
            for j in range(n):
                stride = 2 if (i > 0 and j == 0) else 1
                layers.append(BasicBlock(in_planes, width, stride))
                in_planes = width
            stages.append(nn.Sequential(*layers))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(widths[2], num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)



def resnet20(num_classes: int = 10) -> CifarResNet:
    """ResNet-20 (3 blocks per stage, 0.27 M parameters)."""
    return CifarResNet((3, 3, 3), num_classes)


def resnet32(num_classes: int = 10) -> CifarResNet:
    """ResNet-32 (5 blocks per stage, 0.46 M parameters)."""
    return CifarResNet((5, 5, 5), num_classes)


def resnet44(num_classes: int = 10) -> CifarResNet:
    """ResNet-44 (7 blocks per stage, 0.66 M parameters)."""
    return CifarResNet((7, 7, 7), num_classes)


def resnet56(num_classes: int = 10) -> CifarResNet:
    """ResNet-56 (9 blocks per stage, 0.85 M parameters, 125 M MACs on 32x32 inputs)."""
    return CifarResNet((9, 9, 9), num_classes)


def strip_prefix(state_dict: dict[str, torch.Tensor], prefix: str = "module.") -> dict[str, torch.Tensor]:
    """Drop ``prefix`` from every key that has it (checkpoints saved from ``nn.DataParallel`` carry ``module.``)."""
    return {(k[len(prefix) :] if k.startswith(prefix) else k): v for k, v in state_dict.items()}


def load_checkpoint(model: nn.Module, path: str | os.PathLike[str]) -> nn.Module:
    """Load a checkpoint file into ``model`` (strict) and return the model.

    Accepts a bare state dict or ``{'state_dict': ...}``; ``module.`` prefixes are stripped.
    Raises :class:`FileNotFoundError` for a missing file and :class:`RuntimeError` (from
    ``load_state_dict``) naming missing or unexpected keys when the architecture does not match.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    if not isinstance(state, dict):
        raise RuntimeError(f"{path} holds a {type(state).__name__}, not a state dict")
    model.load_state_dict(strip_prefix(state))
    return model
