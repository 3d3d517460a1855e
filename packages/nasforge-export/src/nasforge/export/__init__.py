"""nasforge.export: ONNX export of any PyTorch model, parity checks, onnxruntime benchmarks,
int8/fp16 quantization and model cards.

Typical use::

    from nasforge.export import export_onnx, check_parity, OnnxRuntimeBenchmark
    info = export_onnx(model, torch.randn(1, 3, 32, 32), "model.onnx")
    check_parity(model, info.path, real_inputs)              # raises ParityError on mismatch
    OnnxRuntimeBenchmark(info.path, batch_sizes=(1, 64)).run().write_json("bench.json")
"""

from nasforge.core.lazy import lazy_exports

_EXPORTS = {
    "BenchmarkRecord": "nasforge.export.benchmark",
    "BenchmarkReport": "nasforge.export.benchmark",
    "LatencyStats": "nasforge.export.benchmark",
    "OnnxRuntimeBenchmark": "nasforge.export.benchmark",
    "benchmark_torch_eager": "nasforge.export.benchmark",
    "measure": "nasforge.export.benchmark",
    "measure_interleaved": "nasforge.export.benchmark",
    "ArrayCalibrationReader": "nasforge.export.quantize",
    "QuantizationOptions": "nasforge.export.quantize",
    "QuantizationResult": "nasforge.export.quantize",
    "convert_fp16": "nasforge.export.quantize",
    "evaluate_onnx_accuracy": "nasforge.export.quantize",
    "quantize_int8": "nasforge.export.quantize",
    "ModelCard": "nasforge.export.card",
    "read_card": "nasforge.export.card",
    "verify_card": "nasforge.export.card",
    "Exporter": "nasforge.export.exporters",
    "ExportResult": "nasforge.export.exporters",
    "OnnxExporter": "nasforge.export.exporters",
    "OnnxFp16Exporter": "nasforge.export.exporters",
    "OnnxInt8Exporter": "nasforge.export.exporters",
    "OnnxRuntimeLatency": "nasforge.export.latency",
    "ExportError": "nasforge.export.onnx",
    "OnnxExport": "nasforge.export.onnx",
    "export_onnx": "nasforge.export.onnx",
    "ParityError": "nasforge.export.parity",
    "ParityReport": "nasforge.export.parity",
    "check_parity": "nasforge.export.parity",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "ArrayCalibrationReader",
    "BenchmarkRecord",
    "BenchmarkReport",
    "ExportError",
    "ExportResult",
    "Exporter",
    "LatencyStats",
    "ModelCard",
    "OnnxExport",
    "OnnxExporter",
    "OnnxFp16Exporter",
    "OnnxInt8Exporter",
    "OnnxRuntimeBenchmark",
    "OnnxRuntimeLatency",
    "ParityError",
    "ParityReport",
    "QuantizationOptions",
    "QuantizationResult",
    "benchmark_torch_eager",
    "check_parity",
    "convert_fp16",
    "evaluate_onnx_accuracy",
    "export_onnx",
    "measure",
    "measure_interleaved",
    "quantize_int8",
    "read_card",
    "verify_card",
]
