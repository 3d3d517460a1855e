"""Latency benchmarks for ONNX files (onnxruntime) and, for comparison, PyTorch eager models.

Every figure is measured the same way (:func:`measure`): ``warmup`` untimed calls, then ``runs``
timed calls, each timed on its own; the report gives the median and the 90th percentile.
Thread counts are fixed for every measurement (onnxruntime ``intra_op_num_threads``,
``torch.set_num_threads``) and recorded next to every figure.

:class:`OnnxRuntimeBenchmark` sweeps batch sizes (through the symbolic batch dimension), thread
counts and execution providers: the CPU provider always, and every other provider onnxruntime
lists (e.g. ``CUDAExecutionProvider`` with onnxruntime-gpu and a GPU). A provider that is listed
but fails to start is recorded in ``BenchmarkReport.failures`` instead of crashing the run.
:func:`benchmark_torch_eager` measures a PyTorch model on the same grid.
To compare two engines fairly on a busy machine use :func:`measure_interleaved`, which
alternates the candidates call by call so that background load hits them alike.
"""

from __future__ import annotations

import io
import json
import os
import platform
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasforge.core.errors import UserError
from nasforge.export._common import as_tensor_tuple
from nasforge.export.runtime import NON_LOCAL_PROVIDERS, _ort, feed, input_specs, make_session
from nasforge.torchutils import eval_mode, model_device


@dataclass(frozen=True)
class LatencyStats:
    """Summary of ``runs`` timed calls, in milliseconds."""

    runs: int
    median_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float

    @classmethod
    def from_seconds(cls, seconds: Sequence[float]) -> LatencyStats:
        """Summarise per-call durations given in seconds."""
        ms = np.asarray(seconds, dtype=np.float64) * 1e3
        if ms.size == 0:
            raise ValueError("no timings to summarise")
        return cls(int(ms.size), float(np.median(ms)), float(np.percentile(ms, 90)), float(ms.mean()), float(ms.min()))


