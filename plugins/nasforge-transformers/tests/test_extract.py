"""Physical extraction: the smaller model computes exactly what the masked original computes,
and it loads back with plain transformers."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification

from nasforge.core.errors import UserError
from nasforge_transformers import load_model
from nasforge_transformers.extract import extract, head_dim, layer_modules, save_extracted, shape_of
from nasforge_transformers.testing import SENTENCES, tiny_model

CASES = [("encoder", "classification", AutoModelForSequenceClassification), ("encoder", "base", AutoModel),
         ("decoder", "classification", AutoModelForSequenceClassification), ("decoder", "causal-lm", AutoModelForCausalLM)]
KEEP = [0, 2, 3]
HEADS = {0: [3, 1], 2: [0, 1, 2]}           # layer 3 keeps its 4 heads
NEURONS = {2: list(range(0, 64, 3)), 3: [5, 7, 60]}


def outputs(model, batch):
    with torch.no_grad():
        out = model(**batch)
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


def masked_reference(model, keep, heads, neurons):
    """The original model with dropped heads' and neurons' output weights zeroed and dropped layers
    removed: what the extracted model must compute."""
    ref = copy.deepcopy(model)
    d = head_dim(ref.config)
    layers = layer_modules(ref)
    decoder = ref.config.model_type == "gpt2"
    for i, layer in enumerate(layers):
        if i in heads:
            dropped = [h for h in range(ref.config.num_attention_heads) if h not in heads[i]]
            cols = [h * d + j for h in dropped for j in range(d)]
            with torch.no_grad():
                if decoder:
                    layer.attn.c_proj.weight[cols, :] = 0
                else:
                    layer.attention.output.dense.weight[:, cols] = 0
        if i in neurons:
            width = layer.mlp.c_fc.weight.shape[1] if decoder else layer.intermediate.dense.out_features
            dropped = [n for n in range(width) if n not in neurons[i]]
            with torch.no_grad():
                if decoder:
                    layer.mlp.c_fc.bias[dropped] = -1e4   # gelu(-1e4) = 0: those neurons are silent
                else:
                    layer.intermediate.dense.bias[dropped] = -1e4
    kept = torch.nn.ModuleList([layers[i] for i in keep])
    for new, layer in enumerate(kept):
        (layer.attn if decoder else layer.attention.self).layer_idx = new
    if decoder:
        ref.transformer.h = kept if hasattr(ref, "transformer") else None
        if not hasattr(ref, "transformer"):
            ref.h = kept
        ref.config.n_layer = len(keep)
    else:
        (ref.bert if hasattr(ref, "bert") else ref).encoder.layer = kept
        ref.config.num_hidden_layers = len(keep)
    return ref


@pytest.mark.parametrize("family, task, auto", CASES)
def test_extracted_model_equals_the_masked_original_and_reloads_with_plain_transformers(tmp_path, family, task, auto):
    model, tokenizer = tiny_model(family, task, 2, layers=4, seed=3)
    batch = tokenizer(list(SENTENCES[:4]), padding=True, return_tensors="pt")
    small = extract(model, KEEP, HEADS, NEURONS)
    assert shape_of(small) == {"layers": 3, "heads": [2, 3, 4], "intermediate": [64, 22, 3]}
    assert sum(p.numel() for p in small.parameters()) < sum(p.numel() for p in model.parameters())
    expected = outputs(masked_reference(model, KEEP, HEADS, NEURONS), batch)
    assert torch.allclose(outputs(small, batch), expected, atol=1e-5)

    folder = save_extracted(small, tokenizer, tmp_path / "small")
    config = json.loads((folder / "config.json").read_text())
    assert config["heads_per_layer"] == [2, 3, 4] and config["model_type"].startswith("nasforge_")
    assert (folder / "modeling_pruned.py").is_file()
    reloaded = auto.from_pretrained(folder, trust_remote_code=True)
    assert torch.allclose(outputs(reloaded, batch), expected, atol=1e-5)
    # nasforge's loader uses its own copy of the classes, no remote code
    loaded = load_model(folder, task)
    assert loaded.family == family
    assert torch.allclose(outputs(loaded.model, batch), expected, atol=1e-5)


PLAIN_LOAD = """
import json, sys, torch, transformers
for folder, ids, mask in json.loads(sys.argv[1]):
    model = transformers.AutoModelForSequenceClassification.from_pretrained(folder, trust_remote_code=True)
    assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
    with torch.no_grad():
        print(json.dumps(model(input_ids=torch.tensor(ids), attention_mask=torch.tensor(mask)).logits.tolist()))
