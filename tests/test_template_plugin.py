"""The template plugin (plugins/_template) works end to end as an outside author would use it.

The template is copied to a temporary folder, renamed (the word ``example`` replaced everywhere,
as its README tells authors to do), built and installed with pip into a private target folder
(never into the running environment, which other processes share), then loaded by nasforge
in a subprocess: ``nasforge plugins`` must list it with its version, and ``nasforge run`` must
run a search with its strategy and evaluator. Its own tests, which run nasforge's conformance
suites, must pass too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "plugins" / "_template"
NAME = "tmplcheck"


def _rename(folder: Path, old: str, new: str) -> None:
    for path in sorted(folder.rglob("*"), key=lambda p: -len(p.parts)):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            if old in text:
                path.write_text(text.replace(old, new), encoding="utf-8")
        if old in path.name:
            path.rename(path.with_name(path.name.replace(old, new)))


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The renamed template, pip-installed into a target folder; yields (source, target)."""
    work = tmp_path_factory.mktemp("template")
    source = work / f"nasforge-{NAME}"
    shutil.copytree(TEMPLATE, source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache"))
    _rename(source, "example", NAME)
    assert not list(source.rglob("*example*")), "the rename left files named after the template"
    target = work / "site"
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--quiet", "--target", str(target), str(source)]
    if importlib.util.find_spec("hatchling") is not None:
        command.insert(5, "--no-build-isolation")  # no download of the build backend
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"pip could not install the template:\n{done.stdout}\n{done.stderr}"
    assert list(target.glob(f"nasforge_{NAME}-0.1.0.dist-info")), f"no dist-info in {sorted(p.name for p in target.iterdir())}"
    yield source, target
    shutil.rmtree(work, ignore_errors=True)


def _nasforge(target: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    env.pop("NASFORGE_DISABLE_PLUGIN_AUTOLOAD", None)
    code = "import sys; from nasforge.core.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


def test_nasforge_plugins_lists_the_installed_template_with_its_version(installed, tmp_path):
    _, target = installed
    done = _nasforge(target, "plugins", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    listing = json.loads(done.stdout)
    plugin = next(p for p in listing["plugins"] if p["distribution"] == f"nasforge-{NAME}")
    assert plugin["version"] == "0.1.0" and plugin["name"] == NAME
    mine = {(c["kind"], c["name"]) for c in listing["components"] if c["distribution"] == f"nasforge-{NAME}"}
    assert mine == {("strategy", f"{NAME}_walk"), ("evaluator", f"{NAME}_score")}


def test_nasforge_run_searches_with_the_template_components(installed, tmp_path):
    _, target = installed
    config = {
        "name": "template-e2e",
        "seed": 1,
        "space": {"choices": [{"name": "depth", "type": "int", "low": 1, "high": 3}, {"name": "act", "values": ["relu", "gelu", "silu"]}]},
        "strategy": {"name": f"{NAME}_walk", "options": {"warmup": 3}},
        "evaluator": {"name": f"{NAME}_score"},
        "objectives": [{"metric": "score", "direction": "maximize"}],
        "budget": {"trials": 7},
        "output": str(tmp_path / "runs"),
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    done = _nasforge(target, "run", "config.yaml", "--dir", "exp", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, f"nasforge run failed:\n{done.stdout}\n{done.stderr}"
    result = json.loads((tmp_path / "exp" / "result.json").read_text())
    assert result["counts"] == {"complete": 7}
    assert set(result["best"]["metrics"]) == {"score", "size"}


def test_a_wrong_option_of_a_template_component_is_a_config_error(installed, tmp_path):
    _, target = installed
    config = {
        "space": {"choices": [{"name": "act", "values": ["relu", "gelu"]}]},
        "strategy": {"name": f"{NAME}_walk", "options": {"warmup": -1}},
        "evaluator": {"name": f"{NAME}_score"},
        "objectives": [{"metric": "score", "direction": "maximize"}],
        "budget": {"trials": 2},
    }
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    done = _nasforge(target, "run", "bad.yaml", "--dir", "exp", "--quiet", cwd=tmp_path)
    assert done.returncode == 2 and "warmup" in done.stderr + done.stdout and "Traceback" not in done.stderr


def test_the_template_tests_pass_once_installed(installed):
    source, target = installed
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", str(source / "tests"), "-q", "-p", "no:cacheprovider", "-x"], capture_output=True, text=True, timeout=600, cwd=source, env=env
    )
    assert done.returncode == 0, f"the template's own tests failed:\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
    assert " passed" in done.stdout and "failed" not in done.stdout


# -- the kit's evaluator and compressor suites catch broken components -----------------------------------
def _space():
    from nasforge.core.space import SearchSpace

    return SearchSpace.from_config([{"name": "a", "type": "int", "low": 0, "high": 4}, {"name": "b", "values": ["x", "y"]}])


def test_the_evaluator_suite_catches_missing_metrics_ignored_deadlines_and_false_determinism(tmp_path):
    import random

    from nasforge.core.evaluator import Evaluator
    from nasforge.testing.evaluators import check_declared_metrics, check_determinism, check_timeout

    class Forgetful(Evaluator):
        metrics = ("accuracy", "params")

        def evaluate(self, architecture, context):
            context.check()
            return {"accuracy": 0.5}

    class Careless(Evaluator):
        metrics = ("accuracy",)

        def evaluate(self, architecture, context):
            return {"accuracy": 0.5}

    class Fickle(Evaluator):
        metrics = ("accuracy",)
        deterministic = True

        def evaluate(self, architecture, context):
            context.check()
            return {"accuracy": random.random()}

    with pytest.raises(AssertionError, match=r"did not report \['params'\]"):
        check_declared_metrics(Forgetful, _space(), tmp_path / "a")
    with pytest.raises(AssertionError, match="deadline had passed"):
        check_timeout(Careless, _space(), tmp_path / "b")
    with pytest.raises(AssertionError, match="claims deterministic"):
        check_determinism(Fickle, _space(), tmp_path / "c")


def test_the_compressor_suite_catches_a_pruner_that_prunes_nothing_and_a_shape_change():
    pytest.importorskip("nasforge.compression")
    import torch
    from torch import nn

    from nasforge.compression.base import Compressor
    from nasforge.compression.testing import check_output_shape, check_param_count

    class Idle(Compressor):
        name = "idle"

        def _compress(self, model, ctx):
            return model

    class Chops(Compressor):
        """Replaces the head with a smaller one (changes the output shape)."""

        name = "chops"

        def compress(self, model, example_inputs, **kwargs):
            from nasforge.compression.base import CompressionReport, CompressionResult

            model = nn.Sequential(*list(model.children())[:-1], nn.Linear(16, 3))
            return CompressionResult(model, CompressionReport(method=self.name))

        def _compress(self, model, ctx):
            return model

    torch.set_num_threads(1)
    with pytest.raises(AssertionError, match="is a pruner but the model kept"):
        check_param_count(Idle, pruner=True)
    check_param_count(Idle, pruner=False)  # a non-pruner that changes nothing is fine
    with pytest.raises(AssertionError, match="changed the output shape"):
        check_output_shape(Chops)
