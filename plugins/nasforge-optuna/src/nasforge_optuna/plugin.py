"""The nasforge plugin module of nasforge-optuna (entry point ``optuna`` in group ``nasforge``)."""

from __future__ import annotations

from nasforge.core.hookspecs import hookimpl
from nasforge_optuna.strategies import OptunaCmaEs, OptunaGP, OptunaNSGA2, OptunaTPE


@hookimpl
def nasforge_register_strategies(register):
    """Register Optuna's TPE, CMA-ES, NSGA-II and GP samplers as strategies."""
    register("optuna_tpe", OptunaTPE, "Optuna's TPE sampler (tree-structured Parzen estimator)")
    register("optuna_cmaes", OptunaCmaEs, "Optuna's CMA-ES sampler over integer/ordered choices (needs the [cmaes] extra)")
    register("optuna_nsga2", OptunaNSGA2, "Optuna's NSGA-II sampler: several objectives, Pareto front")
    register("optuna_gp", OptunaGP, "Optuna's Gaussian-process sampler (needs the [gp] extra: torch, scipy)")
