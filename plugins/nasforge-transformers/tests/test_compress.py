"""Transformer compressors: importance finds the units that do nothing, the result is physically
smaller, and the compressor conformance suite passes."""

from __future__ import annotations

import pytest
import torch

from nasforge.compression.testing import COMPRESSOR_CHECKS, run_check
from nasforge.core.errors import UserError
from nasforge.core.plugins import get_plugin_manager
from nasforge_transformers import perplexity
from nasforge_transformers.compress import FFNPruner, HeadPruner, LayerDropper, gradient_scores, keep_top, layer_units
from nasforge_transformers.extract import shape_of
from nasforge_transformers.testing import SENTENCES, tiny_model
from nasforge_transformers.wrappers import LogitsModel

LABELS = [1, 1, 1, 1, 0, 0, 0, 0]


def batches(tokenizer, repeat=2, size=4):
    texts, labels = list(SENTENCES) * repeat, LABELS * repeat
    out = []
    for start in range(0, len(texts), size):
        ids = tokenizer(texts[start : start + size], padding=True, return_tensors="pt")["input_ids"]
        out.append((ids, torch.tensor(labels[start : start + size])))
    return out


def wrapped(family="encoder", task="classification", **kw):
    model, tokenizer = tiny_model(family, task, 2, **kw)
    return LogitsModel(model, tokenizer.pad_token_id), tokenizer


def silence_head(model, layer, head):
    units = layer_units(model)[layer]
    d = units.head_dim
    with torch.no_grad():
        w = units.attention_output.weight
        if units.decoder:
            w[head * d : (head + 1) * d, :] = 0
        else:
            w[:, head * d : (head + 1) * d] = 0


@pytest.mark.parametrize("check", sorted(COMPRESSOR_CHECKS))
@pytest.mark.parametrize("cls", [HeadPruner, FFNPruner, LayerDropper])
def test_conformance(check, cls):
    model_factory, example = cls.conformance_model()
    run_check(check, cls, options=cls.conformance_options, model_factory=model_factory, example_inputs=example, pruner=True)


def test_registered():
    pm = get_plugin_manager()
    assert pm.get("compressor", "transformer-heads") is HeadPruner
    assert pm.get("compressor", "transformer-ffn") is FFNPruner
    assert pm.get("compressor", "transformer-layers") is LayerDropper


@pytest.mark.parametrize("family, task", [("encoder", "classification"), ("decoder", "causal-lm")])
def test_gradient_importance_removes_the_heads_that_do_nothing(family, task):
    model, tokenizer = wrapped(family, task, layers=2, seed=4)
    silence_head(model, 0, 2)
    silence_head(model, 1, 0)
    data = batches(tokenizer)
    scores = gradient_scores(model, data)
    assert scores.heads[0][2] == 0.0 and scores.heads[1][0] == 0.0
    assert min(s for row in scores.heads for s in row if s) > 0
    result = HeadPruner(ratio=0.25).compress(model, data[0][0], data=data)
    assert shape_of(result.model.model)["heads"] == [3, 3]
    with torch.no_grad():   # the removed heads contributed nothing: same outputs
        torch.testing.assert_close(result.model(data[1][0]), model(data[1][0]), atol=1e-5, rtol=1e-4)
    assert result.report.params_after < result.report.params_before
    if task == "causal-lm":
        text = " ".join(SENTENCES)
        assert perplexity(result.model.model, tokenizer, text) == pytest.approx(perplexity(model.model, tokenizer, text), rel=1e-4)


def test_ffn_pruner_removes_silent_neurons_per_layer_and_globally():
    model, tokenizer = wrapped(layers=2, seed=5)
    down = layer_units(model)[1].ffn_down
    with torch.no_grad():
        down.weight[:, :32] = 0     # layer 1: half its neurons write nothing
    data = batches(tokenizer)
    local = FFNPruner(ratio=0.5).compress(model, data[0][0], data=data)
    assert shape_of(local.model.model)["intermediate"] == [32, 32]
    glob = FFNPruner(ratio=0.25, scope="global").compress(model, data[0][0], data=data)
    assert shape_of(glob.model.model)["intermediate"] == [64, 32]   # all 32 removed units are the silent ones
    with torch.no_grad():
        torch.testing.assert_close(glob.model(data[0][0]), model(data[0][0]), atol=1e-5, rtol=1e-4)


def test_layer_dropper_drops_the_layer_that_does_nothing():
    model, tokenizer = wrapped("decoder", "causal-lm", layers=3, seed=6)
    block = model.model.transformer.h[1]
    with torch.no_grad():   # GPT-2 is pre-LayerNorm: with both output projections zero the block is the identity
        for proj in (block.attn.c_proj, block.mlp.c_proj):
            proj.weight.zero_()
            proj.bias.zero_()
    data = batches(tokenizer)
    result = LayerDropper(num_layers=1).compress(model, data[0][0], data=data)
    assert shape_of(result.model.model)["layers"] == 2 and result.report.removed_blocks == ["layer 1"]
    with torch.no_grad():
        torch.testing.assert_close(result.model(data[0][0]), model(data[0][0]), atol=1e-5, rtol=1e-4)
    by_position = LayerDropper(num_layers=2, importance="magnitude").compress(model, data[0][0])
    assert by_position.report.removed_blocks == ["layer 1", "layer 2"]


def test_finetuning_after_pruning_distils_from_the_uncompressed_model():
    model, tokenizer = wrapped(layers=2, seed=7)
    data = batches(tokenizer, repeat=4)
    result = HeadPruner(ratio=0.5, finetune={"epochs": 4, "batch_size": 8, "lr": 2e-3}).compress(model, data[0][0], data=data)
    losses = result.report.finetune_losses
    assert losses and losses[-1] < losses[0]


def test_keep_top_keeps_one_unit_per_layer():
    assert keep_top([[1.0, 2.0, 3.0], [5.0, 0.1]], 0.5, "layer") == {0: [1, 2], 1: [0]}
    # globally, layer 1's units are tiny after normalisation only relative to each other
    assert keep_top([[0.1, 0.1, 0.8], [0.5, 0.5]], 0.6, "global") == {0: [2], 1: [0]}


@pytest.mark.parametrize("cls, options, message", [
    (HeadPruner, {"importance": "taylor"}, "importance"),
    (FFNPruner, {"scope": "model"}, "scope"),
    (LayerDropper, {}, "give num_layers"),
    (LayerDropper, {"num_layers": -1}, "num_layers"),
    (HeadPruner, {"finetune": {"learning_rate": 1}}, "learning_rate"),
])
def test_bad_options(cls, options, message):
    with pytest.raises(UserError, match=message):
        cls(**options)


def test_gradient_importance_without_data_is_a_user_error():
    model, tokenizer = wrapped()
    with pytest.raises(UserError, match="needs data"):
        HeadPruner().compress(model, batches(tokenizer)[0][0])