assert "nasforge_transformers" not in sys.modules
"""


def test_a_fresh_python_loads_extracted_folders_with_transformers_alone(tmp_path):
    import subprocess
    import sys

    jobs, expected = [], []
    for family in ("encoder", "decoder"):
        model, tokenizer = tiny_model(family, "classification", 2, layers=4, seed=5)
        small = extract(model, KEEP, HEADS, NEURONS)
        folder = save_extracted(small, tokenizer, tmp_path / family)
        batch = tokenizer(list(SENTENCES[:3]), padding=True, return_tensors="pt")
        jobs.append([str(folder), batch["input_ids"].tolist(), batch["attention_mask"].tolist()])
        expected.append(outputs(small, batch))
    run = subprocess.run([sys.executable, "-c", PLAIN_LOAD, json.dumps(jobs)], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == 2
    for line, want in zip(lines, expected):
        assert torch.allclose(torch.tensor(json.loads(line)), want, atol=1e-5)


def test_extraction_leaves_the_original_untouched_and_keeping_everything_is_the_identity():
    model, tokenizer = tiny_model("encoder", seed=1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batch = tokenizer(list(SENTENCES), padding=True, return_tensors="pt")
    same = extract(model)
    assert type(same) is type(model)
    assert torch.allclose(outputs(same, batch), outputs(model, batch), atol=1e-6)
    extract(model, [1], {1: [0]}, {1: [1, 2]})
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("family", ["encoder", "decoder"])
def test_layer_dropping_and_uniform_ffn_give_a_stock_model(tmp_path, family):
    model, tokenizer = tiny_model(family, "classification", 3, layers=3)
    small = extract(model, [0, 2], neurons={0: range(16), 2: range(40, 56)})
    assert type(small) is type(model)
    config = small.config
    assert (config.num_hidden_layers, getattr(config, "n_inner", None) or config.intermediate_size) == (2, 16)
    folder = save_extracted(small, tokenizer, tmp_path / "stock")
    assert not (folder / "modeling_pruned.py").exists()
    reloaded = AutoModelForSequenceClassification.from_pretrained(folder)   # no remote code at all
    batch = tokenizer(list(SENTENCES[:3]), padding=True, return_tensors="pt")
    assert torch.allclose(outputs(reloaded, batch), outputs(small, batch), atol=1e-6)


def test_an_extracted_model_can_be_extracted_again():
    model, tokenizer = tiny_model("decoder", "causal-lm", layers=3)
    once = extract(model, [0, 1, 2], {1: [0, 2, 3]})
    twice = extract(once, [1, 2], {1: [0, 2]}, {2: [0, 1, 2]})   # indices of `once`: its layer 1 has 3 heads
    direct = extract(model, [1, 2], {1: [0, 3]}, {2: [0, 1, 2]})
    batch = tokenizer(list(SENTENCES[:2]), padding=True, return_tensors="pt")
    assert shape_of(twice) == {"layers": 2, "heads": [2, 4], "intermediate": [64, 3]}
    assert torch.allclose(outputs(twice, batch), outputs(direct, batch), atol=1e-6)


@pytest.mark.parametrize("args, message", [
    (([5],), r"keep_layers: indices must be in 0..1"),
    (([],), "keep_layers: keep at least one"),
    (([0], {0: []}), "heads of layer 0: keep at least one"),
    (([0], {0: [4]}), r"heads of layer 0: indices must be in 0..3"),
    (([0], None, {1: [0]}), r"neurons given for layers \[1\] that are not kept"),
])
def test_bad_indices_are_user_errors(args, message):
    model, _ = tiny_model("encoder")
    with pytest.raises(UserError, match=message):
        extract(model, *args)


def test_unsupported_model_types_are_refused():
    from transformers import DistilBertConfig, DistilBertModel

    model = DistilBertModel(DistilBertConfig(vocab_size=50, dim=32, n_layers=1, n_heads=2, hidden_dim=64))
    with pytest.raises(UserError, match="extraction supports bert, roberta, gpt2 models, not 'distilbert'"):
        extract(model, [0])
