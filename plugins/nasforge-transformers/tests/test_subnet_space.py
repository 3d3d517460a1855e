"""The sub-network space, importance ranking, rewiring and the elastic gates, on tiny random BERTs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge.core.errors import ConfigError, SpaceError
from nasforge_transformers.importance import ElasticEncoder, compute_importance, encoder_shape, rewire, subnet_params
from nasforge_transformers.subnet_space import (
    ModelShape,
    extreme_architecture,
    kept_layers,
    subnetwork_plan,
    transformer_subnet_space,
    width_count,
)


def tiny_bert(layers: int = 4, heads: int = 4, hidden: int = 32, ffn: int = 48, labels: int = 2, seed: int = 0):
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(seed)
    config = BertConfig(vocab_size=60, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=ffn, max_position_embeddings=32, num_labels=labels,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertForSequenceClassification(config).eval()


def batch(seed: int = 0, size: int = 6, length: int = 9):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 60, (size, length), generator=g)
    mask = torch.ones_like(ids)
    mask[0, 5:] = 0  # one padded sentence
    return {"input_ids": ids, "attention_mask": mask, "labels": torch.randint(0, 2, (size,), generator=g)}


def logits(model, b):
    with torch.no_grad():
        return model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits


def ce(out, b):
    return torch.nn.functional.cross_entropy(out, b["labels"])


def test_space_layout_and_validation():
    space = transformer_subnet_space(num_layers=4, min_layers=2, head_fractions=[0.5, 1.0], ffn_fractions=[0.25, 1.0])
    assert space.name == "transformer_subnet"
    arch = space.validate({"layers": 2, "heads_1": 0.5, "ffn_1": 1.0, "heads_2": 1.0, "ffn_2": 0.25})
    assert "heads_3" not in arch
    with pytest.raises(SpaceError):
        space.validate({"layers": 3, "heads_1": 0.5, "ffn_1": 1.0, "heads_2": 1.0, "ffn_2": 0.25})
    assert space.size() == 4**2 + 4**3 + 4**4
    assert extreme_architecture(space, largest=True) == {"layers": 4, **{f"{k}_{i}": 1.0 for i in range(1, 5) for k in ("heads", "ffn")}}
    small = extreme_architecture(space, largest=False)
    assert small["layers"] == 2 and small["heads_1"] == 0.5 and small["ffn_2"] == 0.25
    for bad in ({"head_fractions": [0.0, 1.0]}, {"ffn_fractions": []}, {"min_layers": 5}, {"layer_selection": "random"}):
        with pytest.raises(ConfigError):
            transformer_subnet_space(num_layers=4, **bad)


def test_kept_layers_rules():
    assert kept_layers(3, 6, "first") == (0, 1, 2)
    assert kept_layers(3, 6, "spread") == (0, 2, 5) or kept_layers(3, 6, "spread") == (0, 3, 5)
    assert kept_layers(6, 6, "spread") == tuple(range(6))
    assert kept_layers(2, 6, "importance", layer_order=[4, 1, 0, 2, 3, 5]) == (1, 4)
    with pytest.raises(SpaceError):
        kept_layers(2, 6, "importance")
    assert width_count(0.25, 12) == 3 and width_count(0.01, 12) == 1


def test_plan_maps_fractions_to_index_lists():
    shape = ModelShape(4, 4, 48)
    arch = {"layers": 2, "heads_1": 0.5, "ffn_1": 0.25, "heads_2": 1.0, "ffn_2": 0.5}
    plan = subnetwork_plan(arch, shape, "first")
    assert plan.layers == (0, 1) and plan.heads == ((0, 1), (0, 1, 2, 3)) and len(plan.neurons[0]) == 12
    ranked = subnetwork_plan(arch, shape, "first", head_order=[[3, 1, 0, 2]] * 4)
    assert ranked.heads[0] == (1, 3)


def test_gates_equal_physical_removal_and_layer_skip():
    model = tiny_bert()
    b = batch()
    full = logits(model, b)
    shape = encoder_shape(model)
    plan = subnetwork_plan({"layers": 4, **{f"heads_{i}": 1.0 for i in range(1, 5)}, **{f"ffn_{i}": 1.0 for i in range(1, 5)}}, shape)
    with ElasticEncoder(model) as elastic:
        elastic.apply(plan)
        assert torch.allclose(logits(model, b), full, atol=1e-5)
        # zeroing head 0 of layer 1 by gate == zeroing its value rows physically
        arch = {"layers": 4, **{f"heads_{i}": 1.0 for i in range(1, 5)}, **{f"ffn_{i}": 1.0 for i in range(1, 5)}}
        elastic.apply(subnetwork_plan({**arch, "layers": 2, "heads_1": 0.75}, shape, "first", head_order=[[1, 2, 3, 0]] * 4))
        gated = logits(model, b)
    assert not torch.allclose(gated, full, atol=1e-4)
    reference = tiny_bert()
    with torch.no_grad():
        reference.bert.encoder.layer[0].attention.self.value.weight[:8] = 0
        reference.bert.encoder.layer[0].attention.self.value.bias[:8] = 0
        del reference.bert.encoder.layer[2:]
    assert torch.allclose(gated, logits(reference, b), atol=1e-5)
    # hooks are gone after close
    assert torch.allclose(logits(model, b), full, atol=1e-6)


def test_importance_is_seeded_and_rewiring_keeps_the_function():
    model = tiny_bert(seed=1)
    b = batch()
    before = logits(model, b)
    imp = compute_importance(model, [batch(1), batch(2)], ce)
    again = compute_importance(model, [batch(1), batch(2)], ce)
    assert imp.heads == again.heads and imp.batches == 2
    assert all(s > 0 for s in imp.layers)
    head_order, neuron_order = rewire(model, imp)
    assert torch.allclose(logits(model, b), before, atol=1e-5)
    after = compute_importance(model, [batch(1), batch(2)], ce)
    for layer in range(4):  # the most important now come first
        assert np.argmax(after.heads[layer]) == 0
        assert np.allclose(sorted(after.heads[layer], reverse=True), after.heads[layer], rtol=1e-4)
        assert np.allclose(after.heads[layer], imp.permuted(head_order, neuron_order).heads[layer], rtol=1e-4)
    assert all(p.grad is None for p in model.parameters())


def test_subnet_params_match_a_physically_pruned_count():
    model = tiny_bert()
    shape = encoder_shape(model)
    plan = subnetwork_plan({"layers": 2, "heads_1": 0.5, "ffn_1": 0.25, "heads_2": 1.0, "ffn_2": 0.5}, shape, "first")
    total = sum(p.numel() for p in model.parameters())
    layer_params = sum(p.numel() for p in model.bert.encoder.layer[0].parameters())
    expected = total - 2 * layer_params
    d = 8
    expected -= 2 * d * (3 * 32 + 3) + 2 * d * 32  # two heads of layer 0
    expected -= 36 * (32 + 1) + 36 * 32 + 24 * (32 + 1) + 24 * 32  # FFN neurons of both layers
    assert subnet_params(shape, plan, total, 32, layer_params) == expected


def test_sliced_subnetwork_computes_what_the_gates_compute():
    from nasforge_transformers.importance import slice_subnetwork

    model = tiny_bert(seed=3)
    b = batch()
    shape = encoder_shape(model)
    arch = {"layers": 3, "heads_1": 0.25, "ffn_1": 0.5, "heads_2": 1.0, "ffn_2": 0.25, "heads_3": 0.5, "ffn_3": 1.0}
    plan = subnetwork_plan(arch, shape, "spread", head_order=[[2, 0, 3, 1]] * 4, neuron_order=[list(range(47, -1, -1))] * 4)
    with ElasticEncoder(model) as elastic:
        elastic.apply(plan)
        gated = logits(model, b)
    small = slice_subnetwork(model, plan)
    assert len(small.bert.encoder.layer) == 3
    assert small.bert.encoder.layer[0].attention.self.query.out_features == 8
    assert small.bert.encoder.layer[1].intermediate.dense.out_features == 12
    assert torch.allclose(logits(small, b), gated, atol=1e-5)
    total = sum(p.numel() for p in model.parameters())
    layer_params = sum(p.numel() for p in model.bert.encoder.layer[0].parameters())
    assert subnet_params(shape, plan, total, 32, layer_params) == sum(p.numel() for p in small.parameters())


def test_space_and_evaluators_are_registered_through_the_plugin():
    from nasforge.core.plugins import get_plugin_manager
    from nasforge_transformers.supernet import MultiTrialEvaluator, OneShotEvaluator

    pm = get_plugin_manager()
    assert pm.get("space", "transformer_subnet") is transformer_subnet_space
    assert pm.get("evaluator", "transformer_oneshot") is OneShotEvaluator
    assert pm.get("evaluator", "transformer_multitrial") is MultiTrialEvaluator


def test_space_reads_the_layer_count_from_a_model_folder(tiny_bert_dir):
    space = transformer_subnet_space(model=str(tiny_bert_dir))
    assert max(space["layers"].domain) == 2
