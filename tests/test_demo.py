"""The built-in demo end to end, as a user runs it (slow: trains real models)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "nasforge.core.cli"]


def test_default_demo_runs_reports_costs_and_resumes(tmp_path):
    folder = tmp_path / "demo"
    out = subprocess.run([*CLI, "run", "--trials", "3", "--dir", str(folder)], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    assert "Best" in out.stdout and str(folder) in out.stdout
    assert "[3/3]" in out.stderr and "ETA" in out.stderr
    status = json.loads(subprocess.run([*CLI, "status", str(folder), "--json"], capture_output=True, text=True, timeout=120).stdout)
    assert status["counts"]["complete"] == 3, status
    metrics = status["best"][0]["metrics"]
    for name in ("accuracy", "params", "flops", "latency_ms", "peak_memory_mb"):
        assert name in metrics and metrics[name] > 0, name
    assert metrics["accuracy"] > 0.5  # ten digit classes: chance is 0.1
    assert list((folder / "tensorboard").rglob("events.out.tfevents.*")), "no experiment-level TensorBoard events"
    more = subprocess.run([*CLI, "resume", str(folder), "--trials", "4", "--quiet"], capture_output=True, text=True, timeout=900)
    assert more.returncode == 0, more.stderr
    status = json.loads(subprocess.run([*CLI, "status", str(folder), "--json"], capture_output=True, text=True, timeout=120).stdout)
    assert status["counts"]["complete"] == 4
