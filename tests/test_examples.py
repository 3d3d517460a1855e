"""Every example config validates and builds its components (``nasforge run --dry-run``)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "nasforge.core.cli"]


def _examples(root):
    return sorted((root / "examples").glob("*.yaml"))


def test_there_is_an_example_per_task(root):
    names = {p.stem for p in _examples(root)}
    assert {"text-trec", "text-sst2", "speech-fsdd", "recsys-movielens", "robust-digits"} <= names


@pytest.mark.parametrize("name", ["text-trec", "text-sst2", "speech-fsdd", "recsys-movielens", "robust-digits"])
def test_example_configs_validate(root, name):
    out = subprocess.run([*CLI, "run", str(root / "examples" / f"{name}.yaml"), "--dry-run"], capture_output=True, text=True, timeout=300, cwd=root)
    assert out.returncode == 0, out.stderr
