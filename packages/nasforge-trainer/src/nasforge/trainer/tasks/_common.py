"""Helpers the task modules share: reading CSV files, label encoding, seeded splits, option checks."""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasforge.core.errors import ConfigError, UserError
from nasforge.trainer.data import DEFAULT_DATA_DIR, stratified_split

OPTION = "evaluator.options.dataset_options"


def data_path(value: str | os.PathLike[str] | None, default: str, option: str = "root") -> Path:
    """``value`` as a path (``~`` expanded), or ``DEFAULT_DATA_DIR/default`` when ``None``."""
    if value is None:
        return DEFAULT_DATA_DIR / default
    if not isinstance(value, (str, os.PathLike)) or not str(value):
        raise ConfigError(f"{OPTION}.{option}", f"must be a path, got {value!r}")
    return Path(value).expanduser()


def read_csv(path: Path, columns: Sequence[str], what: str) -> dict[str, list[str]]:
    """The named columns of a CSV file with a header row; a clear :class:`UserError` when it cannot be read."""
    if not path.is_file():
        raise UserError(f"{what} file {path} not found; set dataset_options to the folder or file holding it")
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = list(reader.fieldnames or [])
            missing = [c for c in columns if c not in header]
            if missing:
                raise UserError(f"{path} has no column(s) {missing} (its columns: {header}); set the column options to the right names")
            out: dict[str, list[str]] = {c: [] for c in columns}
            for row in reader:
                for c in columns:
                    out[c].append(row[c] if row[c] is not None else "")
    except (UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{path} is not a readable UTF-8 CSV file: {exc}") from None
    if not out[columns[0]]:
        raise UserError(f"{path} has a header but no rows")
    return out


def _label_key(label: str) -> tuple[int, Any]:
    try:
        return (0, float(label))
    except ValueError:
        return (1, label)


def encode_labels(train: Sequence[str], *others: Sequence[str], where: str = "") -> tuple[list[torch.Tensor], tuple[str, ...]]:
    """Class indices for label strings, classes sorted (numerically when they are numbers).

    The classes are those of ``train``; a label in ``others`` that never occurs in ``train`` is an
    error ("empty class": the model could not learn it).
    """
    classes = sorted({str(v).strip() for v in train}, key=_label_key)
    if len(classes) < 2:
        raise UserError(f"{where}the training data has {len(classes)} class(es) ({classes}); classification needs at least 2")
    index = {c: i for i, c in enumerate(classes)}
    out = []
    for values in (train, *others):
        unknown = sorted({str(v).strip() for v in values} - set(index))
        if unknown:
            raise UserError(f"{where}label(s) {unknown[:5]} have no training example (empty class); every class needs training data")
        out.append(torch.tensor([index[str(v).strip()] for v in values], dtype=torch.long))
    return out, tuple(classes)


def check_fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) < 1.0:
        raise ConfigError(f"evaluator.options.{name}", f"must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def check_int(name: str, value: Any, low: int = 1, option: str = OPTION) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{option}.{name}", f"must be an integer of at least {low}, got {value!r}")
    return value


def split_indices(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A seeded stratified split: ``(held_out, rest)`` with about ``fraction`` of every class held out."""
    held, rest = stratified_split(labels, [fraction], seed)
    return held, rest


def limit_train(indices: torch.Tensor, max_train_samples: int | None) -> torch.Tensor:
    """At most ``max_train_samples`` of the (already shuffled) training indices."""
    if max_train_samples is None:
        return indices
    if isinstance(max_train_samples, bool) or not isinstance(max_train_samples, int) or max_train_samples < 1:
        raise ConfigError("evaluator.options.max_train_samples", f"must be a positive integer or null, got {max_train_samples!r}")
    return indices[:max_train_samples]


def check_nonempty_classes(labels: torch.Tensor, num_classes: int, class_names: Sequence[str], split: str) -> None:
    """Every class must have a sample in the ``split`` (else its accuracy cannot be learnt or measured)."""
    counts = np.bincount(labels.numpy(), minlength=num_classes)
    empty = [class_names[i] if i < len(class_names) else str(i) for i in np.flatnonzero(counts == 0)]
    if empty:
        raise UserError(f"class(es) {empty} have no sample in the {split} split (empty class); use more data or a smaller valid_fraction/test_fraction")


def choice_values(field: str, values: Any, kind: type | tuple[type, ...], check: Any = None) -> list[Any]:
    """A space option's list of values, each of type ``kind`` passing ``check``, duplicates dropped."""
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
        raise ConfigError(f"space.options.{field}", f"must be a non-empty list, got {values!r}")
    out = []
    for v in values:
        if (isinstance(v, bool) and kind is not bool) or not isinstance(v, kind) or (check is not None and not check(v)):
            raise ConfigError(f"space.options.{field}", f"invalid value {v!r}")
        if v not in out:
            out.append(v)
    return out
