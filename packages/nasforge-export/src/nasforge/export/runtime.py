"""onnxruntime sessions and feeds: one place that knows how to run an ``.onnx`` file."""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx

from nasforge.core.errors import UserError

#: Providers onnxruntime lists that do not run a model on this machine (they call remote endpoints).
NON_LOCAL_PROVIDERS = frozenset({"AzureExecutionProvider"})

_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


def _ort():
    try:
        import onnxruntime
    except ImportError as exc:  # a declared dependency: say how to fix a broken install
        raise UserError("onnxruntime is not installed; install nasforge-export's dependencies (pip install onnxruntime)") from exc
    return onnxruntime


def make_session(
    path: str | os.PathLike,
    provider: str = "CPUExecutionProvider",
    intra_op_threads: int | None = 1,
    inter_op_threads: int = 1,
    optimization_level: str = "all",
):
    """An :class:`onnxruntime.InferenceSession` on exactly ``provider`` with fixed thread counts.

    :raises RuntimeError: when the provider is listed but does not initialise (onnxruntime would
        otherwise fall back to the CPU silently; we check the session's providers instead).
    """
    ort = _ort()
    path = Path(path)
    if not path.is_file():
        raise UserError(f"ONNX file {path} does not exist")
    options = ort.SessionOptions()
    if intra_op_threads is not None:
        options.intra_op_num_threads = int(intra_op_threads)
    options.inter_op_num_threads = int(inter_op_threads)
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    levels = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    if optimization_level not in levels:
        raise UserError(f"unknown optimization level {optimization_level!r}; choose one of {', '.join(levels)}")
    options.graph_optimization_level = levels[optimization_level]
    options.log_severity_level = 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session = ort.InferenceSession(str(path), sess_options=options, providers=[provider])
    if provider not in session.get_providers():
        said = "; ".join(str(w.message) for w in caught)
        raise RuntimeError(f"{provider} did not initialise (session fell back to {session.get_providers()}){': ' + said if said else ''}")
    return session


def input_specs(session) -> list[tuple[str, list[int | str | None], type]]:
    """(name, shape, numpy dtype) of every graph input; symbolic dims stay strings."""
    specs = []
    for arg in session.get_inputs():
        dtype = _ORT_TYPES.get(arg.type)
        if dtype is None:
            raise UserError(f"input {arg.name!r} has type {arg.type}, which nasforge cannot feed")
        specs.append((arg.name, list(arg.shape), dtype))
    return specs


def feed(session, arrays: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Map positional arrays onto the session's inputs, casting to each input's dtype."""
    specs = input_specs(session)
    if len(arrays) != len(specs):
        raise UserError(f"the ONNX model takes {len(specs)} input(s) {[s[0] for s in specs]}, got {len(arrays)}")
    return {name: np.ascontiguousarray(np.asarray(a), dtype=dtype) for (name, _, dtype), a in zip(specs, arrays)}


def is_batch_dynamic(session) -> bool:
    """True when dimension 0 of every input is symbolic."""
    return all(shape and not isinstance(shape[0], int) for _, shape, _ in input_specs(session))


def run_batched(session, arrays: Sequence[np.ndarray], batch_size: int = 256) -> list[np.ndarray]:
    """Run the session over ``arrays`` in chunks of ``batch_size`` rows; outputs are concatenated."""
    n = int(arrays[0].shape[0])
    if not is_batch_dynamic(session):
        batch_size = n
    chunks: list[list[np.ndarray]] = []
    for start in range(0, n, batch_size):
        part = [a[start : start + batch_size] for a in arrays]
        chunks.append(session.run(None, feed(session, part)))
    return [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]


def opset_of(path: str | os.PathLike) -> int:
    """The default-domain opset of an ONNX file."""
    proto = onnx.load(str(path), load_external_data=False)
    return int(next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0))
