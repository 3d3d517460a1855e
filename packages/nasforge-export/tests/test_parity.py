"""check_parity: numbers that pass for a faithful export and a loud failure for a corrupted one."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from nasforge.export import ParityError, check_parity, export_onnx


@pytest.fixture
def exported(tiny_resnet, tmp_path):
    return tiny_resnet, export_onnx(tiny_resnet, torch.randn(1, 3, 8, 8), tmp_path / "m.onnx").path


def corrupt(path, out, scale: float = 1.5):
    """Scale the classifier weights: the file still runs but computes something else."""
    proto = onnx.load(str(path))
    gemm = next(n for n in proto.graph.node if n.op_type in ("Gemm", "MatMul"))
    for init in proto.graph.initializer:
        if init.name in gemm.input and len(init.dims) == 2:
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * scale + 0.3, init.name))
    onnx.save(proto, str(out))
    return out


def test_faithful_export_passes_with_tiny_differences(exported):
    model, path = exported
    report = check_parity(model, path, torch.randn(40, 3, 8, 8), batch_size=16)
    assert report.passed and report.samples == 40
    assert report.max_abs_diff < 1e-4 and report.argmax_agreement == 1.0
    assert "pass" in report.summary()


def test_corrupted_model_fails_loudly(exported, tmp_path):
    model, path = exported
    bad = corrupt(path, tmp_path / "bad.onnx")
    with pytest.raises(ParityError) as err:
        check_parity(model, bad, torch.randn(40, 3, 8, 8))
    report = err.value.report
    assert not report.passed and report.max_abs_diff > 1e-2
    assert "does not match" in str(err.value) and "max |diff|" in str(err.value)


def test_report_only_mode_and_argmax_threshold(exported, tmp_path):
    model, path = exported
    bad = corrupt(path, tmp_path / "bad.onnx")
    x = torch.randn(40, 3, 8, 8)
    report = check_parity(model, bad, x, raise_on_failure=False)
    assert not report.passed and report.argmax_agreement is not None
    # ignoring element differences, the verdict depends only on the agreement threshold
    loose = check_parity(model, bad, x, atol=float("inf"), min_argmax_agreement=0.0)
    assert loose.passed and loose.to_dict()["atol"] == "inf"
    strict_pass = report.argmax_agreement == 1.0
    assert check_parity(model, bad, x, atol=float("inf"), raise_on_failure=False).passed == strict_pass


def test_parity_tolerates_training_mode_and_restores_it(exported):
    model, path = exported
    model.train()
    report = check_parity(model, path, np.random.default_rng(0).standard_normal((8, 3, 8, 8)).astype(np.float32))
    assert report.passed and model.training
