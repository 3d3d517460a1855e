"""The nasforge-nni plugin: registers NNI's strategies, compressors and the ``nni-oneshot`` command.

This module is loaded through the ``nasforge`` entry point. It imports no part of NNI; the
components import NNI when they are first used.
"""

from __future__ import annotations

from nasforge.core.hookspecs import hookimpl

from . import check_nni_version
from .strategies import STRATEGIES

check_nni_version()


@hookimpl
def nasforge_register_strategies(register):
    for name, (cls, description) in STRATEGIES.items():
        register(name, cls, description)
