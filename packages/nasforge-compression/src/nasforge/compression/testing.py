"""A conformance suite for compressors (see ``nasforge.compression.base.Compressor``).

Shipped with nasforge-compression (the core's ``nasforge.testing`` needs no torch). Each check takes a *compressor factory* and raises
:class:`AssertionError` explaining what broke. A factory is a registered compressor name, a
``Compressor`` subclass or any callable ``factory(**options)``; ``options`` say how much to
compress (e.g. ``{"ratio": 0.5}``). By default a check compresses :func:`tiny_cnn` on
``(2, 3, 16, 16)`` inputs; pass ``model_factory`` / ``example_inputs`` for a compressor that needs
another kind of model (a depth pruner needs residual blocks).

Use them from pytest, e.g. in a plugin's own tests::

    import pytest
    from nasforge.compression.testing import COMPRESSOR_CHECKS, run_check

    @pytest.mark.parametrize("check", sorted(COMPRESSOR_CHECKS))
    def test_my_pruner_conforms(check):
        run_check(check, MyPruner, options={"ratio": 0.5}, pruner=True)

The checks:

``output_shape``
    The compressed model runs, in eval mode, on the example inputs and on a batch of another size,
    with the output shape of the original; the model passed in is left untouched.
``param_count``
    The report's parameter counts match the models (before: the original; after: the returned
    model) and never grow. (Fine-tuning may turn zero biases non-zero, so only pruners are held
    to the non-zero count.) For a pruner (``pruner=True`` or a class attribute
    ``conformance_pruner = True``) the non-zero parameters strictly drop.
``bad_ratio``
    Every fraction option the compressor takes (:data:`FRACTION_OPTIONS`) rejects ``1.5`` and
    ``-0.1`` with a :class:`~nasforge.core.errors.UserError` naming the option, at construction
    or at the latest when ``compress`` is called.
``report``
    The report names the method (the compressor's ``name``), its ``table()`` is text and its
    ``to_dict()`` is JSON-serialisable.

Opt out with a class attribute ``conformance_skip_<check>`` giving the reason, or pass
``skip={"check": "reason"}``.
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from nasforge.core.errors import UserError
from nasforge.torchutils import count_params

from ._utils import count_nonzero_params

CompressorFactory = Any  # str | type | Callable[..., Compressor]

#: Option names that take a fraction in [0, 1); the bad_ratio check tries each one the compressor has.
FRACTION_OPTIONS = ("ratio", "sparsity", "amount", "pruning_ratio")


def tiny_cnn(num_classes: int = 10) -> nn.Module:
    """A small conv-BN-ReLU network with a linear head, for ``(N, 3, 16, 16)`` inputs."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, num_classes),
    ).eval()


def tiny_batches(example: torch.Tensor, num_classes: int = 10, n: int = 2) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``n`` random ``(inputs, targets)`` batches shaped like ``example`` (for compressors that need data)."""
    gen = torch.Generator().manual_seed(1)
    return [(torch.randn(example.shape, generator=gen), torch.randint(0, num_classes, (example.shape[0],), generator=gen)) for _ in range(n)]


def compressor_class(factory: CompressorFactory) -> type | None:
    """The compressor class behind ``factory`` (``None`` for a plain callable)."""
    if isinstance(factory, str):
        from nasforge.core.plugins import get_plugin_manager

        return get_plugin_manager().get("compressor", factory)
    if isinstance(factory, type):
        return factory
    return None


def make_compressor(factory: CompressorFactory, options: Mapping[str, Any] | None = None) -> Any:
    """Build a compressor with ``conformance_options`` (a class attribute) then ``options``."""
    cls = compressor_class(factory)
    build: Callable[..., Any] = cls if cls is not None else factory
    merged = {**dict(getattr(cls, "conformance_options", None) or {}), **dict(options or {})}
    return build(**merged)


def _compress(
    factory: CompressorFactory,
    options: Mapping[str, Any] | None,
    model_factory: Callable[[], nn.Module] | None,
    example_inputs: torch.Tensor | None,
) -> tuple[Any, nn.Module, nn.Module, Any, torch.Tensor]:
    compressor = make_compressor(factory, options)
    model = (model_factory or tiny_cnn)().eval()
    example = example_inputs if example_inputs is not None else torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    original = copy.deepcopy(model)
    with torch.no_grad():
        out = model(example)
    num_classes = int(out.shape[-1]) if out.dim() >= 2 else 10
    result = compressor.compress(model, example, data=tiny_batches(example, num_classes))
    return compressor, model, original, result, example


def _name(compressor: Any) -> str:
    return type(compressor).__name__


# -- the checks ----------------------------------------------------------------------------------
def check_output_shape(factory: CompressorFactory, options: Mapping[str, Any] | None = None, model_factory: Callable[[], nn.Module] | None = None, example_inputs: torch.Tensor | None = None, pruner: bool = False) -> None:
    """The compressed model runs on two batch sizes with the original output shape; the input model is untouched."""
    compressor, model, original, result, example = _compress(factory, options, model_factory, example_inputs)
    compressed = result.model
    assert isinstance(compressed, nn.Module), f"{_name(compressor)} returned {type(compressed).__name__} as the model"
    compressed.eval()
    other = torch.cat([example, example[:1]])  # another batch size
    with torch.no_grad():
        for batch in (example, other):
            want, got = original(batch).shape, compressed(batch).shape
            assert got == want, f"{_name(compressor)} changed the output shape from {tuple(want)} to {tuple(got)} (batch of {batch.shape[0]})"
    for (name, a), (_, b) in zip(original.state_dict().items(), model.state_dict().items()):
        assert torch.equal(a, b), f"{_name(compressor)} changed the model it was given ({name}); it must work on a copy unless inplace=True"


def check_param_count(factory: CompressorFactory, options: Mapping[str, Any] | None = None, model_factory: Callable[[], nn.Module] | None = None, example_inputs: torch.Tensor | None = None, pruner: bool = False) -> None:
    """The report's counts match the models and never grow; a pruner strictly lowers non-zero parameters."""
    compressor, _, original, result, _ = _compress(factory, options, model_factory, example_inputs)
    report = result.report
    assert report.params_before == count_params(original), f"{_name(compressor)} reports {report.params_before} parameters before, the model has {count_params(original)}"
    assert report.params_after == count_params(result.model), f"{_name(compressor)} reports {report.params_after} parameters after, the returned model has {count_params(result.model)}"
    assert report.params_after <= report.params_before, f"{_name(compressor)} grew the model from {report.params_before} to {report.params_after} parameters"
    nonzero_after = count_nonzero_params(result.model)
    is_pruner = pruner or bool(getattr(compressor_class(factory), "conformance_pruner", False))
    if is_pruner:
        assert nonzero_after < count_nonzero_params(original), (
            f"{_name(compressor)} is a pruner but the model kept all {count_nonzero_params(original)} non-zero parameters with options {dict(options or {})}"
        )


