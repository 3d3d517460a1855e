"""Regression tests for what a new user tripped over (issue 12): each failed before its fix."""

import json
import sys

import pytest
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


def test_an_unknown_first_party_component_names_the_distribution_that_provides_it(monkeypatch):
    from nasforge.core import builtin, plugins
    from nasforge.core.errors import UnknownComponentError

    monkeypatch.setattr(plugins, "_version", lambda dist: "" if dist in ("nasforge-trainer", "nasforge-optuna") else "0.1.0")
    pm = plugins.PluginManager()
    pm.register(builtin, name="nasforge.core", distribution="nasforge-core")  # a no-torch install: the core alone
    for kind, name, dist in (("space", "cnn", "nasforge-trainer"), ("strategy", "optuna_tpe", "nasforge-optuna")):
        try:
            pm.get(kind, name)
        except UnknownComponentError as exc:
            assert f"{dist} distribution, which is not installed: pip install {dist}" in str(exc)
        else:
            raise AssertionError("no error")
    try:
        pm.get("strategy", "evolution")  # installed but not loaded
    except UnknownComponentError as exc:
        assert "nasforge-strategies, which is installed but did not load" in str(exc)


@pytest.mark.parametrize("executor", ["sequential", "process"])
def test_the_function_evaluator_imports_modules_from_the_current_folder(tmp_path, pm, monkeypatch, executor):
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "toy_score_mod.py").write_text("def score(arch):\n    return {'accuracy': arch['a'] / 10}\n")
    monkeypatch.chdir(folder)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(folder))])
    config = synthetic_config(tmp_path, evaluator={"name": "function", "options": {"function": "toy_score_mod:score"}}, budget={"trials": 3}, executor={"name": executor})
    experiment = Experiment.create(validate_config(config), plugin_manager=pm)
    result = experiment.run()
    assert [t.metrics["accuracy"] for t in result.trials] == [t.architecture["a"] / 10 for t in result.trials]


def test_progress_lines_mark_trials_that_break_a_constraint(tmp_path, pm, capsys):
    from nasforge.core.progress import ProgressReporter

    config = validate_config(synthetic_config(tmp_path, budget={"trials": 10}, constraints=["params <= 500"]))
    experiment = Experiment.create(config, plugin_manager=pm)
    reporter = ProgressReporter(live=False)
    pm.register(reporter, name="progress-test")
    result = experiment.run()
    lines = [line for line in capsys.readouterr().err.splitlines() if "] trial " in line]
    for trial in result.trials:
        line = next(line for line in lines if f"] trial {trial.number} " in line)
        if trial.metrics["params"] > 500:
            assert "infeasible (breaks params <= 500)" in line and " complete " not in line
        else:
            assert " complete " in line and "infeasible" not in line


def test_status_says_how_many_complete_trials_break_a_constraint(tmp_path, pm, capsys):
    experiment, result = _run(tmp_path, pm, budget={"trials": 10}, constraints=["params <= 500"])
    bad = [t.number for t in result.trials if t.metrics["params"] > 500]
    capsys.readouterr()
    assert main(["status", str(experiment.directory)]) == 0
    out = capsys.readouterr().out
    assert f"10 complete ({len(bad)} infeasible: break a constraint)" in out
    assert f"{len(bad)} infeasible trials" in out and all(f"trial {n} " in out for n in bad)
    info = json.loads(_status_json(experiment.directory, capsys))
    assert sorted(info["infeasible"]) == bad


def _status_json(directory, capsys):
    assert main(["status", str(directory), "--json"]) == 0
    return capsys.readouterr().out


def test_a_constraint_on_a_metric_the_evaluator_never_reports_is_warned_about(tmp_path, pm, monkeypatch, capsys):
    (tmp_path / "only_accuracy_mod.py").write_text("def score(arch):\n    return {'accuracy': arch['a'] / 10}\n")
    monkeypatch.chdir(tmp_path)
    config = synthetic_config(tmp_path, evaluator={"name": "function", "options": {"function": "only_accuracy_mod:score"}}, budget={"trials": 3}, constraints=["latency_ms <= 5"])
    experiment = Experiment.create(validate_config(config), plugin_manager=pm)
    experiment.run()
    err = capsys.readouterr().err
    assert err.count("warning: constraint latency_ms <= 5 names metric 'latency_ms'") == 1 and "every trial counts as infeasible" in err
    assert main(["status", str(experiment.directory)]) == 0
    assert "latency_ms" in capsys.readouterr().out.split("warning:")[1]


def test_tables_name_the_latency_use_human_numbers_and_never_break_an_architecture_mid_word(tmp_path, pm):
    from rich.console import Console

    from nasforge.core.cli import trials_table

    _, result = _run(tmp_path, pm, budget={"trials": 4}, space={"choices": [
        {"name": "a", "type": "int", "low": 0, "high": 9}, {"name": "b", "values": ["x", "y"]},
        *({"name": f"a_rather_long_choice_name_{i}", "values": ["some_long_value_name"]} for i in range(6))]})
    console = Console(width=60, record=True, color_system=None)
    console.print(trials_table("Top", result.trials, ["accuracy", "params", "latency_ms"], latency="torch eager"))
    text = console.export_text()
    assert "lat ms (torch eager)" in " ".join(text.split()) and "acc %" in text
    assert "50.00%" in text or "55.00%" in text or any(f"{t.metrics['accuracy'] * 100:.2f}%" in text for t in result.trials)
    tokens = {f"a_rather_long_choice_name_{i}=some_long_value_name" for i in range(6)}
    assert all(text.count(token) == len(result.trials) for token in tokens)  # each token whole, on one line


def test_plugins_lists_one_line_per_component_without_markup_and_filters_by_kind(capsys):
    from nasforge.core.plugins import get_plugin_manager

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    pm = get_plugin_manager()
    components = sum(len(pm.components(k)) for k in ("strategy", "evaluator", "space", "command", "executor"))
    assert "``" not in out and ":class:" not in out
    assert len(out.splitlines()) <= components + 4 * 9 + len(pm.plugins()) + 8
    assert main(["plugins", "--kind", "executor"]) == 0
    out = capsys.readouterr().out
    assert "sequential" in out and "process" in out and "synthetic" not in out and "run" not in out.split()
    with pytest.raises(SystemExit) as exit_info:
        main(["plugins", "--kind", "nope"])
    assert exit_info.value.code == 2 and "choose from" in capsys.readouterr().err


def test_the_summary_prints_the_links_plugins_give_for_the_experiment(tmp_path, pm, capsys):
    """Core names no artefact folder itself: the hints come from nasforge_experiment_links."""
    from nasforge.core.cli import print_summary
    from nasforge.core.hookspecs import hookimpl

    class Links:
        @hookimpl
        def nasforge_experiment_links(self, experiment):
            return [f"viewer --open {experiment.directory / 'logs'}"] if (experiment.directory / "logs").is_dir() else []

    experiment, result = _run(tmp_path, pm, budget={"trials": 2})
    pm.register(Links(), name="links-test")
    try:
        capsys.readouterr()
        print_summary(experiment, result)
        out = capsys.readouterr().out
        assert "viewer --open" not in out and "nasforge status" in out
        (experiment.directory / "logs").mkdir()
        print_summary(experiment, result)
        assert "viewer --open" in capsys.readouterr().out
    finally:
        pm.unregister(name="links-test")
