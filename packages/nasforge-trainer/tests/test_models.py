"""Spaces and model builders: conditional choices, output shapes, sizes that follow the architecture."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge.core.errors import ConfigError, SpaceError, UnknownComponentError
from nasforge.core.records import Architecture
from nasforge.trainer import build_model, cnn_space, count_params, mlp_space
from nasforge.trainer.models import ConvBlock


def _trainer_spaces():
    from nasforge.core.plugins import get_plugin_manager

    pm = get_plugin_manager(fresh=True)
    spaces = {name: c.obj for name, c in pm.components("space").items() if c.plugin.distribution == "nasforge-trainer"}
    builders = {name for name, c in pm.components("model_builder").items() if c.plugin.distribution == "nasforge-trainer"}
    assert set(spaces) == builders, "every space of the trainer needs a model builder of the same name"
    assert set(spaces) == {"mlp", "cnn", "text", "crnn", "ncf"}
    # the image spaces take any (C, H, W) input; the task spaces are checked in test_task_spaces.py
    return sorted((name, factory) for name, factory in spaces.items() if name in ("mlp", "cnn"))


# every space the trainer registers goes through the same checks
@pytest.mark.parametrize(("name", "space_factory"), _trainer_spaces())
@pytest.mark.parametrize("input_shape", [(1, 8, 8), (3, 32, 32), (3, 17, 23)])
def test_sampled_architectures_build_and_give_logits(name, space_factory, input_shape):
    space = space_factory()
    assert space.name == name
    rng = np.random.default_rng(0)
    for _ in range(4):
        arch = space.sample(rng)
        model = build_model(name, arch, input_shape, num_classes=7)
        model.eval()
        out = model(torch.randn(3, *input_shape))
        assert out.shape == (3, 7)
        assert torch.isfinite(out).all()


def test_mlp_widths_exist_only_up_to_depth():
    space = mlp_space(max_depth=3)
    rng = np.random.default_rng(1)
    for _ in range(30):
        arch = space.sample(rng)
        depth = arch["depth"]
        assert {k for k in arch if k.startswith("width_")} == {f"width_{i}" for i in range(1, depth + 1)}
        model = build_model("mlp", arch, (1, 8, 8), 10)
        linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
        assert [m.out_features for m in linears[:-1]] == [arch[f"width_{i}"] for i in range(1, depth + 1)]


def test_cnn_channels_exist_only_up_to_stages():
    space = cnn_space(max_stages=3)
    rng = np.random.default_rng(2)
    for _ in range(30):
        arch = space.sample(rng)
        assert {k for k in arch if k.startswith("channels_")} == {f"channels_{i}" for i in range(1, arch["stages"] + 1)}
        model = build_model("cnn", arch, (1, 8, 8), 10)
        assert len(model.stages) == arch["stages"]
        assert all(len(stage) == arch["blocks"] for stage in model.stages)


def _cnn(**changes):
    base = {"stages": 2, "channels_1": 8, "channels_2": 16, "blocks": 1, "kernel_size": 3, "activation": "relu", "residual": True}
    base.update(changes)
    return Architecture(base)


def test_param_count_grows_with_width_and_depth():
    small = count_params(build_model("cnn", _cnn(), (1, 8, 8), 10))
    wider = count_params(build_model("cnn", _cnn(channels_2=32), (1, 8, 8), 10))
    deeper = count_params(build_model("cnn", _cnn(blocks=2), (1, 8, 8), 10))
    assert wider > small and deeper > small
    mlp_small = count_params(build_model("mlp", {"depth": 1, "width_1": 32, "activation": "relu", "dropout": 0.0}, (1, 8, 8), 10))
    # exact: 64*32 + 32 weights/biases of the hidden layer, 32*10 + 10 of the classifier
    assert mlp_small == 64 * 32 + 32 + 32 * 10 + 10


def test_residual_blocks_use_projection_only_when_shape_changes():
    model = build_model("cnn", _cnn(residual=True), (1, 8, 8), 10)
    blocks = [m for m in model.modules() if isinstance(m, ConvBlock)]
    assert blocks[0].shortcut is None and blocks[0].has_identity_shortcut  # 8 -> 8 channels, stride 1
    assert blocks[1].shortcut is not None and not blocks[1].has_identity_shortcut  # 8 -> 16 channels, stride 2
    plain = build_model("cnn", _cnn(residual=False), (1, 8, 8), 10)
    assert not any(m.nasforge_residual or m.has_identity_shortcut for m in plain.modules() if isinstance(m, ConvBlock))
    assert count_params(plain) < count_params(model)


def test_models_are_made_of_standard_modules_and_trace():
    model = build_model("cnn", _cnn(), (3, 16, 16), 10).eval()
    kinds = {type(m).__name__ for m in model.modules()}
    assert {"Conv2d", "BatchNorm2d", "ReLU", "AdaptiveAvgPool2d", "Linear"} <= kinds
    traced = torch.fx.symbolic_trace(model)  # no data-dependent control flow
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(traced(x), model(x))


def test_space_options_resize_the_space():
    assert cnn_space(max_stages=1, channels=[8], kernel_sizes=[3], activations=["relu"], residual=[True], max_blocks=1).size() == 1
    assert mlp_space(max_depth=2, widths=[16, 32]).size() < mlp_space(max_depth=3, widths=[16, 32]).size()


@pytest.mark.parametrize(
    ("factory", "options", "field"),
    [
        (cnn_space, {"max_stages": 0}, "space.options.max_stages"),
        (cnn_space, {"channels": []}, "space.options.channels"),
        (cnn_space, {"kernel_sizes": [4]}, "space.options.kernel_sizes"),
        (cnn_space, {"activations": ["swishy"]}, "space.options.activations"),
        (cnn_space, {"residual": ["yes"]}, "space.options.residual"),
        (mlp_space, {"dropouts": [1.5]}, "space.options.dropouts"),
        (mlp_space, {"min_depth": 4, "max_depth": 3}, "space.options.min_depth"),
    ],
)
def test_bad_space_options_name_the_option(factory, options, field):
    with pytest.raises(ConfigError) as info:
        factory(**options)
    assert info.value.field == field


def test_builder_errors_are_clear():
    with pytest.raises(SpaceError, match="lacks 'channels_2'"):
        build_model("cnn", {k: v for k, v in _cnn().items() if k != "channels_2"}, (1, 8, 8), 10)
    with pytest.raises(UnknownComponentError, match="model builder"):
        build_model("no-such-space", {}, (1, 8, 8), 10)
    with pytest.raises(ConfigError, match="input_shape"):
        build_model("cnn", _cnn(), (8, 8), 10)
