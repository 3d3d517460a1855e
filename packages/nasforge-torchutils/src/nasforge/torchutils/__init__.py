"""nasforge.torchutils: the torch helpers every stage shares, each defined once.

The trainer (a trial's cost metrics), compression (its before/after report), export and deploy
(the after-search table) measure and run models the same way by importing these. The package
depends on nasforge-core and torch only, so compression and export stay leaves (docs/architecture.md).

* :func:`model_device` — the device of a model's first parameter or buffer (CPU for neither);
* :func:`parse_device` — a ``--device`` flag (``cpu``, ``cuda``, ``cuda:N``) as a torch device,
  checked against the machine (CUDA where there is none is a one-line :class:`UserError`);
* :func:`eval_mode` — a context manager: every submodule in eval mode, each flag restored after;
* :func:`example_batch` — a batch to run a model on, from the shape of one sample (random normal)
  or from real inputs (their first sample repeated), on the model's device;
* :func:`count_params` — parameter elements (all, or only trainable ones; shared ones once; no buffers);
* :func:`count_flops` — FLOPs of one forward pass counted by ``torch.utils.flop_counter.FlopCounterMode``:
  2 per multiply-accumulate of convolutions and matrix products; element-wise ops (BatchNorm in
  eval, activations, additions, pooling) count 0; zeroed weights still count;
* :func:`count_macs` — multiply-accumulates of one sample, ``count_flops(model, inputs) // 2``;
* :class:`BatchLoader` and :func:`iterate_batches` — ``(x, y)`` batches of a dataset (through its
  fast ``batch(indices, generator)`` method when it has one) or of an iterable of batches;
* :func:`classification_scores` / :func:`evaluate_accuracy` — mean cross-entropy and top-1
  accuracy of a classifier on a dataset or an iterable of ``(x, y)`` batches.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from nasforge.core.errors import UserError

__all__ = [
    "BatchLoader",
    "classification_scores",
    "count_flops",
    "count_macs",
    "count_params",
    "eval_mode",
    "evaluate_accuracy",
    "example_batch",
    "iterate_batches",
    "model_device",
    "parse_device",
]

#: A model's example inputs: a tensor, a tuple of tensors (one per positional argument of its
#: forward), or the shape of one sample without the batch dimension (``(3, 32, 32)``).
InputsOrShape = Any


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter or buffer (CPU for a model with neither)."""
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def parse_device(text: str | None, flag: str = "--device") -> torch.device:
    """``cpu``, ``cuda`` or ``cuda:N`` as a torch device, checked against what this machine has.

    CUDA asked for where torch sees none (a CPU-only build, no driver, no GPU) or an index past
    the last GPU is a :class:`UserError` saying so in one line, never a failure deep in the run.
    """
    value = (text or "cpu").strip().lower()
    kind, sep, index = value.partition(":")
    if kind not in ("cpu", "cuda") or (kind == "cpu" and sep) or (sep and not index.isdigit()):
        raise UserError(f"{flag} must be cpu, cuda or cuda:N (e.g. cuda:0), got {text!r}")
    if kind == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        why = "this torch build has no CUDA support" if torch.version.cuda is None else "torch sees no CUDA GPU (no GPU or no driver)"
        raise UserError(f"{flag} {value}: CUDA is not available here ({why}, torch {torch.__version__}); use {flag} cpu")
    count = torch.cuda.device_count()
    if index and int(index) >= count:
        raise UserError(f"{flag} {value}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    return torch.device(value)


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every submodule of ``model`` in eval mode, then restore each one's own ``training`` flag."""
    saved = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, flag in saved:
            module.training = flag


def _is_shape(inputs: Any) -> bool:
    return isinstance(inputs, Sequence) and not isinstance(inputs, str) and all(isinstance(d, int) and not isinstance(d, bool) for d in inputs)


def example_batch(model: nn.Module, inputs: InputsOrShape, batch_size: int = 1) -> tuple[torch.Tensor, ...]:
    """The positional inputs of one forward pass at ``batch_size``, on ``model``'s device.

    ``inputs`` is the shape of one sample (random normal data of that shape), or real inputs,
    a tensor or a tuple of tensors, whose first sample is repeated (needed for integer inputs
    such as token ids, and what the compressors count on: one sample of the caller's batch).
    """
    device = model_device(model)
    if _is_shape(inputs):
        return (torch.randn(int(batch_size), *[int(s) for s in inputs], device=device),)
    tensors = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs) if isinstance(inputs, (tuple, list)) else ()
    if not tensors or not all(isinstance(t, torch.Tensor) and t.dim() > 0 for t in tensors):
        raise UserError(f"example inputs must be a tensor, a tuple of tensors with a batch dimension, or the shape of one sample like (3, 32, 32); got {type(inputs).__name__}")
    return tuple(t[:1].repeat(int(batch_size), *([1] * (t.dim() - 1))).to(device) for t in tensors)


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter elements of ``model``, shared parameters counted once, buffers excluded.

    Every parameter by default; ``trainable_only`` counts those with ``requires_grad`` (the
    convention of NAS-Bench-201's ``params_m``).
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, inputs: InputsOrShape, batch_size: int = 1) -> int:
    """FLOPs of one forward pass at ``batch_size`` (default 1), counted by ``FlopCounterMode`` in eval mode.

    ``inputs`` as in :func:`example_batch`: the shape of one sample, or real inputs.
    """
    from torch.utils.flop_counter import FlopCounterMode

    batch = example_batch(model, inputs, batch_size)
    counter = FlopCounterMode(display=False)
    with eval_mode(model), torch.no_grad(), counter:
        model(*batch)
    return int(counter.get_total_flops())


