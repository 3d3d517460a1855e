"""The core's own plugin: registered through the same hooks as every other plugin."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from nasforge.core.errors import ConfigError
from nasforge.core.evaluator import Evaluator, TrialContext
from nasforge.core.executor import LocalProcessExecutor, SequentialExecutor
from nasforge.core.parsing import load_reference
from nasforge.core.records import Architecture
from nasforge.core.registration import ComponentTable
from nasforge.core.space import SearchSpace


class FunctionEvaluator(Evaluator):
    """Scores an architecture with a plain Python function ``module:function`` (no training).

    The function is called as ``fn(architecture_dict)`` and returns a mapping of metric names to
    numbers. The module is imported from the installed packages or, failing that, from the
    current folder (``toy.py`` next to the config is ``toy:score``). Useful for your own scoring
    code, synthetic benchmarks, tabular lookups and tests. See docs/config.md.
    """

    metrics: ClassVar[tuple[str, ...]] = ()  # whatever the function returns

    def __init__(self, space: SearchSpace, function: str | Callable[..., Any]) -> None:
        super().__init__(space)
        self.function_path = function if isinstance(function, str) else f"{getattr(function, '__module__', '?')}:{getattr(function, '__qualname__', '?')}"
        self.fn = load_reference(function, "evaluator.options.function") if isinstance(function, str) else function
        if not callable(self.fn):
            raise ConfigError("evaluator.options.function", f"expected 'module:function' or a callable, got {function!r}")

    def evaluate(self, architecture: Architecture, context: TrialContext) -> Mapping[str, float]:
        return self.fn(architecture.to_dict())

    def __getstate__(self) -> dict[str, Any]:
        # Worker processes import the function again (from the current folder too) rather than
        # unpickling it by reference, which fails for a module found only through the cwd.
        state = dict(self.__dict__)
        if isinstance(self.function_path, str) and ":" in self.function_path and "<" not in self.function_path:
            state["fn"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if self.fn is None:
            self.fn = load_reference(self.function_path, "evaluator.options.function")


#: The core's components; commands by reference, because the CLI modules import the plugin manager, which loads this plugin.
COMPONENTS = ComponentTable([
    ("executor", "sequential", SequentialExecutor, "Run trials one after another in this process"),
    ("executor", "process", LocalProcessExecutor, "Run several trials at once in worker processes on this machine"),
    ("evaluator", "function", FunctionEvaluator, ""),
    ("command", "run", "nasforge.core.cli:RunCommand", "Run a search (the built-in digits demo when no config is given)"),
    ("command", "resume", "nasforge.core.cli:ResumeCommand", "Continue an interrupted experiment; finished trials are kept"),
    ("command", "status", "nasforge.core.cli:StatusCommand", "Show an experiment's trials and best architectures"),
    ("command", "plugins", "nasforge.core.cli:PluginsCommand", "List loaded plugins and what they registered"),
    ("command", "completion", "nasforge.core.cli:CompletionCommand", "Print a shell completion script (bash, zsh)"),
    ("command", "report", "nasforge.core.report:ReportCommand", "Write an interactive HTML report: best-so-far curve, Pareto fronts, space, deploy table, every trial"),
    ("command", "dashboard", "nasforge.core.report:DashboardCommand", "Serve a live report on 127.0.0.1 that refreshes while the run goes on"),
])
nasforge_register_executors = COMPONENTS.hook("executor")
nasforge_register_evaluators = COMPONENTS.hook("evaluator")
nasforge_register_commands = COMPONENTS.hook("command")
