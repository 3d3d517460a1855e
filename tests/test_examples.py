"""Every example config validates and builds its components (``nasforge run --dry-run``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


# Tiny overrides per example: one or two trials on a small training slice, one epoch, few
# calibration samples and timing runs; the pipeline is the example's own (search -> compress ->
# export with parity -> onnxruntime benchmark). Data paths are rewritten to the shared data folder.
TINY_COMMON = ["--trials", "1", "--set", "export.calibration_samples=64", "--set", "export.latency_runs=5", "--set", "evaluator.options.tensorboard=false"]
TINY = {
    "text-trec": ["--set", "evaluator.options.epochs=2", "--set", "evaluator.options.max_train_samples=1500", "--set", "space.options.embedding_dims=[32]",
                  "--set", "space.options.hidden_sizes=[32]", "--set", "space.options.encoders=[cnn]", "--set", "evaluator.options.robustness.samples=50",
                  "--set", "compress.variants=[{name: magnitude, options: {sparsity: 0.5}}]"],
    "text-sst2": ["--set", "evaluator.options.epochs=1", "--set", "evaluator.options.max_train_samples=1500", "--set", "space.options.embedding_dims=[32]",
                  "--set", "space.options.hidden_sizes=[32]", "--set", "space.options.encoders=[cnn]",
                  "--set", "compress.variants=[{name: magnitude, options: {sparsity: 0.5}}]"],
    "speech-fsdd": ["--set", "evaluator.options.epochs=4", "--set", "space.options.max_stages=2", "--set", "space.options.channels=[16]",
                    "--set", "constraints=[]", "--set", "compress.variants=[{name: channel, options: {ratio: 0.5, finetune: {epochs: 1}}}]"],
    "recsys-movielens": ["--set", "evaluator.options.epochs=1", "--set", "compress.variants=[{name: magnitude, options: {sparsity: 0.3}}]"],
    "robust-digits": ["--set", "evaluator.options.epochs=2", "--set", "compress.variants=[{name: channel, options: {ratio: 0.5}}]"],
}
DATA_OPTIONS = {
    "text-trec": lambda d, tmp: {"root": str(d / "text"), "max_length": 40},
    "text-sst2": lambda d, tmp: {"root": str(d / "text"), "max_length": 56},
    "speech-fsdd": lambda d, tmp: {"root": str(d / "speech" / "fsdd-recordings.tar.gz"), "split": "official", "cache_dir": str(tmp / "fsdd"), "limit_per_class": 40},
    "recsys-movielens": lambda d, tmp: {"root": str(d / "movielens" / "ml-100k"), "num_negatives": 2},
    "robust-digits": None,
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_example_runs_the_whole_pipeline(root, shared_data, name, tmp_path):
    import json

    overrides = [*TINY_COMMON, *TINY[name]]
    if DATA_OPTIONS[name] is not None:
        overrides += ["--set", "evaluator.options.dataset_options=" + json.dumps(DATA_OPTIONS[name](shared_data, tmp_path))]
    out = subprocess.run([*CLI, "run", str(root / "examples" / f"{name}.yaml"), "--dir", str(tmp_path / "run"), "--quiet", *overrides],
                         capture_output=True, text=True, timeout=600, cwd=root)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Deployable models" in out.stdout, out.stdout[-3000:]
    rows = json.loads((tmp_path / "run" / "deploy" / "summary.json").read_text())
    exported = {(r["variant"], r["format"]) for r in rows if r.get("file") and "parity_error" not in r}
    assert {("uncompressed", "onnx"), ("uncompressed", "onnx-int8")} <= exported, rows
    # every compressed variant is in the table too (a tiny, barely fine-tuned variant may fail int8 parity: then its row says so)
    assert {r["variant"] for r in rows} == {"uncompressed", TINY[name][-1].split("name: ")[1].split(",")[0]}, rows
    for r in rows:
        assert (tmp_path / "run" / "deploy" / Path(r["file"]).name).is_file() or Path(r["file"]).is_file()
