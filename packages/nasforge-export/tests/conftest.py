"""Shared fixtures for the nasforge-export tests (one thread: the test machines are shared)."""

from __future__ import annotations

import pytest
import torch
from nasforge_export_testing import TinyCNN, TinyResNet, train_digits

torch.set_num_threads(1)


@pytest.fixture
def tiny_cnn() -> TinyCNN:
    torch.manual_seed(0)
    return TinyCNN()


@pytest.fixture
def tiny_resnet() -> TinyResNet:
    torch.manual_seed(0)
    model = TinyResNet()
    # non-trivial BatchNorm statistics, so that folding them into the convs is actually exercised
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    return model


@pytest.fixture(scope="session")
def digits_model():
    """A DigitsCNN trained for a few epochs on sklearn digits, plus its data."""
    return train_digits()


@pytest.fixture(scope="session")
def digits_onnx(digits_model, tmp_path_factory):
    """The trained digits model exported once to float32 ONNX."""
    from nasforge.export import export_onnx

    model, x_train, *_ = digits_model
    return export_onnx(model, x_train[:1], tmp_path_factory.mktemp("digits") / "digits.onnx").path
