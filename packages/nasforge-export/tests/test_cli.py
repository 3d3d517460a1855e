"""`nasforge export` and `nasforge bench` end to end through the nasforge command line."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from nasforge_export_testing import tiny_cnn

from nasforge.core.cli import main
from nasforge.export import read_card
from nasforge.export.loading import load_samples

FACTORY = "nasforge_export_testing:tiny_cnn"


@pytest.fixture
def checkpoint(tmp_path):
    """A checkpoint saved like DataParallel training scripts do: 'module.' prefixes under 'state_dict'."""
    torch.manual_seed(1)
    model = tiny_cnn(num_classes=3)
    for p in model.parameters():
        p.data.normal_()
    path = tmp_path / "ckpt.th"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "best_prec1": 42.5}, path)
    return path, model


@pytest.fixture
def data_npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "data.npz"
    np.savez(path, x=rng.standard_normal((60, 3, 8, 8)).astype(np.float32), y=rng.integers(0, 3, 60))
    return path


def test_export_with_checkpoint_int8_fp16_and_cards(checkpoint, data_npz, tmp_path, capsys):
    ckpt, trained = checkpoint
    out = tmp_path / "out"
    rc = main([
        "export", "--model-factory", FACTORY, "--model-kwargs", '{"num_classes": 3}', "--checkpoint", str(ckpt),
        "--input-shape", "3,8,8", "--out", str(out), "--name", "tiny", "--int8", "--fp16",
        "--calibration-data", str(data_npz), "--calibration-samples", "40", "--eval-data", str(data_npz), "--exclude-last-layer",
    ])
    assert rc == 0, capsys.readouterr()
    names = sorted(p.name for p in out.iterdir())
    for stem in ("tiny", "tiny.int8", "tiny.fp16"):
        assert f"{stem}.onnx" in names and f"{stem}.card.json" in names
    card = read_card(out / "tiny.onnx")
    assert card["provenance"]["source"]["checkpoint"] == str(ckpt) and card["provenance"]["source"]["best_prec1"] == 42.5
    assert card["parity"]["samples"] == 40 and card["metrics"]["evaluation_samples"] == 60
    int8 = read_card(out / "tiny.int8.onnx")
    assert int8["quantization"]["options"]["exclude_last_layer"] and len(int8["quantization"]["excluded_nodes"]) == 1
    assert "accuracy_fp32" in int8["metrics"]
    # the exported weights are the checkpoint's, not the factory's fresh initialisation
    import onnxruntime as ort

    x = np.random.default_rng(3).standard_normal((4, 3, 8, 8)).astype(np.float32)
    got = ort.InferenceSession(str(out / "tiny.onnx"), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, trained.eval()(torch.from_numpy(x)).detach().numpy(), atol=1e-4, rtol=1e-3)
    assert "tiny.int8.onnx" in capsys.readouterr().out


def test_bench_writes_json(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["export", "--model-factory", FACTORY, "--input-shape", "3,8,8", "--out", str(out)]) == 0
    rc = main(["bench", str(out / "tiny_cnn.onnx"), "--batch", "1", "3", "--threads", "1", "--runs", "4", "--warmup", "1", "--json", str(tmp_path / "b.json")])
    assert rc == 0
    data = json.loads((tmp_path / "b.json").read_text())
    assert {(r["batch_size"], r["threads"]) for r in data["results"] if r["provider"] == "CPUExecutionProvider"} == {(1, 1), (3, 1)}
    assert all("median_ms" in r and "p90_ms" in r for r in data["results"])
    assert "p90 ms" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model-factory", "nasforge_export_testing:nope", "--input-shape", "3,8,8"], "has no attribute 'nope'"),
        (["--model-factory", "no_such_module_xyz:f", "--input-shape", "3,8,8"], "cannot import module"),
        (["--model-factory", "tiny_cnn", "--input-shape", "3,8,8"], "package.module:function"),
        (["--model-factory", FACTORY, "--input-shape", "3,a,8"], "--input-shape"),
        (["--model-factory", FACTORY, "--input-shape", "3,8,8", "--int8"], "--calibration-data"),
        (["--model-factory", FACTORY, "--input-shape", "3,8,8", "--model-kwargs", "{bad"], "not valid JSON"),
        (["--model-factory", FACTORY, "--input-shape", "3,8,8", "--model-kwargs", '{"colour": 1}'], "rejected the arguments"),
        (["--model-factory", FACTORY, "--input-shape", "1,8,8"], "failed on the sample inputs"),
        (["--model-factory", FACTORY, "--input-shape", "3,8,8", "--model-kwargs", '{"num_classes": -5}'], "tiny_cnn raised RuntimeError"),
        (["--model-factory", FACTORY, "--input-shape", "3,8,8", "--device", "gpu"], "--device must be cpu, cuda or cuda:N"),
        (["--model-factory", FACTORY, "--input-shape", "3,8,8", "--bench", "--bench-runs", "0"], "--bench-runs must be at least 1"),
    ],
)
def test_export_user_mistakes_exit_2_with_one_line(args, message, tmp_path, capsys):
    assert main(["export", "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_checkpoint_that_does_not_fit_is_explained(checkpoint, tmp_path, capsys):
    ckpt, _ = checkpoint
    rc = main(["export", "--model-factory", FACTORY, "--model-kwargs", '{"num_classes": 7}', "--checkpoint", str(ckpt), "--input-shape", "3,8,8", "--out", str(tmp_path)])
    assert rc == 2
    assert "does not fit the model" in capsys.readouterr().err


def test_bench_missing_file_is_a_user_error(tmp_path, capsys):
    assert main(["bench", str(tmp_path / "none.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_image_folder_samples_are_labelled_resized_and_normalised(tmp_path):
    from PIL import Image

    for label, colour in (("cat", 255), ("dog", 0)):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.new("RGB", (12, 12), (colour, colour, colour)).save(tmp_path / label / f"{i}.png")
    x, y = load_samples(tmp_path, (3, 8, 8), mean=[0.5, 0.5, 0.5], std=[0.5, 0.5, 0.5])
    assert x.shape == (6, 3, 8, 8) and list(y) == [0, 0, 0, 1, 1, 1]
    assert np.allclose(x[:3], 1.0) and np.allclose(x[3:], -1.0)
    sub, _ = load_samples(tmp_path, (3, 8, 8), limit=4)
    assert sub.shape[0] == 4


@pytest.mark.slow
def test_torchvision_resnet18_end_to_end(data_npz, tmp_path, capsys):
    import torchvision  # noqa: F401  (a test extra of nasforge-export; fails loudly when missing)

    rng = np.random.default_rng(0)
    data = tmp_path / "cifar_like.npz"
    np.savez(data, x=rng.random((48, 3, 32, 32), dtype=np.float32), y=rng.integers(0, 3, 48))
    out = tmp_path / "rn18"
    rc = main([
        "export", "--model-factory", "torchvision.models:resnet18", "--model-kwargs", '{"num_classes": 3}',
        "--input-shape", "3,32,32", "--out", str(out), "--int8", "--calibration-data", str(data), "--eval-data", str(data),
    ])
    assert rc == 0, capsys.readouterr()
    fp32, int8 = out / "resnet18.onnx", out / "resnet18.int8.onnx"
    onnx.checker.check_model(str(fp32))
    assert int8.stat().st_size < 0.35 * fp32.stat().st_size
    assert read_card(int8)["parity"]["passed"]
    assert main(["bench", str(int8), "--batch", "1", "2", "--runs", "2", "--warmup", "1"]) == 0


def test_export_bench_prints_an_interleaved_comparison_and_takes_a_saved_module(tmp_path, capsys):
    """compress writes a whole module; export reads it with --model (same --out/--model-kwargs flags as compress)."""
    from nasforge.core.cli import main as cli_main

    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    saved = tmp_path / "small.pt"
    torch.save(model, saved)
    # a whole pickled module can run code while it loads: refused unless the user says they trust it
    assert cli_main(["export", "--model", str(saved), "--input-shape", "6", "--output", str(tmp_path / "out")]) == 2
    assert "--trust-pickle" in capsys.readouterr().err and not (tmp_path / "out").exists()
    code = cli_main(["export", "--model", str(saved), "--trust-pickle", "--input-shape", "6", "--output", str(tmp_path / "out"), "--fp16", "--bench",
                     "--exporter", "torchscript"])
    assert code == 0
    out = capsys.readouterr().out
    assert "interleaved" in out and "speedup vs fp32" in out and "small.onnx" in out and "small" in out and "± ms" in out
    assert cli_main(["export", "--input-shape", "6", "--out", str(tmp_path / "o2")]) == 2
    assert "--model-factory" in capsys.readouterr().err


def test_device_cpu_exports_and_cuda_where_there_is_none_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    out = tmp_path / "cpu"
    assert main(["export", "--model-factory", FACTORY, "--input-shape", "3,8,8", "--out", str(out), "--device", "cpu", "--exporter", "torchscript"]) == 0
    card = read_card(out / "tiny_cnn.onnx")
    assert card["provenance"]["source"]["device"] == "cpu" and card["parity"]["passed"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same path on a machine with a GPU
    capsys.readouterr()
    for device in ("cuda", "cuda:0"):
        assert main(["export", "--model-factory", FACTORY, "--input-shape", "3,8,8", "--out", str(tmp_path / "gpu"), "--device", device]) == 2
        err = capsys.readouterr().err
        assert f"--device {device}: CUDA is not available here" in err and "use --device cpu" in err and err.count("\n") == 1
    assert not (tmp_path / "gpu").exists()

