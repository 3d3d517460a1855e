"""Every registered strategy -- ours, the advanced ones and any installed plugin's -- runs the conformance suite."""

from __future__ import annotations

import pytest

from nasforge.core.plugins import get_plugin_manager
from nasforge.testing.strategies import STRATEGY_CHECKS, run_check

REGISTERED = get_plugin_manager(fresh=True).components("strategy")


def test_native_strategies_are_registered():
    for name in ("random", "grid", "evolution", "tpe", "reinforce", "local_search"):
        assert name in REGISTERED, f"strategy {name!r} is not registered"
        assert REGISTERED[name].plugin.distribution == "nasforge-strategies"


@pytest.mark.parametrize("check", sorted(STRATEGY_CHECKS))
@pytest.mark.parametrize("name", sorted(REGISTERED))
def test_strategy_conformance(name, check):
    run_check(check, REGISTERED[name].obj)
