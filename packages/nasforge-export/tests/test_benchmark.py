"""OnnxRuntimeBenchmark and the eager baseline: grid coverage, JSON, failures reported not raised."""

from __future__ import annotations

import json

import pytest
import torch

from nasforge.core.errors import UserError
from nasforge.export import OnnxRuntimeBenchmark, benchmark_torch_eager, export_onnx, measure_interleaved, runtime


@pytest.fixture
def onnx_file(tiny_cnn, tmp_path):
    return export_onnx(tiny_cnn, torch.randn(1, 3, 8, 8), tmp_path / "m.onnx").path


def test_json_has_median_and_p90_for_every_batch_threads_provider(onnx_file, tmp_path):
    report = OnnxRuntimeBenchmark(onnx_file, batch_sizes=(1, 4), threads=(1, 2), warmup=2, runs=5).run()
    data = json.loads(report.write_json(tmp_path / "bench.json").read_text())
    combos = {(r["provider"], r["batch_size"], r["threads"]) for r in data["results"]}
    assert {(p, b, t) for p in OnnxRuntimeBenchmark.available_providers() for b in (1, 4) for t in (1, 2)} <= combos
    for r in data["results"]:
        assert 0 < r["min_ms"] <= r["median_ms"] <= r["p90_ms"]
        assert r["runs"] == 5 and r["engine"] == "onnxruntime"
    assert data["environment"]["onnxruntime"] and "CPUExecutionProvider" in data["environment"]["available_providers"]
    text = report.to_text()
    assert "median ms" in text and "p90 ms" in text


def test_listed_provider_that_fails_to_start_is_reported(onnx_file, monkeypatch):
    ort = runtime._ort()
    real = ort.get_available_providers()
    monkeypatch.setattr(ort, "get_available_providers", lambda: [*real, "CUDAExecutionProvider"])
    bench = OnnxRuntimeBenchmark(onnx_file, batch_sizes=(2,), warmup=1, runs=3)
    assert bench.providers[0] == "CPUExecutionProvider" and "CUDAExecutionProvider" in bench.providers
    report = bench.run()
    if "CUDAExecutionProvider" in real:  # a real GPU build: it must have produced records instead
        assert report.find(provider="CUDAExecutionProvider")
    else:
        assert "CUDAExecutionProvider" in report.failures
        assert not report.find(provider="CUDAExecutionProvider")
    assert report.find(provider="CPUExecutionProvider", batch_size=2)


def test_unknown_provider_and_fixed_batch_are_reported(tiny_cnn, tmp_path):
    fixed = export_onnx(tiny_cnn, torch.randn(2, 3, 8, 8), tmp_path / "fixed.onnx", dynamic_batch=False).path
    report = OnnxRuntimeBenchmark(fixed, batch_sizes=(2, 8), providers=["CPUExecutionProvider", "NoSuchProvider"], warmup=1, runs=2).run()
    assert [r.batch_size for r in report.records] == [2]
    assert "NoSuchProvider" in report.failures and any("fixed at 2" in v for v in report.failures.values())


def test_bad_grid_is_a_user_error(onnx_file, tmp_path):
    with pytest.raises(UserError, match="batch sizes"):
        OnnxRuntimeBenchmark(onnx_file, batch_sizes=(0,))
    with pytest.raises(UserError, match="does not exist"):
        OnnxRuntimeBenchmark(tmp_path / "missing.onnx")


def test_torch_eager_baseline_uses_the_same_grid_and_restores_threads(tiny_cnn):
    before = torch.get_num_threads()
    report = benchmark_torch_eager(tiny_cnn, torch.randn(1, 3, 8, 8), batch_sizes=(1, 3), threads=(1, 2), warmup=1, runs=3)
    assert {(r.batch_size, r.threads) for r in report.records} == {(1, 1), (3, 1), (1, 2), (3, 2)}
    assert all(r.engine == "torch-eager" and r.median_ms > 0 for r in report.records)
    assert torch.get_num_threads() == before


def test_interleaved_measurement_times_every_candidate():
    calls = {"a": 0, "b": 0}

    def make(name):
        def fn():
            calls[name] += 1
            sum(range(1000 if name == "a" else 20000))

        return fn

    stats = measure_interleaved({"a": make("a"), "b": make("b")}, warmup=2, runs=9)
    assert calls == {"a": 11, "b": 11} and stats["a"].runs == 9
    assert stats["b"].median_ms > stats["a"].median_ms


# -- the CPU recorded with every benchmark -------------------------------------------------------
ZEN1 = "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 23\nmodel\t\t: 1\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx fma avx2\n\nprocessor\t: 1\nflags\t\t: avx512f\n"
SAPPHIRE = "processor\t: 0\ncpu family\t: 6\nmodel\t\t: 143\nmodel name\t: Intel Xeon\nflags\t\t: avx2 fma avx512f avx512_vnni amx_int8\n"


def test_cpu_info_reads_the_first_processor_block_only():
    from nasforge.export.benchmark import cpu_info, describe_cpu

    info = cpu_info(ZEN1)
    assert (info["model_name"], info["family"], info["model"]) == ("AMD EPYC", "23", "1")
    assert info["simd"] == ["avx2", "fma"]  # the second block's avx512f is not the first CPU's
    assert describe_cpu(info).endswith("avx2 fma, no VNNI")


def test_describe_cpu_names_vnni_and_amx_when_present():
    from nasforge.export.benchmark import cpu_info, describe_cpu

    line = describe_cpu(cpu_info(SAPPHIRE))
    assert "family 6, model 143" in line and "avx512_vnni amx_int8" in line and line.endswith(", VNNI")


def test_cpu_info_without_cpuinfo_still_describes_the_machine():
    from nasforge.export.benchmark import cpu_info, describe_cpu

    info = cpu_info("")
    assert info["family"] is None and info["simd"] == [] and "no AVX2" in describe_cpu(info)


def test_every_benchmark_report_records_the_cpu():
    from nasforge.export.benchmark import cpu_info, environment

    assert environment()["cpu"] == cpu_info()
