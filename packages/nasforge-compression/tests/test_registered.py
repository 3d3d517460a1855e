"""The compression plugin registers every compressor, and each passes the same basic checks."""

from __future__ import annotations

import json

import pytest
import torch

from nasforge.compression import Compressor

#: Minimal options per registered compressor: every registered compressor must appear here, so a
#: new one is run through the same conformance test.
MINIMAL_OPTIONS = {
    "channel": {"ratio": 0.5},
    "depth": {"num_blocks": 1, "criterion": "residual_norm"},
    "magnitude": {"sparsity": 0.5},
    "distill": {"epochs": 1, "max_batches": 2},
    "qat": {"calibration_batches": 2, "finetune": {"epochs": 1, "max_batches": 2, "lr": 0.001}},
}


def test_every_compressor_is_registered(nasforge_plugin_manager):
    registered = nasforge_plugin_manager.components("compressor")
    assert set(MINIMAL_OPTIONS) <= set(registered)


@pytest.mark.parametrize("name", sorted(MINIMAL_OPTIONS))
def test_conformance_of_registered_compressors(name, nasforge_plugin_manager, digits_spec, digits):
    cls = nasforge_plugin_manager.get("compressor", name)
    assert issubclass(cls, Compressor) and cls.name == name and cls.__doc__
    model = digits_spec.build()
    x = torch.randn(3, *digits_spec.input_shape)
    result = cls(**MINIMAL_OPTIONS[name]).compress(model, x, data=digits[0])
    assert result.model(x).shape == model(x).shape
    report = result.report
    assert report.method == name and report.params_before == sum(p.numel() for p in model.parameters())
    assert report.nonzero_params_after <= report.nonzero_params_before or name in ("distill", "qat")
    json.dumps(report.to_dict(), default=str)  # serialisable
    assert name in report.table()
