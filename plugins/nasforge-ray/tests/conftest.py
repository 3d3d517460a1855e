"""Shared helpers: a plugin registering the probe evaluator and an enumeration-order strategy."""

from __future__ import annotations

import pytest

from nasforge.core.hookspecs import hookimpl
from nasforge.core.strategy import SearchStrategy
from nasforge.testing.executors import ProbeEvaluator


class InOrder(SearchStrategy):
    """Proposes the space's architectures in enumeration order (the core ships no strategy)."""

    def __init__(self, space, seed=0):
        super().__init__(space, seed)
        self._left = list(space.enumerate())

    def suggest(self):
        return self._left.pop(0) if self._left else None

    def observe(self, observation):
        pass


class ProbePlugin:
    """Registers ``probe`` (the kit's ProbeEvaluator) and ``in_order`` for these tests."""

    @hookimpl
    def nasforge_register_evaluators(self, register):
        register("probe", ProbeEvaluator)

    @hookimpl
    def nasforge_register_strategies(self, register):
        register("in_order", InOrder)


@pytest.fixture
def pm(nasforge_plugin_manager):
    """A fresh plugin manager with the probe plugin added."""
    nasforge_plugin_manager.register(ProbePlugin(), name="probe-plugin")
    return nasforge_plugin_manager
