"""The exceptions nasforge raises. User mistakes are :class:`UserError` and end the CLI with exit code 2."""

from __future__ import annotations


class NasforgeError(Exception):
    """Base class of every nasforge error."""


class UserError(NasforgeError):
    """A mistake the user can fix (bad config, missing file, unknown name). The message says how."""


class ConfigError(UserError):
    """A config value is wrong. ``field`` is its dotted path, e.g. ``strategy.options.population``."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


class SpaceError(UserError):
    """A search space, or an architecture checked against one, is malformed."""


class PluginError(NasforgeError):
    """A plugin failed to load, registered a name twice, or raised inside a hook. Names the plugin."""


class UnknownComponentError(UserError):
    """A config names a strategy, evaluator, space ... that no loaded plugin registered."""


class StorageError(NasforgeError):
    """The experiment database could not be read or written (disk full, read-only folder, damaged file).

    What was committed before stays; fix the cause and resume."""


class TrialFailed(NasforgeError):
    """Raised by an evaluator to fail the current trial with a reason (the search goes on)."""


class TrialTimeout(TrialFailed):
    """The trial ran past its time limit."""


class TrialPruned(NasforgeError):
    """Raised by an evaluator when a trial is stopped early on purpose (e.g. by a scheduler)."""