def count_macs(model: nn.Module, inputs: InputsOrShape) -> int:
    """Multiply-accumulates of one forward pass on one sample: ``count_flops(model, inputs) // 2``."""
    return count_flops(model, inputs, 1) // 2


class BatchLoader:
    """Iterate over ``(x, y)`` batches of a dataset; reshuffled each pass when ``shuffle`` is set.

    Uses the dataset's ``batch(indices, generator)`` when it has one (fast, in memory), otherwise
    falls back to a ``torch.utils.data.DataLoader``. ``seed`` makes the order reproducible. When
    shuffling, a dataset with ``bucket(order, batch_size, generator)`` may rearrange the shuffled
    order (text datasets group texts of similar length, so batches carry little padding).
    """

    def __init__(self, dataset: Dataset, batch_size: int, shuffle: bool = False, seed: int | None = None) -> None:
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.generator = torch.Generator()
        self.generator.manual_seed(0 if seed is None else int(seed))

    def __len__(self) -> int:
        return (len(self.dataset) + self.batch_size - 1) // self.batch_size  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        n = len(self.dataset)  # type: ignore[arg-type]
        batch = getattr(self.dataset, "batch", None)
        if batch is None:
            yield from DataLoader(self.dataset, batch_size=self.batch_size, shuffle=self.shuffle, generator=self.generator)
            return
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        bucket = getattr(self.dataset, "bucket", None)
        if self.shuffle and bucket is not None:
            order = bucket(order, self.batch_size, self.generator)
        for start in range(0, n, self.batch_size):
            yield batch(order[start : start + self.batch_size], self.generator)


def iterate_batches(data: Any, batch_size: int) -> Iterable[Any]:
    """``(x, y)`` batches of a dataset (through :class:`BatchLoader`) or of an iterable of batches as it is."""
    return BatchLoader(data, batch_size) if isinstance(data, Dataset) else data


@torch.no_grad()
def classification_scores(model: nn.Module, data: Any, batch_size: int = 512, max_batches: int | None = None) -> dict[str, float]:
    """``{"loss", "accuracy"}``: mean cross-entropy and top-1 accuracy (a fraction in ``[0, 1]``).

    ``data`` is a dataset or any iterable of ``(x, y)`` batches (a ``DataLoader``); ``max_batches``
    stops after that many batches. The model runs in eval mode, its modes restored afterwards.
    """
    device = model_device(model)
    correct = total = 0
    loss_sum = 0.0
    with eval_mode(model):
        for i, (x, y) in enumerate(iterate_batches(data, batch_size)):
            if max_batches is not None and i >= max_batches:
                break
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.argmax(dim=1) == y).sum())
            total += int(y.numel())
    if total == 0:
        raise UserError("cannot evaluate: the data yielded no batches (an empty dataset or max_batches=0)")
    return {"loss": loss_sum / total, "accuracy": correct / total}


def evaluate_accuracy(model: nn.Module, data: Any, batch_size: int = 512, max_batches: int | None = None) -> float:
    """Top-1 accuracy (a fraction in ``[0, 1]``) of ``model`` on a dataset or an iterable of ``(x, y)`` batches."""
    return classification_scores(model, data, batch_size, max_batches)["accuracy"]
