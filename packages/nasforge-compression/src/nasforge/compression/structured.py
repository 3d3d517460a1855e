"""Structured channel (filter) pruning that physically removes channels: :class:`ChannelPruner`.

Dependencies between layers come from torch-pruning's ``DependencyGraph`` (see
:mod:`nasforge.compression._graph`): when a channel is removed from a convolution, the
BatchNorm after it, the next layer's input, every layer tied to it through a residual addition
or concatenation, and depthwise convolutions lose it too, so the model keeps running. Groups of
coupled channels are ranked by an importance criterion:

* ``l1`` / ``l2`` — the L1 / L2 norm of the group's weights (Li et al. 2017);
* ``bn`` — the absolute BatchNorm scale (Liu et al. 2017, "network slimming");
* ``taylor`` — first-order Taylor expansion of the loss, ``|w * dL/dw|`` (Molchanov et al.
  2019); needs ``data`` to compute gradients.

How much to remove is one of: ``ratio`` (the same fraction of every group, or of all channels
ranked together with ``global_ranking``), ``layer_ratios`` (per layer, by name), ``macs_reduction``
(e.g. ``2.0`` for half the MACs) or ``latency_ms`` (with a ``latency_fn`` passed to
:meth:`~nasforge.compression.base.Compressor.compress`). Targets are met by bisection on the
ratio. ``steps > 1`` prunes in that many stages with fine-tuning between them.

The classifier's output layer is never pruned. Groups that pass through an operation torch-pruning
does not understand, or through a layer named in ``ignore``, are left whole and listed in the
report's ``skipped``.

For models built from a nasforge space (a :class:`~nasforge.compression.base.ModelSpec` is passed),
the pruned widths are read back into the architecture (``channels_i`` of ``cnn``, ``width_i`` of
``mlp``) and the model is rebuilt with the trainer's builder, with the kept weights loaded into it
(strict ``load_state_dict``, so the rebuilt model is exactly the pruned one).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
import torch_pruning as tp
from torch import nn

from nasforge.core.errors import ConfigError, UserError
from nasforge.torchutils import count_macs, model_device

from . import _graph
from ._utils import check_fraction, check_positive, prunable_layers, resolve_modules, run_model
from .base import CompressionContext, Compressor, FineTune, ModelSpec, spec_with

IMPORTANCES = ("l1", "l2", "bn", "taylor")


def make_importance(name: str) -> tp.importance.Importance:
    """The torch-pruning importance object for ``l1``, ``l2``, ``bn`` or ``taylor``."""
    if name == "l1":
        return tp.importance.MagnitudeImportance(p=1)
    if name == "l2":
        return tp.importance.MagnitudeImportance(p=2)
    if name == "bn":
        return tp.importance.BNScaleImportance()
    if name == "taylor":
        return tp.importance.TaylorImportance()
    raise ConfigError("compressor.channel.importance", f"unknown importance {name!r}; choose one of {list(IMPORTANCES)}")


class ChannelPruner(Compressor):
    """Remove whole channels (filters) by importance; see the module docstring for the options.

    :param ratio: fraction of channels to remove in ``[0, 1)``.
    :param layer_ratios: ``{layer name: fraction}`` overriding ``ratio`` for those layers.
    :param macs_reduction: reach ``MACs_before / MACs_after >= macs_reduction`` (above 1).
    :param latency_ms: reach ``latency_fn(model) <= latency_ms``.
    :param importance: ``l1``, ``l2``, ``bn`` or ``taylor``.
    :param global_ranking: rank all groups together instead of pruning each by the same fraction.
    :param steps: number of pruning stages (fine-tuning between them).
    :param ignore: names of layers whose output channels must stay.
    :param round_to: keep channel counts multiples of this (e.g. 8 for SIMD-friendly widths).
    :param max_layer_ratio: never remove more than this fraction of one layer's channels.
    :param importance_batches: batches of ``data`` used for Taylor gradients.
    :param finetune: see :class:`~nasforge.compression.finetune.FineTune`.
    """

    name = "channel"

    def __init__(
        self,
        ratio: float | None = None,
        layer_ratios: Mapping[str, float] | None = None,
        macs_reduction: float | None = None,
        latency_ms: float | None = None,
        importance: str = "l2",
        global_ranking: bool = False,
        steps: int = 1,
        ignore: Sequence[str] = (),
        round_to: int | None = None,
        max_layer_ratio: float = 0.9,
        importance_batches: int = 4,
        finetune: FineTune | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(finetune)
        targets = [k for k, v in (("ratio", ratio), ("macs_reduction", macs_reduction), ("latency_ms", latency_ms)) if v is not None]
        if len(targets) > 1:
            raise ConfigError("compressor.channel", f"give one of ratio, macs_reduction, latency_ms, not {targets}")
        if not targets and not layer_ratios:
            raise ConfigError("compressor.channel", "say how much to prune: ratio, layer_ratios, macs_reduction or latency_ms")
        if ratio is not None:
            check_fraction("compressor.channel.ratio", ratio)
        if layer_ratios is not None:
            if not isinstance(layer_ratios, Mapping):
                raise ConfigError("compressor.channel.layer_ratios", f"must map layer names to fractions, got {layer_ratios!r}")
            for k, v in layer_ratios.items():
                check_fraction(f"compressor.channel.layer_ratios.{k}", v)
        if macs_reduction is not None:
            check_positive("compressor.channel.macs_reduction", macs_reduction, minimum=1.0)
        if latency_ms is not None:
            check_positive("compressor.channel.latency_ms", latency_ms)
        if (macs_reduction is not None or latency_ms is not None) and layer_ratios:
            raise ConfigError("compressor.channel.layer_ratios", "cannot be combined with a macs_reduction or latency_ms target")
        if importance not in IMPORTANCES:
            raise ConfigError("compressor.channel.importance", f"unknown importance {importance!r}; choose one of {list(IMPORTANCES)}")
        check_positive("compressor.channel.steps", steps, integer=True)
        check_fraction("compressor.channel.max_layer_ratio", max_layer_ratio, allow_zero=False)
        if round_to is not None:
            check_positive("compressor.channel.round_to", round_to, integer=True)
        check_positive("compressor.channel.importance_batches", importance_batches, integer=True)
        if isinstance(ignore, str) or not all(isinstance(n, str) for n in ignore):
            raise ConfigError("compressor.channel.ignore", f"must be a list of layer names, got {ignore!r}")
        self.ratio = ratio
        self.layer_ratios = dict(layer_ratios or {})
        self.macs_reduction = macs_reduction
        self.latency_ms = latency_ms
        self.importance = importance
        self.global_ranking = bool(global_ranking)
        self.steps = steps
        self.ignore = list(ignore)
        self.round_to = round_to
        self.max_layer_ratio = max_layer_ratio
        self.importance_batches = importance_batches
        self.options = {
            k: v
            for k, v in dict(
                ratio=ratio, layer_ratios=self.layer_ratios or None, macs_reduction=macs_reduction, latency_ms=latency_ms,
                importance=importance, global_ranking=self.global_ranking, steps=steps, ignore=self.ignore or None, round_to=round_to,
                max_layer_ratio=max_layer_ratio,
            ).items()
            if v is not None
        }

    @property
    def needs_data(self) -> bool:  # type: ignore[override]
        return self.importance == "taylor"

    # -- the steps -----------------------------------------------------------------------------
    def _check_model(self, model: nn.Module) -> None:
        resolve_modules(model, self.ignore, "compressor.channel.ignore")
        resolve_modules(model, self.layer_ratios, "compressor.channel.layer_ratios")

    def _compress(self, model: nn.Module, ctx: CompressionContext) -> nn.Module:
        if self.latency_ms is not None and ctx.latency_fn is None:
            raise UserError("the latency_ms target needs a latency_fn: pass compress(..., latency_fn=lambda model: milliseconds)")
        if ctx.spec is not None and ctx.spec.space in _READ_BACK and (self.global_ranking or self.layer_ratios):
            raise ConfigError(
                "compressor.channel",
                f"a model of the {ctx.spec.space!r} space is rebuilt from per-stage widths; use a uniform ratio or target (no global_ranking, no layer_ratios)",
            )
        widths_before = {n: _out_channels(m) for n, m in prunable_layers(model).items()}
        self._check_graph(model, ctx)
        for step in range(self.steps):
            if self.ratio is not None or self.layer_ratios:
                model = self._prune_ratio(model, ctx, step)
            else:
                model = self._prune_to_target(model, ctx, step)
            run_model(model, ctx.example_inputs, what=f"the model after channel pruning step {step + 1}")
            ctx.report.steps.append({"step": step + 1, **ctx.measure(model)})
            if step < self.steps - 1:
                ctx.between_steps(model, step)
        after = {n: _out_channels(m) for n, m in prunable_layers(model).items()}
        ctx.report.removed_channels = {n: (b, after[n]) for n, b in widths_before.items() if n in after and after[n] != b}
        if ctx.spec is not None:
            model = self._rebuild(model, ctx)
        return model

    def _check_graph(self, model: nn.Module, ctx: CompressionContext) -> None:
        graph = self._graph(model, ctx)
        names = {m: n for n, m in model.named_modules()}
        layers = prunable_layers(model)
        was_training = model.training
        model.eval()
        try:
            traced = model(*_first(ctx.example_inputs)).grad_fn is not None
        finally:
            model.train(was_training)
        if not traced:
            raise UserError(
                "torch-pruning could not trace the model: its output has no autograd history "
                "(does forward run under torch.no_grad(), detach tensors or leave torch, e.g. through numpy?)"
            )
        untraced = [
            n for n, m in layers.items() if len(layers) > 1 and (m not in graph.module2node or not (graph.module2node[m].inputs or graph.module2node[m].outputs))
        ]
        for n in untraced:
            ctx.report.skipped.append(f"{n} (not in the autograd graph of the output, so its dependencies are unknown)")
        self._output_names = [names[m] for m in _graph.output_layers(graph)]
        self._untraced = untraced
        unsupported = _graph.unsupported_nodes(graph, model)
        if unsupported:
            ctx.report.notes.append(
                "channels next to these were left unpruned: " + "; ".join(sorted(set(unsupported.values())))
            )

    def _graph(self, model: nn.Module, ctx: CompressionContext) -> tp.DependencyGraph:
        try:
            return _graph.build_graph(model, _first(ctx.example_inputs))
        except Exception as exc:
            raise UserError(f"torch-pruning could not trace the model ({type(exc).__name__}: {exc}); the model's forward must be traceable by autograd") from exc

    def _make_pruner(self, model: nn.Module, ctx: CompressionContext, ratio: float, ratio_dict: Mapping[str, float], ignored: Sequence[nn.Module]) -> Any:
        named = dict(model.named_modules())
        return tp.pruner.MetaPruner(
            model,
            _first(ctx.example_inputs),
            importance=make_importance(self.importance),
            global_pruning=self.global_ranking,
            pruning_ratio=ratio,
            pruning_ratio_dict={named[n]: r for n, r in ratio_dict.items()} or None,
            max_pruning_ratio=self.max_layer_ratio,
            iterative_steps=1,
            ignored_layers=list(ignored),
            round_to=self.round_to,
            customized_pruners=dict(_graph.CUSTOM_PRUNERS),
        )

    def _unsafe_layers(self, model: nn.Module, ctx: CompressionContext) -> tuple[list[nn.Module], list[str]]:
        """Layers whose output channels are coupled with an unsupported node, and why.

        They go to torch-pruning's ``ignored_layers``, so it neither ranks nor prunes those
        groups (ranking such an incoherent group can itself fail inside torch-pruning).
        """
        graph = self._graph(model, ctx)
        unsupported = _graph.unsupported_nodes(graph, model)
        if not unsupported:
            return [], []
        names = {m: n for n, m in model.named_modules()}
        layers: list[nn.Module] = []
        reasons: list[str] = []
        for group in graph.get_all_groups(root_module_types=[nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear]):
            bad = _graph.group_nodes(group) & set(unsupported)
            if not bad:
                continue
            members = [dep.target.module for dep, _ in group if graph.is_out_channel_pruning_fn(dep.handler) and isinstance(dep.target.module, nn.Module)]
            layers.extend(members)
            member_names = ", ".join(dict.fromkeys(names.get(m, "?") for m in members))
            reasons.append(f"{member_names} (next to {', '.join(sorted({unsupported[b] for b in bad}))})")
        return layers, reasons

    def _prune_once(self, model: nn.Module, ctx: CompressionContext, ratio: float, ratio_dict: Mapping[str, float], record: bool) -> nn.Module:
        was_training = model.training
        named = dict(model.named_modules())
        unsafe, reasons = self._unsafe_layers(model, ctx)
        ignored = [named[n] for n in [*self.ignore, *self._output_names, *self._untraced] if n in named] + unsafe
        with warnings.catch_warnings():
            # unwrapped parameters are already reported through _unsafe_layers
            warnings.filterwarnings("ignore", message="Unwrapped parameters detected")
            pruner = self._make_pruner(model, ctx, ratio, ratio_dict, ignored)
        if self.importance == "taylor":
            self._taylor_gradients(model, ctx)
        pruner.step()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        if record:
            entries = reasons + [f"{n} (in 'ignore')" for n in self.ignore]
            for entry in entries:
                if entry not in ctx.report.skipped:
                    ctx.report.skipped.append(entry)
        return model

    def _step_ratio(self, total: float, step: int) -> float:
        # the fraction of the *current* channels to remove at this step so that after all
        # steps the total fraction removed is ``total`` (geometric schedule)
        keep_total = 1.0 - total
        keep_before = keep_total ** (step / self.steps)
        keep_after = keep_total ** ((step + 1) / self.steps)
        return 1.0 - keep_after / keep_before

    def _prune_ratio(self, model: nn.Module, ctx: CompressionContext, step: int) -> nn.Module:
        ratio = self._step_ratio(self.ratio or 0.0, step)
        per_layer = {n: self._step_ratio(r, step) for n, r in self.layer_ratios.items()}
        return self._prune_once(model, ctx, ratio, per_layer, record=True)

    def _prune_to_target(self, model: nn.Module, ctx: CompressionContext, step: int) -> nn.Module:
        base = ctx.report.macs_before if self.macs_reduction is not None else ctx.report.metrics_before.get("latency_ms") or float(ctx.latency_fn(model))  # type: ignore[misc]
        factor = self.macs_reduction if self.macs_reduction is not None else base / float(self.latency_ms)  # type: ignore[operator]
        if factor <= 1.0:
            ctx.report.notes.append(f"latency is already {base:.3f} ms <= target {self.latency_ms} ms; nothing pruned")
            return model
        goal = base / factor ** ((step + 1) / self.steps)
        what = "MACs" if self.macs_reduction is not None else "latency (ms)"

        def cost(m: nn.Module) -> float:
            return float(count_macs(m, ctx.example_inputs)) if self.macs_reduction is not None else float(ctx.latency_fn(m))  # type: ignore[misc]

        if cost(model) <= goal:
            return model
        # Cost is not monotonic in the ratio once channel counts are rounded (``round_to``), so
        # scan a coarse grid for the first ratio that meets the goal, then refine below it.
        grid = [round(r * 0.05, 4) for r in range(1, int(self.max_layer_ratio / 0.05) + 1)]
        best, best_ratio, best_cost, lowest = None, None, float("inf"), float("inf")
        previous = 0.0
        for r in grid:
            candidate = self._prune_once(copy.deepcopy(model), ctx, r, {}, record=False)
            c = cost(candidate)
            lowest = min(lowest, c)
            if c <= goal:
                best, best_ratio, best_cost = candidate, r, c
                for fine in (previous + (r - previous) * k / 5 for k in range(1, 5)):
                    cand = self._prune_once(copy.deepcopy(model), ctx, fine, {}, record=False)
                    fc = cost(cand)
                    if fc <= goal:
                        best, best_ratio, best_cost = cand, fine, fc
                        break
                break
            previous = r
        if best is None:
            raise UserError(
                f"cannot reach the {what} target: the lowest {what} over channel ratios up to {self.max_layer_ratio:.0%} is {lowest:,.3f} "
                f"(target {goal:,.3f}); raise max_layer_ratio, lower the target, drop round_to, or combine with depth pruning"
            )
        ctx.report.notes.append(f"step {step + 1}: ratio {best_ratio:.3f} reaches {what} {best_cost:,.3f} (goal {goal:,.3f})")
        # prune the real model once more with the chosen ratio so skipped groups get recorded
        return self._prune_once(model, ctx, best_ratio, {}, record=True)

    def _taylor_gradients(self, model: nn.Module, ctx: CompressionContext) -> None:
        if ctx.data is None:
            raise UserError("importance 'taylor' needs data to compute gradients: pass data=<batches>")
        model.eval()  # keep BatchNorm statistics as they are
        model.zero_grad(set_to_none=True)
        seen = 0
        for i, (x, y) in enumerate(ctx.data):
            if i >= self.importance_batches:
                break
            F.cross_entropy(model(x), y).backward()
            seen += 1
        if seen == 0:
            raise UserError("importance 'taylor' got no batches from data")

    # -- nasforge-built models ----------------------------------------------------------------
    def _rebuild(self, model: nn.Module, ctx: CompressionContext) -> nn.Module:
        spec = ctx.spec
        assert spec is not None
        reader = _READ_BACK.get(spec.space)
        if reader is None:
            ctx.report.notes.append(f"space {spec.space!r} has no width read-back; the result is torch-pruning's model, not a rebuilt one")
            return model
        new_spec = spec_with(spec, **reader(model, spec))
        return rebuild_from_spec(model, new_spec, ctx, "channel pruning")


def rebuild_from_spec(model: nn.Module, new_spec: ModelSpec, ctx: CompressionContext, what: str) -> nn.Module:
    """Build ``new_spec`` with the trainer's builder and load ``model``'s weights into it (strict), on ``model``'s device."""
    rebuilt = new_spec.build().to(model_device(model))
    try:
        rebuilt.load_state_dict(model.state_dict())
    except RuntimeError as exc:
        raise UserError(
            f"after {what}, the model no longer matches what the {new_spec.space!r} builder makes for {dict(new_spec.architecture)}: {exc}"
        ) from exc
    rebuilt.train(model.training)
    ctx.spec = new_spec
    return rebuilt


