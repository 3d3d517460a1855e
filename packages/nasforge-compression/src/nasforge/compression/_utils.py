"""Small helpers shared by the compressors: input checks, module lookup by name, sparsity.

Parameter and MAC counts are :mod:`nasforge.torchutils`' (shared with the trainer and deploy)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import torch
from torch import nn

from nasforge.core.errors import ConfigError, UserError
from nasforge.torchutils import eval_mode

#: Layers whose weights the compressors prune (both structured and unstructured).
PRUNABLE_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def as_input_tuple(example_inputs: Any) -> tuple[torch.Tensor, ...]:
    """``example_inputs`` as a tuple of tensors (a single tensor becomes a 1-tuple)."""
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,)
    if isinstance(example_inputs, (tuple, list)) and example_inputs and all(isinstance(t, torch.Tensor) for t in example_inputs):
        return tuple(example_inputs)
    raise UserError(
        f"example_inputs must be a tensor or a tuple of tensors shaped like one real batch (e.g. torch.randn(1, 3, 32, 32)), got {type(example_inputs).__name__}"
    )


def run_model(model: nn.Module, inputs: tuple[torch.Tensor, ...], what: str = "the model") -> torch.Tensor:
    """Run ``model`` in eval mode without gradients and return its (single tensor) output.

    Raises a :class:`UserError` saying which input shapes failed when the forward pass raises,
    and when the output is not one tensor (compressors compare output shapes).
    """
    try:
        with eval_mode(model), torch.no_grad():
            out = model(*inputs)
    except Exception as exc:
        shapes = ", ".join(str(tuple(t.shape)) for t in inputs)
        raise UserError(f"{what} cannot run on example inputs of shape {shapes}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(out, torch.Tensor):
        raise UserError(f"{what} returned {type(out).__name__}; the compressors need a model whose forward returns one tensor (wrap it to pick the logits)")
    return out


def check_fraction(field: str, value: Any, *, allow_zero: bool = True) -> float:
    """``value`` as a float in ``[0, 1)`` (or ``(0, 1)``), else a :class:`ConfigError` for ``field``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(field, f"must be a number in [0, 1), got {value!r}")
    value = float(value)
    low_ok = value >= 0.0 if allow_zero else value > 0.0
    if not (low_ok and value < 1.0):
        bound = "[0, 1)" if allow_zero else "(0, 1)"
        raise ConfigError(field, f"must be in {bound} (the fraction to remove), got {value}")
    return value


def check_positive(field: str, value: Any, *, integer: bool = False, minimum: float = 0.0, strict: bool = True) -> Any:
    """``value`` as a positive number (or integer), else a :class:`ConfigError` for ``field``."""
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        raise ConfigError(field, f"must be {'an integer' if integer else 'a number'}, got {value!r}")
    if (value <= minimum) if strict else (value < minimum):
        raise ConfigError(field, f"must be {'above' if strict else 'at least'} {minimum}, got {value}")
    return value


def resolve_modules(model: nn.Module, names: Iterable[str], field: str) -> dict[str, nn.Module]:
    """Look up submodules by their dotted names, with a "did you mean" hint for a wrong one."""
    modules = dict(model.named_modules())
    found: dict[str, nn.Module] = {}
    for name in names:
        if not isinstance(name, str) or name not in modules or name == "":
            close = difflib.get_close_matches(str(name), [n for n in modules if n], n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ConfigError(field, f"the model has no layer named {name!r}{hint} (names as in model.named_modules())")
        found[name] = modules[name]
    return found


def prunable_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Named convolution and linear layers of ``model``, except those inside ``nn.MultiheadAttention``.

    Attention reads its ``out_proj`` weight directly and never calls that layer's forward, so a
    pruning mask (re-applied by a forward pre-hook) would go stale: fine-tuning then failed with
    'Trying to backward through the graph a second time'.
    """
    inside = {id(child) for m in model.modules() if isinstance(m, nn.MultiheadAttention) for child in m.modules() if child is not m}
    return {name: m for name, m in model.named_modules() if isinstance(m, PRUNABLE_LAYERS) and id(m) not in inside}


def count_nonzero_params(model: nn.Module) -> int:
    """Number of parameter elements that are not exactly zero."""
    return sum(int(torch.count_nonzero(p.detach())) for p in model.parameters())


def weight_sparsity(layers: Mapping[str, nn.Module]) -> float:
    """Fraction of exactly-zero elements over the ``weight`` tensors of ``layers``."""
    total = zeros = 0
    for m in layers.values():
        w = getattr(m, "weight", None)
        if isinstance(w, torch.Tensor):
            total += w.numel()
            zeros += int((w.detach() == 0).sum())
    return zeros / total if total else 0.0


def module_parent(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    """The parent module of submodule ``name`` and the attribute under which it hangs."""
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    return parent, attr
