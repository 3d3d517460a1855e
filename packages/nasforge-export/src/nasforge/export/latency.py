"""Latency callbacks for the ``latency_ms`` target and the reports: onnxruntime on CPU.

:class:`OnnxRuntimeLatency` exports a model to ONNX with :func:`nasforge.export.export_onnx`
(the TorchScript exporter: it takes well under a second, where the dynamo exporter takes
seconds, and a latency target calls this many times), opens an onnxruntime session with fixed
thread counts and returns the median of timed runs in milliseconds. Pass it as
``compress(..., latency_fn=OnnxRuntimeLatency(example_inputs, threads=1))``.

Latency on a shared machine is noisy; the median of many runs after a warm-up is reported. To
compare models (before and after compression), :meth:`OnnxRuntimeLatency.compare` times them in
one interleaved loop with :func:`~nasforge.export.benchmark.interleaved_latency`, the helper the
deploy table and ``nasforge export --bench`` use, and returns each median with its spread.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from ._common import as_tensor_tuple


class OnnxRuntimeLatency:
    """``latency(model) -> ms``: median onnxruntime CPU latency of one call on ``example_inputs``.

    :param example_inputs: the inputs to time (their batch size is the batch size measured).
    :param threads: onnxruntime ``intra_op_num_threads`` (``inter_op`` is 1).
    :param runs: timed runs (per round in :meth:`compare`); :param warmup: untimed runs first;
    :param rounds: rounds of :meth:`compare`.
    """

    def __init__(self, example_inputs: torch.Tensor | Sequence[torch.Tensor], threads: int = 1, runs: int = 100, warmup: int = 20, rounds: int = 3) -> None:
        self.inputs = as_tensor_tuple(example_inputs, "example_inputs")
        self.threads = int(threads)
        self.runs = int(runs)
        self.warmup = int(warmup)
        self.rounds = int(rounds)

    def export(self, model: nn.Module, path: str | Path) -> Path:
        """Export ``model`` (on any device) to an ONNX file at ``path`` with a fixed batch."""
        from nasforge.export import export_onnx

        return Path(export_onnx(model.eval(), self.inputs, path, dynamic_batch=False, exporter="torchscript").path)

    def session(self, model: nn.Module, path: str | Path):
        """Export ``model`` to ``path`` and open an onnxruntime session on it."""
        from nasforge.export.runtime import make_session

        return make_session(self.export(model, path), intra_op_threads=self.threads)

    def compare(self, models: Mapping[str, nn.Module]) -> dict[str, tuple[float, float]]:
        """``{name: (median ms, spread ms)}`` of every model, all timed in one interleaved loop.

        ``rounds`` rounds of ``runs`` calls, one call of each model in turn
        (:func:`~nasforge.export.benchmark.interleaved_latency`): the median is that of the round
        medians, the spread their range.
        """
        from nasforge.export.benchmark import interleaved_latency

        with tempfile.TemporaryDirectory(prefix="nasforge-latency-") as tmp:
            files = {name: self.export(model, Path(tmp) / f"model{i}.onnx") for i, (name, model) in enumerate(models.items())}
            return interleaved_latency(files, self.inputs, self.threads, self.runs, self.rounds)

    def __call__(self, model: nn.Module) -> float:
        from nasforge.export import measure

        with tempfile.TemporaryDirectory(prefix="nasforge-latency-") as tmp:
            sess = self.session(model, Path(tmp) / "model.onnx")
            feed = {i.name: t.detach().cpu().numpy() for i, t in zip(sess.get_inputs(), self.inputs)}
            stats = measure(lambda: sess.run(None, feed), warmup=self.warmup, runs=self.runs)
        return float(stats.median_ms)
