"""The compressor interface: what every compressor takes, does in order, and reports.

A compressor is constructed with its options and applied with :meth:`Compressor.compress`::

    pruner = ChannelPruner(ratio=0.5, importance="l2", finetune={"epochs": 2, "distill": True})
    result = pruner.compress(model, torch.randn(1, 3, 32, 32), data=train_batches)
    result.model            # the compressed model (a new module; the input is left untouched)
    print(result.report.table())

:meth:`Compressor.compress` runs these steps, in order:

1. copy the model (unless ``inplace=True``) and check it runs on ``example_inputs``;
2. measure parameters, non-zero parameters, MACs, and (when given) ``eval_fn`` and ``latency_fn``;
3. call the subclass's :meth:`Compressor._compress`, which changes the model and may call
   :meth:`CompressionContext.between_steps` after each step of an iterative schedule;
4. fine-tune: ``train_fn(model)`` when given, else the built-in loop configured by the
   ``finetune`` option on ``data`` (with distillation from the uncompressed model if asked);
5. :meth:`Compressor._finalize` (e.g. make pruning masks permanent);
6. verify the compressed model runs and its output shape is unchanged, then measure again.

User mistakes (a ratio of 1.5, a layer name that does not exist, a model that cannot run on the
example inputs, fine-tuning asked for without data) raise :class:`~nasforge.core.errors.UserError`
(or its subclass ``ConfigError``) naming what is wrong.
"""

from __future__ import annotations

import copy
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

import torch
from torch import nn

from nasforge.core.errors import UserError
from nasforge.torchutils import count_macs, count_params

from ._utils import as_input_tuple, count_nonzero_params, prunable_layers, run_model, weight_sparsity
from .finetune import Batches, FineTune, fine_tune, frozen_copy

TrainFn = Callable[[nn.Module], Any]
EvalFn = Callable[[nn.Module], float]
LatencyFn = Callable[[nn.Module], float]


@dataclass(frozen=True)
class ModelSpec:
    """Says that a model was built from a nasforge search space, so compressors can rebuild it exactly.

    :param space: the model builder's name (``"cnn"``, ``"mlp"`` or a plugin's).
    :param architecture: the architecture's choices as a plain dict.
    :param input_shape: ``(channels, height, width)`` of one input.
    :param num_classes: number of output logits.
    """

    space: str
    architecture: Mapping[str, Any]
    input_shape: tuple[int, ...]
    num_classes: int

    def build(self) -> nn.Module:
        """Build a fresh model with the model builder registered as ``space``
        (``nasforge_register_model_builders``; the trainer registers ``cnn`` and ``mlp``)."""
        from nasforge.core.plugins import get_plugin_manager

        builder = get_plugin_manager().get("model_builder", self.space)
        model = builder(dict(self.architecture), input_shape=tuple(self.input_shape), num_classes=int(self.num_classes))
        if not isinstance(model, nn.Module):
            raise UserError(f"model builder {self.space!r} returned a {type(model).__name__}, not a torch.nn.Module")
        return model

    def to_dict(self) -> dict[str, Any]:
        return {"space": self.space, "architecture": dict(self.architecture), "input_shape": list(self.input_shape), "num_classes": self.num_classes}


