"""User mistakes give clear errors that name what is wrong."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nasforge.compression import ChannelPruner, DepthPruner, DistillationCompressor, MagnitudePruner
from nasforge.compression.models.cifar_resnet import resnet20
from nasforge.core.errors import ConfigError, UserError

X = torch.randn(2, 3, 32, 32)


@pytest.mark.parametrize(
    "make, field",
    [
        (lambda: ChannelPruner(ratio=1.5), "ratio"),
        (lambda: ChannelPruner(ratio=-0.1), "ratio"),
        (lambda: ChannelPruner(ratio="half"), "ratio"),
        (lambda: ChannelPruner(macs_reduction=0.5), "macs_reduction"),
        (lambda: ChannelPruner(ratio=0.5, macs_reduction=2.0), "give one of"),
        (lambda: ChannelPruner(), "say how much"),
        (lambda: ChannelPruner(ratio=0.5, importance="random"), "importance"),
        (lambda: ChannelPruner(ratio=0.5, steps=0), "steps"),
        (lambda: MagnitudePruner(sparsity=1.0), "sparsity"),
        (lambda: MagnitudePruner(scope="model"), "scope"),
        (lambda: DepthPruner(), "exactly one"),
        (lambda: DepthPruner(num_blocks=1, criterion="magic"), "criterion"),
        (lambda: ChannelPruner(ratio=0.5, finetune={"epochs": 1, "speed": 3}), "speed"),
        (lambda: ChannelPruner(ratio=0.5, finetune={"alpha": 2}), "alpha"),
        (lambda: DistillationCompressor(teacher="big"), "teacher"),
    ],
)
def test_bad_options_raise_config_error_naming_the_field(make, field):
    with pytest.raises(ConfigError, match=field):
        make()


def test_unknown_layer_name_is_named_with_a_suggestion():
    with pytest.raises(ConfigError, match=r"no layer named 'layer1.0.conv3'; did you mean .*'layer1.0.conv1'"):
        ChannelPruner(ratio=0.3, ignore=["layer1.0.conv3"]).compress(resnet20(), X)
    with pytest.raises(ConfigError, match="no layer named 'fc'"):
        ChannelPruner(layer_ratios={"fc": 0.3}).compress(resnet20(), X)
    with pytest.raises(ConfigError, match="no layer named 'head'"):
        MagnitudePruner(layers=["head"]).compress(resnet20(), X)
    with pytest.raises(ConfigError, match="no layer named 'layer9.0'"):
        DepthPruner(num_blocks=1, blocks=["layer9.0"]).compress(resnet20(), X)


def test_model_that_cannot_run_on_the_inputs():
    with pytest.raises(UserError, match=r"cannot run on example inputs of shape \(2, 1, 8, 8\)"):
        ChannelPruner(ratio=0.3).compress(resnet20(), torch.randn(2, 1, 8, 8))


class _DictOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return {"logits": self.fc(x)}


def test_model_with_non_tensor_output_is_refused_clearly():
    with pytest.raises(UserError, match="returned dict"):
        ChannelPruner(ratio=0.3).compress(_DictOutput(), torch.randn(2, 4))


class _Untraceable(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        with torch.no_grad():  # autograd cannot see through this, so neither can torch-pruning
            y = self.conv(x)
        return y.mean((2, 3))


def test_model_that_cannot_be_traced_is_refused():
    with pytest.raises(UserError, match="could not trace"):
        ChannelPruner(ratio=0.3).compress(_Untraceable(), torch.randn(2, 3, 8, 8))


def test_not_a_module_and_bad_inputs():
    with pytest.raises(UserError, match="torch.nn.Module"):
        ChannelPruner(ratio=0.3).compress("resnet", X)
    with pytest.raises(UserError, match="example_inputs"):
        ChannelPruner(ratio=0.3).compress(resnet20(), [1, 2])


def test_data_needed_but_missing():
    with pytest.raises(UserError, match="needs data"):
        ChannelPruner(ratio=0.3, importance="taylor").compress(resnet20(), X)
    with pytest.raises(UserError, match="no data was given"):
        ChannelPruner(ratio=0.3, finetune={"epochs": 1}).compress(resnet20(), X)
    with pytest.raises(UserError, match="needs data"):
        DistillationCompressor().compress(resnet20(), X)


def test_latency_target_without_callback():
    with pytest.raises(UserError, match="latency_fn"):
        ChannelPruner(latency_ms=1.0).compress(resnet20(), X)


def test_unreachable_target_says_what_was_reachable():
    with pytest.raises(UserError, match="cannot reach the MACs target"):
        ChannelPruner(macs_reduction=1000.0).compress(resnet20(), X)
