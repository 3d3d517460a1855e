"""Text classification data: loading (SST-2, TREC, any CSV), tokenising once, padding per batch.

::

    data = load_text_classification("sst2", root="../shared/data/text")   # or "trec", or a CSV path
    data.train, data.valid, data.test        # TextSplit(texts, labels) with label ids
    data.label_names, data.num_labels

    train = encode(tokenizer, data.train, max_seq_length=64, model_max_length=loaded.max_length)
    for batch in train.batches(32, shuffle=True, seed=0, epoch=0, bucket=True):
        batch["input_ids"], batch["attention_mask"], batch["labels"], batch["index"]

Datasets:

* ``"sst2"`` — ``sst2_sentences.csv`` (columns ``split,label,text``; splits train / dev / test) in
  ``root``;
* ``"trec"`` — ``trec_train.csv`` and ``trec_test.csv`` (``label,text``) in ``root``; the
  validation split is a seeded, stratified ``valid_fraction`` of train;
* a path to any CSV — column names ``text_column``/``label_column``; splits come from
  ``split_column`` (values ``train``, ``dev``/``valid``/``validation``, ``test``), or a separate
  ``test_path``, and a seeded stratified ``valid_fraction`` of train when there is no valid split.

``root`` defaults to ``$NASFORGE_DATA_DIR/text`` (``~/.cache/nasforge/data/text``). Labels may be
numbers or strings; they are mapped to ids in sorted order (numerically when all are integers),
or in the order of ``labels`` when given. ``max_train``/``max_eval`` keep a seeded stratified
sample of a split, never its first rows.

Batches are padded to the longest sequence *in the batch*, not to ``max_seq_length``; with
``bucket=True`` the training order is shuffled, then sorted by length inside windows of 50 batches
(batches of similar lengths, batch order shuffled again), and evaluation runs longest first.
Every batch carries ``index``, the positions of its examples in the split, so cached per-example
values (a teacher's logits) can be looked up. Mistakes raise
:class:`~nasforge.core.errors.UserError` (exit 2): a missing file, a CSV without the named
columns, a label outside the declared set or unseen in training, a ``max_seq_length`` above what
the model accepts.
"""

from __future__ import annotations

import csv
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasforge.core.errors import UserError

BUILTIN_DATASETS = ("sst2", "trec")
_SPLIT_NAMES = {"train": "train", "dev": "valid", "valid": "valid", "validation": "valid", "val": "valid", "test": "test"}
_BUCKET_WINDOW = 50


