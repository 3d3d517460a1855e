"""`nasforge shrink`: a transformer compressor used alone on a model folder."""

from __future__ import annotations

import json
import subprocess
import sys

from nasforge_transformers.testing import SENTENCES

CLI = [sys.executable, "-m", "nasforge.core.cli", "shrink"]


def test_shrink_a_decoder_scored_by_perplexity_and_a_bad_folder(tmp_path, tiny_gpt2_dir):
    text = tmp_path / "corpus.txt"
    text.write_text(" ".join(SENTENCES * 3), encoding="utf-8")
    out = tmp_path / "small"
    run = subprocess.run([*CLI, str(tiny_gpt2_dir), "--method", "transformer-heads", "-o", "ratio=0.5", "--text", str(text), "--max-seq-length", "32", "--out", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["metric"] == "perplexity" and report["before"] > 1 and report["after"] > 1
    assert report["shape_after"]["heads"] == [2, 2] and report["params_after"] < report["params_before"]
    assert (out / "config.json").is_file() and "perplexity" in run.stdout

    bad = subprocess.run([*CLI, str(tmp_path), "--method", "transformer-ffn", "--text", str(text), "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2
    assert "is not a Hugging Face transformer" in bad.stderr and "Traceback" not in bad.stderr
