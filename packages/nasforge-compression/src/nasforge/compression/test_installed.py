"""Conformance of every installed compressor: ``pytest --pyargs nasforge.compression.test_installed``.

The compressor suite (:mod:`nasforge.compression.testing`) over every registered compressor that
gives its test options (class attribute ``conformance_options``, or :data:`BUILTIN` below for the
compression package's own). ``conformance_pruner = True`` holds it to lowering the non-zero
parameters; ``conformance_model`` (a callable returning a model factory and example inputs) tests a
compressor of another kind of model than the default small CNN. Narrow it with ``-k``, e.g. ``-k nni``.
"""

from __future__ import annotations

import pytest

from nasforge.core.plugins import get_plugin_manager

#: Suite settings of the built-in compressors, name -> settings.
BUILTIN: dict[str, dict] = {
    "magnitude": {"options": {"sparsity": 0.5}, "pruner": True},
    "channel": {"options": {"ratio": 0.5}, "pruner": True},
    "depth": {"options": {"num_blocks": 2}, "pruner": True, "model": "resnet20"},
    "distill": {"options": {"epochs": 1}},
}

CHECKS = ("bad_ratio", "output_shape", "param_count", "report")


def _components() -> list[str]:
    try:
        return sorted(get_plugin_manager().components("compressor"))
    except Exception:  # a broken plugin is reported by the plugin manager, not here
        return []


@pytest.mark.parametrize("name, check", [pytest.param(n, c, id=f"{n}-{c}") for n in _components() for c in CHECKS])
def test_compressor(name, check):
    from nasforge.compression.testing import compressor_class, run_check

    settings = BUILTIN.get(name, {})
    cls = compressor_class(name)
    options = settings.get("options", getattr(cls, "conformance_options", None))
    if options is None:
        pytest.skip(f"compressor {name!r} gives no conformance_options (how much to compress)")
    model_factory, example = None, None
    if getattr(cls, "conformance_model", None) is not None:
        # a compressor for another kind of model says what to test it on: () -> (model factory, example inputs)
        model_factory, example = cls.conformance_model()
    elif settings.get("model") == "resnet20":
        import torch

        from nasforge.compression.models.cifar_resnet import resnet20

        model_factory, example = resnet20, torch.randn(2, 3, 32, 32)
    run_check(check, name, options=options, model_factory=model_factory, example_inputs=example, pruner=settings.get("pruner", False))