def measure(fn: Callable[[], Any], warmup: int = 10, runs: int = 50) -> LatencyStats:
    """Call ``fn`` ``warmup`` times untimed, then ``runs`` times, timing each call."""
    if runs < 1 or warmup < 0:
        raise UserError(f"need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return LatencyStats.from_seconds(times)


def measure_interleaved(fns: Mapping[str, Callable[[], Any]], warmup: int = 10, runs: int = 50) -> dict[str, LatencyStats]:
    """Time several callables alternately (A, B, A, B ...) so that machine load affects them alike.

    Use this for ratios: both sides of a comparison see the same background noise.
    """
    if runs < 1 or warmup < 0:
        raise UserError(f"need runs >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(runs):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: LatencyStats.from_seconds(t) for name, t in times.items()}


def interleaved_latency(files: dict[Any, Path], example: Any, threads: int, runs: int, rounds: int = 3) -> dict[Any, tuple[float, float]]:
    """Median onnxruntime latency (ms, batch of ``example``) of every file and its spread.

    All files are timed in one loop, one call of each in turn, so a busy machine slows them
    alike (separate runs minutes apart gave 6.6x and 4.4x for the same pair). ``rounds`` rounds
    of ``runs`` calls each: the latency is the median of the round medians, the spread the range
    of the round medians (how much the figure moved while it was measured).
    """
    from nasforge.export.runtime import make_session

    inputs = example if isinstance(example, (tuple, list)) else (example,)
    calls = {}
    for key, path in files.items():
        session = make_session(path, intra_op_threads=threads)
        feed = {i.name: t.detach().cpu().numpy() for i, t in zip(session.get_inputs(), inputs, strict=False)}
        calls[key] = (lambda s=session, f=feed: s.run(None, f))
    medians: dict[Any, list[float]] = {key: [] for key in files}
    for r in range(rounds):
        stats = measure_interleaved(calls, warmup=10 if r == 0 else 2, runs=max(1, runs))
        for key, st in stats.items():
            medians[key].append(st.median_ms)
    return {key: (float(sorted(m)[len(m) // 2]), float(max(m) - min(m))) for key, m in medians.items()}


@dataclass(frozen=True)
class BenchmarkRecord:
    """One measured configuration."""

    engine: str  # "onnxruntime" or "torch-eager"
    provider: str  # onnxruntime execution provider, or "cpu" for torch
    batch_size: int
    threads: int
    median_ms: float
    p90_ms: float
    mean_ms: float
    min_ms: float
    runs: int
    warmup: int

    @property
    def throughput(self) -> float:
        """Samples per second at the median latency."""
        return self.batch_size / (self.median_ms / 1e3) if self.median_ms > 0 else float("inf")


#: the /proc/cpuinfo flags that decide how fast onnxruntime's fp32 and int8 kernels run: on a CPU
#: with AVX2 but no VNNI (e.g. an AMD EPYC of family 23, model 1) int8 can be no faster than fp32
SIMD_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu_info(cpuinfo: str | None = None) -> dict[str, Any]:
    """Model name, vendor family/model and :data:`SIMD_FLAGS` of the first CPU in ``/proc/cpuinfo``
    (``cpuinfo``: that file's text; elsewhere only the name ``platform`` gives)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text(errors="replace") if path.is_file() else ""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        if not line.strip():
            break  # the first processor's block is enough
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    return {
        "model_name": fields.get("model name") or platform.processor() or platform.machine(),
        "family": fields.get("cpu family"),
        "model": fields.get("model"),
        "simd": [f for f in SIMD_FLAGS if f in flags],
        "cores": os.cpu_count(),
    }


def describe_cpu(info: Mapping[str, Any] | None = None) -> str:
    """One line for a benchmark's output: ``AMD EPYC (family 23, model 1), 2 cores, avx2 fma, no VNNI``."""
    info = info or cpu_info()
    simd = list(info["simd"])
    numbers = f" (family {info['family']}, model {info['model']})" if info.get("family") else ""
    vnni = "VNNI" if any("vnni" in f for f in simd) else "no VNNI"
    return f"{info['model_name']}{numbers}, {info['cores']} cores, {' '.join(simd) or 'no AVX2'}, {vnni}"


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded with every benchmark (``cpu``: :func:`cpu_info`)."""
    import onnx

    ort = _ort()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "cpu": cpu_info(),
        "cpu_count": os.cpu_count(),
        "available_providers": list(ort.get_available_providers()),
    }


@dataclass
class BenchmarkReport:
    """Records of one benchmark run, the providers that failed, and the environment."""

    model: str
    records: list[BenchmarkRecord] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=environment)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``results`` holds one entry per (engine, provider, batch, threads)."""
        return {
            "model": self.model,
            "created": self.created,
            "environment": self.environment,
            "results": [{**asdict(r), "throughput_per_s": r.throughput} for r in self.records],
            "failures": dict(self.failures),
        }

    def write_json(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` as indented JSON; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    def find(self, *, engine: str | None = None, provider: str | None = None, batch_size: int | None = None, threads: int | None = None) -> list[BenchmarkRecord]:
        """The records matching every given field."""
        return [
            r
            for r in self.records
            if (engine is None or r.engine == engine)
            and (provider is None or r.provider == provider)
            and (batch_size is None or r.batch_size == batch_size)
            and (threads is None or r.threads == threads)
        ]

    def summary(self) -> list[dict[str, Any]]:
        """Compact rows for a model card: engine, provider, batch, threads, median and p90 ms."""
        return [
            {
                "engine": r.engine,
                "provider": r.provider,
                "batch_size": r.batch_size,
                "threads": r.threads,
                "median_ms": round(r.median_ms, 4),
                "p90_ms": round(r.p90_ms, 4),
            }
            for r in self.records
        ]

    def table(self):
        """A :class:`rich.table.Table` of the records (and failures as a caption)."""
        from rich.table import Table

        table = Table(title=f"latency: {self.model}")
        for col in ("engine", "provider", "batch", "threads", "median ms", "p90 ms", "samples/s"):
            table.add_column(col, justify="right" if col not in ("engine", "provider") else "left")
        for r in self.records:
            table.add_row(r.engine, r.provider.removesuffix("ExecutionProvider"), str(r.batch_size), str(r.threads), f"{r.median_ms:.3f}", f"{r.p90_ms:.3f}", f"{r.throughput:.1f}")
        if self.failures:
            table.caption = "; ".join(f"{p}: {reason}" for p, reason in self.failures.items())
        return table

    def to_text(self, width: int = 120) -> str:
        """The table rendered as plain text."""
        from rich.console import Console

        console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
        console.print(self.table())
        return console.export_text()


def _check_grid(batch_sizes: Iterable[int], threads: Iterable[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    batches = tuple(int(b) for b in batch_sizes)
    thread_counts = tuple(int(t) for t in threads)
    if not batches or any(b < 1 for b in batches):
        raise UserError(f"batch sizes must be positive integers, got {list(batch_sizes)}")
    if not thread_counts or any(t < 1 for t in thread_counts):
        raise UserError(f"thread counts must be positive integers, got {list(threads)}")
    return batches, thread_counts


class OnnxRuntimeBenchmark:
    """Latency of an ``.onnx`` file across batch sizes, thread counts and execution providers.

    Call order: construct, then :meth:`run`, which returns a :class:`BenchmarkReport`
    (``write_json`` / ``table`` / ``to_text`` on it). Inputs are random normal data of the file's
    input shapes, with the batch dimension set to each batch size; a file whose batch dimension
    is fixed only runs at that batch size.

    :param onnx_path: the model file.
    :param batch_sizes: batch sizes to run (the batch dimension must be symbolic for more than one).
    :param threads: onnxruntime ``intra_op_num_threads`` values (``inter_op_num_threads`` is 1).
    :param providers: execution providers to try; ``None`` means every local one onnxruntime lists.
    :param warmup: untimed calls before timing each configuration.
    :param runs: timed calls per configuration.
    :param input_shape: per-sample shape (without batch) for inputs whose non-batch dims are symbolic.
    :param optimization_level: onnxruntime graph optimisation: disable, basic, extended or all.
    """

    def __init__(
        self,
        onnx_path: str | os.PathLike,
        batch_sizes: Sequence[int] = (1, 64),
        threads: Sequence[int] = (1,),
        providers: Sequence[str] | None = None,
        warmup: int = 10,
        runs: int = 50,
        input_shape: Sequence[int] | None = None,
        optimization_level: str = "all",
        seed: int = 0,
    ) -> None:
        self.onnx_path = Path(onnx_path)
        if not self.onnx_path.is_file():
            raise UserError(f"ONNX file {self.onnx_path} does not exist")
        self.batch_sizes, self.threads = _check_grid(batch_sizes, threads)
        self.providers = list(providers) if providers is not None else self.available_providers()
        if "CPUExecutionProvider" not in self.providers and providers is None:
            self.providers.insert(0, "CPUExecutionProvider")
        self.warmup, self.runs = int(warmup), int(runs)
        self.input_shape = tuple(int(d) for d in input_shape) if input_shape is not None else None
        self.optimization_level = optimization_level
        self.seed = seed

    @staticmethod
    def available_providers() -> list[str]:
        """Providers onnxruntime lists that run models locally, CPU first."""
        listed = [p for p in _ort().get_available_providers() if p not in NON_LOCAL_PROVIDERS]
        return sorted(listed, key=lambda p: p != "CPUExecutionProvider")

    def _inputs(self, session, batch: int) -> list[np.ndarray]:
        rng = np.random.default_rng(self.seed)
        arrays = []
        for name, shape, dtype in input_specs(session):
            dims = list(shape)
            if dims and isinstance(dims[0], int) and dims[0] != batch:
                raise _FixedBatch(int(dims[0]))
            rest = dims[1:]
            if any(not isinstance(d, int) for d in rest):
                if self.input_shape is None or len(self.input_shape) != len(rest):
                    raise UserError(
                        f"input {name!r} has symbolic dimensions {shape}; pass input_shape (the per-sample shape, "
                        f"{len(rest)} numbers) to benchmark it"
                    )
                rest = list(self.input_shape)
            if np.issubdtype(dtype, np.floating):
                arrays.append(rng.standard_normal((batch, *rest)).astype(dtype))
            else:
                arrays.append(np.zeros((batch, *rest), dtype=dtype))
        return arrays

    def run(self) -> BenchmarkReport:
        """Measure every (provider, threads, batch) combination; failures are recorded, not raised."""
        report = BenchmarkReport(model=self.onnx_path.name)
        listed = set(_ort().get_available_providers())
        for provider in self.providers:
            if provider in NON_LOCAL_PROVIDERS:
                report.failures[provider] = "skipped: not a local execution provider"
                continue
            if provider not in listed:
                report.failures[provider] = f"not available in this onnxruntime build (available: {', '.join(sorted(listed))})"
                continue
            for threads in self.threads:
                try:
                    session = make_session(self.onnx_path, provider, intra_op_threads=threads, optimization_level=self.optimization_level)
                except UserError:
                    raise
                except Exception as exc:  # listed but unusable (driver, library, no device): report it
                    report.failures[provider] = f"failed to initialise: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                    break
                for batch in self.batch_sizes:
                    try:
                        inputs = feed(session, self._inputs(session, batch))
                    except _FixedBatch as fixed:
                        report.failures[f"{provider}/batch={batch}"] = f"skipped: the file's batch dimension is fixed at {fixed.size}"
                        continue
                    try:
                        stats = measure(lambda: session.run(None, inputs), self.warmup, self.runs)  # noqa: B023 - called here, in this iteration
                    except Exception as exc:
                        report.failures[f"{provider}/batch={batch}/threads={threads}"] = f"run failed: {type(exc).__name__}: {exc}"
                        continue
                    report.records.append(_record("onnxruntime", provider, batch, threads, stats, self.warmup))
        if not report.records and not report.failures:
            raise UserError("nothing to benchmark: no providers selected")
        return report


class _FixedBatch(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _record(engine: str, provider: str, batch: int, threads: int, stats: LatencyStats, warmup: int) -> BenchmarkRecord:
    return BenchmarkRecord(engine, provider, batch, threads, stats.median_ms, stats.p90_ms, stats.mean_ms, stats.min_ms, stats.runs, warmup)


def benchmark_torch_eager(
    model: torch.nn.Module,
    sample_inputs: Any,
    batch_sizes: Sequence[int] = (1, 64),
    threads: Sequence[int] = (1,),
    warmup: int = 10,
    runs: int = 50,
    name: str | None = None,
    seed: int = 0,
) -> BenchmarkReport:
    """PyTorch eager latency on the same grid as :class:`OnnxRuntimeBenchmark` (eval, inference mode).

    The model runs where it lives; on a GPU every timed call ends with ``torch.cuda.synchronize``
    so that the time covers the work, not just the launch.

    :param sample_inputs: a tensor (or tuple of tensors) whose shape *after* dimension 0 is used;
        random normal inputs of each batch size are generated from it.
    :param threads: values for :func:`torch.set_num_threads`; the previous value is restored.
    """
    batches, thread_counts = _check_grid(batch_sizes, threads)
    template = as_tensor_tuple(sample_inputs)
    generator = torch.Generator().manual_seed(seed)
    report = BenchmarkReport(model=name or type(model).__name__)
    device = model_device(model)
    provider = "cpu" if device.type == "cpu" else str(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    previous = torch.get_num_threads()
    try:
        with eval_mode(model), torch.inference_mode():
            for t in thread_counts:
                torch.set_num_threads(t)
                for batch in batches:
                    inputs = tuple(_random_like(x, batch, generator).to(device) for x in template)

                    def call() -> None:
                        model(*inputs)  # noqa: B023 - measured right below, in this iteration
                        sync()

                    stats = measure(call, warmup, runs)
                    report.records.append(_record("torch-eager", provider, batch, t, stats, warmup))
    finally:
        torch.set_num_threads(previous)
    return report


def _random_like(x: torch.Tensor, batch: int, generator: torch.Generator) -> torch.Tensor:
    shape = (batch, *x.shape[1:])
    if x.is_floating_point():
        return torch.randn(shape, generator=generator, dtype=x.dtype)
    return torch.zeros(shape, dtype=x.dtype)
