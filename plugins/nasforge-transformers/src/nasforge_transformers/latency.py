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
``torch.set_num_threads(threads)``. :func:`measure_relative_latency` times a model and a
reference (another model or an ONNX file) in one interleaved loop, so their ratio holds on a
machine whose speed drifts. Torch and onnxruntime are imported when called.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
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
    return measure_relative_latency(model, None, backend, batch_size, seq_len, threads, runs, warmup, fused)[0]


def measure_relative_latency(model: Any, reference: Any, backend: str = "onnxruntime", batch_size: int = 1, seq_len: int = 64, threads: int = 1,
                             runs: int = 20, warmup: int = 5, fused: bool = False, rounds: int | None = None) -> tuple[float, float | None]:
    """Median ms of ``model`` and of ``reference``, timed in one interleaved loop.

    ``reference`` is a model (prepared like ``model``), the path of an ONNX file (onnxruntime
    backend; run as it is) or ``None`` (``model`` alone; the second value is then ``None``). The
    two are called in ``rounds`` alternating rounds of about ``runs / rounds`` calls each (by
    default rounds of 5 calls), so a machine whose speed drifts (other jobs, frequency scaling)
    slows both alike and their ratio holds where a latency in milliseconds measured minutes apart
    would not. Rounds of several calls keep each model's weights warm in the caches, as in a
    deployment that serves one model: taking turns call by call gave the same MiniLM
    sub-networks ratios 15-26 % lower than rounds of 6 calls (0.44 against 0.60, 0.48 against 0.65).
    """
    if backend not in BACKENDS:
        raise UserError(f"latency backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if fused and backend != "onnxruntime":
        raise UserError(f"fused latency needs the onnxruntime backend, got {backend!r}")
    with contextlib.ExitStack() as stack:
        calls = {"model": stack.enter_context(_runner(model, backend, batch_size, seq_len, threads, fused, example=model))}
        if reference is not None:
            calls["reference"] = stack.enter_context(_runner(reference, backend, batch_size, seq_len, threads, fused, example=model))
        if backend == "torch":
            from nasforge_transformers.supernet import torch_threads

            stack.enter_context(torch_threads(threads))
        medians = interleaved_medians(calls, runs, warmup, (max(1, runs // 5) if rounds is None else rounds) if reference is not None else 1)
    return medians["model"], medians.get("reference")


def interleaved_medians(calls: Mapping[str, Callable[[], Any]], runs: int, warmup: int, rounds: int = 5) -> dict[str, float]:
    """Median ms of each call: ``warmup`` untimed calls each, then ``rounds`` rounds in which each is
    called about ``runs / rounds`` times in a row (``runs`` timed calls each in all)."""
    for fn in calls.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in calls}
    rounds = max(1, min(rounds, runs))
    for r in range(rounds):
        for name, fn in calls.items():
            for _ in range(runs * (r + 1) // rounds - runs * r // rounds):
                start = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - start) * 1000.0)
    return {name: float(statistics.median(v)) for name, v in times.items()}


@contextlib.contextmanager
def _runner(target: Any, backend: str, batch_size: int, seq_len: int, threads: int, fused: bool, example: Any) -> Iterator[Callable[[], Any]]:
    """A call that runs ``target`` (a model, or an ONNX file with onnxruntime) on one batch of ``example``'s inputs."""
    import torch

    inputs = example_inputs(example, batch_size, seq_len)
    if isinstance(target, (str, os.PathLike)):
        if backend != "onnxruntime":
            raise UserError(f"an ONNX file is timed with the onnxruntime backend, got {backend!r}")
        session = onnxruntime_session(target, threads)
        feed = {k: v.numpy() for k, v in inputs.items()}
        yield lambda: session.run(None, feed)
        return
    was_training = target.training
    target.eval()
    try:
        if backend == "torch":
            def call() -> Any:
                with torch.inference_mode():
                    return target(**inputs)

            yield call
            return
        with tempfile.TemporaryDirectory() as tmp:
            session = onnxruntime_session(export_latency_graph(target, Path(tmp) / "model.onnx", fused), threads)
            feed = {k: v.numpy() for k, v in inputs.items()}
            yield lambda: session.run(None, feed)
    finally:
        target.train(was_training)


def export_latency_graph(model: Any, path: str | os.PathLike[str], fused: bool = False) -> Path:
    """The ONNX graph :func:`measure_latency` times: the classifier's export, after onnxruntime's
    transformer fusion when ``fused`` (written to ``path``; the plain export beside it is removed)."""
    path = Path(path)
    if not fused:
        return export_classifier_onnx(model, path)
    from nasforge_transformers.export import optimize_transformer

    plain = path.with_name(path.stem + ".plain.onnx")
    export_classifier_onnx(model, plain)
    try:
        optimize_transformer(plain, path)
    finally:
        plain.unlink(missing_ok=True)
    return path
