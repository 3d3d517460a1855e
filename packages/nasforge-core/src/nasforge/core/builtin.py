"""The core's own plugin: registered through the same hooks as every other plugin."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from nasforge.core.errors import ConfigError
from nasforge.core.evaluator import Evaluator, TrialContext
from nasforge.core.executor import LocalProcessExecutor, SequentialExecutor
from nasforge.core.hookspecs import hookimpl
from nasforge.core.records import Architecture
from nasforge.core.space import SearchSpace


class FunctionEvaluator(Evaluator):
    """Scores an architecture with a plain Python function ``module:function`` (no training).

    The function is called as ``fn(architecture_dict)`` and returns a mapping of metric names to
    numbers. Useful for synthetic benchmarks, tabular lookups and tests.
    """

    metrics: ClassVar[tuple[str, ...]] = ()  # whatever the function returns

    def __init__(self, space: SearchSpace, function: str) -> None:
        super().__init__(space)
        self.function_path = function
        self.fn = load_callable(function, "evaluator.options.function")

    def evaluate(self, architecture: Architecture, context: TrialContext) -> Mapping[str, float]:
        return self.fn(architecture.to_dict())


def load_callable(path: str, field: str) -> Callable[..., Any]:
    """Import ``package.module:attribute`` or raise a :class:`ConfigError` for ``field``."""
    if not isinstance(path, str) or ":" not in path:
        raise ConfigError(field, f"expected 'module:function', got {path!r}")
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(field, f"cannot import module {module_name!r}: {exc}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError(field, f"module {module_name!r} has no callable {attr!r}")
    return fn


@hookimpl
def nasforge_register_executors(register):
    register("sequential", SequentialExecutor, "Run trials one after another in this process")
    register("process", LocalProcessExecutor, "Run several trials at once in worker processes on this machine")


@hookimpl
def nasforge_register_evaluators(register):
    register("function", FunctionEvaluator)


@hookimpl
def nasforge_register_commands(register):
    from nasforge.core.cli import PluginsCommand, ResumeCommand, RunCommand, StatusCommand
    from nasforge.core.report import DashboardCommand, ReportCommand

    register("run", RunCommand, "Run a search (the built-in digits demo when no config is given)")
    register("resume", ResumeCommand, "Continue an interrupted experiment; finished trials are kept")
    register("status", StatusCommand, "Show an experiment's trials and best architectures")
    register("plugins", PluginsCommand, "List loaded plugins and what they registered")
    register("report", ReportCommand, "Write an interactive HTML report: best-so-far curve, Pareto fronts, space, deploy table, every trial")
    register("dashboard", DashboardCommand, "Serve a live report on 127.0.0.1 that refreshes while the run goes on")
