"""ONNX export of transformers: dynamic batch and sequence axes, fusion, int8, text benchmarks."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from nasforge.core.errors import UserError
from nasforge.core.plugins import get_plugin_manager
from nasforge_transformers.export import (
    TransformerOnnxExporter,
    TransformerOnnxInt8Exporter,
    benchmark_text_onnx,
    export_transformer,
    optimize_transformer,
    quantize_dynamic_int8,
)
from nasforge_transformers.extract import extract
from nasforge_transformers.testing import SENTENCES, tiny_model
from nasforge_transformers.wrappers import LogitsModel


def encoded(tokenizer, texts):
    batch = tokenizer(list(texts), padding=True, return_tensors="pt")
    return batch["input_ids"], batch["attention_mask"]


def run(path, ids, mask):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]


@pytest.fixture(scope="module")
def pruned_encoder():
    model, tokenizer = tiny_model("encoder", "classification", 2, layers=3, hidden=64, heads=4, intermediate=128, seed=2)
    return extract(model, [0, 1, 2], {0: [0, 3]}, {1: list(range(70))}), tokenizer


@pytest.mark.parametrize("family", ["encoder", "decoder"])
def test_export_has_dynamic_batch_and_sequence_and_fusion_keeps_the_numbers(tmp_path, family):
    model, tokenizer = tiny_model(family, "classification", 2, layers=2, seed=1)
    model = extract(model, [0, 1], {1: [1, 2]})          # per-layer head counts: the pruned class
    ids, mask = encoded(tokenizer, SENTENCES[:2])
    info = export_transformer(model, (ids, mask), tmp_path / "m.onnx")
    assert info.input_shapes == (("batch", "seq"), ("batch", "seq"))
    session = ort.InferenceSession(str(info.path), providers=["CPUExecutionProvider"])
    assert [i.shape for i in session.get_inputs()] == [["batch", "seq"], ["batch", "seq"]]
    fused = optimize_transformer(info.path, tmp_path / "fused.onnx")
    assert fused["fused"].get("SkipLayerNormalization", 0) >= 2   # residual + LayerNorm fused in both layers
    assert set(fused["fused"]) & {"BiasGelu", "FastGelu", "Gelu"}
    for texts in (SENTENCES[:1], SENTENCES[2:7]):              # other batch sizes and lengths than traced
        ids, mask = encoded(tokenizer, texts)
        with torch.no_grad():
            want = model(input_ids=ids, attention_mask=mask).logits.numpy()
        np.testing.assert_allclose(run(info.path, ids, mask), want, atol=1e-4)
        np.testing.assert_allclose(run(tmp_path / "fused.onnx", ids, mask), want, atol=1e-4)


def test_dynamic_int8_shrinks_the_file_and_keeps_the_predictions(tmp_path, pruned_encoder):
    model, tokenizer = pruned_encoder
    ids, mask = encoded(tokenizer, SENTENCES)
    export_transformer(model, (ids, mask), tmp_path / "m.onnx")
    quant = quantize_dynamic_int8(tmp_path / "m.onnx", tmp_path / "m.int8.onnx")
    assert quant["size_bytes"] < 0.6 * quant["source_size_bytes"]
    with torch.no_grad():
        want = model(input_ids=ids, attention_mask=mask).logits.numpy()
    got = run(tmp_path / "m.int8.onnx", ids, mask)
    assert np.abs(got - want).max() < 0.1


def test_registered_exporters_write_checked_cards(tmp_path, pruned_encoder, monkeypatch):
    model, tokenizer = pruned_encoder
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)   # static quantization used to leave onnxruntime's shape-inference files here
    pm = get_plugin_manager()
    assert pm.get("exporter", "transformer-onnx") is TransformerOnnxExporter
    assert pm.get("exporter", "transformer-onnx-int8") is TransformerOnnxInt8Exporter
    ids, mask = encoded(tokenizer, SENTENCES)
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    wrapped = LogitsModel(model, tokenizer.pad_token_id)
    fp32 = TransformerOnnxExporter(benchmark=True, seq_lengths=(8, 16), benchmark_options={"batch_sizes": (1, 2), "runs": 3, "warmup": 1})
    result = fp32.export(wrapped, (ids[:2], mask[:2]), tmp_path, "small", calibration=(ids, mask), evaluation=((ids, mask), labels))
    card = json.loads(result.card_path.read_text())
    assert card["parity"]["passed"] and card["parity"]["inputs"] == "calibration samples"
    assert card["metrics"]["fusion"]["fused"]["SkipLayerNormalization"] >= 2
    assert 0.0 <= card["metrics"]["accuracy"] <= 1.0
    grid = {(row["batch_size"], row["seq_len"]) for row in card["benchmark"]}
    assert grid == {(1, 8), (2, 8), (1, 16), (2, 16)}
    assert all(row["median_ms"] > 0 for row in card["benchmark"])

    static = TransformerOnnxInt8Exporter(mode="static", fuse=False)
    out = static.export(model, (ids[:2], mask[:2]), tmp_path, "small", calibration=(ids, mask), evaluation=((ids, mask), labels))
    card = json.loads(out.card_path.read_text())
    assert card["quantization"]["type"] == "static-qdq" and out.path.name == "small.int8.onnx"
    assert card["parity"]["argmax_agreement"] >= 0.9
    assert "accuracy_drop" in card["metrics"]
    assert not list(cwd.iterdir())
    with pytest.raises(UserError, match="static int8 needs calibration"):
        TransformerOnnxInt8Exporter(mode="static").export(model, ids[:2], tmp_path, "x")
    with pytest.raises(UserError, match="mode must be one of dynamic, static"):
        TransformerOnnxInt8Exporter(mode="weird")


def test_text_benchmark_grid(tmp_path, pruned_encoder):
    model, tokenizer = pruned_encoder
    ids, mask = encoded(tokenizer, SENTENCES[:2])
    export_transformer(model, (ids, mask), tmp_path / "m.onnx")
    rows = benchmark_text_onnx(tmp_path / "m.onnx", model.config.vocab_size, batch_sizes=(1, 4), seq_lengths=(8, 32), threads=(1,), warmup=1, runs=3)
    assert sorted((r["batch_size"], r["seq_len"], r["threads"]) for r in rows) == [(1, 8, 1), (1, 32, 1), (4, 8, 1), (4, 32, 1)]
    by = {(r["batch_size"], r["seq_len"]): r["median_ms"] for r in rows}
    assert by[(4, 32)] > by[(1, 8)]    # 16x the tokens cannot be faster


def test_non_token_inputs_are_a_user_error(tmp_path, pruned_encoder):
    model, _ = pruned_encoder
    with pytest.raises(UserError, match=r"integer token ids shaped \(batch, seq\)"):
        export_transformer(model, torch.randn(2, 8), tmp_path / "m.onnx")


@pytest.mark.parametrize("pruned", [False, True])
def test_attention_is_fused_for_stock_and_per_layer_head_counts(tmp_path, pruned):
    # sdpa attention (transformers' default) traced into a graph onnxruntime did not fuse, and the
    # "-1" head count of the reshapes hid the heads of extracted layers: no Attention node at all
    model, tokenizer = tiny_model("encoder", "classification", 2, layers=3, hidden=64, heads=4, intermediate=128, seed=3)
    assert model.config._attn_implementation == "sdpa"
    if pruned:
        model = extract(model, [0, 1, 2], {0: [0, 3], 2: [1]}, {1: list(range(70))})
    ids, mask = encoded(tokenizer, SENTENCES[:2])
    info = export_transformer(model, (ids, mask), tmp_path / "m.onnx")
    assert model.config._attn_implementation == "sdpa"            # switched for the export only
    fused = optimize_transformer(info.path, tmp_path / "fused.onnx")
    assert fused["fused"].get("Attention") == 3 and fused["attention_fused"]
    for texts in (SENTENCES[:1], SENTENCES[2:7]):
        ids, mask = encoded(tokenizer, texts)
        with torch.no_grad():
            want = model(input_ids=ids, attention_mask=mask).logits.numpy()
        np.testing.assert_allclose(run(tmp_path / "fused.onnx", ids, mask), want, atol=1e-4)
