"""After the search: `nasforge run` with compress/export sections extracts the winning sub-network
into a smaller Hugging Face model, compresses and exports it, and ends with the deployable-models
table (a tiny random BERT on a small CSV, through the real command line)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import torch
from transformers import AutoModelForSequenceClassification

from nasforge_transformers.testing import SENTENCES

CONFIG = """
name: tiny-deploy
seed: 0
space: {{name: transformer_subnet, options: {{num_layers: 2, head_fractions: [0.5, 1.0], ffn_fractions: [0.5, 1.0]}}}}
strategy: {{name: random}}
evaluator:
  name: transformer_oneshot
  options:
    model: {model}
    dataset: {data}
    dataset_options: {{valid_fraction: 0.25}}
    max_seq_length: 16
    teacher_finetune: {{max_steps: 6, batch_size: 8, lr: 1.0e-3}}
    supernet: {{max_steps: 4, batch_size: 8, lr: 1.0e-3}}
    importance_batches: 2
    eval_samples: null
    latency_backend: torch
    latency_runs: 2
    threads: 1
objectives: [accuracy, "latency_ms:min"]
budget: {{trials: 3}}
compress:
  variants:
    - {{name: transformer-ffn, options: {{ratio: 0.5, importance: gradient, finetune: {{max_steps: 4, batch_size: 8, lr: 1.0e-3}}}}}}
export:
  formats: [transformer-onnx, transformer-onnx-int8]
  calibration_samples: 8
  latency_runs: 3
"""


def test_run_ends_with_deployable_transformers(tmp_path, tiny_bert_dir):
    data = tmp_path / "sentiment.csv"
    with data.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for _ in range(4):
            for j, text in enumerate(SENTENCES):
                writer.writerow([text, "pos" if j < 4 else "neg"])
    config = tmp_path / "tiny.yaml"
    config.write_text(CONFIG.format(model=tiny_bert_dir, data=data))
    folder = tmp_path / "run"
    out = subprocess.run([sys.executable, "-m", "nasforge.core.cli", "run", str(config), "--dir", str(folder)], capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Deployable models" in out.stdout
    rows = json.loads((folder / "deploy" / "summary.json").read_text())
    assert {(r["variant"], r["format"]) for r in rows} == {(v, f) for v in ("uncompressed", "transformer-ffn") for f in ("transformer-onnx", "transformer-onnx-int8")}
    assert all(r["ort_latency_ms"] > 0 and 0.0 <= r["accuracy"] <= 1.0 for r in rows)
    by = {(r["variant"], r["format"]): r for r in rows}
    assert by[("transformer-ffn", "transformer-onnx")]["params"] < by[("uncompressed", "transformer-onnx")]["params"]
    assert by[("uncompressed", "transformer-onnx-int8")]["file_kb"] < by[("uncompressed", "transformer-onnx")]["file_kb"]
    # the winner was extracted into a Hugging Face folder that plain transformers loads
    extracted = [p for p in folder.rglob("extracted") if (p / "config.json").is_file()]
    assert extracted
    model = AutoModelForSequenceClassification.from_pretrained(extracted[0], trust_remote_code=True)
    with torch.no_grad():
        assert model(input_ids=torch.tensor([[2, 10, 11, 3]])).logits.shape == (1, 2)
