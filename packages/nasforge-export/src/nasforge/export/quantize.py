"""Post-training quantization of ONNX files with onnxruntime, and fp16 conversion.

Static int8 (:func:`quantize_int8`), in the order it runs:

1. onnxruntime's quantization pre-processing (symbolic and ONNX shape inference plus graph
   optimisation, e.g. Conv+BatchNorm folding), so that quantization sees the final graph;
2. calibration on *real* samples fed through a :class:`ArrayCalibrationReader`
   (an onnxruntime ``CalibrationDataReader``);
3. ``onnxruntime.quantization.quantize_static`` in QDQ format (default) with per-channel weight
   scales (default), optionally keeping the first Conv and/or the last Gemm/MatMul in float.

fp16 (:func:`convert_fp16`) uses ``onnxruntime.transformers.float16`` (shipped with onnxruntime,
so no extra dependency); graph inputs and outputs stay float32 by default. fp16 halves the file
and serves GPUs; on the CPU provider it saves size, not time (ResNet-56: same latency as fp32).

Always judge a quantized model by accuracy on held-out data (:func:`evaluate_onnx_accuracy`),
not by its size alone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from nasforge.core.errors import UserError
from nasforge.export.runtime import make_session, run_batched

QUANT_FORMATS = ("qdq", "qoperator")
QUANT_TYPES = ("int8", "uint8")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


def _quantization():
    try:
        from onnxruntime import quantization
    except ImportError as exc:
        raise UserError("onnxruntime.quantization is unavailable; install onnxruntime>=1.17") from exc
    return quantization


def _as_arrays(data: Any, what: str) -> list[np.ndarray]:
    try:
        import torch

        if isinstance(data, torch.Tensor):
            data = data.detach().cpu().numpy()
        elif isinstance(data, (tuple, list)) and data and all(isinstance(d, torch.Tensor) for d in data):
            data = [d.detach().cpu().numpy() for d in data]
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    arrays = [np.asarray(d) for d in data] if isinstance(data, (tuple, list)) else [np.asarray(data)]
    if not arrays or any(a.ndim == 0 or a.shape[0] == 0 for a in arrays):
        raise UserError(f"{what} must hold at least one sample with a batch dimension first, e.g. an array of shape (N, 3, 32, 32)")
    if len({a.shape[0] for a in arrays}) != 1:
        raise UserError(f"{what}: every input array needs the same number of samples, got {[a.shape[0] for a in arrays]}")
    return arrays


def _calibration_base():
    return _quantization().CalibrationDataReader


class ArrayCalibrationReader(_calibration_base()):
    """Feeds calibration samples to onnxruntime's quantizer in batches.

    :param input_names: the ONNX graph's input names, in the model's positional order.
    :param data: an array/tensor of samples (``N`` first), or a sequence of them for several inputs.
    :param batch_size: samples per calibration batch (the model's batch dimension must be symbolic
        for a batch size other than the exported one).
    """

    def __init__(self, input_names: Sequence[str], data: Any, batch_size: int = 32) -> None:
        self.input_names = list(input_names)
        self.arrays = [np.ascontiguousarray(a, dtype=np.float32) if np.issubdtype(a.dtype, np.floating) else a for a in _as_arrays(data, "calibration data")]
        if len(self.arrays) != len(self.input_names):
            raise UserError(f"calibration data has {len(self.arrays)} input array(s) but the model takes {len(self.input_names)}: {self.input_names}")
        if batch_size < 1:
            raise UserError(f"calibration batch size must be >= 1, got {batch_size}")
        self.batch_size = int(batch_size)
        self._iter: Iterator[dict[str, np.ndarray]] | None = None

    def __len__(self) -> int:
        return int(self.arrays[0].shape[0])

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        for start in range(0, len(self), self.batch_size):
            yield {name: a[start : start + self.batch_size] for name, a in zip(self.input_names, self.arrays)}

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next batch as an input feed, or ``None`` when the samples are used up."""
        if self._iter is None:
            self._iter = self._batches()
        return next(self._iter, None)

    def rewind(self) -> None:
        """Start again from the first sample."""
        self._iter = None


@dataclass(frozen=True)
class QuantizationOptions:
    """How :func:`quantize_int8` quantizes; recorded in model cards."""

    quant_format: str = "qdq"
    per_channel: bool = True
    activation_type: str = "uint8"  # U8S8: the fast int8 GEMM path of onnxruntime on x86 (see docs/export.md)
    weight_type: str = "int8"
    calibrate_method: str = "minmax"
    reduce_range: bool = False
    exclude_first_layer: bool = False
    exclude_last_layer: bool = False
    nodes_to_exclude: tuple[str, ...] = ()
    op_types: tuple[str, ...] | None = None  # None: every op type onnxruntime can quantize
    preprocess: bool = True
    calibration_batch_size: int = 32

    def validate(self) -> QuantizationOptions:
        """Raise a UserError naming a bad choice; return self."""
        for value, allowed, what in (
            (self.quant_format, QUANT_FORMATS, "quant_format"),
            (self.activation_type, QUANT_TYPES, "activation_type"),
            (self.weight_type, QUANT_TYPES, "weight_type"),
            (self.calibrate_method, CALIBRATION_METHODS, "calibrate_method"),
        ):
            if value not in allowed:
                raise UserError(f"{what} {value!r} is not supported; choose one of {', '.join(allowed)}")
        if self.op_types is not None and (
            isinstance(self.op_types, str) or not self.op_types or not all(isinstance(t, str) and t for t in self.op_types)
        ):
            raise UserError(f"op_types must be a non-empty list of ONNX op type names like ['MatMul', 'Gemm'], got {self.op_types!r}")
        return self


