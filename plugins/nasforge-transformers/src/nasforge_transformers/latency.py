"""Inference latency of a sequence classifier: eager PyTorch or onnxruntime on the CPU, fixed threads.

:func:`measure_latency` times ``runs`` inferences (after ``warmup`` untimed ones) of one batch of
``batch_size`` sequences of exactly ``seq_len`` tokens (what a deployment padded to that length
sees) and returns the median in milliseconds. ``backend="onnxruntime"`` exports the model to a
temporary ONNX file first (inputs ``input_ids`` and ``attention_mask``, dynamic batch and sequence
axes) and runs it with ``intra_op_num_threads=threads``; with ``fused=True`` it times the graph
after onnxruntime's transformer fusion (:func:`nasforge_transformers.export.optimize_transformer`),
which is what the ``transformer-onnx`` exporter ships by default. Fusion does not always pay: at
one thread it makes small graphs a few percent slower, so a search that times un-fused graphs
misjudges the files it deploys. ``"torch"`` times eager PyTorch with
``torch.set_num_threads(threads)``. Torch and onnxruntime are imported when called.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nasforge.core.errors import UserError

BACKENDS = ("onnxruntime", "torch")


def example_inputs(model: Any, batch_size: int = 1, seq_len: int = 64, seed: int = 0) -> dict[str, Any]:
    """Seeded random token ids (no padding) of the model's vocabulary, with an all-ones mask."""
    import torch

    vocab = int(getattr(model.config, "vocab_size", 1000))
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(min(999, vocab - 1), vocab, (batch_size, seq_len), generator=g) if vocab > 1000 else torch.randint(1, vocab, (batch_size, seq_len), generator=g)
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def export_classifier_onnx(model: Any, path: str | os.PathLike[str], seq_len: int = 16) -> Path:
    """Export a sequence classifier to ONNX (dynamic batch and sequence axes) with
    :func:`nasforge_transformers.export.export_transformer`, without its second-shape parity run."""
    from nasforge_transformers.export import export_transformer

    inputs = example_inputs(model, 2, seq_len)
    return Path(export_transformer(model, (inputs["input_ids"], inputs["attention_mask"]), path, check_shapes=False).path)


def time_median(fn: Callable[[], Any], runs: int, warmup: int) -> float:
    """Median milliseconds of ``fn()`` over ``runs`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return float(statistics.median(times))


def onnxruntime_session(path: str | os.PathLike[str], threads: int = 1) -> Any:
    """An onnxruntime CPU session with fixed intra- and inter-op thread counts."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise UserError(f"latency_backend 'onnxruntime' needs the onnxruntime package (pip install onnxruntime): {exc}") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def measure_latency(model: Any, backend: str = "onnxruntime", batch_size: int = 1, seq_len: int = 64, threads: int = 1, runs: int = 20, warmup: int = 5,
                    fused: bool = False) -> float:
    """Median latency in ms of one batch (see the module docstring); ``fused`` needs the onnxruntime backend."""
    import torch

    if backend not in BACKENDS:
        raise UserError(f"latency backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if fused and backend != "onnxruntime":
        raise UserError(f"fused latency needs the onnxruntime backend, got {backend!r}")
    inputs = example_inputs(model, batch_size, seq_len)
    was_training = model.training
    model.eval()
    try:
        if backend == "torch":
            previous = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                with torch.inference_mode():
                    return time_median(lambda: model(**inputs), runs, warmup)
            finally:
                torch.set_num_threads(previous)
        with tempfile.TemporaryDirectory() as tmp:
            path = export_classifier_onnx(model, Path(tmp) / "model.onnx")
            if fused:
                from nasforge_transformers.export import optimize_transformer

                optimize_transformer(path, Path(tmp) / "fused.onnx")
                path = Path(tmp) / "fused.onnx"
            session = onnxruntime_session(path, threads)
            feed = {k: v.numpy() for k, v in inputs.items()}
            return time_median(lambda: session.run(None, feed), runs, warmup)
    finally:
        model.train(was_training)