def default_text_root() -> Path:
    """Where the built-in text datasets are looked for when no ``root`` is given."""
    base = os.environ.get("NASFORGE_DATA_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "nasforge" / "data") / "text"


@dataclass(frozen=True)
class TextSplit:
    """Texts and their label ids (``-1`` nowhere: every row is labelled)."""

    texts: tuple[str, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> TextSplit:
        return TextSplit(tuple(self.texts[i] for i in indices), tuple(self.labels[i] for i in indices))


@dataclass(frozen=True)
class TextClassificationData:
    """Train / valid / (optional) test splits and the label names (index = label id)."""

    name: str
    train: TextSplit
    valid: TextSplit
    test: TextSplit | None
    label_names: tuple[str, ...]

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


def load_text_classification(
    dataset: str | os.PathLike[str] = "sst2",
    *,
    root: str | os.PathLike[str] | None = None,
    test_path: str | os.PathLike[str] | None = None,
    text_column: str = "text",
    label_column: str = "label",
    split_column: str | None = None,
    labels: Sequence[Any] | None = None,
    valid_fraction: float = 0.1,
    max_train: int | None = None,
    max_eval: int | None = None,
    seed: int = 0,
) -> TextClassificationData:
    """Load a built-in dataset by name or any CSV by path (see the module docstring)."""
    if not 0.0 < valid_fraction < 1.0:
        raise UserError(f"valid_fraction must be between 0 and 1, got {valid_fraction}")
    name = os.fspath(dataset)
    folder = Path(root).expanduser() if root is not None else default_text_root()
    if name == "sst2":
        rows = _read_csv(_builtin_file(folder, "sst2_sentences.csv", "SST-2"), "text", "label", "split")
        parts = _split_by_column(rows, "split")
    elif name == "trec":
        parts = {"train": _read_csv(_builtin_file(folder, "trec_train.csv", "TREC"), "text", "label", None),
                 "test": _read_csv(_builtin_file(folder, "trec_test.csv", "TREC"), "text", "label", None)}
    else:
        path = Path(name).expanduser()
        if not path.is_file():
            raise UserError(f"dataset {name!r} is neither a built-in ({', '.join(BUILTIN_DATASETS)}) nor an existing CSV file")
        rows = _read_csv(path, text_column, label_column, split_column)
        parts = _split_by_column(rows, split_column) if split_column else {"train": rows}
        if test_path is not None:
            if "test" in parts:
                raise UserError(f"{path} already has a test split (column {split_column!r}); drop test_path")
            test_file = Path(test_path).expanduser()
            if not test_file.is_file():
                raise UserError(f"test_path {os.fspath(test_path)!r} is not a file")
            parts["test"] = _read_csv(test_file, text_column, label_column, None)
    if "train" not in parts:
        raise UserError(f"dataset {name!r} has no training rows")
    label_names = _label_names(parts, labels, name)
    ids = {label: i for i, label in enumerate(label_names)}
    splits = {key: TextSplit(tuple(t for t, _ in rows), tuple(ids[lab] for _, lab in rows)) for key, rows in parts.items()}
    train = splits["train"]
    valid = splits.get("valid")
    if valid is None:
        held_out = set(stratified_sample(train.labels, round(valid_fraction * len(train)), seed))
        valid = train.subset(sorted(held_out))
        train = train.subset([i for i in range(len(train)) if i not in held_out])
    test = splits.get("test")
    if max_train is not None:
        train = train.subset(sorted(stratified_sample(train.labels, max_train, seed)))
    if max_eval is not None:
        valid = valid.subset(sorted(stratified_sample(valid.labels, max_eval, seed)))
        test = test.subset(sorted(stratified_sample(test.labels, max_eval, seed))) if test is not None else None
    return TextClassificationData(Path(name).stem if name not in BUILTIN_DATASETS else name, train, valid, test, tuple(label_names))


def stratified_sample(labels: Sequence[int], n: int, seed: int = 0) -> list[int]:
    """Indices of a seeded sample of ``n`` rows keeping every label's share (each label that
    exists gets at least one row when ``n`` allows). All rows when ``n >= len(labels)``."""
    if n < 0:
        raise UserError(f"sample size must be >= 0, got {n}")
    if n >= len(labels):
        return list(range(len(labels)))
    rng = random.Random(seed)
    by_label: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    quotas = {label: n * len(rows) / len(labels) for label, rows in by_label.items()}
    counts = {label: int(q) for label, q in quotas.items()}
    # hand the remaining rows to the largest fractional parts (largest-remainder rounding)
    for label in sorted(quotas, key=lambda lab: quotas[lab] - counts[lab], reverse=True)[: n - sum(counts.values())]:
        counts[label] += 1
    chosen: list[int] = []
    for label in sorted(by_label):
        rows = by_label[label][:]
        rng.shuffle(rows)
        chosen += rows[: counts[label]]
    return sorted(chosen)


def selection_split(labels: Sequence[int], n: int | None, seed: int = 0) -> tuple[list[int], list[int]]:
    """``(fit, held_out)`` indices: a seeded stratified slice of ``n`` rows held out for choosing
    among models (``None``: a tenth), capped at a fifth of the rows so most remain for training;
    ``fit`` is every other row. Both sorted; at least one row on each side when there are two."""
    if len(labels) < 2:
        raise UserError(f"need at least 2 training examples to hold some out for the search, got {len(labels)}")
    cap = max(1, len(labels) // 5)
    want = max(1, len(labels) // 10) if n is None else n
    held = stratified_sample(labels, min(max(1, want), cap), seed)
    chosen = set(held)
    return [i for i in range(len(labels)) if i not in chosen], held


def _builtin_file(folder: Path, filename: str, title: str) -> Path:
    path = folder / filename
    if not path.is_file():
        raise UserError(
            f"{title} file {filename} not found in {folder}; set the dataset's 'root' option (or NASFORGE_DATA_DIR) "
            f"to the folder holding it"
        )
    return path


def _read_csv(path: Path, text_column: str, label_column: str, split_column: str | None) -> list[tuple[str, str] | tuple[str, str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = reader.fieldnames or []
            wanted = [c for c in (text_column, label_column, split_column) if c]
            missing = [c for c in wanted if c not in columns]
            if missing:
                raise UserError(
                    f"{path} has no column {', '.join(repr(c) for c in missing)} (columns: {', '.join(columns) or 'none'}); "
                    f"set text_column/label_column{'/split_column' if split_column else ''}"
                )
            rows: list[Any] = []
            for line, row in enumerate(reader, start=2):
                label = (row.get(label_column) or "").strip()
                if not label:
                    raise UserError(f"{path}:{line}: empty {label_column!r}")
                text = row.get(text_column) or ""
                rows.append((text, label, (row.get(split_column) or "").strip().lower()) if split_column else (text, label))
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not UTF-8 text: {exc}") from None
    except csv.Error as exc:
        raise UserError(f"{path} is not a valid CSV file: {exc}") from None
    if not rows:
        raise UserError(f"{path} has no data rows")
    return rows


def _split_by_column(rows: list[Any], column: str | None) -> dict[str, list[tuple[str, str]]]:
    parts: dict[str, list[tuple[str, str]]] = {}
    for text, label, split in rows:
        key = _SPLIT_NAMES.get(split)
        if key is None:
            raise UserError(f"split column {column!r} has the value {split!r}; expected one of {', '.join(sorted(_SPLIT_NAMES))}")
        parts.setdefault(key, []).append((text, label))
    return parts


def _label_names(parts: dict[str, list[tuple[str, str]]], declared: Sequence[Any] | None, name: str) -> list[str]:
    train_labels = {label for _, label in parts["train"]}
    if declared is not None:
        names = [str(x).strip() for x in declared]
        if len(set(names)) != len(names):
            raise UserError(f"the declared labels repeat a name: {names}")
        for split, rows in parts.items():
            extra = sorted({label for _, label in rows} - set(names))
            if extra:
                raise UserError(f"dataset {name!r}: {split} split has labels {extra} that are not among the declared labels {names}")
        return names
    if len(train_labels) < 2:
        raise UserError(f"dataset {name!r}: the training split has {len(train_labels)} label(s); classification needs at least 2")
    for split, rows in parts.items():
        unseen = sorted({label for _, label in rows} - train_labels)
        if unseen:
            raise UserError(f"dataset {name!r}: {split} split has labels {unseen} that never occur in training; declare the label set with 'labels'")
    try:
        return [str(v) for v in sorted(train_labels, key=lambda s: float(s))]
    except ValueError:
        return sorted(train_labels)


# -- tokenising and batching --------------------------------------------------------------------
def check_max_seq_length(max_seq_length: int, model_max_length: int | None) -> None:
    """Refuse a ``max_seq_length`` the model cannot take (its position embeddings)."""
    if max_seq_length < 2:
        raise UserError(f"max_seq_length must be at least 2, got {max_seq_length}")
    if model_max_length is not None and max_seq_length > model_max_length:
        raise UserError(f"max_seq_length {max_seq_length} is above the model's maximum of {model_max_length} tokens")


@dataclass
class EncodedTexts:
    """Token ids of every example (truncated, special tokens added, not padded) and label ids."""

    input_ids: list[list[int]]
    labels: list[int]
    pad_token_id: int

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> list[int]:
        return [len(ids) for ids in self.input_ids]

    def subset(self, indices: Sequence[int]) -> EncodedTexts:
        return EncodedTexts([self.input_ids[i] for i in indices], [self.labels[i] for i in indices], self.pad_token_id)

    def order(self, batch_size: int, *, shuffle: bool = False, seed: int = 0, epoch: int = 0, bucket: bool = False) -> list[list[int]]:
        """The example indices of each batch, deterministic for ``(seed, epoch)``."""
        if batch_size < 1:
            raise UserError(f"batch_size must be at least 1, got {batch_size}")
        indices = list(range(len(self)))
        rng = random.Random(seed * 1_000_003 + epoch)
        if shuffle:
            rng.shuffle(indices)
        lengths = self.lengths
        if bucket and shuffle:
            window = batch_size * _BUCKET_WINDOW
            indices = [i for start in range(0, len(indices), window) for i in sorted(indices[start : start + window], key=lengths.__getitem__)]
        elif bucket:
            indices.sort(key=lambda i: -lengths[i])  # longest first: a memory problem shows at once
        batches = [indices[start : start + batch_size] for start in range(0, len(indices), batch_size)]
        if bucket and shuffle:
            rng.shuffle(batches)
        return batches

    def collate(self, indices: Sequence[int]) -> dict[str, Any]:
        """One batch padded to its longest sequence: ``input_ids``, ``attention_mask``, ``labels``, ``index``."""
        import torch

        width = max(len(self.input_ids[i]) for i in indices)
        ids = torch.full((len(indices), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(indices), width), dtype=torch.long)
        for row, i in enumerate(indices):
            seq = self.input_ids[i]
            ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, : len(seq)] = 1
        return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([self.labels[i] for i in indices], dtype=torch.long), "index": torch.tensor(list(indices), dtype=torch.long)}

    def batches(self, batch_size: int, *, shuffle: bool = False, seed: int = 0, epoch: int = 0, bucket: bool = False) -> Iterator[dict[str, Any]]:
        """Padded batches in the order of :meth:`order`."""
        for indices in self.order(batch_size, shuffle=shuffle, seed=seed, epoch=epoch, bucket=bucket):
            yield self.collate(indices)


def encode(tokenizer: Any, split: TextSplit, max_seq_length: int, model_max_length: int | None = None) -> EncodedTexts:
    """Tokenise ``split`` once: special tokens added, truncated to ``max_seq_length``, not padded."""
    check_max_seq_length(max_seq_length, model_max_length)
    if tokenizer.pad_token_id is None:
        raise UserError("the tokenizer has no padding token (load it with nasforge_transformers.load_tokenizer)")
    ids = tokenizer(list(split.texts), truncation=True, max_length=max_seq_length, add_special_tokens=True)["input_ids"]
    empty = [i for i, seq in enumerate(ids) if not seq]
    if empty:
        raise UserError(f"{len(empty)} text(s) tokenise to nothing (first: row {empty[0]} {split.texts[empty[0]]!r}); remove empty texts")
    return EncodedTexts([list(seq) for seq in ids], list(split.labels), int(tokenizer.pad_token_id))
