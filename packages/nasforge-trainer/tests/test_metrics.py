"""Cost metrics: parameters, FLOPs, peak memory and latency."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from nasforge.core.records import Architecture
from nasforge.trainer import build_model, count_flops, count_params, measure_latency, peak_memory


def _cnn(width: int) -> nn.Module:
    arch = Architecture(stages=2, channels_1=width, channels_2=width, blocks=1, kernel_size=3, activation="relu", residual=True)
    return build_model("cnn", arch, (1, 8, 8), 10)


def test_flops_of_a_linear_layer_are_two_per_multiply_accumulate():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    assert count_flops(model, (1, 8, 8)) == 2 * 64 * 10
    assert count_flops(model, (1, 8, 8), batch_size=4) == 4 * 2 * 64 * 10


def test_flops_are_positive_and_grow_with_width():
    flops = [count_flops(_cnn(w), (1, 8, 8)) for w in (8, 16, 32)]
    assert flops[0] > 0
    assert flops[0] < flops[1] < flops[2]
    # convolutions dominate and scale about quadratically with width
    assert flops[2] > 2.5 * flops[1]


def test_metrics_leave_the_model_mode_alone():
    model = _cnn(8).train()
    count_flops(model, (1, 8, 8))
    peak_memory(model, (1, 8, 8))
    measure_latency(model, (1, 8, 8), runs=2, warmup=1)
    assert model.training


def test_peak_memory_counts_weights_and_activations():
    model = _cnn(16)
    weight_mb = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()]) / 2**20
    peak = peak_memory(model, (1, 8, 8))
    assert peak > weight_mb  # activations on top of the weights
    # a bigger input keeps the weights but needs more activation memory
    assert peak_memory(model, (1, 32, 32)) > peak
    assert peak_memory(_cnn(32), (1, 8, 8)) > peak


def test_peak_memory_follows_freed_tensors():
    # ten layers of a 1 MiB activation each: without frees the total would be ~10 MiB
    layers = nn.Sequential(*[nn.ReLU() for _ in range(10)])
    peak = peak_memory(layers, (1, 512, 512))
    assert 1.9 < peak < 3.5  # input + at most two live activations


def test_latency_is_positive_and_restores_threads():
    before = torch.get_num_threads()
    ms = measure_latency(_cnn(8), (1, 8, 8), runs=5, warmup=2, threads=1)
    assert ms > 0
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError):
        measure_latency(_cnn(8), (1, 8, 8), runs=0)


def test_count_params_counts_shared_parameters_once():
    shared = nn.Linear(4, 4)
    model = nn.Sequential(shared, shared)
    assert count_params(model) == 20
