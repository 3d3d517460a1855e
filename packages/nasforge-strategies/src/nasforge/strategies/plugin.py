"""The nasforge-strategies plugin: registers the native search strategies.

Exposed through the ``nasforge`` entry point ``strategies`` of the distribution, so a config can
name them as ``strategy: {name: tpe, options: {...}}``.
"""

from __future__ import annotations

from nasforge.core.hookspecs import hookimpl
from nasforge.strategies.evolution import RegularizedEvolution
from nasforge.strategies.grid import GridSearch
from nasforge.strategies.local_search import LocalSearch
from nasforge.strategies.random_search import RandomSearch
from nasforge.strategies.reinforce import Reinforce
from nasforge.strategies.tpe import TPE

#: name -> (class, one-line description), in the order ``nasforge plugins`` lists them.
STRATEGIES = {
    "random": (RandomSearch, "Random search without repeats"),
    "grid": (GridSearch, "Every architecture of the space exactly once"),
    "evolution": (RegularizedEvolution, "Regularized (aging) evolution, Real et al. 2019"),
    "tpe": (TPE, "Tree-structured Parzen Estimator, Bergstra et al. 2011"),
    "reinforce": (Reinforce, "REINFORCE policy gradient over per-choice softmax policies, after Zoph & Le 2017"),
    "local_search": (LocalSearch, "Hill climbing through neighbourhoods with random restarts, White et al. 2021"),
}


@hookimpl
def nasforge_register_strategies(register):
    """Register the native strategies listed in :data:`STRATEGIES`."""
    for name, (cls, description) in STRATEGIES.items():
        register(name, cls, description)
