"""nasforge-export's plugin: the ``onnx``, ``onnx-int8`` and ``onnx-fp16`` exporters and the
``export`` and ``bench`` commands, registered through the same hooks as any third-party plugin."""

from __future__ import annotations

from nasforge.core.hookspecs import hookimpl
from nasforge.core.registration import ComponentTable

#: The built-in exporters (see :mod:`nasforge.export.exporters`), by reference: onnx and torch load on first use.
EXPORTERS = ComponentTable([
    ("exporter", "onnx", "nasforge.export.exporters:OnnxExporter", "float32 ONNX, single file, parity-checked against PyTorch"),
    ("exporter", "onnx-int8", "nasforge.export.exporters:OnnxInt8Exporter", "static int8 ONNX (QDQ, per-channel) calibrated on real samples"),
    ("exporter", "onnx-fp16", "nasforge.export.exporters:OnnxFp16Exporter", "float16 ONNX with float32 inputs/outputs"),
])
nasforge_register_exporters = EXPORTERS.hook("exporter")


@hookimpl
def nasforge_register_commands(register):
    """Register ``nasforge export`` and ``nasforge bench``."""
    from nasforge.export.cli import BenchCommand, ExportCommand

    register("export", ExportCommand(), "export a PyTorch model to ONNX (fp32/int8/fp16) with model cards")
    register("bench", BenchCommand(), "benchmark an .onnx file with onnxruntime")
