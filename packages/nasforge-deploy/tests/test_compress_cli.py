"""``nasforge compress`` works end to end and fails clearly."""

from __future__ import annotations

import json

import pytest
import torch

from nasforge.compression.models.cifar_resnet import resnet20
from nasforge.core.cli import main
from nasforge.core.errors import ConfigError, UserError
from nasforge.deploy.compress_cli import load_compressed, make_compressor


def test_make_compressor_rejects_unknown_options():
    with pytest.raises(ConfigError, match="unknown option"):
        make_compressor("channel", {"ratio": 0.5, "sparsity": 0.2})


def test_cli_compresses_a_checkpoint_with_module_prefixes(tmp_path, capsys):
    ckpt = tmp_path / "r20.th"
    model = resnet20()
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "best_prec1": 0.0}, ckpt)
    out, report = tmp_path / "out.pt", tmp_path / "report.json"
    code = main([
        "compress", "channel", "--model-factory", "nasforge.compression.models.cifar_resnet:resnet20", "--checkpoint", str(ckpt),
        "--input-shape", "3,32,32", "-o", "ratio=0.5", "-o", "ignore=[layer3.2.conv1]", "--output", str(out), "--report", str(report),
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "MACs" in printed and "params" in printed
    assert "pickled module" in printed
    with pytest.raises(UserError, match="pickled module"):  # loading a pickle can run code: only on request
        load_compressed(out)
    pruned = load_compressed(out, trust_pickle=True)
    assert pruned(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    data = json.loads(report.read_text())
    assert data["params_after"] < data["params_before"] and data["macs_ratio"] > 2
    assert pruned.layer3[2].conv1.out_channels == 64


def test_cli_reads_options_from_a_config_file_and_measures_latency(tmp_path, capsys):
    config = tmp_path / "opts.yaml"
    config.write_text("macs_reduction: 2.0\nround_to: 4\n")
    out, report = tmp_path / "out.pt", tmp_path / "report.json"
    code = main([
        "compress", "channel", "--model-factory", "nasforge.compression.models.cifar_resnet:resnet20", "--input-shape", "3,32,32",
        "--config", str(config), "--latency", "--output", str(out), "--report", str(report),
    ])
    assert code == 0
    assert "latency_ms" in capsys.readouterr().out
    data = json.loads(report.read_text())
    assert data["macs_ratio"] >= 2.0 and data["options"]["round_to"] == 4
    assert data["metrics_after"]["latency_ms"] > 0


DIGITS_ARCH = {"stages": 2, "channels_1": 16, "channels_2": 32, "blocks": 2, "kernel_size": 3, "activation": "relu", "residual": True}


def test_compress_command_is_registered(nasforge_plugin_manager):
    assert "compress" in nasforge_plugin_manager.components("command")


def test_cli_fine_tunes_a_space_model_on_digits_and_saves_state_dict(tmp_path, capsys):
    out = tmp_path / "small.pt"
    code = main([
        "compress", "depth", "--space", "cnn", "--arch", json.dumps(DIGITS_ARCH), "--input-shape", "1,8,8",
        "-o", "num_blocks=1", "--dataset", "digits", "--finetune-epochs", "1", "--distill", "--output", str(out), "--save", "state_dict",
    ])
    assert code == 0
    printed = capsys.readouterr().out
    assert "accuracy" in printed
    saved = torch.load(out, weights_only=False)
    assert saved["spec"]["architecture"]["blocks"] == 1
    model = load_compressed(out)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compress", "channel", "--input-shape", "3,32,32", "--output", "x.pt"], "say which model"),
        (["compress", "channel", "--model-factory", "nasforge.compression.models.cifar_resnet:resnet20", "--input-shape", "3,32,32", "-o", "ratio=1.5", "--output", "x.pt"], "ratio"),
        (["compress", "channel", "--model-factory", "nasforge.compression.models.cifar_resnet:resnet20", "--input-shape", "3,32,32", "-o", "ratio=0.5", "-o", "ignore=[fc]", "--output", "x.pt"], "no layer named 'fc'"),
        (["compress", "channel", "--model-factory", "nasforge.compression.models.cifar_resnet:resnet99", "--input-shape", "3,32,32", "-o", "ratio=0.5", "--output", "x.pt"], "no attribute 'resnet99'"),
        (["compress", "channel", "--model-factory", "nasforge.compression.models.cifar_resnet:resnet20", "--input-shape", "3,32,32", "--checkpoint", "missing.th", "-o", "ratio=0.5", "--output", "x.pt"], "does not exist"),
        (["compress", "prune", "--model-factory", "nasforge.compression.models.cifar_resnet:resnet20", "--input-shape", "3,32,32", "--output", "x.pt"], "unknown compressor 'prune'"),
        (["compress", "channel", "--model-factory", "nasforge.compression.models.cifar_resnet:resnet20", "--input-shape", "1,8,8", "-o", "ratio=0.5", "--output", "x.pt"], "cannot run on example inputs"),
    ],
)
def test_cli_user_errors_are_one_line_with_exit_code_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_eval_samples_is_a_seeded_stratified_sample_not_the_first_images(monkeypatch):
    """A test split sorted by class (as image folders are): --eval-samples must still cover every class."""
    import argparse

    import nasforge.trainer.data as data_module
    from nasforge.deploy.compress_cli import CompressCommand

    real = data_module.load_dataset

    def sorted_by_class(name, **kwargs):
        splits = real(name, **kwargs)
        order = torch.argsort(splits.test.labels, stable=True)
        splits.test = splits.test.subset(order)
        return splits

    monkeypatch.setattr(data_module, "load_dataset", sorted_by_class)
    args = argparse.Namespace(dataset="digits", max_train_samples=None, seed=0, augment=False, dataset_option=[], eval_samples=100, batch_size=32, finetune_epochs=0)
    _, loader = CompressCommand()._data(args, (1, 8, 8))
    labels = loader.dataset.labels
    counts = torch.bincount(labels, minlength=10)
    assert len(labels) == 100 and (counts >= 9).all() and (counts <= 11).all()  # ~10 of each class
    _, again = CompressCommand()._data(args, (1, 8, 8))
    assert torch.equal(again.dataset.labels, labels)  # seeded


def test_compress_and_export_share_flag_names_and_the_help_lists_every_compressor(capsys):
    from nasforge.core.cli import build_parser

    parser = build_parser()
    for command in ("compress", "export"):
        base = ["--input-shape", "3"] + (["channel"] if command == "compress" else [])
        new = parser.parse_args([command, *base, "--model-factory", "m:f", "--model-kwargs", "{}", "--out", "x", "--latency-threads", "2", "--latency-runs", "7"])
        old = parser.parse_args([command, *base, "--model-factory", "m:f", "--factory-kwargs", "{}", "--output", "x", "--bench-threads", "2", "--bench-runs", "7"])
        assert vars(new) == vars(old)
        shared = parser.parse_args([command, *base, "--model", "m.pt", "--trust-pickle", "--device", "cuda:1", "--out", "x"])
        assert (shared.model, shared.trust_pickle, shared.device) == ("m.pt", True, "cuda:1")
    with pytest.raises(SystemExit):
        parser.parse_args(["compress", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(name in help_text for name in ("channel", "depth", "distill", "magnitude", "qat"))


def test_a_typo_in_the_compress_section_creates_and_announces_no_folder(tmp_path, capsys):
    import yaml

    from nasforge.core.cli import main

    config = {"name": "typo", "space": {"name": "mlp", "options": {"max_depth": 1, "widths": [8]}}, "strategy": {"name": "random"},
              "evaluator": {"name": "trainer", "options": {"dataset": "digits", "epochs": 1}}, "budget": {"trials": 1},
              "output": str(tmp_path / "runs"), "compress": {"variants": [{"name": "chanel"}]}}
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", str(path), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert "compress.variants[0].name" in captured.err and "did you mean 'channel'" in captured.err
    assert "experiment folder" not in captured.out and not (tmp_path / "runs").exists()


def _compress_digits_cnn(tmp_path, *extra):
    out = tmp_path / "small.pt"
    argv = ["compress", "depth", "--space", "cnn", "--arch", json.dumps(DIGITS_ARCH), "--input-shape", "1,8,8", "-o", "num_blocks=1", "--out", str(out), *extra]
    return main(argv), out


def test_latency_times_before_and_after_interleaved_in_one_loop_and_reports_the_spread(tmp_path, capsys, monkeypatch):
    """--latency uses the deploy table's interleaved helper once, for both models, not two separate timings."""
    import nasforge.export.benchmark as benchmark
    from nasforge.export.latency import OnnxRuntimeLatency

    calls, real = [], benchmark.interleaved_latency

    def spy(files, example, threads, runs, rounds=3):
        calls.append((list(files), threads, runs, rounds))
        return real(files, example, threads, runs, rounds)

    monkeypatch.setattr(benchmark, "interleaved_latency", spy)
    monkeypatch.setattr(OnnxRuntimeLatency, "__call__", lambda self, model: pytest.fail("a model was timed on its own, not interleaved"))
    report = tmp_path / "report.json"
    code, _ = _compress_digits_cnn(tmp_path, "--latency", "--latency-runs", "5", "--latency-threads", "1", "--report", str(report))
    assert code == 0
    assert calls == [(["before", "after"], 1, 5, 3)]
    data = json.loads(report.read_text())
    for side in ("metrics_before", "metrics_after"):
        assert data[side]["latency_ms"] > 0 and data[side]["latency_spread_ms"] >= 0
    printed = capsys.readouterr().out
    latency_row = next(line for line in printed.splitlines() if line.startswith("latency_ms"))
    assert latency_row.count("±") == 2 and "timed interleaved" in printed and "latency_spread_ms" not in printed


def test_device_cpu_runs_and_cuda_where_there_is_none_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    code, out = _compress_digits_cnn(tmp_path, "--device", "cpu")
    assert code == 0 and "device: cpu" in capsys.readouterr().out and out.is_file()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same path on a machine with a GPU
    for device in ("cuda", "cuda:1"):
        code, _ = _compress_digits_cnn(tmp_path / device.replace(":", ""), "--device", device)
        err = capsys.readouterr().err
        assert code == 2 and f"--device {device}: CUDA is not available here" in err and err.count("\n") == 1 and "Traceback" not in err
    code, _ = _compress_digits_cnn(tmp_path, "--device", "gpu")
    assert code == 2 and "--device must be cpu, cuda or cuda:N" in capsys.readouterr().err


def test_compress_then_export_and_compress_again_through_the_model_flag(tmp_path, capsys):
    """The documented chain: compress writes {state_dict, spec}; export and compress read it with --model, no pickle, no factory."""
    code, small = _compress_digits_cnn(tmp_path)
    assert code == 0 and "pickled module" not in capsys.readouterr().out
    assert main(["export", "--model", str(small), "--input-shape", "1,8,8", "--out", str(tmp_path / "onnx"), "--exporter", "torchscript"]) == 0
    assert (tmp_path / "onnx" / "small.onnx").is_file() and "parity pass" in capsys.readouterr().out
    smaller = tmp_path / "smaller.pt"
    assert main(["compress", "channel", "--model", str(small), "--input-shape", "1,8,8", "-o", "ratio=0.5", "--out", str(smaller)]) == 0
    model = load_compressed(smaller)  # still a safe {state_dict, spec} file: the spec travelled on
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    assert main(["compress", "channel", "--model", str(small), "--space", "cnn", "--input-shape", "1,8,8", "--out", str(smaller)]) == 2
    assert "give one model source" in capsys.readouterr().err
