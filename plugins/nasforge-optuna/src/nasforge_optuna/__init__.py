"""nasforge-optuna: Optuna's samplers (TPE, CMA-ES, NSGA-II, GP) as nasforge search strategies."""

from nasforge.core.lazy import lazy_exports

# optuna is imported on first use of a strategy, not when the plugin loads (nasforge --help)
__getattr__, __dir__ = lazy_exports(__name__, dict.fromkeys(["OptunaCmaEs", "OptunaGP", "OptunaNSGA2", "OptunaStrategy", "OptunaTPE"], "nasforge_optuna.strategies"))

__all__ = ["OptunaCmaEs", "OptunaGP", "OptunaNSGA2", "OptunaStrategy", "OptunaTPE"]
