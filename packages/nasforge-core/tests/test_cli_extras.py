"""--set overrides, --dry-run and shell completion."""

import subprocess
import sys

import yaml
from conftest import synthetic_config

from nasforge.core.cli import apply_overrides, main


def _config_file(tmp_path, **overrides):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(synthetic_config(tmp_path, **overrides)))
    return path


def test_set_overrides_any_field_by_path():
    data = {"strategy": {"name": "evolution", "options": {"population_size": 8}}, "objectives": [{"metric": "accuracy"}], "budget": {"trials": 20}}
    out = apply_overrides(data, ["strategy.name=tpe", "strategy.options={}", "budget.trials=5", "objectives.0.direction=minimize", "evaluator.options.epochs=2", "constraints=[params <= 5e4]"])
    assert out["strategy"] == {"name": "tpe", "options": {}} and out["budget"]["trials"] == 5
    assert out["objectives"][0] == {"metric": "accuracy", "direction": "minimize"} and out["evaluator"] == {"options": {"epochs": 2}}
    assert out["constraints"] == ["params <= 5e4"] and data["budget"]["trials"] == 20  # the input is untouched


def test_dry_run_validates_builds_and_prints_the_plan_without_writing(tmp_path, subprocess_env, capsys):
    path = _config_file(tmp_path)
    result = subprocess.run([sys.executable, "-m", "nasforge.core.cli", "run", str(path), "--dry-run", "--set", "budget.trials=3", "--set", "evaluator.options.sleep=0.5"], capture_output=True, text=True, env=subprocess_env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "dry run" in result.stdout and "budget     trials 3" in result.stdout and "20 architectures" in result.stdout and "sleep" in result.stdout
    assert not (tmp_path / "runs").exists()
    bad = subprocess.run([sys.executable, "-m", "nasforge.core.cli", "run", str(path), "--dry-run", "--set", "evaluator.options.slep=1"], capture_output=True, text=True, env=subprocess_env, timeout=120)
    assert bad.returncode == 2 and "evaluator.options.slep" in bad.stderr and "did you mean 'sleep'" in bad.stderr
    assert not (tmp_path / "runs").exists()
    assert main(["run", str(path), "--dry-run", "--set", "budget"]) == 2
    assert "KEY.PATH=VALUE" in capsys.readouterr().err


def test_the_run_uses_the_overridden_config(tmp_path):
    path = _config_file(tmp_path, plugins=["nasforge_test_plugin"])
    assert main(["run", str(path), "--quiet", "--set", "budget.trials=2", "--dir", str(tmp_path / "exp")]) == 0
    stored = yaml.safe_load((tmp_path / "exp" / "config.yaml").read_text())
    assert stored["budget"]["trials"] == 2


def test_bash_completion_completes_commands_and_options(subprocess_env):
    script = subprocess.run([sys.executable, "-m", "nasforge.core.cli", "completion", "bash"], capture_output=True, text=True, env=subprocess_env, timeout=120).stdout
    probe = script + '\nCOMP_WORDS=(nasforge sta); COMP_CWORD=1; _nasforge; echo "${COMPREPLY[@]}"\nCOMP_WORDS=(nasforge run --dr); COMP_CWORD=2; _nasforge; echo "${COMPREPLY[@]}"\n'
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=60).stdout.splitlines()
    assert out == ["status", "--dry-run"]
