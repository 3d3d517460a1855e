"""Depth pruning: remove whole residual blocks with the lowest importance, :class:`DepthPruner`.

A residual block ``y = act(x + f(x))`` with an identity shortcut can be dropped: the network then
computes ``y = x`` there, which is what the block does when ``f`` contributes little. Dropping
blocks cuts latency more than the same MACs removed as channels, because every remaining layer
costs a fixed overhead per call on small inputs.

Candidates are blocks that sit in an ``nn.Sequential`` and have an identity shortcut:

* :class:`~nasforge.compression.models.cifar_resnet.BasicBlock` (and any module with
  ``nasforge_residual = True`` and ``has_identity_shortcut`` true);
* the trainer's ``ConvBlock`` with ``residual`` and no projection;
* torchvision's ``BasicBlock``/``Bottleneck`` without ``downsample``;
* any block named in ``blocks`` (you vouch that it is residual with an identity shortcut).

Importance (``criterion``):

* ``loss`` — how much the cross-entropy on ``importance_batches`` batches of ``data`` rises when
  the block is skipped (needs ``data``; the most faithful);
* ``residual_norm`` — ``||block(x) - x|| / ||x||`` on the example inputs (no data needed).

The blocks are removed from their ``nn.Sequential`` (later ones are renumbered). For the CIFAR
ResNets the per-stage block counts are updated; for a model of the trainer's ``cnn`` space
(with a :class:`~nasforge.compression.base.ModelSpec`) the same number of blocks is removed from
every stage, ``blocks`` in the architecture is lowered, and the model is rebuilt with the
trainer's builder and the kept weights (strict load).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.core.errors import ConfigError, UserError
from nasforge.torchutils import count_macs

from ._utils import check_fraction, check_positive, module_parent, resolve_modules, run_model
from .base import CompressionContext, Compressor, FineTune, spec_with
from .models.cifar_resnet import CifarResNet
from .structured import rebuild_from_spec


def is_removable_block(module: nn.Module) -> bool:
    """Whether ``module`` is a residual block with an identity shortcut (see the module docstring)."""
    if getattr(module, "nasforge_residual", False):
        return bool(getattr(module, "has_identity_shortcut", False))
    cls = type(module)
    if cls.__module__.startswith("torchvision.models.resnet") and cls.__name__ in ("BasicBlock", "Bottleneck"):
        return getattr(module, "downsample", None) is None
    return False


def candidate_blocks(model: nn.Module) -> dict[str, nn.Module]:
    """Removable blocks of ``model`` that live in an ``nn.Sequential``, by name."""
    out = {}
    for name, m in model.named_modules():
        if not name or not is_removable_block(m):
            continue
        parent, _ = module_parent(model, name)
        if isinstance(parent, nn.Sequential):
            out[name] = m
    return out


class DepthPruner(Compressor):
    """Remove the least important residual blocks.

    :param num_blocks: how many blocks to remove (for a ``cnn``-space model: per stage).
    :param ratio: or the fraction of candidate blocks to remove, in ``[0, 1)``.
    :param macs_reduction: or remove blocks (least important first) until MACs drop this many times.
    :param criterion: ``loss`` (needs data) or ``residual_norm``; default ``loss`` when data is given.
    :param blocks: names of the candidate blocks (default: found automatically).
    :param keep_per_stage: never leave an ``nn.Sequential`` with fewer blocks than this.
    :param steps: remove blocks in this many stages, re-scoring and fine-tuning between them.
    :param greedy: within a step, remove one block at a time and re-score the rest after each
        removal (blocks that are each unimportant may not be unimportant together); costs one
        scoring pass per removed block.
    :param importance_batches: batches of ``data`` used by the ``loss`` criterion.
    :param finetune: see :class:`~nasforge.compression.finetune.FineTune`.
    """

    name = "depth"

    def __init__(
        self,
        num_blocks: int | None = None,
        ratio: float | None = None,
        macs_reduction: float | None = None,
        criterion: str | None = None,
        blocks: Sequence[str] | None = None,
        keep_per_stage: int = 1,
        steps: int = 1,
        greedy: bool = False,
        importance_batches: int = 4,
        finetune: FineTune | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(finetune)
        given = [k for k, v in (("num_blocks", num_blocks), ("ratio", ratio), ("macs_reduction", macs_reduction)) if v is not None]
        if len(given) != 1:
            raise ConfigError("compressor.depth", f"give exactly one of num_blocks, ratio, macs_reduction (got {given or 'none'})")
        if num_blocks is not None:
            check_positive("compressor.depth.num_blocks", num_blocks, integer=True)
        if ratio is not None:
            check_fraction("compressor.depth.ratio", ratio)
        if macs_reduction is not None:
            check_positive("compressor.depth.macs_reduction", macs_reduction, minimum=1.0)
        if criterion not in (None, "loss", "residual_norm"):
            raise ConfigError("compressor.depth.criterion", f"must be 'loss' or 'residual_norm', got {criterion!r}")
        check_positive("compressor.depth.keep_per_stage", keep_per_stage, integer=True, strict=False)
        check_positive("compressor.depth.steps", steps, integer=True)
        check_positive("compressor.depth.importance_batches", importance_batches, integer=True)
        if blocks is not None and (isinstance(blocks, str) or not all(isinstance(b, str) for b in blocks)):
            raise ConfigError("compressor.depth.blocks", f"must be a list of block names, got {blocks!r}")
        self.num_blocks, self.ratio, self.macs_reduction = num_blocks, ratio, macs_reduction
        self.criterion = criterion
        self.blocks = list(blocks) if blocks is not None else None
        self.keep_per_stage = keep_per_stage
        self.steps = steps
        if not isinstance(greedy, bool):
            raise ConfigError("compressor.depth.greedy", f"must be true or false, got {greedy!r}")
        self.greedy = greedy
        self.importance_batches = importance_batches
        self.options = {k: v for k, v in dict(num_blocks=num_blocks, ratio=ratio, macs_reduction=macs_reduction, criterion=criterion, blocks=self.blocks, keep_per_stage=keep_per_stage, steps=steps, greedy=greedy or None).items() if v is not None}

    # -- scoring -------------------------------------------------------------------------------
    def _candidates(self, model: nn.Module) -> dict[str, nn.Module]:
        if self.blocks is not None:
            found = resolve_modules(model, self.blocks, "compressor.depth.blocks")
            for name in found:
                if not isinstance(module_parent(model, name)[0], nn.Sequential):
                    raise ConfigError("compressor.depth.blocks", f"block {name!r} is not inside an nn.Sequential, so it cannot be removed")
            return found
        found = candidate_blocks(model)
        if not found:
            raise UserError(
                "depth pruning found no removable residual blocks (blocks with an identity shortcut inside an nn.Sequential); "
                "name them with the 'blocks' option if your model has some"
            )
        return found

    def _scores(self, model: nn.Module, candidates: Mapping[str, nn.Module], ctx: CompressionContext) -> dict[str, float]:
        criterion = self.criterion or ("loss" if ctx.data is not None else "residual_norm")
        if criterion == "loss":
            if ctx.data is None:
                raise UserError("depth criterion 'loss' needs data: pass data=<batches> or use criterion 'residual_norm'")
            return self._loss_scores(model, candidates, ctx)
        return self._norm_scores(model, candidates, ctx)

    @torch.no_grad()
    def _norm_scores(self, model: nn.Module, candidates: Mapping[str, nn.Module], ctx: CompressionContext) -> dict[str, float]:
        scores: dict[str, float] = {}
        handles = []
        for name, block in candidates.items():
            def hook(mod: nn.Module, args: Any, out: Any, _name: str = name) -> None:
                x = args[0]
                if not isinstance(out, torch.Tensor) or out.shape != x.shape:
                    raise UserError(f"block {_name!r} changes the shape {tuple(x.shape)} -> {tuple(getattr(out, 'shape', ()))}; it cannot be removed")
                scores[_name] = float((out - x).norm() / x.norm().clamp_min(1e-12))
            handles.append(block.register_forward_hook(hook))
        try:
            run_model(model, ctx.example_inputs)
        finally:
            for h in handles:
                h.remove()
        return scores

    @torch.no_grad()
    def _loss_scores(self, model: nn.Module, candidates: Mapping[str, nn.Module], ctx: CompressionContext) -> dict[str, float]:
        batches = []
        for i, b in enumerate(ctx.data):  # type: ignore[arg-type]
            if i >= self.importance_batches:
                break
            batches.append(b)
        was_training = model.training
        model.eval()

        def loss() -> float:
            return sum(float(F.cross_entropy(model(x), y)) for x, y in batches) / len(batches)

        base = loss()
        scores = {}
        for name, block in candidates.items():
            parent, attr = module_parent(model, name)
            parent._modules[attr] = _Skip()
            try:
                scores[name] = loss() - base
            finally:
                parent._modules[attr] = block
        model.train(was_training)
        return scores

    def _check_model(self, model: nn.Module) -> None:
        self._candidates(model)

    # -- removal -------------------------------------------------------------------------------
    def _compress(self, model: nn.Module, ctx: CompressionContext) -> nn.Module:
        spec = ctx.spec
        per_stage = spec is not None and spec.space == "cnn"
        if spec is not None and spec.space == "cnn" and not spec.architecture.get("residual", False):
            raise UserError("depth pruning needs residual blocks, but this 'cnn' architecture has residual: false")
        if per_stage and self.macs_reduction is not None:
            raise ConfigError("compressor.depth.macs_reduction", "a 'cnn'-space model loses the same number of blocks in every stage; give num_blocks (per stage) instead")
        candidates = self._candidates(model)
        if self.num_blocks is not None:
            total = self.num_blocks
        elif self.ratio is not None:
            sizes = [len(v) for v in self._groups(model, candidates).values()]
            total = int(round(self.ratio * (min(sizes) if per_stage else len(candidates))))
        else:
            total = None
        removed_units = 0  # blocks, or blocks per stage for a 'cnn' model
        # blocks are reported under their names in the model as given (removal renumbers later ones)
        original = {id(m): n for n, m in model.named_modules()}
        for step in range(self.steps):
            candidates = self._candidates(model)
            scores = self._scores(model, candidates, ctx)
            if total is not None:
                goal = round(total * (step + 1) / self.steps) - removed_units
                if self.greedy and not per_stage:
                    chosen, chosen_scores = [], {}
                    for _ in range(goal):
                        pick = self._choose_count(model, candidates, scores, 1, per_stage)
                        chosen += [original[id(model.get_submodule(n))] for n in pick]
                        chosen_scores.update({original[id(model.get_submodule(n))]: scores[n] for n in pick})
                        model = self._remove(model, pick)
                        if len(chosen) < goal:
                            candidates = self._candidates(model)
                            scores = self._scores(model, candidates, ctx)
                    scores = chosen_scores
                else:
                    chosen = self._choose_count(model, candidates, scores, goal, per_stage)
                    scores = {original[id(model.get_submodule(n))]: v for n, v in scores.items()}
                    chosen = [original[id(model.get_submodule(n))] for n in chosen]
                    model = self._remove_modules(model, chosen, original)
                removed_units += goal
            else:
                goal_macs = ctx.report.macs_before / self.macs_reduction ** ((step + 1) / self.steps)  # type: ignore[operator]
                chosen = self._choose_macs(model, candidates, scores, goal_macs, ctx)
                scores = {original[id(model.get_submodule(n))]: v for n, v in scores.items()}
                chosen = [original[id(model.get_submodule(n))] for n in chosen]
                model = self._remove_modules(model, chosen, original)
            ctx.report.removed_blocks.extend(chosen)
            ctx.report.steps.append({"step": step + 1, "removed": chosen, "scores": {n: round(scores[n], 6) for n in chosen}, **ctx.measure(model)})
            if step < self.steps - 1:
                ctx.between_steps(model, step)
        if per_stage:
            assert spec is not None
            model = rebuild_from_spec(model, spec_with(spec, blocks=int(spec.architecture["blocks"]) - removed_units), ctx, "depth pruning")
        return model

    def _groups(self, model: nn.Module, candidates: Mapping[str, nn.Module]) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for name in candidates:
            groups.setdefault(name.rpartition(".")[0], []).append(name)
        return groups

    def _room(self, model: nn.Module, parent_name: str) -> int:
        parent = model.get_submodule(parent_name) if parent_name else model
        return len(parent) - self.keep_per_stage  # type: ignore[arg-type]

    def _choose_count(self, model: nn.Module, candidates: Mapping[str, nn.Module], scores: Mapping[str, float], goal: int, per_stage: bool) -> list[str]:
        groups = self._groups(model, candidates)
        if goal <= 0:
            return []
        if per_stage:
            stages = len(getattr(model, "stages", ()))
            if len(groups) < stages or any(self._room(model, g) < goal or len(v) < goal for g, v in groups.items()):
                raise UserError(
                    f"cannot remove {goal} block(s) from every stage: stages have {[len(v) for v in groups.values()]} removable blocks "
                    f"(a 'cnn' architecture has the same number of blocks in each stage)"
                )
            return [n for v in groups.values() for n in sorted(v, key=lambda n: scores[n])[:goal]]
        room = {g: self._room(model, g) for g in groups}
        chosen: list[str] = []
        for name in sorted(candidates, key=lambda n: scores[n]):
            if len(chosen) >= goal:
                break
            g = name.rpartition(".")[0]
            if room[g] > 0:
                chosen.append(name)
                room[g] -= 1
        if len(chosen) < goal:
            raise UserError(f"asked to remove {goal} block(s) but only {len(chosen)} can go (keep_per_stage={self.keep_per_stage})")
        return chosen

    def _choose_macs(self, model: nn.Module, candidates: Mapping[str, nn.Module], scores: Mapping[str, float], goal: float, ctx: CompressionContext) -> list[str]:
        chosen: list[str] = []
        current = float(count_macs(model, ctx.example_inputs))
        room = {g: self._room(model, g) for g in self._groups(model, candidates)}
        block_macs = self._block_macs(model, candidates, ctx)
        for name in sorted(candidates, key=lambda n: scores[n]):
            if current <= goal:
                break
            g = name.rpartition(".")[0]
            if room[g] > 0:
                chosen.append(name)
                room[g] -= 1
                current -= block_macs[name]
        if current > goal:
            raise UserError(f"removing every removable block leaves {current:,.0f} MACs, above the goal {goal:,.0f}; lower macs_reduction or combine with channel pruning")
        return chosen

    def _block_macs(self, model: nn.Module, candidates: Mapping[str, nn.Module], ctx: CompressionContext) -> dict[str, float]:
        inputs: dict[str, tuple[torch.Tensor, ...]] = {}
        handles = [b.register_forward_hook(lambda m, a, o, _n=n: inputs.__setitem__(_n, tuple(t[:1] for t in a))) for n, b in candidates.items()]
        try:
            run_model(model, ctx.example_inputs)
        finally:
            for h in handles:
                h.remove()
        return {n: float(count_macs(b, inputs[n])) for n, b in candidates.items()}

    def _remove_modules(self, model: nn.Module, original_names: Sequence[str], original: Mapping[int, str]) -> nn.Module:
        """Remove blocks given by their original names (the model may have been renumbered)."""
        current = {original.get(id(m)): n for n, m in model.named_modules()}
        return self._remove(model, [current[n] for n in original_names])

    def _remove(self, model: nn.Module, names: Sequence[str]) -> nn.Module:
        by_parent: dict[str, set[str]] = {}
        for name in names:
            parent_name, _, attr = name.rpartition(".")
            by_parent.setdefault(parent_name, set()).add(attr)
        # deepest parents first, so names of outer containers stay valid
        for parent_name in sorted(by_parent, key=lambda n: -n.count(".")):
            parent = model.get_submodule(parent_name) if parent_name else model
            kept = [m for attr, m in parent._modules.items() if attr not in by_parent[parent_name]]
            new = nn.Sequential(*kept)
            if parent_name:
                grand, attr = module_parent(model, parent_name)
                setattr(grand, attr, new)
            else:
                model = new
        if isinstance(model, CifarResNet):
            model.blocks = (len(model.layer1), len(model.layer2), len(model.layer3))
        return model


class _Skip(nn.Module):
    """Stands in for a block while its removal is scored: returns the input unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x
