"""Shared fixtures: a tiny residual CNN of the trainer's cnn space trained on scikit-learn digits."""

from __future__ import annotations

import copy

import pytest
import torch

torch.set_num_threads(1)

DIGITS_ARCH = {"stages": 2, "channels_1": 16, "channels_2": 32, "blocks": 2, "kernel_size": 3, "activation": "relu", "residual": True}


@pytest.fixture(scope="session")
def digits():
    """Digits split by the trainer: (train loader, test loader, input shape)."""
    from nasforge.trainer.data import load_dataset, make_loader

    splits = load_dataset("digits", valid_fraction=0.1, test_fraction=0.25, seed=0)
    return make_loader(splits.train, 64, shuffle=True, seed=0), make_loader(splits.test, 512), splits.input_shape


@pytest.fixture(scope="session")
def digits_spec(digits):
    from nasforge.compression import ModelSpec

    return ModelSpec("cnn", DIGITS_ARCH, tuple(digits[2]), 10)


@pytest.fixture(scope="session")
def _trained_digits_cnn(digits, digits_spec):
    from nasforge.compression import evaluate_accuracy, fine_tune

    torch.manual_seed(0)
    model = digits_spec.build()
    fine_tune(model, digits[0], epochs=3, lr=0.05)
    return model, evaluate_accuracy(model, digits[1])


@pytest.fixture
def trained_digits_cnn(_trained_digits_cnn):
    """A residual CNN of the trainer's ``cnn`` space trained 3 epochs on digits, and its test accuracy."""
    model, acc = _trained_digits_cnn
    return copy.deepcopy(model), acc
