"""Every Optuna wrapper passes nasforge's strategy conformance suite."""

import pytest
import torch

from nasforge.testing.strategies import STRATEGY_CHECKS, run_check
from nasforge_optuna import OptunaCmaEs, OptunaGP, OptunaNSGA2, OptunaTPE

torch.set_num_threads(1)

FAST = [OptunaTPE, OptunaCmaEs, OptunaNSGA2]
# Checks that make 100+ suggestions; with GP every suggestion fits a Gaussian process.
HEAVY = {"progress"}


def _params(classes, heavy_classes=()):
    out = []
    for cls in classes:
        for check in sorted(STRATEGY_CHECKS):
            slow = check in HEAVY or cls in heavy_classes
            marks = [pytest.mark.slow] if slow else []
            out.append(pytest.param(cls, check, marks=marks, id=f"{cls.__name__}-{check}"))
    return out


@pytest.mark.parametrize("cls, check", _params([*FAST, OptunaGP], heavy_classes=(OptunaGP,)))
def test_conforms(cls, check):
    run_check(check, cls)


def test_registered_names_resolve_to_the_wrappers(nasforge_plugin_manager):
    strategies = nasforge_plugin_manager.components("strategy")
    for name, cls in {"optuna_tpe": OptunaTPE, "optuna_cmaes": OptunaCmaEs, "optuna_nsga2": OptunaNSGA2, "optuna_gp": OptunaGP}.items():
        assert strategies[name].obj is cls
        assert strategies[name].plugin.distribution == "nasforge-optuna"
