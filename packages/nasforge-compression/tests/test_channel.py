"""Structured channel pruning: channels really go, graphs stay intact, targets are met."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from nasforge.compression import ChannelPruner, ModelSpec, evaluate_accuracy
from nasforge.compression.models.cifar_resnet import ChannelPadShortcut, resnet20
from nasforge.torchutils import count_macs, count_params


def _x(*shape):
    torch.manual_seed(0)
    return torch.randn(2, *shape)


@pytest.mark.parametrize("importance", ["l1", "l2", "bn", "taylor"])
def test_every_importance_removes_channels_and_keeps_output_shape(importance, digits, digits_spec):
    model = digits_spec.build()
    x = _x(1, 8, 8)
    result = ChannelPruner(ratio=0.5, importance=importance).compress(model, x, data=digits[0])
    out = result.model(x)
    assert out.shape == (2, 10)
    assert count_params(result.model) < count_params(model)
    assert result.report.params_after == count_params(result.model)
    assert result.report.removed_channels, "the report names the layers that lost channels"
    # the classifier's outputs are never pruned
    assert "classifier" not in result.report.removed_channels


def test_residual_cifar_resnet_prunes_across_option_a_shortcuts():
    model = resnet20().eval()
    x = _x(3, 32, 32)
    result = ChannelPruner(ratio=0.5).compress(model, x)
    pruned = result.model
    assert pruned(x).shape == (2, 10)
    # every stage's residual stream shrank, including through the channel-padding shortcut
    shortcut = pruned.layer2[0].shortcut
    assert isinstance(shortcut, ChannelPadShortcut)
    assert shortcut.in_channels == pruned.layer1[-1].conv2.out_channels < 16
    assert shortcut.out_channels == pruned.layer2[0].conv2.out_channels < 32
    assert result.report.macs_ratio > 3.0
    assert result.report.macs_after == count_macs(pruned, x)
    assert not result.report.skipped


def test_global_ranking_gives_uneven_layer_widths():
    model = resnet20()
    x = _x(3, 32, 32)
    result = ChannelPruner(ratio=0.4, global_ranking=True).compress(model, x)
    kept = {after / before for before, after in result.report.removed_channels.values()}
    assert len(kept) > 2, "global ranking removes different fractions from different layers"
    assert result.model(x).shape == (2, 10)


def test_layer_ratios_prune_only_named_layer():
    model = resnet20()
    x = _x(3, 32, 32)
    result = ChannelPruner(layer_ratios={"layer3.1.conv1": 0.5}).compress(model, x)
    assert result.report.removed_channels == {"layer3.1.conv1": (64, 32)}


def test_macs_target_is_reached_and_not_overshot_much():
    model = resnet20()
    x = _x(3, 32, 32)
    result = ChannelPruner(macs_reduction=2.0).compress(model, x)
    assert 2.0 <= result.report.macs_ratio < 2.6


def test_latency_target_uses_the_callback():
    model = resnet20()
    x = _x(3, 32, 32)
    calls = []

    def fake_latency(m):  # proportional to MACs: deterministic for the test
        calls.append(1)
        return count_macs(m, x) / 1e7

    before = fake_latency(model)
    result = ChannelPruner(latency_ms=before / 1.8).compress(model, x, latency_fn=fake_latency)
    assert result.report.metrics_after["latency_ms"] <= before / 1.8
    assert result.report.metrics_before["latency_ms"] == pytest.approx(before)
    assert len(calls) > 3


def test_iterative_steps_call_train_fn_between_and_after():
    model = resnet20()
    x = _x(3, 32, 32)
    seen = []
    result = ChannelPruner(ratio=0.5, steps=3).compress(model, x, train_fn=lambda m: seen.append(count_params(m)))
    assert len(result.report.steps) == 3
    params = [s["params"] for s in result.report.steps]
    assert params[0] > params[1] > params[2]
    assert seen == params, "train_fn runs after every step, on the model of that step"
    # three geometric steps remove about the same as one step of 0.5
    one_shot = ChannelPruner(ratio=0.5).compress(model, x).report.params_after
    assert abs(params[-1] - one_shot) / one_shot < 0.15


def test_round_to_keeps_widths_multiples():
    model = resnet20()
    x = _x(3, 32, 32)
    result = ChannelPruner(ratio=0.3, round_to=8).compress(model, x)
    assert all(after % 8 == 0 for _, after in result.report.removed_channels.values())


def test_pruned_cnn_of_the_space_is_rebuilt_by_the_trainer_builder(digits, digits_spec, trained_digits_cnn):
    model, _ = trained_digits_cnn
    x = _x(1, 8, 8)
    result = ChannelPruner(ratio=0.5).compress(model, x, spec=digits_spec)
    assert result.spec is not None
    assert result.spec.architecture["channels_1"] == 8 and result.spec.architecture["channels_2"] == 16
    assert result.report.architecture == dict(result.spec.architecture)
    fresh = result.spec.build()
    fresh.load_state_dict(result.model.state_dict())
    fresh.eval()
    torch.testing.assert_close(fresh(x), result.model(x))


def test_accuracy_after_brief_finetune_stays_within_bound(digits, trained_digits_cnn):
    model, acc_before = trained_digits_cnn
    train, test, shape = digits
    assert acc_before > 0.9, "the fixture model should have learned digits"
    result = ChannelPruner(ratio=0.4, finetune={"epochs": 2, "lr": 0.02, "distill": True}).compress(
        model, _x(*shape), data=train, eval_fn=lambda m: evaluate_accuracy(m, test)
    )
    assert result.report.params_ratio > 1.8
    assert result.report.metrics_after["accuracy"] >= acc_before - 0.05, result.report.table()
    assert len(result.report.finetune_losses) == 2


class _LambdaShortcut(nn.Module):
    """The original akamaster option-A shortcut: zero channels padded on both sides."""

    def __init__(self, planes):
        super().__init__()
        self.pad = planes // 4

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class _LambdaNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.short = _LambdaShortcut(16)
        self.conv3 = nn.Conv2d(16, 16, 3, padding=1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        a = F.relu(self.conv1(x))
        b = F.relu(self.conv2(a) + self.short(a))
        return self.fc(F.relu(self.conv3(b)).mean((2, 3)))


def test_unknown_channel_padding_is_reported_and_left_alone():
    model = _LambdaNet()
    x = _x(3, 16, 16)
    result = ChannelPruner(ratio=0.5).compress(model, x)
    assert result.model(x).shape == (2, 10)
    assert any("conv1" in s and "ConstantPadNd" in s for s in result.report.skipped), result.report.skipped
    assert result.model.conv1.out_channels == 8, "channels feeding the unknown op must stay"
    assert result.model.conv2.out_channels == 16
    assert result.model.conv3.out_channels == 8, "unrelated layers are still pruned"


class _RawParamNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.scale = nn.Parameter(torch.ones(1, 8, 1, 1))  # a custom op on a raw parameter
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = F.relu(self.conv1(x)) * self.scale
        return self.fc(F.relu(self.conv2(x)).mean((2, 3)))


def test_raw_parameter_of_custom_module_is_reported():
    model = _RawParamNet()
    x = _x(3, 8, 8)
    result = ChannelPruner(ratio=0.5).compress(model, x)
    assert result.model(x).shape == (2, 4)
    assert any("scale" in s for s in result.report.skipped), result.report.skipped
    assert result.model.conv1.out_channels == 8
    assert result.model.conv2.out_channels == 4


def test_ignored_layer_keeps_its_channels():
    model = resnet20()
    x = _x(3, 32, 32)
    result = ChannelPruner(ratio=0.5, ignore=["layer3.0.conv1"]).compress(model, x)
    assert result.model.layer3[0].conv1.out_channels == 64
    assert "layer3.0.conv1 (in 'ignore')" in result.report.skipped
    assert result.model.layer3[1].conv1.out_channels == 32


def test_input_model_is_not_modified():
    model = resnet20()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ChannelPruner(ratio=0.5).compress(model, _x(3, 32, 32))
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_mlp_of_the_space_is_rebuilt_with_new_widths():
    spec = ModelSpec("mlp", {"depth": 2, "width_1": 64, "width_2": 32, "activation": "relu", "dropout": 0.1}, (1, 8, 8), 10)
    model = spec.build()
    x = _x(1, 8, 8)
    result = ChannelPruner(macs_reduction=3.0).compress(model, x, spec=spec)
    assert result.report.macs_ratio >= 3.0
    arch = result.spec.architecture
    assert arch["width_1"] < 64 and arch["width_2"] < 32
    assert type(result.model) is type(model)
    assert result.report.removed_channels == {"features.1": (64, arch["width_1"]), "features.4": (32, arch["width_2"])}


def test_global_ranking_is_refused_for_a_cnn_of_the_space(digits_spec):
    from nasforge.core.errors import ConfigError

    with pytest.raises(ConfigError, match="uniform ratio"):
        ChannelPruner(ratio=0.3, global_ranking=True).compress(digits_spec.build(), _x(1, 8, 8), spec=digits_spec)
