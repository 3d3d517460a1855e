"""Depth pruning: whole residual blocks go, the graph stays valid, nasforge models are rebuilt."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nasforge.compression import DepthPruner, ModelSpec, evaluate_accuracy
from nasforge.compression.depth import candidate_blocks
from nasforge.compression.models.cifar_resnet import CifarResNet, resnet20
from nasforge.core.errors import UserError


def test_identity_blocks_are_candidates_but_downsampling_ones_are_not():
    names = set(candidate_blocks(resnet20()))
    assert "layer1.0" in names and "layer2.1" in names
    assert "layer2.0" not in names and "layer3.0" not in names  # stride-2 blocks with padding shortcuts


def test_removes_lowest_residual_norm_blocks_and_keeps_shapes():
    model = resnet20()
    x = torch.randn(4, 3, 32, 32)
    result = DepthPruner(num_blocks=3, criterion="residual_norm").compress(model, x)
    pruned = result.model
    assert len(result.report.removed_blocks) == 3
    assert sum(pruned.blocks) == 6 and isinstance(pruned, CifarResNet)
    assert pruned(x).shape == (4, 10)
    assert result.report.macs_ratio > 1.3
    # the rebuilt per-stage counts match a fresh network: same keys, same shapes
    fresh = CifarResNet(pruned.blocks)
    fresh.load_state_dict(pruned.state_dict())
    # the scores recorded for the removed blocks are the smallest of all candidates
    scores = result.report.steps[0]["scores"]
    assert set(scores) == set(result.report.removed_blocks)


def test_loss_criterion_with_data_and_macs_target(digits):
    torch.manual_seed(0)
    model = CifarResNet((3, 3, 3), widths=(4, 8, 8))
    batches = [(torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))) for _ in range(2)]
    result = DepthPruner(macs_reduction=1.5).compress(model, torch.randn(2, 3, 32, 32), data=batches)
    assert result.report.macs_ratio >= 1.5
    assert result.model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_cnn_space_model_is_rebuilt_with_fewer_blocks(digits, digits_spec, trained_digits_cnn):
    model, acc_before = trained_digits_cnn
    train, test, shape = digits
    result = DepthPruner(num_blocks=1, finetune={"epochs": 2, "lr": 0.02, "distill": True}).compress(
        model, torch.randn(2, *shape), data=train, spec=digits_spec, eval_fn=lambda m: evaluate_accuracy(m, test)
    )
    assert result.spec.architecture["blocks"] == 1
    assert sorted(result.report.removed_blocks) == ["stages.0.1", "stages.1.1"]
    assert type(result.model).__name__ == "CNN"
    assert result.report.metrics_after["accuracy"] >= acc_before - 0.05, result.report.table()


def test_non_residual_cnn_is_refused(digits_spec):
    spec = ModelSpec("cnn", dict(digits_spec.architecture, residual=False), digits_spec.input_shape, 10)
    with pytest.raises(UserError, match="residual"):
        DepthPruner(num_blocks=1).compress(spec.build(), torch.randn(2, 1, 8, 8), spec=spec)


def test_model_without_residual_blocks_is_refused():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    model(torch.randn(1, 3, 8, 8))
    with pytest.raises(UserError, match="no removable residual blocks"):
        DepthPruner(num_blocks=1).compress(model, torch.randn(1, 3, 8, 8))


def test_keep_per_stage_is_respected():
    with pytest.raises(UserError, match="only"):
        DepthPruner(num_blocks=8, keep_per_stage=2, criterion="residual_norm").compress(resnet20(), torch.randn(2, 3, 32, 32))
