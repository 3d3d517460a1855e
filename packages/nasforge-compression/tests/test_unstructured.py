"""Unstructured magnitude pruning: the asked sparsity, made permanent, masks hold during fine-tuning."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils import prune

from nasforge.compression import MagnitudePruner, evaluate_accuracy
from nasforge.compression._utils import prunable_layers, weight_sparsity
from nasforge.compression.models.cifar_resnet import resnet20


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_sparsity_is_reached_and_permanent(scope):
    model = resnet20()
    x = torch.randn(2, 3, 32, 32)
    result = MagnitudePruner(sparsity=0.7, scope=scope).compress(model, x)
    pruned = result.model
    layers = prunable_layers(pruned)
    assert weight_sparsity(layers) == pytest.approx(0.7, abs=0.01)
    assert result.report.sparsity == pytest.approx(0.7, abs=0.01)
    assert result.report.nonzero_params_after < 0.45 * result.report.nonzero_params_before
    assert result.report.params_after == result.report.params_before, "shapes stay; only zeros are added"
    for m in layers.values():
        assert not prune.is_pruned(m) and not hasattr(m, "weight_orig") and not m._forward_pre_hooks
    assert pruned(x).shape == (2, 10)
    if scope == "layer":
        assert all(weight_sparsity({n: m}) == pytest.approx(0.7, abs=0.02) for n, m in layers.items())
    else:
        per_layer = [weight_sparsity({n: m}) for n, m in layers.items()]
        assert max(per_layer) - min(per_layer) > 0.1, "one global threshold prunes layers unevenly"


def test_pruned_weights_stay_zero_through_finetuning(digits, trained_digits_cnn):
    model, acc_before = trained_digits_cnn
    train, test, shape = digits
    result = MagnitudePruner(sparsity=0.6, steps=2, finetune={"epochs": 2, "lr": 0.02, "epochs_between_steps": 1}).compress(
        model, torch.randn(2, *shape), data=train, eval_fn=lambda m: evaluate_accuracy(m, test)
    )
    assert result.report.sparsity == pytest.approx(0.6, abs=0.01)
    assert [s["sparsity"] for s in result.report.steps[:2]] == pytest.approx([0.3, 0.6], abs=0.01)
    assert result.report.metrics_after["accuracy"] >= acc_before - 0.05, result.report.table()


def test_only_named_layers_are_pruned():
    model = resnet20()
    result = MagnitudePruner(sparsity=0.5, layers=["layer1.0.conv1", "linear"]).compress(model, torch.randn(2, 3, 32, 32))
    layers = prunable_layers(result.model)
    assert weight_sparsity({"a": layers["layer1.0.conv1"]}) == pytest.approx(0.5, abs=0.01)
    assert weight_sparsity({"a": layers["layer2.0.conv1"]}) == 0.0
