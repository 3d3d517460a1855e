"""Conformance of everything installed: ``pytest --pyargs nasforge.testing.test_installed``.

Runs the strategy suite over every registered strategy, the executor suite over every registered
executor and the evaluator suite over every evaluator that names a space to test on. Narrow it
with ``-k``, e.g. ``pytest --pyargs nasforge.testing.test_installed -k optuna``. The compressor
suite needs torch and lives with nasforge-compression: ``pytest --pyargs nasforge.compression.test_installed``.

A component takes part by class attributes (see each suite's module docstring):
``conformance_options`` (options for the suite), ``conformance_skip_<check>`` (an honest reason
to skip a check), and for evaluators ``conformance_space`` (a callable returning a space). Built-in
executors, which predate these attributes, are described in :data:`BUILTIN` below.
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
