"""NNI compressors: a conformance check over every wrapper, ModelSpeedup exactness, and the refusals."""

from __future__ import annotations

import pytest
import torch

from nasforge.compression.testing import COMPRESSOR_CHECKS, run_check
from nasforge.core.errors import ConfigError, UserError
from nasforge_nni.compress import COMPRESSORS, RefusedCompressor

WORKING = sorted(name for name, (cls, _) in COMPRESSORS.items() if not issubclass(cls, RefusedCompressor))
REFUSED = sorted(name for name, (cls, _) in COMPRESSORS.items() if issubclass(cls, RefusedCompressor))
LIGHT = {"training_steps": 4}


def _options(name):
    cls = COMPRESSORS[name][0]
    return dict(LIGHT) if "training_steps" in getattr(cls, "extra_options", ()) else {}


@pytest.mark.parametrize("check", sorted(COMPRESSOR_CHECKS))
@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_nasforge_compressor_suite(name, check):
    """nasforge.compression.testing over every NNI wrapper (refused ones opt out, with the reason)."""
    run_check(check, name, options={"ratio": 0.5} if "ratio" in getattr(COMPRESSORS[name][0], "extra_options", ()) else _options(name))


@pytest.mark.parametrize("name", WORKING)
def test_compressor_conformance(name, tiny_cnn, digits_batches, tmp_path):
    """Output shape kept, pruners lower (non-zero) parameters, quantizers change the outputs, the result exports and runs."""
    cls = COMPRESSORS[name][0]
    model = tiny_cnn()
    x = digits_batches[0][0][:4]
    result = cls(**_options(name)).compress(model, x, data=digits_batches)
    out = result.model.eval()(x)
    assert out.shape == (4, 10) and torch.isfinite(out).all()
    report = result.report
    assert report.method == name
    if name == "nni_level":
        assert report.nonzero_params_after < 0.6 * report.nonzero_params_before
    elif "ratio" in cls.extra_options:
        assert report.params_after < 0.5 * report.params_before
        assert report.removed_channels and all(after < before for before, after in report.removed_channels.values())
    else:  # a quantizer: the wrapped model computes with quantized weights
        with torch.no_grad():
            assert not torch.allclose(out, model.eval()(x))
    # the compressed model exports (TorchScript trace) and the export computes the same outputs
    traced = torch.jit.trace(result.model.eval(), x, check_trace=False)
    traced.save(str(tmp_path / "m.pt"))
    loaded = torch.jit.load(str(tmp_path / "m.pt"))
    assert torch.allclose(loaded(x), out, atol=1e-5)
    assert model is not result.model  # the input model is left untouched


@pytest.mark.parametrize("name", ["nni_l1", "nni_l2", "nni_fpgm"])
def test_speedup_computes_exactly_what_the_masked_model_computed(name, tiny_cnn):
    """On a fresh network (BatchNorm shifts zero) the shrunk model equals the masked one: ModelSpeedup is exact."""
    x = torch.randn(4, 1, 8, 8)
    result = COMPRESSORS[name][0](ratio=0.5).compress(tiny_cnn(), x)
    assert result.report.steps[-1]["masked_vs_shrunk_max_abs_diff"] < 1e-5
    assert result.report.removed_channels == {"0": (8, 4), "3": (16, 8)}


def test_onnx_export_of_a_pruned_model_runs(tiny_cnn, tmp_path):
    import onnxruntime

    x = torch.randn(2, 1, 8, 8)
    pruned = COMPRESSORS["nni_l1"][0](ratio=0.5).compress(tiny_cnn(), x).model.eval()
    path = tmp_path / "pruned.onnx"
    torch.onnx.export(pruned, (x,), str(path), dynamo=False)
    session = onnxruntime.InferenceSession(str(path))
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert torch.allclose(torch.from_numpy(got), pruned(x), atol=1e-4)


@pytest.mark.parametrize("name", REFUSED)
def test_refused_compressors_say_why(name, tiny_cnn):
    assert name in {"nni_slim", "nni_lsqplus"}
    with pytest.raises(UserError, match=f"{name} is refused: NNI 3.0's"):
        COMPRESSORS[name][0]().compress(tiny_cnn(), torch.randn(2, 1, 8, 8))


def test_option_mistakes_are_config_errors():
    with pytest.raises(ConfigError, match="ratio"):
        COMPRESSORS["nni_l1"][0](ratio=1.5)
    with pytest.raises(ConfigError, match="unknown option"):
        COMPRESSORS["nni_l1"][0](sparsity=0.5)


def test_data_driven_compressors_need_data(tiny_cnn):
    with pytest.raises(UserError, match="needs data"):
        COMPRESSORS["nni_taylor"][0]().compress(tiny_cnn(), torch.randn(2, 1, 8, 8))


def test_registered_as_compressors(nasforge_plugin_manager):
    for name, (cls, _) in COMPRESSORS.items():
        assert nasforge_plugin_manager.get("compressor", name) is cls


def test_residual_coupling_is_reported_not_hidden():
    """Channels tied by a residual addition are kept as a group; the report says the shrunk model differs from the masked one."""
    from torch import nn

    class Residual(nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.stem = nn.Conv2d(1, 8, 3, padding=1)
            self.body = nn.Conv2d(8, 8, 3, padding=1)
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10))

        def forward(self, x):
            x = torch.relu(self.stem(x))
            return self.head(torch.relu(x + self.body(x)))

    result = COMPRESSORS["nni_l1"][0](ratio=0.5).compress(Residual(), torch.randn(4, 1, 8, 8))
    gap = result.report.steps[-1]["masked_vs_shrunk_max_abs_diff"]
    assert result.report.params_after < result.report.params_before
    assert gap > 1e-4 and any("differ from the masked model" in note for note in result.report.notes)
