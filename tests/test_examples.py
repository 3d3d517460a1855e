"""Every example config validates and builds its components; the text and recommendation examples
run end to end (search, compress, export with parity, onnxruntime benchmark) on small slices."""

from __future__ import annotations

import json
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


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "data_option", "shrink", "metric"),
    [
        ("text-trec", "text", ["evaluator.options.max_train_samples=300", "evaluator.options.robustness.samples=50"], "acc"),
        ("recsys-movielens", "movielens/ml-100k", ["evaluator.options.dataset_options.max_users=120"], "hr_at_10"),
    ],
)
def test_example_runs_the_whole_pipeline(root, shared_data, tmp_path, name, data_option, shrink, metric):
    folder = tmp_path / name
    sets = ["budget.trials=1", "evaluator.options.epochs=1", f"evaluator.options.dataset_options.root={shared_data / data_option}",
            "compress.variants=[]", "export.calibration_samples=32", "export.latency_runs=5", *shrink]
    cmd = [*CLI, "run", str(root / "examples" / f"{name}.yaml"), "--dir", str(folder), "--quiet"]
    for s in sets:
        cmd += ["--set", s]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=1500, cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Deployable models" in out.stdout and metric in out.stdout
    rows = json.loads((folder / "deploy" / "summary.json").read_text())
    formats = {r["format"] for r in rows if "parity_error" not in r}
    assert formats == {"onnx", "onnx-int8"}, rows
    for r in rows:
        assert r["ort_latency_ms"] > 0 and 0 < r["accuracy"] <= 1


def test_bad_ratings_file_is_one_line_and_exit_2(root, tmp_path):
    (tmp_path / "u.data").write_text("1,2,3,4\n")
    out = subprocess.run([*CLI, "run", str(root / "examples" / "recsys-movielens.yaml"), "--dir", str(tmp_path / "run"), "--quiet",
                          "--set", f"evaluator.options.dataset_options.root={tmp_path}"], capture_output=True, text=True, timeout=600, cwd=root)
    assert out.returncode == 2, out.stderr
    lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
    assert "expected 4 tab-separated integers" in lines[-1] and "Traceback" not in out.stderr
