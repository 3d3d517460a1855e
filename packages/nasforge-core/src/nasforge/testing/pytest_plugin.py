"""pytest plugin shipped with nasforge-core (entry point ``pytest11``): shared fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture
def nasforge_plugin_manager():
    """A fresh plugin manager with every installed plugin loaded."""
    from nasforge.core.plugins import get_plugin_manager

    return get_plugin_manager(fresh=True)
