from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def pm():
    """A fresh plugin manager with the core's test plugin registered."""
    from nasforge.core.plugins import get_plugin_manager

    return get_plugin_manager(extra_plugins=["nasforge_test_plugin"], fresh=True)


@pytest.fixture
def subprocess_env():
    """Environment for running the CLI in a subprocess with the test plugin importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env["NASFORGE_PLUGINS"] = "nasforge_test_plugin"
    return env


def synthetic_config(tmp_path, **overrides):
    data = {
        "name": "synth",
        "seed": 0,
        "space": {"choices": [{"name": "a", "type": "int", "low": 0, "high": 9}, {"name": "b", "values": ["x", "y"]}]},
        "strategy": {"name": "seeded_random"},
        "evaluator": {"name": "synthetic", "options": {}},
        "budget": {"trials": 6},
        "output": str(tmp_path / "runs"),
    }
    for key, value in overrides.items():
        data[key] = value
    return data


sys.path.insert(0, str(HERE))
