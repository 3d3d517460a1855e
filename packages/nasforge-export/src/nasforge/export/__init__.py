"""nasforge.export: ONNX export of any PyTorch model, parity checks, onnxruntime benchmarks,
int8/fp16 quantization and model cards.

Typical use::

    from nasforge.export import export_onnx, check_parity, OnnxRuntimeBenchmark
    info = export_onnx(model, torch.randn(1, 3, 32, 32), "model.onnx")
    check_parity(model, info.path, real_inputs)              # raises ParityError on mismatch
    OnnxRuntimeBenchmark(info.path, batch_sizes=(1, 64)).run().write_json("bench.json")
"""

from nasforge.export.benchmark import (
    BenchmarkRecord,
    BenchmarkReport,
    LatencyStats,
    OnnxRuntimeBenchmark,
    benchmark_torch_eager,
    measure,
    measure_interleaved,
)
from nasforge.export.card import ModelCard, read_card, verify_card
from nasforge.export.exporters import Exporter, ExportResult, OnnxExporter, OnnxFp16Exporter, OnnxInt8Exporter
from nasforge.export.latency import OnnxRuntimeLatency
from nasforge.export.onnx import ExportError, OnnxExport, export_onnx
from nasforge.export.parity import ParityError, ParityReport, check_parity
from nasforge.export.quantize import (
    ArrayCalibrationReader,
    QuantizationOptions,
    QuantizationResult,
    convert_fp16,
    evaluate_onnx_accuracy,
    quantize_int8,
)

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