def _first(inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return tuple(t[:1] for t in inputs)


def _out_channels(m: nn.Module) -> int:
    return int(m.out_features if isinstance(m, nn.Linear) else m.out_channels)  # type: ignore[union-attr]


def _cnn_widths(model: nn.Module, spec: ModelSpec) -> dict[str, Any]:
    stages = getattr(model, "stages", None)
    if stages is None:
        raise UserError("the model has no 'stages'; it was not built by the trainer's 'cnn' builder, so do not pass its ModelSpec")
    out: dict[str, Any] = {}
    for i, stage in enumerate(stages, start=1):
        widths = {int(m.out_channels) for m in stage.modules() if isinstance(m, nn.Conv2d)}
        if len(widths) != 1:
            raise UserError(f"stage {i} was pruned to uneven widths {sorted(widths)}; the 'cnn' builder needs one width per stage (use a uniform ratio)")
        out[f"channels_{i}"] = widths.pop()
    return out


def _mlp_widths(model: nn.Module, spec: ModelSpec) -> dict[str, Any]:
    linears = [m for m in model.features if isinstance(m, nn.Linear)]  # type: ignore[union-attr]
    return {f"width_{i}": int(m.out_features) for i, m in enumerate(linears, start=1)}


#: How to read pruned widths back into an architecture, per trainer space.
_READ_BACK = {"cnn": _cnn_widths, "mlp": _mlp_widths}