@dataclass(frozen=True)
class QuantizationResult:
    """The quantized file, what was kept in float, and the options used."""

    path: Path
    options: QuantizationOptions
    excluded_nodes: tuple[str, ...]
    calibration_samples: int
    size_bytes: int
    source_size_bytes: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        out = asdict(self)
        out["path"] = str(self.path)
        return out


def preprocess(onnx_path: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """onnxruntime's quantization pre-processing: shape inference and graph optimisation."""
    _quantization()  # a clear error when onnxruntime.quantization is missing
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, out_path = Path(onnx_path).resolve(), Path(out_path).resolve()
    # When symbolic shape inference gives up it saves "sym_shape_infer_temp.onnx" and a
    # "<uuid>.data" file into the current folder (onnxruntime 1.2x); run it in a scratch folder.
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="nasforge-preprocess-") as scratch:
        os.chdir(scratch)
        try:
            try:
                quant_pre_process(str(src), str(out_path), skip_symbolic_shape=False)
            except Exception:
                # symbolic shape inference gives up on some graphs (transformers); plain ONNX shape inference still helps
                quant_pre_process(str(src), str(out_path), skip_symbolic_shape=True)
        finally:
            os.chdir(previous)
    return out_path


def find_layer_nodes(model: onnx.ModelProto, which: str) -> list[str]:
    """Names of the first Conv/Gemm/MatMul (``which="first"``) or the last Gemm/MatMul (``"last"``).

    "Last" means the last such node in topological order, i.e. the classifier head of a typical
    network. Unnamed nodes cannot be excluded by name; :func:`name_nodes` names them first.
    """
    nodes = list(model.graph.node)
    if which == "first":
        candidates = [n for n in nodes if n.op_type in ("Conv", "Gemm", "MatMul")][:1]
    elif which == "last":
        candidates = [n for n in nodes if n.op_type in ("Gemm", "MatMul")][-1:]
    else:
        raise ValueError(f"which must be 'first' or 'last', got {which!r}")
    return [n.name for n in candidates]


