"""Cost metrics of a model: peak memory and latency (parameters and FLOPs: :mod:`nasforge.torchutils`).

All of them describe one inference at batch size 1 with the model in ``eval()`` mode, so they
compare architectures, not training set-ups. The ``trainer`` evaluator also reports
:func:`nasforge.torchutils.count_params` and :func:`nasforge.torchutils.count_flops` (2 FLOPs per
multiply-accumulate of convolutions and matrix products, counted by ``FlopCounterMode``), the
helpers compression and deploy count with too.

* :func:`peak_memory` — peak bytes of live tensors during one forward pass, in MiB. On CUDA
  this is ``torch.cuda.max_memory_allocated``. On CPU a ``TorchDispatchMode`` watches every
  tensor an operator creates and when it is freed (weak references), keeping the running
  total of distinct storages alive; parameters, buffers and the input count from the start.
  Allocator slack and framework overhead are not included.
* :func:`measure_latency` — median wall time of a forward pass after warm-up runs, with
  ``torch.set_num_threads(threads)`` fixed for the measurement and restored afterwards.
"""

from __future__ import annotations

import statistics
import time
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from nasforge.torchutils import eval_mode, example_batch

MIB = 1024.0 * 1024.0


def _example(model: nn.Module, input_shape: Sequence[int], batch_size: int = 1, example: torch.Tensor | None = None) -> torch.Tensor:
    """One input batch: a task's own ``example`` (token ids, user/item ids) if given, else random normal data."""
    return example_batch(model, input_shape if example is None else example, batch_size)[0]


class _LiveTensorTracker(TorchDispatchMode):
    """Follows the bytes of live tensor storages created by operators (see the module docstring)."""

    def __init__(self, preexisting: Sequence[torch.Tensor]) -> None:
        super().__init__()
        self.live: dict[int, list[int]] = {}
        self.current = 0
        self.peak = 0
        for t in preexisting:
            self._add(t, permanent=True)
        self.peak = self.current

    def _add(self, t: torch.Tensor, permanent: bool = False) -> None:
        try:
            storage = t.untyped_storage()
            ptr, nbytes = storage.data_ptr(), storage.nbytes()
        except (RuntimeError, NotImplementedError):  # tensors without storage (e.g. opaque layouts)
            return
        if ptr == 0 or nbytes == 0:
            return
        entry = self.live.get(ptr)
        if entry is None:
            entry = self.live[ptr] = [0, nbytes]
            self.current += nbytes
            self.peak = max(self.peak, self.current)
        if permanent:
            entry[0] += 1 << 30
            return
        entry[0] += 1
        weakref.finalize(t, self._release, ptr)

    def _release(self, ptr: int) -> None:
        entry = self.live.get(ptr)
        if entry is None:
            return
        entry[0] -= 1
        if entry[0] <= 0:
            del self.live[ptr]
            self.current -= entry[1]

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        for item in tree_flatten(out)[0]:
            if isinstance(item, torch.Tensor):
                self._add(item)
        return out


def peak_memory(model: nn.Module, input_shape: Sequence[int], batch_size: int = 1, example: torch.Tensor | None = None) -> float:
    """Peak memory (MiB) of live tensors during one forward pass, weights and input included (``example``: a task's own input batch, whose first row is repeated)."""
    x = _example(model, input_shape, batch_size, example)
    device = x.device
    with eval_mode(model), torch.no_grad():
        if device.type == "cuda":
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
            model(x)
            torch.cuda.synchronize(device)
            return torch.cuda.max_memory_allocated(device) / MIB
        tracker = _LiveTensorTracker([*model.parameters(), *model.buffers(), x])
        with tracker:
            out = model(x)
        del out
        return tracker.peak / MIB


def measure_latency(
    model: nn.Module,
    input_shape: Sequence[int],
    runs: int = 20,
    warmup: int = 5,
    threads: int | None = 1,
    batch_size: int = 1,
    example: torch.Tensor | None = None,
) -> float:
    """Median milliseconds of one forward pass at ``batch_size`` after ``warmup`` untimed runs.

    ``threads`` fixes ``torch.set_num_threads`` during the measurement (``None`` keeps the
    current setting); the previous value is restored afterwards. CUDA runs are synchronised.
    """
    if runs < 1 or warmup < 0:
        raise ValueError(f"runs must be >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    x = _example(model, input_shape, batch_size, example)
    cuda = x.device.type == "cuda"
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        with eval_mode(model), torch.inference_mode():
            for _ in range(warmup):
                model(x)
            if cuda:
                torch.cuda.synchronize(x.device)
            times = []
            for _ in range(runs):
                start = time.perf_counter()
                model(x)
                if cuda:
                    torch.cuda.synchronize(x.device)
                times.append((time.perf_counter() - start) * 1000.0)
    finally:
        torch.set_num_threads(previous)
    return float(statistics.median(times))


#: Values of the trainer's ``latency_backend`` option.
LATENCY_BACKENDS = ("torch", "onnxruntime", "onnxruntime-cuda")
_PROVIDERS = {"onnxruntime": "CPUExecutionProvider", "onnxruntime-cuda": "CUDAExecutionProvider"}


def check_onnxruntime_backend(backend: str) -> None:
    """Raise a :class:`~nasforge.core.errors.UserError` when ``backend`` cannot run here."""
    from nasforge.core.errors import ConfigError

    try:
        import onnxruntime as ort

        import nasforge.export  # noqa: F401
    except ImportError as exc:
        raise ConfigError("evaluator.options.latency_backend", f"{backend!r} needs nasforge-export and onnxruntime installed ({exc}); pip install nasforge-export") from None
    provider = _PROVIDERS[backend]
    if provider not in ort.get_available_providers():
        raise ConfigError("evaluator.options.latency_backend", f"{backend!r} needs onnxruntime's {provider}, which this onnxruntime does not have (it has {', '.join(ort.get_available_providers())})")


def measure_onnxruntime_latency(
    model: nn.Module,
    input_shape: Sequence[int],
    runs: int = 20,
    warmup: int = 5,
    threads: int = 1,
    batch_size: int = 1,
    backend: str = "onnxruntime",
    example: torch.Tensor | None = None,
) -> float:
    """Median milliseconds of one onnxruntime inference of ``model`` exported to ONNX.

    The model is exported to a temporary single-file ONNX model with nasforge-export and timed by
    its :class:`~nasforge.export.OnnxRuntimeBenchmark` with ``intra_op_num_threads=threads``, so a
    search can optimise (or constrain) the latency a deployment will see on this machine.
    """
    import tempfile

    from nasforge.export import OnnxRuntimeBenchmark, export_onnx

    with eval_mode(model) as m, tempfile.TemporaryDirectory() as tmp:
        x = _example(m, input_shape, 1, example).cpu()
        path = export_onnx(m, x, Path(tmp) / "model.onnx").path
        report = OnnxRuntimeBenchmark(path, batch_sizes=(batch_size,), threads=(threads,), providers=[_PROVIDERS[backend]], warmup=warmup, runs=runs,
                                      input_shape=tuple(x.shape[1:])).run()
    if not report.records:
        raise RuntimeError(f"onnxruntime could not run the model: {report.failures}")
    return float(report.records[0].median_ms)
