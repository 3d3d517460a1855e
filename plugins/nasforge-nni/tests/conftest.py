"""Shared fixtures of the nasforge-nni tests: one thread, NNI imported once, tiny models and data."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


def objective(arch):
    """A synthetic score for the end-to-end test: prefers wide, deep, 'conv' architectures (module-level for the function evaluator)."""
    score = float(arch.get("depth", 0)) + sum(float(v) / 64 for k, v in arch.items() if k.startswith("width_"))
    return {"score": score + (1.0 if arch.get("op") == "conv" else 0.0)}


@pytest.fixture
def tiny_cnn():
    """A freshly initialised Conv-BN-ReLU network for 1x8x8 inputs (BatchNorm shifts are zero)."""
    from torch import nn

    def build():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
        )  # fmt: skip

    return build


@pytest.fixture(scope="session")
def digits_batches():
    """Eight batches of 32 real digits (scikit-learn's bundled set), for data-driven compressors."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images[:256], dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(bunch.target[:256], dtype=torch.long)
    return [(x[i : i + 32], y[i : i + 32]) for i in range(0, 256, 32)]