def check_bad_ratio(factory: CompressorFactory, options: Mapping[str, Any] | None = None, model_factory: Callable[[], nn.Module] | None = None, example_inputs: torch.Tensor | None = None, pruner: bool = False) -> None:
    """Every fraction option rejects 1.5 and -0.1 with a UserError naming it."""
    cls = compressor_class(factory)
    target = cls if cls is not None else factory
    params = inspect.signature(target).parameters
    fractions = [name for name in FRACTION_OPTIONS if name in params]
    if not fractions:
        import pytest

        pytest.skip(f"bad_ratio: {getattr(target, '__name__', target)} takes none of the fraction options {list(FRACTION_OPTIONS)}")
    base = {k: v for k, v in dict(options or {}).items() if k not in fractions}
    for name in fractions:
        for bad in (1.5, -0.1):
            try:
                compressor = make_compressor(factory, {**base, name: bad})
                compressor.compress((model_factory or tiny_cnn)(), example_inputs if example_inputs is not None else torch.randn(2, 3, 16, 16))
            except UserError as exc:
                assert name in str(exc), f"{name}={bad} was rejected, but the message does not name the option: {exc}"
                continue
            raise AssertionError(f"{getattr(target, '__name__', target)} accepted {name}={bad}; a fraction outside [0, 1) must raise a UserError naming {name!r}")


def check_report(factory: CompressorFactory, options: Mapping[str, Any] | None = None, model_factory: Callable[[], nn.Module] | None = None, example_inputs: torch.Tensor | None = None, pruner: bool = False) -> None:
    """The report names the method, renders as a table and serialises to JSON."""
    compressor, _, _, result, _ = _compress(factory, options, model_factory, example_inputs)
    report = result.report
    expected = getattr(compressor, "name", "") or _name(compressor)
    assert report.method == expected, f"the report names method {report.method!r}, the compressor is {expected!r}"
    table = report.table()
    assert isinstance(table, str) and expected in table
    try:
        json.dumps(report.to_dict())
    except TypeError as exc:
        raise AssertionError(f"{_name(compressor)}'s report.to_dict() is not JSON-serialisable: {exc}") from None


#: Every check by name, for pytest parametrisation.
COMPRESSOR_CHECKS: dict[str, Callable[..., None]] = {
    "output_shape": check_output_shape,
    "param_count": check_param_count,
    "bad_ratio": check_bad_ratio,
    "report": check_report,
}


def skip_reason(factory: CompressorFactory, check: str, skip: Mapping[str, str] | None = None) -> str | None:
    """Why ``check`` does not apply: ``skip[check]`` or the class attribute ``conformance_skip_<check>``."""
    if skip and skip.get(check):
        return str(skip[check])
    cls = compressor_class(factory)
    reason = getattr(cls, f"conformance_skip_{check}", None) if cls is not None else None
    return str(reason) if reason else None


def run_check(
    check: str,
    factory: CompressorFactory,
    options: Mapping[str, Any] | None = None,
    model_factory: Callable[[], nn.Module] | None = None,
    example_inputs: torch.Tensor | None = None,
    pruner: bool = False,
    skip: Mapping[str, str] | None = None,
) -> None:
    """Run one named check; calls ``pytest.skip`` with the reason when it does not apply."""
    if check not in COMPRESSOR_CHECKS:
        raise KeyError(f"unknown compressor check {check!r}; checks: {sorted(COMPRESSOR_CHECKS)}")
    reason = skip_reason(factory, check, skip)
    if reason:
        import pytest

        pytest.skip(f"{check}: {reason}")
    COMPRESSOR_CHECKS[check](factory, options, model_factory, example_inputs, pruner)
