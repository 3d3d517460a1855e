"""ONNX export of transformers: dynamic batch *and* sequence axes, transformer graph fusion, int8.

::

    info = export_transformer(model, (input_ids, attention_mask), "out/model.onnx")
    fused = optimize_transformer("out/model.onnx", "out/model.fused.onnx")   # {"fused": {...}}
    quantize_dynamic_int8("out/model.fused.onnx", "out/model.int8.onnx")
    TextOnnxBenchmark("out/model.onnx", vocab_size=30522, batch_sizes=(1, 32), threads=(1,),
                      input_shape=(64,)).run()

The graph inputs are ``input_ids`` and ``attention_mask`` (``int64``, shape ``[batch, seq]``) and
the output is ``logits``. Export uses PyTorch's TorchScript-based exporter: the torch.export one
takes about 40x longer on these graphs and produces patterns onnxruntime's transformer optimizer
fuses less; the tracer's weakness, baking in shapes or branches, is caught by checking parity at
a batch size and sequence length other than the traced ones (:func:`export_transformer` does).
Attention is traced with transformers' ``eager`` implementation (the model is switched for the
export only): the ``sdpa`` one traces into a graph onnxruntime's attention fusion does not match.

:func:`optimize_transformer` runs ``onnxruntime.transformers.optimizer`` (LayerNorm, SkipLayerNorm,
bias+GELU and, when the graph matches onnxruntime's patterns, attention fusion) and reports which
fused operators it produced. The registered exporters (``transformer-onnx``,
``transformer-onnx-int8``) reuse nasforge-export's parity checks, model cards and accuracy
evaluation; their benchmark feeds random token ids at each sequence length of ``seq_lengths``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasforge.core.errors import UserError
from nasforge.export import OnnxRuntimeBenchmark
from nasforge.export.exporters import Exporter, ExportResult
from nasforge.export.onnx import ExportError, OnnxExport
from nasforge.export.parity import check_parity
from nasforge.export.quantize import QuantizationOptions, evaluate_onnx_accuracy, quantize_int8
from nasforge_transformers.wrappers import unwrap, wrap

INPUT_NAMES = ("input_ids", "attention_mask")
DEFAULT_OPSET = 17


def text_inputs(sample_inputs: Any, pad_token_id: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)`` from a tuple of both, or from ``input_ids`` alone."""
    if isinstance(sample_inputs, dict):
        sample_inputs = (sample_inputs["input_ids"], sample_inputs.get("attention_mask"))
    if isinstance(sample_inputs, (tuple, list)):
        ids = sample_inputs[0]
        mask = sample_inputs[1] if len(sample_inputs) > 1 else None
    else:
        ids, mask = sample_inputs, None
    ids = torch.as_tensor(ids)
    if ids.dim() != 2 or ids.dtype not in (torch.int64, torch.int32):
        raise UserError(f"transformer inputs must be integer token ids shaped (batch, seq), got {tuple(ids.shape)} {ids.dtype}")
    mask = (ids != pad_token_id).long() if mask is None else torch.as_tensor(mask)
    return ids.long(), mask.long()


