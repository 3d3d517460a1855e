"""nasforge-optuna: Optuna's samplers (TPE, CMA-ES, NSGA-II, GP) as nasforge search strategies."""

from nasforge_optuna.strategies import OptunaCmaEs, OptunaGP, OptunaNSGA2, OptunaStrategy, OptunaTPE

__all__ = ["OptunaCmaEs", "OptunaGP", "OptunaNSGA2", "OptunaStrategy", "OptunaTPE"]
