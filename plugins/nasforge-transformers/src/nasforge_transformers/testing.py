"""Tiny random transformers for tests: built in-process from a config, no download.

::

    model, tokenizer = tiny_model("encoder", task="classification", num_labels=2)
    folder = save_tiny_model(tmp_path / "tiny-bert", "decoder", task="causal-lm")   # a real HF folder

The encoder is a ``BertConfig`` model with a WordPiece tokenizer whose vocabulary is built from
``corpus`` (whole words, single characters and ``##`` characters, so every lowercase ASCII text
tokenises without unknown tokens); the decoder is a ``GPT2Config`` model with a byte-level BPE
tokenizer trained on ``corpus``. Sizes default to 2 layers, 4 heads, hidden 32, FFN 64.
"""

from __future__ import annotations

import os
import re
import string
from pathlib import Path
from typing import Any

#: A few sentences of both sentiments: the default corpus of the tiny tokenizers and test data.
SENTENCES = (
    "a stirring , funny and finally transporting film",
    "the movie is a delight from start to finish",
    "an engaging and moving story with great acting",
    "one of the best films of the year",
    "apparently reassembled from the cutting-room floor",
    "a dull , boring and badly acted mess",
    "the plot makes no sense and the jokes fall flat",
    "i wanted my two hours back",
)


def tiny_tokenizer(family: str = "encoder", corpus: tuple[str, ...] | list[str] = SENTENCES) -> Any:
    """A small tokenizer for ``family`` (``"encoder"``: BERT WordPiece, ``"decoder"``: GPT-2 byte BPE)."""
    if family == "encoder":
        from transformers import BertTokenizer

        words = sorted({w for text in corpus for w in re.findall(r"\w+|[^\w\s]", text.lower())})
        chars = list(string.ascii_lowercase + string.digits + string.punctuation)
        tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + chars + [f"##{c}" for c in string.ascii_lowercase + string.digits]
        tokens += [w for w in words if w not in tokens]
        tokenizer = BertTokenizer(vocab={t: i for i, t in enumerate(tokens)})
        tokenizer.model_max_length = 512
        return tokenizer
    if family == "decoder":
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import GPT2TokenizerFast

        bpe = Tokenizer(models.BPE())
        bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        bpe.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
        bpe.train_from_iterator(list(corpus), trainer)
        eot = "<|endoftext|>"
        tokenizer = GPT2TokenizerFast(tokenizer_object=bpe, bos_token=eot, eos_token=eot, unk_token=eot)
        tokenizer.pad_token = eot
        tokenizer.model_max_length = 128
        return tokenizer
    raise ValueError(f"family must be 'encoder' or 'decoder', got {family!r}")


def tiny_config(family: str = "encoder", *, vocab_size: int, layers: int = 2, heads: int = 4, hidden: int = 32, intermediate: int = 64, num_labels: int = 2, pad_token_id: int = 0) -> Any:
    """A ``BertConfig`` (encoder) or ``GPT2Config`` (decoder) of the given size."""
    if family == "encoder":
        from transformers import BertConfig

        return BertConfig(vocab_size=vocab_size, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=intermediate,
                          max_position_embeddings=512, num_labels=num_labels, pad_token_id=pad_token_id, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    if family == "decoder":
        from transformers import GPT2Config

        return GPT2Config(vocab_size=vocab_size, n_embd=hidden, n_layer=layers, n_head=heads, n_inner=intermediate, n_positions=128, num_labels=num_labels,
                          pad_token_id=pad_token_id, bos_token_id=pad_token_id, eos_token_id=pad_token_id, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    raise ValueError(f"family must be 'encoder' or 'decoder', got {family!r}")


def tiny_model(family: str = "encoder", task: str = "classification", num_labels: int = 2, *, seed: int = 0, corpus: tuple[str, ...] | list[str] = SENTENCES, **sizes: int) -> tuple[Any, Any]:
    """``(model, tokenizer)``: a randomly initialised tiny model (seeded) with its tokenizer.

    ``task`` is ``"classification"``, ``"causal-lm"`` or ``"base"``; ``sizes`` are
    :func:`tiny_config`'s ``layers``, ``heads``, ``hidden``, ``intermediate``.
    """
    import torch
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification

    tokenizer = tiny_tokenizer(family, corpus)
    config = tiny_config(family, vocab_size=len(tokenizer), num_labels=num_labels, pad_token_id=tokenizer.pad_token_id, **sizes)
    auto = {"classification": AutoModelForSequenceClassification, "causal-lm": AutoModelForCausalLM, "base": AutoModel}[task]
    torch.manual_seed(seed)
    model = auto.from_config(config)
    model.eval()
    return model, tokenizer


def save_tiny_model(folder: str | os.PathLike[str], family: str = "encoder", task: str = "classification", num_labels: int = 2, **kwargs: Any) -> Path:
    """Write a tiny model and its tokenizer to ``folder`` with ``save_pretrained``; returns the folder."""
    model, tokenizer = tiny_model(family, task, num_labels, **kwargs)
    path = Path(folder)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
