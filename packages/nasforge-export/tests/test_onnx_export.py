"""export_onnx: single file, checker, dynamic batch, mode restore, and clear errors."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from nasforge.core.errors import UserError
from nasforge.export import ExportError, export_onnx


def run_onnx(path, x: torch.Tensor) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]


@pytest.mark.parametrize("fixture", ["tiny_cnn", "tiny_resnet"])
def test_export_is_one_checked_file_with_a_dynamic_batch(fixture, request, tmp_path):
    model = request.getfixturevalue(fixture)
    out = tmp_path / "export"
    info = export_onnx(model, torch.randn(1, 3, 16, 16), out / "model.onnx")

    assert sorted(p.name for p in out.iterdir()) == ["model.onnx"]  # no external-data side file
    proto = onnx.load(str(info.path), load_external_data=False)
    assert all(t.data_location != onnx.TensorProto.EXTERNAL for t in proto.graph.initializer)
    assert sum(t.ByteSize() for t in proto.graph.initializer) > 0.9 * sum(p.numel() * 4 for p in model.parameters())
    onnx.checker.check_model(str(info.path), full_check=True)
    assert info.input_shapes[0][0] == "batch" and info.input_shapes[0][1:] == (3, 16, 16)
    assert info.size_bytes == info.path.stat().st_size and len(info.sha256) == 64

    model.eval()
    for batch in (1, 5):
        x = torch.randn(batch, 3, 16, 16)
        got = run_onnx(info.path, x)
        assert got.shape[0] == batch
        np.testing.assert_allclose(got, model(x).detach().numpy(), atol=1e-4, rtol=1e-3)


def test_mode_of_every_submodule_is_restored(tiny_cnn, tmp_path):
    tiny_cnn.train()
    tiny_cnn.head.eval()  # a mixed state must survive as it was
    export_onnx(tiny_cnn, torch.randn(2, 3, 8, 8), tmp_path / "m.onnx")
    assert tiny_cnn.training and tiny_cnn.features.training and not tiny_cnn.head.training


def test_export_uses_eval_mode_so_dropout_and_batchnorm_are_inference(tiny_cnn, tmp_path):
    tiny_cnn.train()
    info = export_onnx(tiny_cnn, torch.randn(2, 3, 8, 8), tmp_path / "m.onnx")
    x = torch.randn(4, 3, 8, 8)
    first, second = run_onnx(info.path, x), run_onnx(info.path, x)
    np.testing.assert_array_equal(first, second)  # dropout would make these differ
    tiny_cnn.eval()
    np.testing.assert_allclose(first, tiny_cnn(x).detach().numpy(), atol=1e-4, rtol=1e-3)


def test_static_batch_torchscript_exporter_names_and_opset(tiny_cnn, tmp_path):
    info = export_onnx(
        tiny_cnn, torch.randn(3, 3, 8, 8), tmp_path / "m.onnx", dynamic_batch=False, opset=17,
        input_names=["pixels"], output_names=["logits"], exporter="torchscript",
    )
    assert info.opset == 17 and info.input_names == ("pixels",) and info.output_names == ("logits",)
    assert info.input_shapes == ((3, 3, 8, 8),)
    session = ort.InferenceSession(str(info.path), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception):  # noqa: B017 - onnxruntime's error classes are not importable by a stable name
        session.run(None, {"pixels": np.zeros((5, 3, 8, 8), np.float32)})


def test_an_opset_the_exporter_cannot_write_is_an_error_not_a_surprise(tiny_cnn, tmp_path):
    info = export_onnx(tiny_cnn, torch.randn(1, 3, 8, 8), tmp_path / "m18.onnx", opset=18)
    assert info.opset == 18
    with pytest.raises(ExportError, match="exporter='torchscript'"):
        export_onnx(tiny_cnn, torch.randn(1, 3, 8, 8), tmp_path / "m13.onnx", opset=13)


def test_multi_input_and_tuple_output(tmp_path):
    class TwoInOut(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 3), nn.Linear(6, 3)

        def forward(self, x, z):
            s = self.a(x) + self.b(z)
            return s, s.softmax(-1)

    model = TwoInOut()
    info = export_onnx(model, (torch.randn(1, 4), torch.randn(1, 6)), tmp_path / "two.onnx")
    assert info.input_names == ("input_0", "input_1") and info.output_names == ("output_0", "output_1")
    session = ort.InferenceSession(str(info.path), providers=["CPUExecutionProvider"])
    x, z = torch.randn(7, 4), torch.randn(7, 6)
    s, p = session.run(None, {"input_0": x.numpy(), "input_1": z.numpy()})
    ref = model(x, z)
    np.testing.assert_allclose(s, ref[0].detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(p, ref[1].detach().numpy(), atol=1e-5)


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        if x.sum() > 0:  # Python control flow on a tensor value: not exportable as one graph
            return self.fc(x)
        return -self.fc(x)


class ReturnsString(nn.Module):
    def forward(self, x):
        return "positive" if float(x.mean()) > 0 else "negative"


class FixedBatchReshape(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x.view(2, 4))


def test_data_dependent_control_flow_is_a_clear_error(tmp_path):
    with pytest.raises(ExportError) as err:
        export_onnx(DataDependent(), torch.randn(2, 4), tmp_path / "m.onnx")
    message = str(err.value)
    assert "DataDependent" in message and "torch.where" in message
    assert "if x.sum() > 0" in message  # names the offending line
    assert isinstance(err.value, UserError)


def test_non_tensor_output_is_a_clear_error(tmp_path):
    with pytest.raises(ExportError, match="returned a str"):
        export_onnx(ReturnsString(), torch.randn(2, 4), tmp_path / "m.onnx")


def test_model_failing_on_the_sample_names_the_shape(tiny_cnn, tmp_path):
    with pytest.raises(ExportError, match=r"failed on the sample inputs of shape \(1, 5, 8, 8\)"):
        export_onnx(tiny_cnn, torch.randn(1, 5, 8, 8), tmp_path / "m.onnx")


def test_literal_batch_reshape_is_reported_for_a_dynamic_batch(tmp_path):
    with pytest.raises(ExportError, match="batch"):
        export_onnx(FixedBatchReshape(), torch.randn(2, 4), tmp_path / "m.onnx")
    # with a fixed batch the same model exports fine
    info = export_onnx(FixedBatchReshape(), torch.randn(2, 4), tmp_path / "fixed.onnx", dynamic_batch=False)
    assert info.input_shapes == ((2, 4),)


def test_user_mistakes_in_arguments(tiny_cnn, tmp_path):
    with pytest.raises(UserError, match="torch.nn.Module"):
        export_onnx(lambda x: x, torch.randn(1, 3, 8, 8), tmp_path / "m.onnx")
    with pytest.raises(UserError, match="input_names"):
        export_onnx(tiny_cnn, torch.randn(1, 3, 8, 8), tmp_path / "m.onnx", input_names=["a", "b"])
    with pytest.raises(UserError, match="not a tensor"):
        export_onnx(tiny_cnn, [[1, 2, 3]], tmp_path / "m.onnx")
    with pytest.raises(UserError, match="unknown exporter"):
        export_onnx(tiny_cnn, torch.randn(1, 3, 8, 8), tmp_path / "m.onnx", exporter="tensorflow")


class TinyRecurrent(nn.Module):
    """Token ids -> embedding -> LSTM or GRU -> mean over time: a sequence model with a dynamic length."""

    onnx_dynamic_dims = {1: "sequence"}

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.embedding = nn.Embedding(20, 8)
        self.rnn = (nn.LSTM if kind == "lstm" else nn.GRU)(8, 8, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.embedding(tokens))
        return self.head(out.mean(dim=1))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_recurrent_models_keep_a_dynamic_sequence_axis_on_every_export(kind, tmp_path):
    # torch.onnx.export swaps the RNN decomposition without clearing the operator's dispatch cache:
    # before the fix, the second export of an LSTM/GRU in one process unrolled the recurrence over
    # the sample's length and fixed the sequence axis (the int8 exporter exports twice)
    for i in range(2):
        model = TinyRecurrent(kind).eval()
        info = export_onnx(model, torch.randint(0, 20, (1, 6)), tmp_path / f"{i}.onnx")
        assert info.input_shapes[0] == ("batch", "sequence"), (i, info.input_shapes)
        x = torch.randint(0, 20, (3, 11))  # another batch and length than the sample's
        np.testing.assert_allclose(run_onnx(info.path, x), model(x).detach().numpy(), atol=1e-4, rtol=1e-3)