def name_nodes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Give every unnamed node a unique name (``<OpType>_<index>``) in place; returns the model."""
    taken = {n.name for n in model.graph.node if n.name}
    for i, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{i}"
            while name in taken:
                name += "_"
            node.name = name
            taken.add(name)
    return model


def quantize_int8(
    onnx_path: str | os.PathLike,
    out_path: str | os.PathLike,
    calibration_data: Any,
    options: QuantizationOptions | None = None,
    **overrides: Any,
) -> QuantizationResult:
    """Post-training static int8 quantization calibrated on real samples.

    :param onnx_path: the float32 ``.onnx`` file.
    :param out_path: where to write the quantized single-file model.
    :param calibration_data: real input samples (array/tensor ``N`` first, or one per input).
        A few hundred representative samples usually suffice; more costs calibration time.
    :param options: a :class:`QuantizationOptions`; keyword ``overrides`` replace its fields
        (e.g. ``exclude_last_layer=True``, ``quant_format="qoperator"``).
    """
    import dataclasses

    options = dataclasses.replace(options or QuantizationOptions(), **overrides).validate()
    q = _quantization()
    src = Path(onnx_path)
    if not src.is_file():
        raise UserError(f"ONNX file {src} does not exist")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    types = {"int8": q.QuantType.QInt8, "uint8": q.QuantType.QUInt8}
    methods = {"minmax": q.CalibrationMethod.MinMax, "entropy": q.CalibrationMethod.Entropy, "percentile": q.CalibrationMethod.Percentile}
    formats = {"qdq": q.QuantFormat.QDQ, "qoperator": q.QuantFormat.QOperator}

    with tempfile.TemporaryDirectory(prefix="nasforge-quant-") as tmp:
        work = Path(tmp) / "model.onnx"
        if options.preprocess:
            preprocess(src, work)
        else:
            shutil.copyfile(src, work)
        model = name_nodes(onnx.load(str(work)))
        onnx.save(model, str(work))
        excluded = list(options.nodes_to_exclude)
        if options.exclude_first_layer:
            excluded += find_layer_nodes(model, "first")
        if options.exclude_last_layer:
            excluded += find_layer_nodes(model, "last")
        names = {n.name for n in model.graph.node}
        unknown = [n for n in excluded if n not in names]
        if unknown:
            raise UserError(f"nodes_to_exclude names nodes that are not in the graph: {unknown}; graph nodes include {sorted(names)[:8]}")
        initializers = {i.name for i in model.graph.initializer}
        input_names = [i.name for i in model.graph.input if i.name not in initializers]
        reader = ArrayCalibrationReader(input_names, calibration_data, batch_size=options.calibration_batch_size)
        try:
            q.quantize_static(
                str(work),
                str(out_path),
                calibration_data_reader=reader,
                quant_format=formats[options.quant_format],
                per_channel=options.per_channel,
                reduce_range=options.reduce_range,
                activation_type=types[options.activation_type],
                weight_type=types[options.weight_type],
                nodes_to_exclude=excluded or None,
                op_types_to_quantize=list(options.op_types) if options.op_types is not None else None,
                calibrate_method=methods[options.calibrate_method],
                extra_options={"CalibTensorRangeSymmetric": False},
            )
        except Exception as exc:
            raise UserError(f"int8 quantization of {src} failed: {type(exc).__name__}: {exc}") from exc
    onnx.checker.check_model(str(out_path))
    return QuantizationResult(
        path=out_path,
        options=options,
        excluded_nodes=tuple(excluded),
        calibration_samples=len(reader),
        size_bytes=out_path.stat().st_size,
        source_size_bytes=src.stat().st_size,
    )


def convert_fp16(
    onnx_path: str | os.PathLike,
    out_path: str | os.PathLike,
    keep_io_types: bool = True,
    op_block_list: Sequence[str] | None = None,
) -> Path:
    """Convert float32 weights and activations to float16 with ``onnxruntime.transformers.float16``.

    :param keep_io_types: keep graph inputs/outputs float32 (casts are inserted), so callers feed
        the same arrays as for the float32 file.
    :param op_block_list: op types to keep in float32 (the library's default list when ``None``).
    """
    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
    except ImportError as exc:
        raise UserError("fp16 conversion needs onnxruntime.transformers (part of onnxruntime>=1.17)") from exc
    src = Path(onnx_path)
    if not src.is_file():
        raise UserError(f"ONNX file {src} does not exist")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model = onnx.load(str(src))
    kwargs: dict[str, Any] = {"keep_io_types": keep_io_types}
    if op_block_list is not None:
        kwargs["op_block_list"] = list(op_block_list)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the converter warns about every value it clamps to fp16 range
        converted = convert_float_to_float16(model, **kwargs)
    # the converter appends its input casts after the nodes that read them; the checker needs order
    sort_topologically(converted.graph)
    onnx.save(converted, str(out_path))
    onnx.checker.check_model(str(out_path))
    return out_path


def sort_topologically(graph: onnx.GraphProto) -> None:
    """Reorder ``graph.node`` in place so that every node comes after the producers of its inputs.

    Kahn's algorithm, stable (ready nodes keep their original relative order). Inputs that no node
    produces (graph inputs, initializers, outer-scope names) count as available. A cycle leaves
    the remaining nodes in their old order for the checker to report.
    """
    import heapq

    nodes = list(graph.node)
    producer = {out: i for i, n in enumerate(nodes) for out in n.output if out}
    waiting = [0] * len(nodes)
    consumers: dict[int, list[int]] = {}
    for i, node in enumerate(nodes):
        for name in set(node.input):
            j = producer.get(name)
            if j is not None and j != i:
                waiting[i] += 1
                consumers.setdefault(j, []).append(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for j in consumers.get(i, ()):
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
    seen = set(order)
    order += [i for i in range(len(nodes)) if i not in seen]
    copies = []
    for i in order:
        copy = onnx.NodeProto()
        copy.CopyFrom(nodes[i])
        copies.append(copy)
    del graph.node[:]
    graph.node.extend(copies)


def evaluate_onnx_accuracy(
    onnx_path: str | os.PathLike,
    x: Any,
    y: Any,
    batch_size: int = 256,
    provider: str = "CPUExecutionProvider",
    threads: int | None = 1,
) -> float:
    """Top-1 accuracy (0..1) of an ONNX classifier on samples ``x`` with integer labels ``y``.

    The first output is taken as the logits, shaped ``(N, classes)``.
    """
    arrays = _as_arrays(x, "x")
    labels = np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y).reshape(-1)
    if labels.shape[0] != arrays[0].shape[0]:
        raise UserError(f"x has {arrays[0].shape[0]} samples but y has {labels.shape[0]} labels")
    session = make_session(onnx_path, provider=provider, intra_op_threads=threads)
    logits = run_batched(session, arrays, batch_size=batch_size)[0]
    if logits.ndim != 2:
        raise UserError(f"{onnx_path}'s first output has shape {logits.shape}; accuracy needs logits shaped (N, classes)")
    return float(np.mean(logits.argmax(1) == labels))
