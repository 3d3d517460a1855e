"""Text classification from scratch: CSV datasets, a vocabulary from the training split, the ``text`` space.

Datasets (``evaluator.options.dataset``):

* ``text_csv`` — any CSV with a header: ``path`` (and optionally ``test_path``), the text
  column(s) (``text_columns``, joined with a space) and ``label_column``; an optional
  ``split_column`` whose values name the split of each row (``train_split``, ``valid_split``,
  ``test_split``). Without a test file or split column a seeded stratified ``test_fraction``
  (default 0.2) is held out; without a validation split ``valid_fraction`` of the training rows.
* ``sst2`` — SST-2 sentences (``root/sst2_sentences.csv``: split,label,text; train/dev/test).
* ``trec`` — TREC question type (``root/trec_train.csv``, ``root/trec_test.csv``; 6 classes).
* ``ag_news`` — AG News (``path`` to a CSV with label,title,description); with only the test file
  available a seeded stratified train/test split of it is made.

Tokenisation needs no download: lower-cased words, numbers and single punctuation marks
(:func:`tokenize`); the vocabulary (:class:`Vocabulary`) holds the training split's tokens seen at
least ``min_freq`` times (``max_vocab`` most frequent), index 0 is padding, 1 unknown. Each text
becomes at most ``max_length`` token ids; batches are cut to their longest sequence.

The ``text`` space (:func:`text_space`) and its builder (:func:`build_text`): embedding size,
encoder ``cnn`` (parallel convolutions of several kernel widths, Kim 2014), ``lstm``, ``gru`` or
``transformer``, layers, hidden size, bidirectional (recurrent encoders), attention heads
(transformer), pooling over time (``max`` or ``mean``, padding masked), dropout. Models take
``(batch, sequence)`` int64 token ids and export to ONNX with both axes dynamic
(``onnx_dynamic_dims``).
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from nasforge.core.errors import ConfigError, SpaceError, UserError
from nasforge.core.space import SearchSpace
from nasforge.trainer.data import DatasetSplits
from nasforge.trainer.robustness import TEXT_SEVERITIES, severity_value
from nasforge.trainer.task import TokenClassificationTask
from nasforge.trainer.tasks._common import (
    OPTION,
    check_fraction,
    check_int,
    check_nonempty_classes,
    choice_values,
    data_path,
    encode_labels,
    limit_train,
    read_csv,
    split_indices,
)

PAD, UNK = 0, 1
_TOKEN = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|'[a-z]+|[^\sa-z0-9]")


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """Words (with a trailing ``'s``-style clitic), numbers and single punctuation marks."""
    text = text.lower() if lowercase else text
    if not lowercase:
        return re.findall(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?|'[A-Za-z]+|[^\sA-Za-z0-9]", text)
    return _TOKEN.findall(text)


class Vocabulary:
    """Token ↔ id mapping; id 0 is padding, 1 is the unknown token."""

    def __init__(self, tokens: Sequence[str], lowercase: bool = True) -> None:
        self.itos = ["<pad>", "<unk>", *tokens]
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.lowercase = lowercase

    @classmethod
    def build(cls, texts: Sequence[str], min_freq: int = 1, max_size: int | None = None, lowercase: bool = True) -> Vocabulary:
        """The tokens of ``texts`` seen at least ``min_freq`` times, most frequent first (ties by token)."""
        counts = Counter(t for text in texts for t in tokenize(text, lowercase))
        tokens = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        return cls(tokens[:max_size] if max_size is not None else tokens, lowercase)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, max_length: int) -> list[int]:
        """At most ``max_length`` ids of ``text`` (at least one: an empty text is one unknown token)."""
        ids = [self.stoi.get(t, UNK) for t in tokenize(text, self.lowercase)][:max_length]
        return ids or [UNK]

    def encode_all(self, texts: Sequence[str], max_length: int) -> torch.Tensor:
        """``(len(texts), max_length)`` int64 ids, right-padded with 0."""
        out = torch.zeros(len(texts), max_length, dtype=torch.long)
        for i, text in enumerate(texts):
            ids = self.encode(text, max_length)
            out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out


def _typo(word: str, rng: np.random.Generator) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    if len(word) < 2:
        return word + letters[rng.integers(26)]
    i = int(rng.integers(len(word) - 1))
    kind = int(rng.integers(4))
    if kind == 0:  # swap two neighbours
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == 1:  # delete
        return word[:i] + word[i + 1 :]
    if kind == 2:  # insert
        return word[:i] + letters[rng.integers(26)] + word[i:]
    return word[:i] + letters[rng.integers(26)] + word[i + 1 :]  # replace


class TokenDataset(Dataset):
    """Token ids ``(N, max_length)``, labels and the raw texts (kept for character-level corruptions).

    ``batch(indices)`` cuts the batch to its longest sequence, so short texts train fast, and
    ``bucket`` groups texts of similar length into the training batches.
    """

    corruptions: tuple[str, ...] = tuple(TEXT_SEVERITIES)

    def __init__(self, texts: Sequence[str], labels: torch.Tensor, vocab: Vocabulary, max_length: int) -> None:
        self.texts = list(texts)
        self.labels = labels.long()
        self.vocab = vocab
        self.max_length = int(max_length)
        self.ids = vocab.encode_all(self.texts, self.max_length)
        self.lengths = (self.ids != PAD).sum(dim=1).clamp_min(1)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.ids[index], self.labels[index]

    def batch(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        longest = int(self.lengths[indices].max()) if len(indices) else 1
        return self.ids[indices, :longest], self.labels[indices]

    def bucket(self, order: torch.Tensor, batch_size: int, generator: torch.Generator | None = None, pool: int = 50) -> torch.Tensor:
        """A shuffled ``order`` rearranged for training: each run of ``pool`` batches sorted by length, then the batches shuffled.

        Batches hold texts of similar length (little padding, much less compute) and stay random.
        """
        size = batch_size * pool
        chunks = [c[torch.argsort(self.lengths[c], stable=True)] for c in order.split(size)]
        batches = list(torch.cat(chunks).split(batch_size))
        full = len(order) // batch_size  # a short last batch stays last, so the loader's batches are these
        return torch.cat([batches[i] for i in torch.randperm(full, generator=generator).tolist()] + batches[full:])

    def subset(self, indices: torch.Tensor | Sequence[int]) -> TokenDataset:
        idx = torch.as_tensor(indices, dtype=torch.long).tolist()
        return TokenDataset([self.texts[i] for i in idx], self.labels[idx], self.vocab, self.max_length)

    def corrupted(self, name: str, severity: int, seed: int = 0) -> TokenDataset:
        """``token_dropout``: each token removed with a probability; ``char_typo``: each word edited with a probability."""
        p = severity_value(TEXT_SEVERITIES, name, severity)
        rng = np.random.default_rng(seed)
        if name == "char_typo":
            texts = [" ".join(_typo(w, rng) if rng.random() < p else w for w in text.split()) for text in self.texts]
            return TokenDataset(texts, self.labels, self.vocab, self.max_length)
        out = TokenDataset.__new__(TokenDataset)
        out.texts, out.labels, out.vocab, out.max_length = self.texts, self.labels, self.vocab, self.max_length
        ids = torch.zeros_like(self.ids)
        for i, row in enumerate(self.ids.tolist()):
            tokens = [t for t in row if t != PAD]
            kept = [t for t in tokens if rng.random() >= p] or tokens[:1]
            ids[i, : len(kept)] = torch.tensor(kept, dtype=torch.long)
        out.ids = ids
        out.lengths = (ids != PAD).sum(dim=1).clamp_min(1)
        return out


def _texts(columns: Mapping[str, list[str]], text_columns: Sequence[str]) -> list[str]:
    n = len(next(iter(columns.values())))
    return [" ".join(columns[c][i] for c in text_columns if columns[c][i]) for i in range(n)]


def _text_columns(value: Any) -> list[str]:
    cols = [value] if isinstance(value, str) else value
    if not isinstance(cols, Sequence) or not cols or not all(isinstance(c, str) and c for c in cols):
        raise ConfigError(f"{OPTION}.text_columns", f"must be a column name or a list of them, got {value!r}")
    return list(cols)


def make_text_splits(
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    test_texts: Sequence[str] | None,
    test_labels: Sequence[str] | None,
    valid_texts: Sequence[str] | None = None,
    valid_labels: Sequence[str] | None = None,
    *,
    max_length: int = 64,
    min_freq: int = 1,
    max_vocab: int | None = None,
    lowercase: bool = True,
    valid_fraction: float = 0.1,
    test_fraction: float | None = None,
    max_train_samples: int | None = None,
    seed: int = 0,
    name: str = "text",
) -> DatasetSplits:
    """Texts and label strings → :class:`DatasetSplits` of :class:`TokenDataset` (vocabulary from the training part)."""
    max_length = check_int("max_length", max_length, 1)
    min_freq = check_int("min_freq", min_freq, 1)
    if max_vocab is not None:
        max_vocab = check_int("max_vocab", max_vocab, 1)
    train_texts, train_labels = list(train_texts), list(train_labels)
    where = f"dataset {name!r}: "
    others = [v for v in (test_labels, valid_labels) if v is not None]
    encoded, classes = encode_labels(train_labels, *others, where=where)
    y = encoded[0]
    test_source = "official test split"
    if test_texts is None or test_fraction is not None:
        fraction = check_fraction("test_fraction", 0.2 if test_fraction is None else test_fraction)
        held, rest = split_indices(y, fraction, seed)
        test_texts, test_y = [train_texts[i] for i in held.tolist()], y[held]
        train_texts, y = [train_texts[i] for i in rest.tolist()], y[rest]
        test_source = f"seeded stratified {fraction:g} of the data"
    else:
        test_y = encoded[1]
    if valid_texts is None:
        held, rest = split_indices(y, check_fraction("valid_fraction", valid_fraction), seed + 1)
        valid_texts, valid_y = [train_texts[i] for i in held.tolist()], y[held]
        train_texts, y = [train_texts[i] for i in rest.tolist()], y[rest]
    else:
        valid_y = encoded[-1]
    order = limit_train(torch.randperm(len(y), generator=torch.Generator().manual_seed(seed)), max_train_samples)
    train_texts, y = [train_texts[i] for i in order.tolist()], y[order]
    num_classes = len(classes)
    for labels, split in ((y, "train"), (valid_y, "valid"), (test_y, "test")):
        check_nonempty_classes(labels, num_classes, classes, split)
    vocab = Vocabulary.build(train_texts, min_freq=min_freq, max_size=max_vocab, lowercase=lowercase)
    train = TokenDataset(train_texts, y, vocab, max_length)
    return DatasetSplits(
        train=train,
        valid=TokenDataset(valid_texts, valid_y, vocab, max_length),
        test=TokenDataset(test_texts, test_y, vocab, max_length),
        input_shape=(max_length,),
        num_classes=num_classes,
        class_names=classes,
        name=name,
        info={"test_split": test_source, "vocab_size": len(vocab), "train": len(y), "valid": len(valid_y), "test": len(test_y)},
        task=TokenClassificationTask(len(vocab)),
        model_options={"vocab_size": len(vocab)},
    )


def load_text_csv(
    path: str | os.PathLike[str],
    test_path: str | os.PathLike[str] | None = None,
    text_columns: str | Sequence[str] = "text",
    label_column: str = "label",
    split_column: str | None = None,
    train_split: str = "train",
    valid_split: str | None = None,
    test_split: str = "test",
    max_length: int = 64,
    min_freq: int = 1,
    max_vocab: int | None = None,
    lowercase: bool = True,
    valid_fraction: float = 0.1,
    test_fraction: float | None = None,
    max_train_samples: int | None = None,
    seed: int = 0,
) -> DatasetSplits:
    """Any CSV of texts and labels (see the module docstring for how it is split)."""
    cols = _text_columns(text_columns)
    if not isinstance(label_column, str) or not label_column:
        raise ConfigError(f"{OPTION}.label_column", f"must be a column name, got {label_column!r}")
    file = data_path(path, "text.csv", "path")
    wanted = [*cols, label_column] + ([split_column] if split_column else [])
    table = read_csv(file, wanted, "text CSV")
    texts, labels = _texts(table, cols), table[label_column]
    common = {"max_length": max_length, "min_freq": min_freq, "max_vocab": max_vocab, "lowercase": lowercase,
              "valid_fraction": valid_fraction, "test_fraction": test_fraction, "max_train_samples": max_train_samples, "seed": seed, "name": file.stem}
    if split_column:
        split = table[split_column]
        pick = {s: [i for i, v in enumerate(split) if v == s] for s in {train_split, valid_split, test_split} if s}
        if not pick[train_split]:
            raise UserError(f"{file}: no row has {split_column} == {train_split!r} (values: {sorted(set(split))[:10]})")

        def part(s: str | None) -> tuple[list[str] | None, list[str] | None]:
            if not s or not pick.get(s):
                return None, None
            return [texts[i] for i in pick[s]], [labels[i] for i in pick[s]]

        tr, te, va = part(train_split), part(test_split), part(valid_split)
        if valid_split and va[0] is None:
            raise UserError(f"{file}: no row has {split_column} == {valid_split!r}")
        return make_text_splits(tr[0], tr[1], te[0], te[1], va[0], va[1], **common)  # type: ignore[arg-type]
    if test_path is not None:
        test_table = read_csv(data_path(test_path, "text_test.csv", "test_path"), [*cols, label_column], "text CSV")
        return make_text_splits(texts, labels, _texts(test_table, cols), test_table[label_column], **common)
    return make_text_splits(texts, labels, None, None, **common)


def load_sst2(root: str | os.PathLike[str] | None = None, max_length: int = 64, min_freq: int = 1, max_vocab: int | None = None,
              lowercase: bool = True, max_train_samples: int | None = None, seed: int = 0) -> DatasetSplits:
    """SST-2 sentences: ``root/sst2_sentences.csv`` (split,label,text), its train/dev/test splits (dev = validation)."""
    folder = data_path(root, "text")
    return load_text_csv(folder / "sst2_sentences.csv", split_column="split", valid_split="dev", max_length=max_length, min_freq=min_freq,
                         max_vocab=max_vocab, lowercase=lowercase, max_train_samples=max_train_samples, seed=seed)


def load_trec(root: str | os.PathLike[str] | None = None, max_length: int = 40, min_freq: int = 1, max_vocab: int | None = None,
              lowercase: bool = True, valid_fraction: float = 0.1, max_train_samples: int | None = None, seed: int = 0) -> DatasetSplits:
    """TREC question classification: ``root/trec_train.csv`` and ``root/trec_test.csv`` (label,text), 6 classes."""
    folder = data_path(root, "text")
    return load_text_csv(folder / "trec_train.csv", test_path=folder / "trec_test.csv", max_length=max_length, min_freq=min_freq,
                         max_vocab=max_vocab, lowercase=lowercase, valid_fraction=valid_fraction, max_train_samples=max_train_samples, seed=seed)


def load_ag_news(path: str | os.PathLike[str] | None = None, test_path: str | os.PathLike[str] | None = None, max_length: int = 64,
                 min_freq: int = 2, max_vocab: int | None = 30000, lowercase: bool = True, valid_fraction: float = 0.1, test_fraction: float | None = None,
                 max_train_samples: int | None = None, seed: int = 0) -> DatasetSplits:
    """AG News (label,title,description; labels as the file spells them, 1-4 or 0-3): ``path`` (default ``<data dir>/text/ag_news_test7600.csv``); with no
    ``test_path`` a seeded stratified ``test_fraction`` (0.2) of it is the test split."""
    file = Path(path).expanduser() if path is not None else data_path(None, "text") / "ag_news_test7600.csv"
    return load_text_csv(file, test_path=test_path, text_columns=["title", "description"], max_length=max_length, min_freq=min_freq,
                         max_vocab=max_vocab, lowercase=lowercase, valid_fraction=valid_fraction, test_fraction=test_fraction, max_train_samples=max_train_samples, seed=seed)


for _loader in (load_text_csv, load_sst2, load_trec, load_ag_news):
    _loader.task = TokenClassificationTask  # type: ignore[attr-defined]


# -- the space ------------------------------------------------------------------------------------
ENCODERS = ("cnn", "lstm", "gru", "transformer")


def _kernel_set(text: str) -> tuple[int, ...]:
    try:
        ks = tuple(int(k) for k in str(text).split(","))
    except ValueError:
        raise SpaceError(f"kernel_set must be comma-separated kernel widths like '3,4,5', got {text!r}") from None
    if not ks or any(k < 1 for k in ks):
        raise SpaceError(f"kernel_set must hold positive widths, got {text!r}")
    return ks


def text_space(
    embedding_dims: Sequence[int] = (64, 128, 256),
    encoders: Sequence[str] = ENCODERS,
    max_layers: int = 2,
    hidden_sizes: Sequence[int] = (64, 128, 256),
    kernel_sets: Sequence[str] = ("3,4,5", "2,3,4", "1,2,3"),
    heads: Sequence[int] = (2, 4),
    poolings: Sequence[str] = ("max", "mean"),
    dropouts: Sequence[float] = (0.1, 0.3, 0.5),
) -> SearchSpace:
    """Text classifiers over token ids.

    Choices: ``embedding_dim``; ``encoder`` (``cnn``, ``lstm``, ``gru``, ``transformer``);
    ``layers`` (1..``max_layers``, recurrent and transformer encoders); ``hidden`` (CNN feature
    maps per kernel width, recurrent state size, transformer feed-forward width); ``kernel_set``
    (CNN only: comma-separated widths of the parallel convolutions); ``bidirectional``
    (LSTM/GRU only); ``heads`` (transformer only; must divide ``embedding_dim``); ``pooling``
    over time (``max`` or ``mean``); ``dropout`` (before the classifier and between layers).
    An architecture may also fix ``max_norm`` (default 3, ``null``: off) and ``embedding_dropout``
    (default 0); see :class:`TextClassifier`.
    """
    dims = sorted(choice_values("embedding_dims", embedding_dims, int, lambda v: v >= 1))
    encs = choice_values("encoders", encoders, str, lambda v: v in ENCODERS)
    if isinstance(max_layers, bool) or not isinstance(max_layers, int) or not 1 <= max_layers <= 8:
        raise ConfigError("space.options.max_layers", f"must be an integer from 1 to 8, got {max_layers!r}")
    hidden = sorted(choice_values("hidden_sizes", hidden_sizes, int, lambda v: v >= 1))
    ksets = choice_values("kernel_sets", kernel_sets, str)
    for k in ksets:
        try:
            _kernel_set(k)
        except SpaceError as exc:
            raise ConfigError("space.options.kernel_sets", str(exc)) from None
    hds = sorted(choice_values("heads", heads, int, lambda v: v >= 1))
    if "transformer" in encs and not any(d % h == 0 for d in dims for h in hds):
        raise ConfigError("space.options.heads", f"no heads value divides any embedding_dim ({hds} vs {dims})")
    pools = choice_values("poolings", poolings, str, lambda v: v in ("max", "mean"))
    drops = sorted(choice_values("dropouts", dropouts, (int, float), lambda v: 0 <= v < 1))
    recurrent = [e for e in encs if e in ("lstm", "gru")]
    deep = [e for e in encs if e != "cnn"]
    choices: list[dict[str, Any]] = [
        {"name": "embedding_dim", "values": dims, "ordered": True},
        {"name": "encoder", "values": encs},
        {"name": "hidden", "values": hidden, "ordered": True},
        {"name": "pooling", "values": pools},
        {"name": "dropout", "values": [float(d) for d in drops], "ordered": True},
    ]
    if deep:
        choices.append({"name": "layers", "type": "int", "low": 1, "high": max_layers, "when": {"encoder": deep}})
    if "cnn" in encs:
        choices.append({"name": "kernel_set", "values": ksets, "when": {"encoder": ["cnn"]}})
    if recurrent:
        choices.append({"name": "bidirectional", "values": [True, False], "when": {"encoder": recurrent}})
    if "transformer" in encs:
        choices.append({"name": "heads", "values": hds, "ordered": True, "when": {"encoder": ["transformer"]}})
    return SearchSpace.from_config(choices, name="text")


class KimCNN(nn.Module):
    """Parallel 1-D convolutions (one per kernel width) with ReLU over embedded tokens, "wide" as in Kim's code.

    Every window that holds at least one token counts, including those that hang over either end
    of the text (zero vectors fill the rest), so the first and last words get windows of their own
    that mark where the text starts and ends. A width-k map is computed over ``k - 1`` zero steps on
    the left and ``max(kernels) - 1`` on the right, so all maps share one length, ``length +
    extra_positions``; a narrower kernel's surplus windows lie wholly in the padding, so a text's
    features never depend on how much padding its batch adds.
    """

    def __init__(self, dim: int, channels: int, kernels: Sequence[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv1d(dim, channels, k) for k in kernels)
        self.out_features = channels * len(kernels)
        #: output steps beyond the input's: the widest kernel's ``k - 1``
        self.extra_positions = max(kernels) - 1

    def forward(self, h: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = h.transpose(1, 2)
        widest = self.extra_positions
        maps = [torch.relu(conv(nn.functional.pad(x, (conv.kernel_size[0] - 1, widest)))) for conv in self.convs]
        return torch.cat(maps, dim=1).transpose(1, 2)


def reverse_valid(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first ``lengths[i]`` steps of ``x`` ``(N, L, D)``, leaving the padding in place (its own inverse)."""
    steps = torch.arange(x.shape[1], device=x.device).unsqueeze(0)
    last = (lengths - 1).unsqueeze(1)
    index = torch.where(steps <= last, last - steps, steps)
    return torch.gather(x, 1, index.unsqueeze(-1).expand(-1, -1, x.shape[2]))


class MaskedRNN(nn.Module):
    """Stacked LSTM/GRU layers over right-padded sequences; the backward direction reads each row's own tokens only.

    ``nn.LSTM(bidirectional=True)`` would start its backward pass on the padding; here the
    backward layer runs on each row reversed within its length, so outputs at real tokens do not
    depend on how much padding follows (and the model exports to ONNX without packed sequences).
    """

    def __init__(self, kind: str, input_size: int, hidden: int, layers: int, bidirectional: bool, dropout: float) -> None:
        super().__init__()
        rnn = nn.LSTM if kind == "lstm" else nn.GRU
        self.forward_layers = nn.ModuleList()
        self.backward_layers = nn.ModuleList()
        size = input_size
        for _ in range(layers):
            self.forward_layers.append(rnn(size, hidden, batch_first=True))
            if bidirectional:
                self.backward_layers.append(rnn(size, hidden, batch_first=True))
            size = hidden * (2 if bidirectional else 1)
        self.dropout = nn.Dropout(dropout)
        self.out_features = size

    def forward(self, h: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        lengths = keep.sum(dim=1)
        for i, layer in enumerate(self.forward_layers):
            if i:
                h = self.dropout(h)
            out, _ = layer(h)
            if self.backward_layers:
                back, _ = self.backward_layers[i](reverse_valid(h, lengths))
                out = torch.cat([out, reverse_valid(back, lengths)], dim=2)
            h = out
        return h


class SinusoidalPositions(nn.Module):
    """Adds fixed sine/cosine position encodings (any sequence length, nothing to learn)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("inv_freq", torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim)), persistent=False)
        self.dim = dim

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(h.shape[1], dtype=torch.float32, device=h.device).unsqueeze(1) * self.inv_freq
        enc = torch.stack([pos.sin(), pos.cos()], dim=-1).flatten(1)[:, : self.dim]
        return h + enc


class AttentionEncoder(nn.Module):
    """Sine/cosine positions, then ``layers`` transformer encoder layers attending to real tokens only."""

    def __init__(self, dim: int, heads: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        if dim % heads:
            raise SpaceError(f"heads ({heads}) must divide embedding_dim ({dim})")
        self.positions = SinusoidalPositions(dim)
        layer = nn.TransformerEncoderLayer(dim, heads, hidden, dropout=dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out_features = dim

    def forward(self, h: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return self.encoder(self.positions(h), src_key_padding_mask=~keep)


class TextClassifier(nn.Module):
    """Embedding → encoder → masked pooling over time → dropout → linear classifier.

    Input: ``(batch, sequence)`` int64 token ids, 0 = padding. Every encoder takes the embedded
    tokens and the mask of real tokens; padding is excluded from pooling and from attention, and
    the first position always counts, so an all-padding row stays finite. The ``cnn`` encoder's
    embeddings start uniform in ±0.25 (Kim's CNN-rand). Dropout acts before
    the classifier (and between recurrent/attention layers), as in Kim (2014); ``embedding_dropout``
    (default 0) drops embedding features too. ``max_norm`` (Kim's 3; ``None``: off) caps the L2
    norm of each class's weight vector in the classifier: it is re-imposed before every training
    forward pass and when the model leaves training mode.
    """

    onnx_dynamic_dims: ClassVar[dict[int, str]] = {1: "sequence"}
    # int8 where it pays (embedding table, projections, convolutions, classifier); the masking
    # arithmetic (-inf attention bias) would lose everything in an 8-bit range
    onnx_int8_op_types: ClassVar[tuple[str, ...]] = ("Gather", "MatMul", "Gemm", "Conv")

    def __init__(self, vocab_size: int, embedding_dim: int, encoder: str, hidden: int, layers: int, pooling: str, dropout: float,
                 num_classes: int, kernels: Sequence[int] = (3, 4, 5), bidirectional: bool = False, heads: int = 2,
                 max_norm: float | None = 3.0, embedding_dropout: float = 0.0) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD)
        if encoder == "cnn":  # Kim's CNN-rand initialisation: small uniform vectors, not N(0, 1)
            with torch.no_grad():
                self.embedding.weight.uniform_(-0.25, 0.25)
                self.embedding.weight[PAD].zero_()
        self.embedding_dropout = nn.Dropout(embedding_dropout)
        self.dropout = nn.Dropout(dropout)
        self.pooling = pooling
        self.max_norm = max_norm
        if encoder == "cnn":
            self.encoder: nn.Module = KimCNN(embedding_dim, hidden, kernels)
        elif encoder in ("lstm", "gru"):
            self.encoder = MaskedRNN(encoder, embedding_dim, hidden, layers, bidirectional, dropout)
        elif encoder == "transformer":
            self.encoder = AttentionEncoder(embedding_dim, heads, hidden, layers, dropout)
        else:
            raise SpaceError(f"unknown text encoder {encoder!r}; choose from {list(ENCODERS)}")
        self.classifier = nn.Linear(self.encoder.out_features, num_classes)

    def constrain(self) -> None:
        """Scale down each row of the classifier's weight whose L2 norm exceeds ``max_norm``."""
        if self.max_norm is not None:
            with torch.no_grad():
                self.classifier.weight.copy_(torch.renorm(self.classifier.weight, 2, 0, self.max_norm))

    def train(self, mode: bool = True) -> TextClassifier:
        self.constrain()
        return super().train(mode)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.constrain()
        first = torch.arange(tokens.shape[1], device=tokens.device).unsqueeze(0) == 0
        keep = (tokens != PAD) | first  # (N, L)
        h = self.encoder(self.embedding_dropout(self.embedding(tokens)), keep)
        extra = getattr(self.encoder, "extra_positions", 0)
        if extra:  # a wide convolution's windows: every one that reaches a real token
            steps = torch.arange(tokens.shape[1] + extra, device=tokens.device).unsqueeze(0)
            keep = steps < keep.sum(dim=1, keepdim=True) + extra
        mask = keep.unsqueeze(-1).to(h.dtype)
        if self.pooling == "max":
            # padding takes the first position's value (always a real token): no large constant, which int8 could not hold
            pooled = torch.where(keep.unsqueeze(-1), h, h[:, :1]).amax(dim=1)
        else:
            pooled = (h * mask).sum(dim=1) / mask.sum(dim=1)
        return self.classifier(self.dropout(pooled))


def build_text(arch: Mapping[str, Any], input_shape: Sequence[int] = (64,), num_classes: int = 2, vocab_size: int | None = None) -> nn.Module:
    """Build the :class:`TextClassifier` of a ``text`` architecture (``vocab_size`` comes from the dataset)."""
    if vocab_size is None or int(vocab_size) < 3:
        raise ConfigError("evaluator.options.dataset", f"the 'text' model needs a text dataset (sst2, trec, ag_news, text_csv) that gives vocab_size; got {vocab_size!r}")
    try:
        encoder = str(arch["encoder"])
        return TextClassifier(
            int(vocab_size), int(arch["embedding_dim"]), encoder, int(arch["hidden"]), int(arch.get("layers", 1)), str(arch["pooling"]),
            float(arch["dropout"]), int(num_classes), kernels=_kernel_set(arch.get("kernel_set", "3,4,5")),
            bidirectional=bool(arch.get("bidirectional", False)), heads=int(arch.get("heads", 2)),
            max_norm=None if arch.get("max_norm", 3.0) is None else float(arch.get("max_norm", 3.0)),
            embedding_dropout=float(arch.get("embedding_dropout", 0.0)),
        )
    except KeyError as exc:
        raise SpaceError(f"architecture for the 'text' builder lacks {exc.args[0]!r}; it needs the choices of the 'text' space, got {dict(arch)}") from None


DATASETS = {"text_csv": load_text_csv, "sst2": load_sst2, "trec": load_trec, "ag_news": load_ag_news}
