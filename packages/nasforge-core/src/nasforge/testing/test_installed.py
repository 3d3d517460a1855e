"""Conformance of everything installed: ``pytest --pyargs nasforge.testing.test_installed``.

Runs the strategy suite over every registered strategy, the executor suite over every registered
executor, the evaluator suite over every evaluator that names a space to test on, and the
compressor suite over every compressor that gives its test options. Narrow it with ``-k``, e.g.
``pytest --pyargs nasforge.testing.test_installed -k optuna``.

A component takes part by class attributes (see each suite's module docstring):
``conformance_options`` (options for the suite), ``conformance_skip_<check>`` (an honest reason
to skip a check), and for evaluators ``conformance_space`` (a callable returning a space) and for
compressors ``conformance_pruner`` and ``conformance_model`` (a callable returning a model
factory and example inputs, for compressors of models other than the default small CNN). Built-in executors and compressors, which predate these
attributes, are described in :data:`BUILTIN` below.
"""

from __future__ import annotations

import pytest

from nasforge.core.plugins import get_plugin_manager

#: Suite settings of first-party components (kind, name) -> settings.
BUILTIN: dict[tuple[str, str], dict] = {
    ("executor", "sequential"): {
        "skip": {
            "parallelism": "runs one trial at a time",
            "worker_death": "runs trials in the calling process; os._exit would end the test run",
            "hard_timeout": "runs trials in the calling process; it cannot stop an evaluation that ignores its deadline",
        }
    },
    ("executor", "process"): {"options": {"workers": 2, "threads_per_worker": 1}, "skip": {"submit": "runs trials only (submit_trial)"}},
    ("compressor", "magnitude"): {"options": {"sparsity": 0.5}, "pruner": True},
    ("compressor", "channel"): {"options": {"ratio": 0.5}, "pruner": True},
    ("compressor", "depth"): {"options": {"num_blocks": 2}, "pruner": True, "model": "resnet20"},
    ("compressor", "distill"): {"options": {"epochs": 1}},
}


def _components(kind: str) -> list[str]:
    try:
        return sorted(get_plugin_manager().components(kind))
    except Exception:  # a broken plugin is reported by the plugin manager, not here
        return []


def _settings(kind: str, name: str) -> dict:
    return BUILTIN.get((kind, name), {})


def _params(kind: str, checks: dict) -> list:
    return [pytest.param(name, check, id=f"{name}-{check}") for name in _components(kind) for check in sorted(checks)]


def _strategy_checks() -> dict:
    from nasforge.testing.strategies import STRATEGY_CHECKS

    return STRATEGY_CHECKS


def _executor_checks() -> dict:
    from nasforge.testing.executors import EXECUTOR_CHECKS

    return EXECUTOR_CHECKS


def _evaluator_checks() -> dict:
    from nasforge.testing.evaluators import EVALUATOR_CHECKS

    return EVALUATOR_CHECKS


_COMPRESSOR_CHECKS = ("bad_ratio", "output_shape", "param_count", "report")


@pytest.mark.parametrize("name, check", _params("strategy", _strategy_checks()))
def test_strategy(name, check):
    from nasforge.testing.strategies import run_check

    run_check(check, name)


@pytest.mark.parametrize("name, check", _params("executor", _executor_checks()))
def test_executor(name, check, tmp_path):
    from nasforge.testing.executors import run_check

    settings = _settings("executor", name)
    run_check(check, name, tmp_path, options=settings.get("options"), skip=settings.get("skip"))


@pytest.mark.parametrize("name, check", _params("evaluator", _evaluator_checks()))
def test_evaluator(name, check, tmp_path):
    from nasforge.testing.evaluators import evaluator_class, run_check

    space_factory = getattr(evaluator_class(name), "conformance_space", None)
    if space_factory is None:
        pytest.skip(f"evaluator {name!r} names no conformance_space to test on")
    run_check(check, name, space_factory(), tmp_path)


@pytest.mark.parametrize("name, check", [pytest.param(n, c, id=f"{n}-{c}") for n in _components("compressor") for c in _COMPRESSOR_CHECKS])
def test_compressor(name, check):
    pytest.importorskip("torch", reason="the compressor suite needs torch")
    from nasforge.testing.compressors import compressor_class, run_check

    settings = _settings("compressor", name)
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
