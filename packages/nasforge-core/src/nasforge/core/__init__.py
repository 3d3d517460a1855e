"""nasforge.core: records, search spaces, hooks, plugin manager, experiment loop, store and CLI."""

from nasforge.core.errors import (
    ConfigError,
    NasforgeError,
    PluginError,
    SpaceError,
    TrialFailed,
    TrialPruned,
    TrialTimeout,
    UnknownComponentError,
    UserError,
)
from nasforge.core.evaluator import Evaluator, TrialContext
from nasforge.core.executor import Executor, LocalProcessExecutor, SequentialExecutor
from nasforge.core.hookspecs import hookimpl
from nasforge.core.lazy import lazy_exports
from nasforge.core.records import Architecture, EvaluationResult, Observation, Trial, TrialState
from nasforge.core.space import Categorical, Choice, Integer, SearchSpace
from nasforge.core.strategy import SearchStrategy, StrategyError

# The plugin manager loads plugins, whose modules import nasforge.core: imported on first use.
__getattr__, __dir__ = lazy_exports(__name__, {"PluginManager": "nasforge.core.plugins", "get_plugin_manager": "nasforge.core.plugins"})

__all__ = [
    "Architecture",
    "Categorical",
    "Choice",
    "ConfigError",
    "EvaluationResult",
    "Evaluator",
    "Executor",
    "Integer",
    "LocalProcessExecutor",
    "NasforgeError",
    "Observation",
    "PluginError",
    "PluginManager",
    "SearchSpace",
    "SearchStrategy",
    "SequentialExecutor",
    "SpaceError",
    "StrategyError",
    "Trial",
    "TrialContext",
    "TrialFailed",
    "TrialPruned",
    "TrialState",
    "TrialTimeout",
    "UnknownComponentError",
    "UserError",
    "get_plugin_manager",
    "hookimpl",
]
