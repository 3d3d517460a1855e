"""Every registered strategy -- ours, the advanced ones and any installed plugin's -- runs the conformance suite.

Strategies of nasforge's own distributions always run. Those of other installed distributions
(third-party plugins) run too but are marked ``slow``: their cost is up to their authors (a
Gaussian-process sampler makes the 500-trial progress check take minutes), they are checked in
their own test suites as well, and a package-only CI session does not have them installed.
``pytest -m "not slow"`` leaves them out.
"""

from __future__ import annotations

import pytest

from nasforge.core.plugins import FIRST_PARTY, get_plugin_manager
from nasforge.testing.strategies import STRATEGY_CHECKS, run_check

REGISTERED = get_plugin_manager(fresh=True).components("strategy")


def _cases():
    for name in sorted(REGISTERED):
        third_party = REGISTERED[name].plugin.distribution not in FIRST_PARTY
        for check in sorted(STRATEGY_CHECKS):
            marks = [pytest.mark.slow] if third_party else []
            yield pytest.param(name, check, marks=marks, id=f"{name}-{check}")


def test_native_strategies_are_registered():
    for name in ("random", "grid", "evolution", "tpe", "reinforce", "local_search"):
        assert name in REGISTERED, f"strategy {name!r} is not registered"
        assert REGISTERED[name].plugin.distribution == "nasforge-strategies"


@pytest.mark.parametrize("name, check", list(_cases()))
def test_strategy_conformance(name, check):
    run_check(check, REGISTERED[name].obj)
