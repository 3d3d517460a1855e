"""Helpers for the deploy tests (a unique module name, so that running several packages' tests in
one pytest session cannot pick up another package's helpers)."""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Any

from nasforge.core import SearchStrategy, hookimpl
from nasforge.core.plugins import PluginManager


def listed_strategy(architectures: Sequence[Mapping[str, Any]]) -> type[SearchStrategy]:
    """A strategy proposing ``architectures`` in order (the deploy package depends on no strategy package)."""

    class Listed(SearchStrategy):
        def __init__(self, space, seed=0):
            super().__init__(space, seed)
            self.todo = [space.complete(dict(a)) for a in architectures]

        def suggest(self):
            return self.todo.pop(0) if self.todo else None

        def observe(self, observation):
            pass

    return Listed


def register_plugin(manager: PluginManager, name: str, **hooks: Any) -> PluginManager:
    """Register a plugin module made of ``hooks`` (hook name -> implementation) on ``manager``."""
    plugin = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(plugin, hook_name, hookimpl(fn))
    manager.register(plugin, name=name)
    return manager