def export_transformer(model: Any, sample_inputs: Any, path: str | os.PathLike[str], opset: int = DEFAULT_OPSET, check_shapes: bool = True) -> OnnxExport:
    """Export a Hugging Face model (or :class:`~nasforge_transformers.wrappers.LogitsModel`) to one
    ``.onnx`` file with symbolic ``batch`` and ``seq`` axes; check it runs and matches PyTorch at
    another batch size and sequence length than the traced ones (``check_shapes``)."""
    import onnx

    wrapped = wrap(model).eval()
    ids, mask = text_inputs(sample_inputs, wrapped.pad_token_id)
    if ids.shape[1] < 2:
        raise UserError("trace the export with sequences of at least 2 tokens")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    device = next(wrapped.parameters()).device
    outputs_dims = {0: "batch"} if _output_rank(wrapped, ids, mask) == 2 else {0: "batch", 1: "seq"}
    try:
        with torch.no_grad(), eager_attention(unwrap(wrapped)):
            torch.onnx.export(
                wrapped, (ids.to(device), mask.to(device)), str(path), dynamo=False, opset_version=opset,
                input_names=list(INPUT_NAMES), output_names=["logits"],
                dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, "logits": outputs_dims},
            )
    except Exception as exc:  # the model's own code could not be traced: say which model and why
        raise ExportError(f"could not export {type(unwrap(wrapped)).__name__} to ONNX: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    if check_shapes:
        other_ids, other_mask = _other_shape(ids, wrapped)
        report = check_parity(wrapped, path, (other_ids, other_mask), atol=1e-4, rtol=1e-3, raise_on_failure=False)
        if not report.passed:
            raise ExportError(f"the exported graph does not generalise to batch {other_ids.shape[0]} x seq {other_ids.shape[1]}: {report.summary()}")
    from nasforge.export._common import sha256_file

    return OnnxExport(path=path, exporter="torchscript", opset=opset, input_names=INPUT_NAMES, output_names=("logits",),
                      input_shapes=(("batch", "seq"), ("batch", "seq")), dynamic_batch=True, size_bytes=path.stat().st_size, sha256=sha256_file(path))


@contextlib.contextmanager
def eager_attention(model: Any) -> Iterator[None]:
    """Switch a Hugging Face model to the ``eager`` attention implementation for the block."""
    config = getattr(model, "config", None)
    previous = getattr(config, "_attn_implementation", None)
    switch = previous not in (None, "eager") and hasattr(model, "set_attn_implementation")
    if switch:
        model.set_attn_implementation("eager")
    try:
        yield
    finally:
        if switch:
            model.set_attn_implementation(previous)


def pin_head_counts(proto: Any) -> int:
    """Write each attention projection's head count into its ``Reshape`` (in place); return how many.

    transformers reshapes queries, keys and values to ``(batch, seq, -1, head_size)``; the ``-1``
    hides the head count that onnxruntime's attention fusion reads from the graph, and extracted
    models keep a different number of heads in each layer, so no single ``num_heads`` fits. The
    count is the projection's output width (its ``MatMul`` weight) over the head size.
    """
    from onnx import numpy_helper

    graph = proto.graph
    producer = {out: node for node in graph.node for out in node.output}
    initializers = {init.name: init for init in graph.initializer}

    def constant(name: str) -> Any:
        if name in initializers:
            return numpy_helper.to_array(initializers[name])
        node = producer.get(name)
        if node is not None and node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            return numpy_helper.to_array(node.attribute[0].t)
        return None

    def projection_width(name: str) -> int | None:
        node = producer.get(name)
        if node is not None and node.op_type == "Add":  # MatMul + bias
            node = next((producer[i] for i in node.input if i in producer and producer[i].op_type == "MatMul"), None)
        if node is None or node.op_type != "MatMul" or node.input[1] not in initializers:
            return None
        dims = list(initializers[node.input[1]].dims)
        return int(dims[-1]) if len(dims) == 2 else None

    pinned = 0
    for node in graph.node:
        if node.op_type != "Reshape":
            continue
        concat = producer.get(node.input[1])
        if concat is None or concat.op_type != "Concat" or len(concat.input) != 4:
            continue
        heads, head_size = constant(concat.input[2]), constant(concat.input[3])
        width = projection_width(node.input[0])
        if heads is None or head_size is None or width is None or heads.size != 1 or head_size.size != 1:
            continue
        size = int(head_size.reshape(-1)[0])
        if int(heads.reshape(-1)[0]) != -1 or size <= 0 or width % size:
            continue
        name = f"{node.name or node.output[0]}/num_heads"
        graph.initializer.append(numpy_helper.from_array(np.array([width // size], dtype=np.int64), name))
        concat.input[2] = name
        pinned += 1
    return pinned


def _output_rank(wrapped: Any, ids: Any, mask: Any) -> int:
    device = next(wrapped.parameters()).device
    with torch.no_grad():
        return int(wrapped(ids[:1].to(device), mask[:1].to(device)).dim())


def _other_shape(ids: Any, wrapped: Any) -> tuple[Any, Any]:
    """Token ids of another batch size and a longer sequence, with padding in the first row."""
    gen = torch.Generator().manual_seed(0)
    vocab = int(getattr(unwrap(wrapped).config, "vocab_size", 100))
    batch, seq = ids.shape[0] + 1, ids.shape[1] + 3
    limit = getattr(unwrap(wrapped).config, "max_position_embeddings", None) or getattr(unwrap(wrapped).config, "n_positions", None)
    if limit:
        seq = min(seq, int(limit))
    other = torch.randint(1, vocab, (batch, seq), generator=gen)
    mask = torch.ones_like(other)
    mask[0, max(1, seq // 2) :] = 0
    other[0, max(1, seq // 2) :] = wrapped.pad_token_id
    return other, mask


def optimize_transformer(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> dict[str, Any]:
    """Run onnxruntime's transformer optimizer on ``src``, write ``dst``; return the fused-op counts.

    The ``bert`` fusions are used for decoders too: onnxruntime's ``gpt2`` optimizer expects the
    past/present graph of text generation and fails on a classifier's graph. ``num_heads=0``
    lets it read head counts from the graph (written there by :func:`pin_head_counts`), which
    differ per layer in extracted models.
    """
    import onnx
    from onnxruntime.transformers.optimizer import optimize_model

    proto = onnx.load(str(src))
    with tempfile.TemporaryDirectory() as tmp:
        source = str(src)
        if pin_head_counts(proto):
            source = os.path.join(tmp, "pinned.onnx")
            onnx.save(proto, source)
        try:
            optimized = optimize_model(source, model_type="bert", num_heads=0, hidden_size=0)
        except Exception as exc:
            raise ExportError(f"onnxruntime's transformer optimizer failed on {src}: {type(exc).__name__}: {exc}") from exc
    fused = {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    optimized.save_model_to_file(str(dst))
    return {"fused": fused, "attention_fused": bool(fused.get("Attention") or fused.get("MultiHeadAttention"))}


def quantize_dynamic_int8(src: str | os.PathLike[str], dst: str | os.PathLike[str], per_channel: bool = False) -> dict[str, Any]:
    """Dynamic int8 (int8 weights, activations quantized at run time): what Optimum's default gives."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    # fused graphs hold com.microsoft operators (BiasGelu, SkipLayerNormalization) that ONNX shape
    # inference cannot type; their outputs are float
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=per_channel, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return {"type": "dynamic", "weight_type": "int8", "per_channel": per_channel, "size_bytes": Path(dst).stat().st_size, "source_size_bytes": Path(src).stat().st_size}


class TextOnnxBenchmark(OnnxRuntimeBenchmark):
    """:class:`~nasforge.export.OnnxRuntimeBenchmark` fed with token ids: random ids below
    ``vocab_size`` and an all-ones attention mask, ``input_shape=(seq,)`` tokens per sample."""

    def __init__(self, onnx_path: str | os.PathLike[str], vocab_size: int, **options: Any) -> None:
        super().__init__(onnx_path, **options)
        self.vocab_size = int(vocab_size)

    def _inputs(self, session: Any, batch: int) -> list[np.ndarray]:
        if self.input_shape is None or len(self.input_shape) != 1:
            raise UserError("a text benchmark needs input_shape=(sequence_length,)")
        rng = np.random.default_rng(self.seed)
        seq = self.input_shape[0]
        return [rng.integers(1, self.vocab_size, (batch, seq), dtype=np.int64), np.ones((batch, seq), dtype=np.int64)]


def benchmark_text_onnx(path: str | os.PathLike[str], vocab_size: int, batch_sizes: Sequence[int] = (1, 32), seq_lengths: Sequence[int] = (32, 64, 128), threads: Sequence[int] = (1,), warmup: int = 5, runs: int = 30) -> list[dict[str, Any]]:
    """Median/p90 latency rows over batch sizes x sequence lengths x threads (CPU provider)."""
    rows = []
    for seq in seq_lengths:
        report = TextOnnxBenchmark(path, vocab_size, batch_sizes=batch_sizes, threads=threads, providers=["CPUExecutionProvider"], warmup=warmup, runs=runs, input_shape=(int(seq),)).run()
        rows += [dict(row, seq_len=int(seq)) for row in report.summary()]
    return rows


class _TransformerExporter(Exporter):
    """Shared steps: the transformer export in place of the generic one, text benchmarks."""

    #: nasforge-export's conformance test feeds image models; these exporters are tested on
    #: transformers in this plugin's tests (tests/test_export.py)
    conformance_skip_export = "exports transformers fed with token ids; tested by nasforge-transformers"

    def __init__(self, fuse: bool = True, seq_lengths: Sequence[int] = (32, 64, 128), **options: Any) -> None:
        options.setdefault("exporter", "torchscript")
        super().__init__(**options)
        if not self.dynamic_batch:
            raise UserError("transformer exports always have dynamic batch and sequence axes; drop dynamic_batch: false")
        self.fuse = bool(fuse)
        self.seq_lengths = tuple(int(s) for s in seq_lengths)
        self.benchmark_options.setdefault("batch_sizes", (1, 32))
        self.fusion: dict[str, Any] = {}

    def _export_fp32(self, model: Any, sample_inputs: Any, path: Path) -> OnnxExport:
        if not self.fuse:
            return export_transformer(model, sample_inputs, path, opset=self.opset or DEFAULT_OPSET)
        with tempfile.TemporaryDirectory(prefix="nasforge-tf-") as tmp:
            plain = Path(tmp) / "plain.onnx"
            info = export_transformer(model, sample_inputs, plain, opset=self.opset or DEFAULT_OPSET)
            self.fusion = optimize_transformer(plain, path)
        from dataclasses import replace

        from nasforge.export._common import sha256_file

        return replace(info, path=path, size_bytes=path.stat().st_size, sha256=sha256_file(path))

    def _benchmark_summary(self, path: Path, sample_inputs: Any) -> list[dict[str, Any]]:
        vocab = int(self._vocab_size)
        opts = self.benchmark_options
        return benchmark_text_onnx(path, vocab, opts["batch_sizes"], self.seq_lengths, opts.get("threads", (1,)), opts.get("warmup", 5), opts.get("runs", 30))

    def _prepare(self, model: Any, sample_inputs: Any, calibration: Any, evaluation: Any) -> tuple[Any, Any, Any, Any]:
        wrapped = wrap(model).eval()
        self._vocab_size = getattr(unwrap(wrapped).config, "vocab_size", 100)
        sample = text_inputs(sample_inputs, wrapped.pad_token_id)
        calib = text_inputs(calibration, wrapped.pad_token_id) if calibration is not None else None
        if evaluation is not None:
            x, y = evaluation
            evaluation = (text_inputs(x, wrapped.pad_token_id), y)
        return wrapped, sample, calib, evaluation


class TransformerOnnxExporter(_TransformerExporter):
    """Float32 ONNX of a transformer with dynamic batch and sequence axes, fused by onnxruntime's
    transformer optimizer unless ``fuse: false``; parity-checked against PyTorch.

    Options: ``fuse`` (default true), ``seq_lengths`` benchmarked (default 32, 64, 128), and the
    :class:`~nasforge.export.exporters.Exporter` options (``benchmark``, ``atol`` ...).
    """

    name = "transformer-onnx"
    variant = "fp32"
    suffix = ".onnx"

    def export(self, model, sample_inputs, out_dir, name, calibration=None, *, evaluation=None, source=None) -> ExportResult:
        wrapped, sample, calib, evaluation = self._prepare(model, sample_inputs, calibration, evaluation)
        path = self._target(out_dir, name)
        info = self._export_fp32(wrapped, sample, path)
        return self._finish(path, wrapped, sample, calib, evaluation, source, metrics={"fusion": self.fusion} if self.fuse else None,
                            extra={"export": info.to_dict(), "fusion": self.fusion})


class TransformerOnnxInt8Exporter(_TransformerExporter):
    """Int8 ONNX of a transformer: ``mode: dynamic`` (default; int8 weights, activations quantized
    at run time, no calibration needed) or ``mode: static`` (QDQ, calibrated on real token ids
    through nasforge-export's :func:`~nasforge.export.quantize_int8`). Quantizes the fused graph
    unless ``fuse: false``. Parity is judged on arg-max agreement (default at least 0.9).
    """

    name = "transformer-onnx-int8"
    variant = "int8"
    suffix = ".int8.onnx"
    default_atol = float("inf")
    default_rtol = 0.0
    default_min_argmax = 0.9
    MODES = ("dynamic", "static")

    def __init__(self, mode: str = "dynamic", per_channel: bool = False, **options: Any) -> None:
        if mode not in self.MODES:
            raise UserError(f"transformer-onnx-int8 mode must be one of {', '.join(self.MODES)}, got {mode!r}")
        self.mode = mode
        self.per_channel = bool(per_channel)
        self.needs_calibration = mode == "static"  # type: ignore[misc]  (per instance: it depends on the mode)
        super().__init__(**options)


    def export(self, model, sample_inputs, out_dir, name, calibration=None, *, evaluation=None, source=None) -> ExportResult:
        wrapped, sample, calib, evaluation = self._prepare(model, sample_inputs, calibration, evaluation)
        if self.mode == "static" and calib is None:
            raise UserError("static int8 needs calibration data: real token ids (input_ids, attention_mask) of a few hundred training texts")
        path = self._target(out_dir, name)
        with tempfile.TemporaryDirectory(prefix="nasforge-tf-int8-") as tmp:
            float_path = self._export_fp32(wrapped, sample, Path(tmp) / "float32.onnx").path
            if self.mode == "dynamic":
                quant = quantize_dynamic_int8(float_path, path, self.per_channel)
            else:
                options = QuantizationOptions(per_channel=self.per_channel)
                quant = quantize_int8(float_path, path, tuple(t.numpy() for t in calib), options).to_dict()
                quant["type"] = "static-qdq"
            metrics: dict[str, Any] = {"size_ratio_vs_fp32": path.stat().st_size / float_path.stat().st_size}
            if evaluation is not None:
                x, y = evaluation
                metrics["accuracy_fp32"] = evaluate_onnx_accuracy(float_path, tuple(t.numpy() for t in x), y)
                metrics["accuracy"] = evaluate_onnx_accuracy(path, tuple(t.numpy() for t in x), y)
                metrics["accuracy_drop"] = metrics["accuracy_fp32"] - metrics["accuracy"]
            if self.fuse:
                metrics["fusion"] = self.fusion
        quant = {k: (str(v) if isinstance(v, Path) else v) for k, v in quant.items()}
        quant["path"] = path.name
        return self._finish(path, wrapped, sample, calib, evaluation, source, metrics=metrics, quantization=quant)


def copy_tokenizer_files(model_folder: str | os.PathLike[str] | None, out_dir: str | os.PathLike[str]) -> list[str]:
    """Copy a model folder's tokenizer files next to an exported ``.onnx`` (a deployment needs them)."""
    if model_folder is None:
        return []
    copied = []
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt", "vocab.json", "merges.txt"):
        src = Path(model_folder) / name
        if src.is_file():
            shutil.copyfile(src, Path(out_dir) / name)
            copied.append(name)
    return copied


__all__ = [
    "TextOnnxBenchmark",
    "TransformerOnnxExporter",
    "TransformerOnnxInt8Exporter",
    "benchmark_text_onnx",
    "copy_tokenizer_files",
    "export_transformer",
    "optimize_transformer",
    "pin_head_counts",
    "eager_attention",
    "quantize_dynamic_int8",
    "text_inputs",
]
