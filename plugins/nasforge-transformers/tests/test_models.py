from __future__ import annotations

import json

import pytest
import torch

from nasforge.core.errors import UserError
from nasforge_transformers import load_model, load_tokenizer
from nasforge_transformers import models as models_module
from nasforge_transformers.models import resolve_source


def test_local_encoder_folder_loads_with_a_classification_head(tiny_bert_dir):
    loaded = load_model(tiny_bert_dir, task="classification", num_labels=2)
    assert loaded.family == "encoder"
    assert loaded.max_length == 512
    batch = loaded.tokenizer(["a funny film", "a dull mess"], padding=True, return_tensors="pt")
    assert loaded.model(**batch).logits.shape == (2, 2)


def test_a_new_head_gets_the_requested_labels(tiny_gpt2_dir):
    # the causal-lm checkpoint has no classification head: a new one with 3 labels is created
    loaded = load_model(tiny_gpt2_dir, task="classification", num_labels=3, label_names=["a", "b", "c"])
    assert loaded.family == "decoder"
    assert loaded.model.config.id2label == {0: "a", 1: "b", 2: "c"}
    assert loaded.model.config.pad_token_id == loaded.tokenizer.pad_token_id is not None
    batch = loaded.tokenizer(["a funny film", "one"], padding=True, return_tensors="pt")
    assert loaded.model(**batch).logits.shape == (2, 3)


def test_causal_lm_and_base_tasks(tiny_gpt2_dir):
    lm = load_model(tiny_gpt2_dir, task="causal-lm")
    assert lm.model(input_ids=torch.tensor([[1, 2, 3]])).logits.shape[-1] == lm.model.config.vocab_size
    base = load_model(tiny_gpt2_dir, task="base")
    assert not hasattr(base.model, "lm_head")


def test_a_fine_tuned_head_with_other_labels_is_refused(tiny_bert_dir):
    with pytest.raises(UserError, match="fine-tuned for 2 labels, the data has 4"):
        load_model(tiny_bert_dir, task="classification", num_labels=4)


@pytest.mark.parametrize("make, message", [
    (lambda p: p, "no config.json"),
    (lambda p: (p / "config.json").write_text("[1, 2]") and p, "not a JSON object"),
    (lambda p: (p / "config.json").write_text(json.dumps({"hidden_size": 3})) and p, "names no model_type"),
    (lambda p: (p / "weights.bin").write_bytes(b"x") and p / "weights.bin", "is a file"),
])
def test_a_folder_that_is_not_a_transformer_is_a_user_error(tmp_path, make, message):
    with pytest.raises(UserError, match=message):
        load_model(make(tmp_path))


def test_a_path_that_does_not_exist_is_not_sent_to_the_hub(tmp_path):
    with pytest.raises(UserError, match="neither an existing folder nor a Hugging Face hub id"):
        resolve_source(str(tmp_path / "missing" / "model"))
    assert resolve_source("sentence-transformers/all-MiniLM-L6-v2") == ("sentence-transformers/all-MiniLM-L6-v2", False)


def test_hub_ids_go_to_from_pretrained_unchanged(monkeypatch):
    # the real download path, with from_pretrained replaced: no network in tests
    calls = []

    def fake_config(path, **kwargs):
        calls.append((path, kwargs))
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files\nmore detail")

    import transformers

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", fake_config)
    with pytest.raises(UserError, match=r"could not be fetched from the Hugging Face hub: We couldn't connect") as info:
        load_model("someone/some-model")
    assert "\n" not in str(info.value)
    assert calls == [("someone/some-model", {"local_files_only": False})]


def test_minilm_without_its_package_names_the_extra(monkeypatch):
    monkeypatch.setattr(models_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match=r"nasforge-transformers\[minilm\]"):
        load_tokenizer("minilm")


def test_unknown_task_is_a_user_error(tiny_bert_dir):
    with pytest.raises(UserError, match="task 'seq2seq' is not one of"):
        load_model(tiny_bert_dir, task="seq2seq")


def test_the_embedded_minilm_loads_offline():
    loaded = load_model("minilm", task="classification", num_labels=2)
    config = loaded.model.config
    assert (config.num_hidden_layers, config.num_attention_heads, config.hidden_size, config.intermediate_size) == (6, 12, 384, 1536)
    assert loaded.family == "encoder" and loaded.max_length == 512
    assert 22_000_000 < sum(p.numel() for p in loaded.model.bert.parameters()) < 23_000_000
    ids = loaded.tokenizer("a stirring, funny film")["input_ids"]
    assert loaded.tokenizer.convert_ids_to_tokens(ids)[:3] == ["[CLS]", "a", "stirring"]
