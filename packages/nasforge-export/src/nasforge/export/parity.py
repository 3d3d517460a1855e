"""Check that an exported ONNX file computes what the PyTorch model computes, and fail loudly if not.

:func:`check_parity` runs both on the same real samples and compares every output element
(``|onnx - torch| <= atol + rtol * |torch|``, like :func:`numpy.allclose`) and, for
classification-shaped outputs ``(N, C)``, the fraction of samples whose arg-max class agrees.
Past the thresholds it raises :class:`ParityError` with the numbers; ``raise_on_failure=False``
returns the report instead. Quantized models need looser thresholds: compare their arg-max
agreement, not their elements (``atol=float("inf")``).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from nasforge.core.errors import NasforgeError
from nasforge.export._common import as_tensor_tuple, batch_size_of, to_numpy_batches
from nasforge.export.runtime import make_session, run_batched
from nasforge.torchutils import eval_mode, model_device


class ParityError(NasforgeError):
    """The ONNX file disagrees with the PyTorch model beyond the allowed tolerance."""

    def __init__(self, message: str, report: ParityReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass(frozen=True)
class ParityReport:
    """How closely an ONNX file matches its PyTorch model on ``samples`` inputs."""

    samples: int
    max_abs_diff: float
    mean_abs_diff: float
    max_rel_diff: float
    argmax_agreement: float | None  # None when no output is shaped (N, C) with C > 1
    atol: float
    rtol: float
    min_argmax_agreement: float
    passed: bool
    provider: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (infinite tolerances as the string ``"inf"``)."""
        return {k: ("inf" if isinstance(v, float) and math.isinf(v) else v) for k, v in asdict(self).items()}

    def summary(self) -> str:
        """One line: the numbers and the verdict."""
        agree = "n/a" if self.argmax_agreement is None else f"{self.argmax_agreement:.4f}"
        verdict = "pass" if self.passed else "FAIL"
        return (
            f"parity {verdict} on {self.samples} samples: max |diff| {self.max_abs_diff:.3g} "
            f"(atol {self.atol:g}, rtol {self.rtol:g}), argmax agreement {agree} (min {self.min_argmax_agreement:g})"
        )


def check_parity(
    model: torch.nn.Module,
    onnx_path: str | os.PathLike,
    inputs: Any,
    atol: float = 1e-4,
    rtol: float = 1e-3,
    min_argmax_agreement: float = 1.0,
    *,
    raise_on_failure: bool = True,
    provider: str = "CPUExecutionProvider",
    batch_size: int = 256,
    threads: int | None = 1,
) -> ParityReport:
    """Compare ``model`` and the ONNX file on the same ``inputs``; raise :class:`ParityError` past the thresholds.

    :param model: the PyTorch model the file was exported from (run in eval mode, modes restored).
    :param onnx_path: the ``.onnx`` file.
    :param inputs: real samples: a tensor/array, or a tuple of them for several model inputs;
        dimension 0 is the batch (run in chunks of ``batch_size`` when the file's batch is dynamic).
    :param atol: absolute tolerance per output element (``inf`` disables the element check).
    :param rtol: relative tolerance per output element.
    :param min_argmax_agreement: the smallest acceptable fraction of samples whose arg-max agrees
        (only for outputs shaped ``(N, C)``); 1.0 demands every sample agrees.
    :param raise_on_failure: raise :class:`ParityError` on failure (default) or only report it.
    :param provider: the onnxruntime execution provider to check.
    """
    tensors = as_tensor_tuple(inputs, "inputs")
    n = batch_size_of(tensors)
    session = make_session(onnx_path, provider=provider, intra_op_threads=threads)
    onnx_out = run_batched(session, to_numpy_batches(tensors), batch_size=batch_size)
    device = model_device(model)
    with eval_mode(model), torch.inference_mode():
        chunks = [model(*[t[s : s + batch_size].to(device) for t in tensors]) for s in range(0, n, batch_size)]
    torch_out = [np.concatenate(parts) for parts in zip(*[_flat(c) for c in chunks])]
    if len(torch_out) != len(onnx_out):
        raise ParityError(
            f"the model returns {len(torch_out)} tensor(s) but {onnx_path} returns {len(onnx_out)}",
            ParityReport(n, math.inf, math.inf, math.inf, None, atol, rtol, min_argmax_agreement, False, provider),
        )
    max_abs = mean_abs = max_rel = 0.0
    elements_ok = True
    agreements: list[float] = []
    for ref, got in zip(torch_out, onnx_out):
        if ref.shape != got.shape:
            report = ParityReport(n, math.inf, math.inf, math.inf, None, atol, rtol, min_argmax_agreement, False, provider)
            raise ParityError(f"output shape differs: torch {ref.shape} vs onnx {got.shape} for {onnx_path}", report)
        ref64, got64 = ref.astype(np.float64), got.astype(np.float64)
        diff = np.abs(got64 - ref64)
        if not np.all(np.isfinite(got64)):
            diff = np.where(np.isfinite(got64), diff, np.inf)
        max_abs = max(max_abs, float(diff.max(initial=0.0)))
        mean_abs = max(mean_abs, float(diff.mean()) if diff.size else 0.0)
        max_rel = max(max_rel, float((diff / np.maximum(np.abs(ref64), 1e-12)).max(initial=0.0)))
        elements_ok &= bool(np.all(diff <= atol + rtol * np.abs(ref64)))
        if ref.ndim == 2 and ref.shape[1] > 1:
            agreements.append(float(np.mean(ref.argmax(1) == got.argmax(1))))
    agreement = min(agreements) if agreements else None
    passed = elements_ok and (agreement is None or agreement >= min_argmax_agreement)
    report = ParityReport(n, max_abs, mean_abs, max_rel, agreement, float(atol), float(rtol), float(min_argmax_agreement), passed, provider)
    if not passed and raise_on_failure:
        raise ParityError(f"{onnx_path} does not match {type(model).__name__}: {report.summary()}", report)
    return report


def _flat(value: Any) -> list[np.ndarray]:
    if isinstance(value, torch.Tensor):
        return [value.detach().cpu().float().numpy() if value.is_floating_point() else value.cpu().numpy()]
    if isinstance(value, (tuple, list)):
        return [a for v in value for a in _flat(v)]
    if isinstance(value, dict):
        return [a for v in value.values() for a in _flat(v)]
    raise ParityError(f"the model returned a {type(value).__name__}, not tensors", None)  # type: ignore[arg-type]
