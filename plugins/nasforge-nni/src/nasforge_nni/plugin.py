"""The nasforge-nni plugin: registers NNI's strategies, compressors and the ``nni-oneshot`` command.

This module is loaded through the ``nasforge`` entry point. It imports no part of NNI (which
takes seconds); the components import NNI when they are first used.
"""

from __future__ import annotations

from nasforge.core.hookspecs import hookimpl

from . import check_nni_version
from .strategies import STRATEGIES

check_nni_version()


@hookimpl
def nasforge_register_strategies(register):
    """NNI's multi-trial strategies: nni_random, nni_grid, nni_evolution, nni_tpe, nni_rl."""
    for name, (cls, description) in STRATEGIES.items():
        register(name, cls, description)


@hookimpl
def nasforge_register_compressors(register):
    """NNI's pruners (with ModelSpeedup) and quantizers; refused algorithms are registered too, so a config naming them gets the reason."""
    from .compress import COMPRESSORS

    for name, (cls, description) in COMPRESSORS.items():
        register(name, cls, description)


@hookimpl
def nasforge_register_commands(register):
    """``nasforge nni-oneshot``."""
    from .cli import OneShotCommand

    register("nni-oneshot", OneShotCommand(), "One-shot NAS with NNI (DARTS, GumbelDARTS, RandomOneShot, Proxyless) on digits")
