"""The nasforge-strategies plugin for the advanced strategies: model-based, multi-objective, multi-fidelity.

Exposed through the entry point ``strategies-advanced`` of the distribution.
"""

from __future__ import annotations

from nasforge.core.hookspecs import hookimpl
from nasforge.strategies.model_based import Bananas
from nasforge.strategies.multifidelity import Hyperband, SuccessiveHalving
from nasforge.strategies.nsga2 import NSGA2

#: name -> (class, one-line description).
STRATEGIES = {
    "bananas": (Bananas, "Neural-predictor ensemble with Thompson sampling over mutations, after BANANAS (White et al. 2021)"),
    "nsga2": (NSGA2, "Multi-objective evolution with non-dominated sorting and crowding distance (Deb et al. 2002)"),
    "successive_halving": (SuccessiveHalving, "Successive halving over a fidelity around any strategy (Jamieson & Talwalkar 2016)"),
    "hyperband": (Hyperband, "Hyperband brackets of successive halving around any strategy (Li et al. 2018)"),
}


@hookimpl
def nasforge_register_strategies(register):
    """Register the strategies listed in :data:`STRATEGIES`."""
    for name, (cls, description) in STRATEGIES.items():
        register(name, cls, description)
