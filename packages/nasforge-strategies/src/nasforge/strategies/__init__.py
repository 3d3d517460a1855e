"""nasforge.strategies: native search strategies (random, grid, regularized evolution, TPE, REINFORCE, local search).

Each strategy is a :class:`~nasforge.core.strategy.SearchStrategy` registered under a short name
by :mod:`nasforge.strategies.plugin`. They use numpy only and know nothing about models.
"""

from nasforge.strategies.base import NativeStrategy, score_of
from nasforge.strategies.evolution import RegularizedEvolution
from nasforge.strategies.grid import GridSearch
from nasforge.strategies.local_search import LocalSearch
from nasforge.strategies.random_search import RandomSearch
from nasforge.strategies.reinforce import Reinforce
from nasforge.strategies.tpe import TPE

__all__ = ["GridSearch", "LocalSearch", "NativeStrategy", "RandomSearch", "Reinforce", "RegularizedEvolution", "TPE", "score_of"]
