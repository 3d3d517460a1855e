"""Channel and depth pruning of models nasforge did not build: torchvision nets, concatenation."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from nasforge.compression import ChannelPruner, DepthPruner
from nasforge.torchutils import count_params


@pytest.mark.parametrize(
    "factory",
    [
        lambda: torchvision.models.resnet18(num_classes=10),  # residual adds, projection shortcuts
        lambda: torchvision.models.mobilenet_v2(num_classes=10),  # depthwise convs, inverted residuals
    ],
    ids=["resnet18", "mobilenet_v2"],
)
def test_torchvision_models_prune_without_breaking(factory):
    torch.manual_seed(0)
    model = factory().eval()
    x = torch.randn(2, 3, 32, 32)
    result = ChannelPruner(ratio=0.3, round_to=4).compress(model, x)
    pruned = result.model
    assert pruned(x).shape == (2, 10)
    assert count_params(pruned) < 0.7 * count_params(model)
    assert not result.report.skipped
    # depthwise convolutions keep groups == channels after pruning
    for m in pruned.modules():
        if isinstance(m, nn.Conv2d) and m.groups > 1:
            assert m.groups == m.in_channels == m.out_channels


def test_torchvision_resnet_blocks_are_depth_prunable():
    model = torchvision.models.resnet18(num_classes=10)
    result = DepthPruner(num_blocks=2, criterion="residual_norm").compress(model, torch.randn(2, 3, 32, 32))
    assert len(result.report.removed_blocks) == 2
    assert all(name.split(".")[1] == "1" for name in result.report.removed_blocks)  # block 0 of a stage has a downsample
    assert result.model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


class _Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, padding=1)
        self.b = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(16)
        self.c = nn.Conv2d(16, 16, 3, padding=1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        y = torch.relu(self.bn(torch.cat([self.a(x), self.b(x)], dim=1)))
        return self.fc(torch.relu(self.c(y)).mean((2, 3)))


def test_concatenation_is_followed_through():
    model = _Concat()
    x = torch.randn(2, 3, 8, 8)
    result = ChannelPruner(ratio=0.5).compress(model, x)
    p = result.model
    assert p(x).shape == (2, 5)
    assert p.c.in_channels == p.a.out_channels + p.b.out_channels == p.bn.num_features < 16
