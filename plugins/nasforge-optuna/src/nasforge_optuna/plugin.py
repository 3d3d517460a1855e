"""The nasforge plugin module of nasforge-optuna (entry point ``optuna`` in group ``nasforge``)."""

from __future__ import annotations

from nasforge.core.hookspecs import hookimpl

_MODULE = "nasforge_optuna.strategies"  # registered by reference: optuna is imported on first use


@hookimpl
def nasforge_register_strategies(register):
    """Register Optuna's TPE, CMA-ES, NSGA-II and GP samplers as strategies."""
    register("optuna_tpe", f"{_MODULE}:OptunaTPE", "Optuna's TPE sampler (tree-structured Parzen estimator)")
    register("optuna_cmaes", f"{_MODULE}:OptunaCmaEs", "Optuna's CMA-ES sampler over integer/ordered choices (needs the [cmaes] extra)")
    register("optuna_nsga2", f"{_MODULE}:OptunaNSGA2", "Optuna's NSGA-II sampler: several objectives, Pareto front")
    register("optuna_gp", f"{_MODULE}:OptunaGP", "Optuna's Gaussian-process sampler (needs the [gp] extra: torch, scipy)")
