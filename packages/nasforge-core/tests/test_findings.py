"""Regression tests for what a new user tripped over (issue 12): each failed before its fix."""

import json
import re
import sys

from conftest import synthetic_config

from nasforge.core.cli import main
from nasforge.core.config import validate_config
from nasforge.core.experiment import Experiment
from nasforge.core.formatting import human


def _run(tmp_path, pm, **overrides):
    config = validate_config(synthetic_config(tmp_path, **overrides))
    experiment = Experiment.create(config, plugin_manager=pm)
    return experiment, experiment.run()


def test_report_fronts_leave_out_trials_that_break_a_constraint(tmp_path, pm):
    experiment, result = _run(tmp_path, pm, budget={"trials": 20}, objectives=["accuracy", "params:min"], constraints=["params <= 500"])
    assert any(t.metrics["params"] > 500 for t in result.trials)  # infeasible trials exist
    from nasforge.core.report import figures

    fronts = [fig for fig in figures(experiment.config, result.trials) if fig["id"].startswith("front-")]
    assert fronts
    for fig in fronts:
        drawn = next(trace for trace in fig["data"] if trace["name"].startswith("Pareto front"))
        assert drawn["customdata"] and all(result.trials[n].metrics["params"] <= 500 for n in drawn["customdata"])
    params_front = next(fig for fig in fronts if fig["id"] == "front-params")
    assert sorted(next(t for t in params_front["data"] if t["name"].startswith("Pareto"))["customdata"]) == sorted(t.number for t in result.pareto)
    marked = next(trace for trace in params_front["data"] if trace["name"].startswith("breaks a constraint"))
    assert marked["customdata"] and all(result.trials[n].metrics["params"] > 500 for n in marked["customdata"])


def test_human_number_formats():
    assert [human(v) for v in (0.09023, 1.524, 9978.0, 46200.0, 232600.0, 29.6e6, 999.7, 12.0)] == ["0.0902", "1.52", "9.98k", "46.2k", "233k", "29.6M", "1.00k", "12"]
    assert human(0.97777, "accuracy") == "97.78%" and human(float("nan")) == "-"