@dataclass
class CompressionReport:
    """What a compression did, measured before and after.

    ``macs_*`` are multiply-accumulates of one sample; ``nonzero_params_*`` count parameter
    elements that are not exactly zero (the number that drops with unstructured pruning);
    ``sparsity`` is the fraction of zeros over all conv/linear weights after compression.
    ``removed_channels`` maps a layer name to ``(out_channels_before, out_channels_after)``
    for every layer whose width changed; ``removed_blocks`` lists blocks that depth pruning
    removed. ``skipped`` lists what a compressor could not touch and why (unsupported layers,
    custom ops, ignored layers). ``steps`` has one entry per step of an iterative schedule.
    ``metrics_before``/``metrics_after`` hold ``accuracy`` and ``latency_ms`` when the caller
    passed ``eval_fn``/``latency_fn``.
    """

    method: str
    options: dict[str, Any] = field(default_factory=dict)
    params_before: int = 0
    params_after: int = 0
    nonzero_params_before: int = 0
    nonzero_params_after: int = 0
    macs_before: int = 0
    macs_after: int = 0
    sparsity: float = 0.0
    removed_channels: dict[str, tuple[int, int]] = field(default_factory=dict)
    removed_blocks: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    steps: list[dict[str, Any]] = field(default_factory=list)
    metrics_before: dict[str, float] = field(default_factory=dict)
    metrics_after: dict[str, float] = field(default_factory=dict)
    finetune_losses: list[float] = field(default_factory=list)
    architecture: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def params_ratio(self) -> float:
        """``params_before / params_after`` (above 1 means fewer parameters)."""
        return self.params_before / max(self.params_after, 1)

    @property
    def nonzero_params_ratio(self) -> float:
        return self.nonzero_params_before / max(self.nonzero_params_after, 1)

    @property
    def macs_ratio(self) -> float:
        """``macs_before / macs_after`` (2.0 means half the MACs)."""
        return self.macs_before / max(self.macs_after, 1)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict, with the ratios added."""
        out = asdict(self)
        out["removed_channels"] = {k: list(v) for k, v in self.removed_channels.items()}
        out.update(params_ratio=self.params_ratio, nonzero_params_ratio=self.nonzero_params_ratio, macs_ratio=self.macs_ratio)
        return out

    def table(self) -> str:
        """A plain-text before/after table of the headline numbers."""
        rows = [
            ("params", f"{self.params_before:,}", f"{self.params_after:,}", f"{self.params_ratio:.2f}x"),
            ("non-zero params", f"{self.nonzero_params_before:,}", f"{self.nonzero_params_after:,}", f"{self.nonzero_params_ratio:.2f}x"),
            ("MACs", f"{self.macs_before:,}", f"{self.macs_after:,}", f"{self.macs_ratio:.2f}x"),
        ]
        for key in sorted(set(self.metrics_before) | set(self.metrics_after)):
            if key.endswith("_spread_ms"):
                continue  # shown with its measurement: "1.234 ± 0.056"
            b, a = self.metrics_before.get(key), self.metrics_after.get(key)
            spread_key = key[: -len("_ms")] + "_spread_ms" if key.endswith("_ms") else ""

            def fmt(v: float, spread: float | None, key: str = key) -> str:
                if key == "accuracy":
                    return f"{100 * v:.2f}%"
                return f"{v:.3f}" + (f" ± {spread:.3f}" if spread is not None else "")

            change = ""
            if b is not None and a is not None:
                change = f"{100 * (a - b):+.2f} pt" if key == "accuracy" else (f"{b / a:.2f}x" if a else "")
            rows.append((key, fmt(b, self.metrics_before.get(spread_key)) if b is not None else "-",
                         fmt(a, self.metrics_after.get(spread_key)) if a is not None else "-", change))
        rows.append(("weight sparsity", "", f"{100 * self.sparsity:.1f}%", ""))
        widths = [max(len(r[i]) for r in [("metric", "before", "after", "change"), *rows]) for i in range(4)]
        lines = [f"{self.method}: " + ", ".join(f"{k}={v}" for k, v in self.options.items() if k != "finetune")]
        for r in [("metric", "before", "after", "change"), *rows]:
            lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if self.removed_blocks:
            lines.append(f"removed blocks: {', '.join(self.removed_blocks)}")
        if self.skipped:
            lines.append("not pruned: " + "; ".join(self.skipped))
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


@dataclass
class CompressionResult:
    """The compressed model, its report, and (for nasforge-built models) the new architecture."""

    model: nn.Module
    report: CompressionReport
    spec: ModelSpec | None = None


@dataclass
class CompressionContext:
    """What a compressor's :meth:`~Compressor._compress` may use besides the model.

    ``teacher`` is a frozen copy of the uncompressed model when distillation is on.
    """

    example_inputs: tuple[torch.Tensor, ...]
    report: CompressionReport
    finetune: FineTune
    data: Batches | None = None
    train_fn: TrainFn | None = None
    eval_fn: EvalFn | None = None
    latency_fn: LatencyFn | None = None
    spec: ModelSpec | None = None
    teacher: nn.Module | None = None

    def between_steps(self, model: nn.Module, step: int) -> None:
        """Fine-tune between two steps of an iterative schedule (``train_fn`` or the built-in loop)."""
        if self.train_fn is not None:
            self.train_fn(model)
        elif self.finetune.epochs_between_steps > 0:
            losses = self._fine_tune(model, self.finetune.epochs_between_steps)
            if self.report.steps:
                self.report.steps[-1]["finetune_losses"] = losses

    def final(self, model: nn.Module) -> None:
        """The fine-tuning after the last step."""
        if self.train_fn is not None:
            self.train_fn(model)
        elif self.finetune.epochs > 0:
            self.report.finetune_losses = self._fine_tune(model, self.finetune.epochs)

    def _fine_tune(self, model: nn.Module, epochs: int) -> list[float]:
        if self.data is None:
            raise UserError("fine-tuning was asked for (finetune.epochs > 0) but no data was given: pass data=<batches> or a train_fn")
        ft = self.finetune
        return fine_tune(
            model,
            self.data,
            epochs=epochs,
            lr=ft.lr,
            momentum=ft.momentum,
            weight_decay=ft.weight_decay,
            teacher=self.teacher if ft.distill else None,
            temperature=ft.temperature,
            alpha=ft.alpha,
            max_batches=ft.max_batches,
        )

    def measure(self, model: nn.Module) -> dict[str, float]:
        """Params, MACs and (when given) latency of ``model`` — used to record iterative steps."""
        out: dict[str, float] = {"params": count_params(model), "macs": count_macs(model, self.example_inputs)}
        if self.latency_fn is not None:
            out["latency_ms"] = float(self.latency_fn(model))
        return out


class Compressor(ABC):
    """Base class of every compressor. Subclasses set :attr:`name`, check options in ``__init__``
    (raising :class:`ConfigError`) and implement :meth:`_compress`.

    :param finetune: a :class:`~nasforge.compression.finetune.FineTune` or its mapping form;
        applied after compression when ``data`` is given to :meth:`compress`.
    """

    #: the name the compressor is registered under
    name: ClassVar[str] = ""
    #: whether :meth:`_compress` needs ``data`` (e.g. Taylor importance, distillation)
    needs_data: ClassVar[bool] = False

    def __init__(self, finetune: FineTune | Mapping[str, Any] | None = None) -> None:
        self.finetune = FineTune.from_options(finetune)
        self.options: dict[str, Any] = {}

    def compress(
        self,
        model: nn.Module,
        example_inputs: torch.Tensor | Sequence[torch.Tensor],
        *,
        data: Batches | None = None,
        train_fn: TrainFn | None = None,
        eval_fn: EvalFn | None = None,
        latency_fn: LatencyFn | None = None,
        spec: ModelSpec | None = None,
        inplace: bool = False,
    ) -> CompressionResult:
        """Compress ``model`` and return the new model with a :class:`CompressionReport`.

        :param model: any ``torch.nn.Module`` whose forward returns one tensor.
        :param example_inputs: a tensor (or tuple of tensors) shaped like a real batch; used to
            trace the model, count MACs and check that the output shape is unchanged.
        :param data: iterable of ``(inputs, targets)`` batches for data-driven importance and
            the built-in fine-tuning.
        :param train_fn: your own fine-tuning, called as ``train_fn(model)`` after every step
            (replaces the built-in loop).
        :param eval_fn: ``eval_fn(model) -> accuracy``; measured before and after.
        :param latency_fn: ``latency_fn(model) -> milliseconds``; measured before and after,
            and the target of ``latency_ms`` options.
        :param spec: the :class:`ModelSpec` when ``model`` was built from a nasforge space; then
            structural compressors rebuild the model with the trainer's builder.
        :param inplace: change ``model`` itself instead of a copy.
        """
        if not isinstance(model, nn.Module):
            raise UserError(f"compress() needs a torch.nn.Module, got {type(model).__name__}")
        inputs = as_input_tuple(example_inputs)
        if self.needs_data and data is None:
            raise UserError(f"the {self.name!r} compressor needs data: pass data=<iterable of (inputs, targets) batches>")
        if (self.finetune.epochs > 0 or self.finetune.epochs_between_steps > 0) and data is None and train_fn is None:
            raise UserError("fine-tuning was asked for (finetune.epochs > 0) but no data was given: pass data=<batches> or a train_fn")
        started = time.perf_counter()
        self._check_model(model)
        work = model if inplace else copy.deepcopy(model)
        reference = run_model(work, inputs)
        report = CompressionReport(method=self.name, options=dict(self.options, finetune=self.finetune.to_dict()))
        report.params_before = count_params(work)
        report.nonzero_params_before = count_nonzero_params(work)
        report.macs_before = count_macs(work, inputs)
        if eval_fn is not None:
            report.metrics_before["accuracy"] = float(eval_fn(work))
        if latency_fn is not None:
            report.metrics_before["latency_ms"] = float(latency_fn(work))
        teacher = self._make_teacher(work) if self.finetune.distill else None
        ctx = CompressionContext(
            example_inputs=inputs,
            report=report,
            finetune=self.finetune,
            data=data,
            train_fn=train_fn,
            eval_fn=eval_fn,
            latency_fn=latency_fn,
            spec=spec,
            teacher=teacher,
        )
        out = self._compress(work, ctx)
        ctx.final(out)
        out = self._finalize(out, ctx)
        out.eval()
        result = run_model(out, inputs, what=f"the model compressed by {self.name!r}")
        if result.shape != reference.shape:
            raise UserError(
                f"compression by {self.name!r} changed the output shape from {tuple(reference.shape)} to {tuple(result.shape)}; "
                "add the layer that produces the output to the compressor's 'ignore' option"
            )
        report.params_after = count_params(out)
        report.nonzero_params_after = count_nonzero_params(out)
        report.macs_after = count_macs(out, inputs)
        report.sparsity = weight_sparsity(prunable_layers(out))
        if eval_fn is not None:
            report.metrics_after["accuracy"] = float(eval_fn(out))
        if latency_fn is not None:
            report.metrics_after["latency_ms"] = float(latency_fn(out))
        if ctx.spec is not None and ctx.spec is not spec:
            report.architecture = dict(ctx.spec.architecture)
        report.seconds = time.perf_counter() - started
        return CompressionResult(out, report, ctx.spec)

    def _check_model(self, model: nn.Module) -> None:
        """Check the options against ``model`` (e.g. that named layers exist) before any work."""

    def _make_teacher(self, model: nn.Module) -> nn.Module:
        """The teacher for distillation: by default a frozen copy of the uncompressed model."""
        return frozen_copy(model)

    @abstractmethod
    def _compress(self, model: nn.Module, ctx: CompressionContext) -> nn.Module:
        """Compress ``model`` (already a private copy) and return the compressed module.

        Record what changed in ``ctx.report``; call ``ctx.between_steps(model, step)`` after
        each step of an iterative schedule except the last. Set ``ctx.spec`` to the new
        :class:`ModelSpec` when the architecture of a nasforge-built model changed.
        """

    def _finalize(self, model: nn.Module, ctx: CompressionContext) -> nn.Module:
        """Called after the final fine-tuning; the default returns the model unchanged."""
        return model

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{type(self).__name__}({opts})"


def spec_with(spec: ModelSpec, **changes: Any) -> ModelSpec:
    """A copy of ``spec`` whose architecture has ``changes`` applied."""
    arch = dict(spec.architecture)
    arch.update(changes)
    return replace(spec, architecture=arch)
