"""The CIFAR ResNets: checkpoint keys match, the shortcut module equals the original lambda."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from nasforge_compression_testing import require_shared

from nasforge.compression.models.cifar_resnet import ChannelPadShortcut, CifarResNet, load_checkpoint, resnet20, resnet32, resnet44, resnet56, strip_prefix


@pytest.mark.parametrize("factory, blocks, params", [(resnet20, 3, 269_722), (resnet32, 5, 464_154), (resnet44, 7, 658_586), (resnet56, 9, 853_018)])
def test_depths_and_parameter_counts(factory, blocks, params):
    model = factory()
    assert model.blocks == (blocks,) * 3
    assert sum(p.numel() for p in model.parameters()) == params
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_shortcut_equals_the_original_option_a_lambda():
    x = torch.randn(2, 16, 8, 8)
    ours = ChannelPadShortcut(16, 32, stride=2)(x)
    original = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 8, 8), "constant", 0)
    torch.testing.assert_close(ours, original)


def test_shortcut_has_no_state_so_checkpoints_load():
    assert not [k for k in resnet20().state_dict() if "shortcut" in k]


def test_strip_prefix():
    assert strip_prefix({"module.conv1.weight": 1, "linear.bias": 2}) == {"conv1.weight": 1, "linear.bias": 2}


@pytest.mark.parametrize("name, factory", [("resnet20-12fca82f.th", resnet20), ("resnet56-4bfd9763.th", resnet56)])
def test_shared_checkpoints_load_strictly_and_predict(name, factory):
    path = require_shared(f"weights/{name}")
    model = load_checkpoint(factory(), path).eval()
    # a smooth synthetic image should not give NaNs and the logits should differ between classes
    out = model(torch.rand(2, 3, 32, 32))
    assert torch.isfinite(out).all() and out.std() > 0


def test_wrong_checkpoint_names_the_missing_keys(tmp_path):
    path = tmp_path / "bad.th"
    torch.save({"state_dict": {"module.conv1.weight": torch.zeros(16, 3, 3, 3)}}, path)
    with pytest.raises(RuntimeError, match="Missing key"):
        load_checkpoint(CifarResNet(), path)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(CifarResNet(), tmp_path / "nope.th")
