"""Broken plugins, really installed, are isolated and named.

Each scenario builds a tiny third-party distribution with pip (into a private target folder, never
the shared environment) and runs the ``nasforge`` command line in a subprocess that sees it:

* a plugin whose module fails to import: a warning names the plugin and its distribution, every
  other plugin still loads and ``nasforge plugins`` succeeds;
* a plugin whose registration hook raises: an error names the plugin, its distribution and the hook;
* a plugin registering a name another plugin already took: an error names both plugins.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.21"]
build-backend = "hatchling.build"

[project]
name = "nasforge-{name}"
version = "3.1.4"
dependencies = ["nasforge-core"]

[project.entry-points.nasforge]
{name} = "nasforge_{name}"

[tool.hatch.build.targets.wheel]
packages = ["nasforge_{name}"]
"""

MODULES = {
    "brokenimport": """
        raise ImportError("this plugin needs the package 'frobnicate', which is not installed")
    """,
    "brokenhook": """
        from nasforge.core.hookspecs import hookimpl

        @hookimpl
        def nasforge_register_strategies(register):
            raise RuntimeError("the strategy table is corrupt")
    """,
    "nametaken": """
        from nasforge.core.executor import SequentialExecutor
        from nasforge.core.hookspecs import hookimpl

        @hookimpl
        def nasforge_register_executors(register):
            register("sequential", SequentialExecutor, "a second 'sequential'")
    """,
}


def _install(name: str, tmp: Path) -> Path:
    source = tmp / f"src-{name}"
    package = source / f"nasforge_{name}"
    package.mkdir(parents=True)
    (source / "pyproject.toml").write_text(PYPROJECT.format(name=name))
    (package / "__init__.py").write_text(textwrap.dedent(MODULES[name]))
    target = tmp / f"site-{name}"
    command = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--quiet", "--target", str(target), str(source)]
    if importlib.util.find_spec("hatchling") is not None:
        command.insert(5, "--no-build-isolation")
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"pip could not install the {name} plugin:\n{done.stdout}\n{done.stderr}"
    return target


def _nasforge(target: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    env.pop("NASFORGE_DISABLE_PLUGIN_AUTOLOAD", None)
    code = "import sys; from nasforge.core.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plugins")
    return {name: _install(name, tmp) for name in MODULES}


def test_a_plugin_that_fails_to_import_is_named_and_the_others_still_load(sites, tmp_path):
    done = _nasforge(sites["brokenimport"], "plugins", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "plugin 'brokenimport' from distribution nasforge-brokenimport 3.1.4 failed to load" in done.stderr
    assert "frobnicate" in done.stderr
    listing = json.loads(done.stdout)
    distributions = {p["distribution"] for p in listing["plugins"]}
    assert "nasforge-core" in distributions and "nasforge-brokenimport" not in distributions
    assert {"sequential", "process"} <= {c["name"] for c in listing["components"] if c["kind"] == "executor"}


def test_a_plugin_whose_hook_raises_is_named_with_its_distribution(sites, tmp_path):
    done = _nasforge(sites["brokenhook"], "plugins", cwd=tmp_path)
    assert done.returncode != 0
    message = done.stderr
    assert "plugin 'brokenhook' (nasforge-brokenhook) failed in nasforge_register_strategies" in message
    assert "the strategy table is corrupt" in message and "Traceback" not in message


def test_a_plugin_taking_a_registered_name_is_named_with_the_owner(sites, tmp_path):
    done = _nasforge(sites["nametaken"], "plugins", cwd=tmp_path)
    assert done.returncode != 0
    message = done.stderr
    assert "executor name 'sequential' is registered twice" in message
    assert "(nasforge-core)" in message and "plugin 'nametaken' (nasforge-nametaken)" in message
    assert "Traceback" not in message


def test_disabling_autoload_keeps_a_broken_third_party_plugin_out(sites, tmp_path):
    env_target = sites["brokenhook"]
    env = dict(os.environ, PYTHONPATH=str(env_target), NASFORGE_DISABLE_PLUGIN_AUTOLOAD="1")
    code = "import sys; from nasforge.core.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run([sys.executable, "-c", code, "plugins", "--json"], capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "nasforge-brokenhook" not in {p["distribution"] for p in json.loads(done.stdout)["plugins"]}
