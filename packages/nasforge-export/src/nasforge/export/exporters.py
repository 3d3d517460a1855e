"""The exporter interface and the three built-in exporters: ``onnx``, ``onnx-int8``, ``onnx-fp16``.

An exporter turns a PyTorch model into one deployable file plus its model card. Call order::

    exporter = cls(**options)              # options: opset, dynamic_batch, thresholds, benchmark ...
    result = exporter.export(model, sample_inputs, out_dir, name,
                             calibration=None, evaluation=None, source=None)
    result.path, result.card_path, result.card, result.parity

``calibration`` holds real input samples (array/tensor, ``N`` first). It is required by
quantizing exporters and, when given, is also what parity is checked on (otherwise the sample
inputs are). ``evaluation`` is an optional ``(x, y)`` pair of held-out samples and integer labels:
the card then records the accuracy of the written file (and, for reduced precision, of the
float32 export too, and the drop). Plugins register more exporters through
``nasforge_register_exporters``; each must subclass :class:`Exporter`.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch

from nasforge.core.errors import UserError
from nasforge.export._common import as_tensor_tuple
from nasforge.export.benchmark import OnnxRuntimeBenchmark
from nasforge.export.card import ModelCard, provenance
from nasforge.export.onnx import export_onnx
from nasforge.export.parity import ParityError, ParityReport, check_parity
from nasforge.export.quantize import QuantizationOptions, convert_fp16, evaluate_onnx_accuracy, quantize_int8


@dataclass(frozen=True)
class ExportResult:
    """What an exporter wrote."""

    path: Path
    card_path: Path
    card: dict[str, Any]
    parity: ParityReport | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Exporter(ABC):
    """Base class of every exporter (see the module docstring for the call order).

    :param opset: ONNX opset to target (``None``: the exporter's recommendation).
    :param dynamic_batch: make the batch dimension symbolic.
    :param exporter: torch exporter, ``"dynamo"`` (default) or ``"torchscript"``.
    :param atol: parity tolerance per output element; ``None`` uses the class default. A failed
        parity check still writes the card (with ``parity.passed`` false and a note), then raises
        :class:`~nasforge.export.parity.ParityError`.
    :param rtol: relative parity tolerance; ``None`` uses the class default.
    :param min_argmax_agreement: parity threshold on arg-max agreement; ``None``: class default.
    :param benchmark: run a short :class:`OnnxRuntimeBenchmark` and put its summary in the card.
    :param benchmark_options: keyword arguments for that benchmark (batch_sizes, threads, runs ...).
    :param markdown_card: also write ``<name>.card.md``.
    """

    name: ClassVar[str] = ""
    variant: ClassVar[str] = "fp32"
    suffix: ClassVar[str] = ".onnx"
    default_atol: ClassVar[float] = 1e-4
    default_rtol: ClassVar[float] = 1e-3
    default_min_argmax: ClassVar[float] = 1.0
    needs_calibration: ClassVar[bool] = False

    def __init__(
        self,
        opset: int | None = None,
        dynamic_batch: bool = True,
        exporter: str = "dynamo",
        atol: float | None = None,
        rtol: float | None = None,
        min_argmax_agreement: float | None = None,
        benchmark: bool = False,
        benchmark_options: dict[str, Any] | None = None,
        markdown_card: bool = True,
    ) -> None:
        self.opset = opset
        self.dynamic_batch = dynamic_batch
        self.exporter = exporter
        self.atol = self.default_atol if atol is None else float(atol)
        self.rtol = self.default_rtol if rtol is None else float(rtol)
        self.min_argmax_agreement = self.default_min_argmax if min_argmax_agreement is None else float(min_argmax_agreement)
        self.benchmark = benchmark
        self.benchmark_options = {"batch_sizes": (1, 32), "threads": (1,), "providers": ["CPUExecutionProvider"], "warmup": 5, "runs": 30, **(benchmark_options or {})}
        self.markdown_card = markdown_card

    @abstractmethod
    def export(
        self,
        model: torch.nn.Module,
        sample_inputs: Any,
        out_dir: str | os.PathLike,
        name: str,
        calibration: Any = None,
        *,
        evaluation: tuple[Any, Any] | None = None,
        source: dict[str, Any] | None = None,
    ) -> ExportResult:
        """Write ``out_dir/<name><suffix>`` and its card; return an :class:`ExportResult`."""

    # -- shared steps ----------------------------------------------------------------------------
    def _target(self, out_dir: str | os.PathLike, name: str) -> Path:
        if not isinstance(name, str) or not name or "/" in name or "\\" in name:
            raise UserError(f"export name must be a plain file stem like 'resnet56', got {name!r}")
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        return out / f"{name}{self.suffix}"

    def _export_fp32(self, model, sample_inputs, path: Path):
        return export_onnx(model, sample_inputs, path, dynamic_batch=self.dynamic_batch, opset=self.opset, exporter=self.exporter)

    def _parity(self, model, path: Path, sample_inputs, calibration, evaluation) -> tuple[ParityReport, str]:
        if calibration is not None:
            inputs, origin = calibration, "calibration samples"
        elif evaluation is not None:
            inputs, origin = evaluation[0], "evaluation samples"
        else:
            inputs, origin = sample_inputs, "sample inputs"
        if not self.dynamic_batch:
            # a fixed-batch file only takes the exported batch size
            inputs = as_tensor_tuple(inputs)
            inputs = tuple(t[: as_tensor_tuple(sample_inputs)[0].shape[0]] for t in inputs)
        report = check_parity(model, path, inputs, atol=self.atol, rtol=self.rtol, min_argmax_agreement=self.min_argmax_agreement, raise_on_failure=False)
        return report, origin

    def _finish(self, path: Path, model, sample_inputs, calibration, evaluation, source, *, metrics=None, quantization=None, extra=None) -> ExportResult:
        parity, origin = self._parity(model, path, sample_inputs, calibration, evaluation)
        metrics = dict(metrics or {})
        if evaluation is not None:
            x, y = evaluation
            metrics.setdefault("accuracy", evaluate_onnx_accuracy(path, x, y))
            metrics["evaluation_samples"] = int(len(y))
        bench = self._benchmark_summary(path, sample_inputs) if self.benchmark else None
        sample_shapes = [list(t.shape) for t in as_tensor_tuple(sample_inputs)]
        card = ModelCard.for_file(
            path,
            self.variant,
            provenance=provenance(source, exporter=self.name, torch_exporter=self.exporter, sample_input_shapes=sample_shapes, dynamic_batch=self.dynamic_batch),
            parity={**parity.to_dict(), "inputs": origin},
            metrics=metrics,
            quantization=quantization,
            benchmark=bench,
        )
        if not parity.passed:
            card.notes.append(f"PARITY FAILED: {parity.summary()}; do not deploy this file")
        card_path = card.write(markdown=self.markdown_card)
        if not parity.passed:
            # the card is written first so that the numbers can be inspected; the failure stays loud
            raise ParityError(f"{path} does not match {type(model).__name__}: {parity.summary()} (card: {card_path})", parity)
        return ExportResult(path=path, card_path=card_path, card=card.to_dict(), parity=parity, extra=dict(extra or {}))

    def _benchmark_summary(self, path: Path, sample_inputs) -> list[dict[str, Any]]:
        """The card's benchmark rows: a short :class:`OnnxRuntimeBenchmark` of ``path``.

        Subclasses whose inputs random normal data cannot stand for (token ids, a sequence axis)
        override this.
        """
        options = dict(self.benchmark_options)
        if not self.dynamic_batch:
            options["batch_sizes"] = (int(as_tensor_tuple(sample_inputs)[0].shape[0]),)
        return OnnxRuntimeBenchmark(path, **options).run().summary()

    def _float_reference(self, model, sample_inputs, tmp: Path) -> Path:
        return self._export_fp32(model, sample_inputs, tmp / "float32.onnx").path


class OnnxExporter(Exporter):
    """Float32 ONNX, single file, checked, with parity against PyTorch (exact to 1e-4)."""

    name = "onnx"
    variant = "fp32"
    suffix = ".onnx"

    def export(self, model, sample_inputs, out_dir, name, calibration=None, *, evaluation=None, source=None) -> ExportResult:
        """Export in float32; see :class:`Exporter`."""
        path = self._target(out_dir, name)
        info = self._export_fp32(model, sample_inputs, path)
        return self._finish(path, model, sample_inputs, calibration, evaluation, source, extra={"export": info.to_dict()})


class OnnxInt8Exporter(Exporter):
    """Static int8 ONNX (QDQ, per-channel) calibrated on real samples through onnxruntime.

    Extra options: any :class:`~nasforge.export.quantize.QuantizationOptions` field, e.g.
    ``exclude_last_layer=True`` to keep the classifier in float, ``quant_format="qoperator"``.
    Parity against PyTorch is judged on arg-max agreement only (default at least 0.9).

    A model may name the ONNX op types worth quantizing in an ``onnx_int8_op_types`` attribute
    (the text models of nasforge-trainer do: their padding masks add large constants that int8
    cannot hold); it is used when ``op_types`` is not given.
    """

    name = "onnx-int8"
    variant = "int8"
    suffix = ".int8.onnx"
    default_atol = float("inf")
    default_rtol = 0.0
    default_min_argmax = 0.9
    needs_calibration = True

    def __init__(self, quantization: QuantizationOptions | None = None, **options: Any) -> None:
        fields = set(QuantizationOptions.__dataclass_fields__)
        quant_overrides = {k: options.pop(k) for k in list(options) if k in fields}
        if isinstance(quant_overrides.get("op_types"), list):
            quant_overrides["op_types"] = tuple(quant_overrides["op_types"])
        self.quantization = dataclasses.replace(quantization or QuantizationOptions(), **quant_overrides).validate()
        super().__init__(**options)

    def export(self, model, sample_inputs, out_dir, name, calibration=None, *, evaluation=None, source=None) -> ExportResult:
        """Export float32 to a temporary file, quantize it with ``calibration``; see :class:`Exporter`."""
        if calibration is None:
            raise UserError("int8 export needs calibration data: pass real input samples (e.g. 100-1000 training images) as calibration")
        path = self._target(out_dir, name)
        options = self.quantization
        hinted = getattr(model, "onnx_int8_op_types", None)
        if options.op_types is None and hinted:
            options = dataclasses.replace(options, op_types=tuple(hinted)).validate()
        with tempfile.TemporaryDirectory(prefix="nasforge-int8-") as tmp:
            float_path = self._float_reference(model, sample_inputs, Path(tmp))
            result = quantize_int8(float_path, path, calibration, options)
            metrics: dict[str, Any] = {}
            if evaluation is not None:
                x, y = evaluation
                metrics["accuracy_fp32"] = evaluate_onnx_accuracy(float_path, x, y)
                metrics["accuracy"] = evaluate_onnx_accuracy(path, x, y)
                metrics["accuracy_drop"] = metrics["accuracy_fp32"] - metrics["accuracy"]
            metrics["size_ratio_vs_fp32"] = result.size_bytes / result.source_size_bytes
        quant = {**result.to_dict(), "path": path.name}
        return self._finish(path, model, sample_inputs, calibration, evaluation, source, metrics=metrics, quantization=quant)


class OnnxFp16Exporter(Exporter):
    """Float16 ONNX (float32 inputs/outputs kept) via ``onnxruntime.transformers.float16``.

    Parity tolerance defaults: atol 5e-2, rtol 5e-2, arg-max agreement at least 0.98 (float16
    rounding accumulates through deep networks: ResNet-56 logits differ by about 2e-2).
    """

    name = "onnx-fp16"
    variant = "fp16"
    suffix = ".fp16.onnx"
    default_atol = 5e-2
    default_rtol = 5e-2
    default_min_argmax = 0.98

    def __init__(self, keep_io_types: bool = True, **options: Any) -> None:
        self.keep_io_types = keep_io_types
        super().__init__(**options)

    def export(self, model, sample_inputs, out_dir, name, calibration=None, *, evaluation=None, source=None) -> ExportResult:
        """Export float32 to a temporary file, convert it to float16; see :class:`Exporter`."""
        path = self._target(out_dir, name)
        with tempfile.TemporaryDirectory(prefix="nasforge-fp16-") as tmp:
            float_path = self._float_reference(model, sample_inputs, Path(tmp))
            source_size = float_path.stat().st_size
            convert_fp16(float_path, path, keep_io_types=self.keep_io_types)
            metrics: dict[str, Any] = {"size_ratio_vs_fp32": path.stat().st_size / source_size}
            if evaluation is not None:
                x, y = evaluation
                metrics["accuracy_fp32"] = evaluate_onnx_accuracy(float_path, x, y)
                metrics["accuracy"] = evaluate_onnx_accuracy(path, x, y)
                metrics["accuracy_drop"] = metrics["accuracy_fp32"] - metrics["accuracy"]
        return self._finish(path, model, sample_inputs, calibration, evaluation, source, metrics=metrics, quantization={"type": "float16", "keep_io_types": self.keep_io_types})


BUILTIN_EXPORTERS: tuple[type[Exporter], ...] = (OnnxExporter, OnnxInt8Exporter, OnnxFp16Exporter)
