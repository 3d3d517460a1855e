"""Small helpers shared by the export modules: input normalisation, quiet export (model device and eval mode: :mod:`nasforge.torchutils`)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasforge.core.errors import UserError

InputsLike = Any  # a tensor / ndarray, or a tuple/list of them (the model's positional arguments)


def as_tensor_tuple(inputs: InputsLike, what: str = "sample_inputs") -> tuple[torch.Tensor, ...]:
    """Normalise a tensor, an array, or a sequence of them into a tuple of CPU tensors.

    The tuple holds the model's positional arguments; dimension 0 of every tensor is the batch.
    """
    items = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    if not items:
        raise UserError(f"{what} is empty; pass a tensor (or a tuple of tensors) shaped like the model's input")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, np.ndarray):
            item = torch.from_numpy(np.ascontiguousarray(item))
        if not isinstance(item, torch.Tensor):
            raise UserError(
                f"{what}[{i}] is a {type(item).__name__}, not a tensor; pass torch tensors or numpy arrays "
                "(one per positional argument of the model's forward)"
            )
        if item.dim() == 0:
            raise UserError(f"{what}[{i}] is a scalar; inputs need a batch dimension first, e.g. shape (1, 3, 32, 32)")
        out.append(item.detach().cpu())
    return tuple(out)


def batch_size_of(inputs: tuple[torch.Tensor, ...]) -> int:
    """The common size of dimension 0, or a UserError when the inputs disagree."""
    sizes = {int(t.shape[0]) for t in inputs}
    if len(sizes) != 1:
        raise UserError(f"inputs have different batch sizes {sorted(sizes)}; dimension 0 must be the batch in every input")
    return sizes.pop()


@contextlib.contextmanager
def quiet_torch_export() -> Iterator[io.StringIO]:
    """Silence the exporter's progress prints, warnings and torch logging; yields the captured text."""
    buffer = io.StringIO()
    names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in ("torch", "onnxscript", "onnx_ir")]
    loggers = [logging.getLogger(name) for name in ("torch", "onnxscript", *names)]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            warnings.simplefilter("ignore")
            yield buffer
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def as_path(path: str | os.PathLike, what: str) -> Path:
    """A :class:`Path` for ``path``; a UserError when it is not path-like."""
    if not isinstance(path, (str, os.PathLike)):
        raise UserError(f"{what} must be a file path, got {type(path).__name__}")
    return Path(path)


def to_numpy_batches(inputs: Sequence[torch.Tensor]) -> list[np.ndarray]:
    """Tensors to contiguous numpy arrays (what onnxruntime feeds expect)."""
    return [np.ascontiguousarray(t.detach().cpu().numpy()) for t in inputs]
