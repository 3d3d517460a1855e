"""Twenty (and more) malformed configs give twenty clear errors: a field name, no traceback, exit code 2."""

import copy

import pytest
import yaml
from conftest import synthetic_config

from nasforge.core.cli import main
from nasforge.core.config import default_config, load_config, validate_config
from nasforge.core.errors import ConfigError

MALFORMED = [
    # (description, mutation of a valid config, field expected in the message, words expected)
    ("unknown top-level key", lambda c: c.update(budjet={"trials": 3}), "budjet", "did you mean 'budget'"),
    ("misspelt strategy key", lambda c: c["strategy"].update(optionz={}), "strategy.optionz", "did you mean 'options'"),
    ("unknown strategy", lambda c: c["strategy"].update(name="evolutoin"), "strategy.name", "unknown strategy"),
    ("unknown evaluator", lambda c: c["evaluator"].update(name="nope"), "evaluator.name", "unknown evaluator"),
    ("unknown executor", lambda c: c.update(executor={"name": "cluster"}), "executor.name", "unknown executor"),
    ("unknown strategy option", lambda c: c["strategy"].update(options={"population_size": 3}), "strategy.options.population_size", "unknown option"),
    ("unknown evaluator option", lambda c: c["evaluator"].update(options={"epochs": 3}), "evaluator.options.epochs", "unknown option"),
    ("trials is text", lambda c: c.update(budget={"trials": "many"}), "budget.trials", "integer"),
    ("trials is zero", lambda c: c.update(budget={"trials": 0}), "budget.trials", "greater than or equal to 1"),
    ("no budget at all", lambda c: c.update(budget={"trials": None}), "budget", "needs a limit"),
    ("negative timeout", lambda c: c.update(trial_timeout=-1), "trial_timeout", "greater than 0"),
    ("seed is a list", lambda c: c.update(seed=[1]), "seed", "integer"),
    ("missing evaluator", lambda c: c.pop("evaluator"), "evaluator", "required"),
    ("missing space", lambda c: c.pop("space"), "space", "required"),
    ("empty space", lambda c: c.update(space={"choices": []}), "space", "empty"),
    ("space without name or choices", lambda c: c.update(space={"options": {}}), "space", "either 'name'"),
    ("unknown space", lambda c: c.update(space={"name": "resnet9000"}), "space.name" if False else "space", "unknown space"),
    ("broken choice", lambda c: c["space"]["choices"].append({"name": "z", "type": "float"}), "space.choices", "unknown type"),
    ("extra choice reuses a name", lambda c: c["space"].update(extra_choices=[{"name": "a", "values": [1]}]), "space.extra_choices", "used twice"),
    ("bad direction", lambda c: c.update(objectives=[{"metric": "accuracy", "direction": "up"}]), "objectives.0.direction", "maximize"),
    ("objective the evaluator does not report", lambda c: c.update(objectives=["acc"]), "objectives[0].metric", "does not report 'acc'"),
    ("unreadable constraint", lambda c: c.update(constraints=["latency under 5"]), "constraints", "latency_ms <= 5"),
    ("constraint on an unknown metric", lambda c: c.update(constraints=["energy <= 5"]), "constraints[0]", "does not report 'energy'"),
    ("bad experiment name", lambda c: c.update(name="my run/1"), "name", "letters, digits"),
    ("duplicate objectives", lambda c: c.update(objectives=["accuracy", "accuracy:min"]), "objectives", "twice"),
    ("options is a list", lambda c: c["strategy"].update(options=[1, 2]), "strategy.options", "dictionary"),
]


@pytest.mark.parametrize("description, mutate, field, words", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_config_gives_one_clear_error_and_exit_code_2(tmp_path, capsys, monkeypatch, description, mutate, field, words):
    monkeypatch.setenv("NASFORGE_PLUGINS", "nasforge_test_plugin")
    config = copy.deepcopy(synthetic_config(tmp_path))
    mutate(config)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    code = main(["run", str(path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, err
    assert field in err and words in err, err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir()), "a failed config left an experiment folder"


@pytest.mark.parametrize(
    "text, words",
    [
        ("name: [unclosed", "not valid YAML at line 1"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("", "is empty"),
        ("\x00\x01binary", "not valid YAML"),
    ],
)
def test_files_that_are_not_yaml_configs(tmp_path, capsys, text, words):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err


def test_missing_config_file(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_several_errors_are_all_listed(tmp_path):
    data = synthetic_config(tmp_path)
    data["budget"] = {"trials": "x"}
    data["seed"] = "y"
    with pytest.raises(ConfigError) as err:
        validate_config(data)
    assert "budget.trials" in str(err.value) and "seed" in str(err.value)


def test_shorthands_and_round_trip(tmp_path):
    data = synthetic_config(tmp_path, objectives=["accuracy", "params:min"], constraints=["latency_ms <= 5"])
    config = validate_config(data)
    assert [(o.metric, o.direction) for o in config.objectives] == [("accuracy", "maximize"), ("params", "minimize")]
    assert str(config.constraints[0]) == "latency_ms <= 5"
    assert validate_config(yaml.safe_load(config.to_yaml())) == config


def test_name_defaults_to_the_file_stem(tmp_path):
    data = synthetic_config(tmp_path)
    data.pop("name")
    path = tmp_path / "my experiment.yaml"
    path.write_text(yaml.safe_dump(data))
    assert load_config(path).name == "my-experiment"


def test_the_builtin_default_is_the_digits_demo():
    config = default_config()
    assert config.strategy.name == "evolution"
    assert config.evaluator.name == "trainer" and config.evaluator.options["dataset"] == "digits"
    assert config.space.name == "cnn" and config.budget.trials == 20


def test_a_mistake_found_when_the_run_starts_leaves_no_folder(tmp_path, capsys, monkeypatch):
    import nasforge_test_plugin

    from nasforge.core.errors import UserError

    def setup(self, workdir):
        raise UserError("dataset folder /nowhere does not exist")

    monkeypatch.setattr(nasforge_test_plugin.Synthetic, "setup", setup)
    monkeypatch.setenv("NASFORGE_PLUGINS", "nasforge_test_plugin")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(synthetic_config(tmp_path)))
    assert main(["run", str(path), "--quiet"]) == 2
    assert "/nowhere" in capsys.readouterr().err
    assert not any((tmp_path / "runs").iterdir())
