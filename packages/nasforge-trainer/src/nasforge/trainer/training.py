"""Supervised training and evaluation of a classifier on :class:`~nasforge.trainer.data.DatasetSplits`.

:func:`fit` trains with cross-entropy, one optimizer step per mini-batch, and measures
validation accuracy after every epoch::

    config = TrainConfig(epochs=5, lr=0.01)
    result = fit(model, splits, config)          # FitResult(train_loss, valid_accuracy, ...)
    test_acc = evaluate_accuracy(model, splits.test)   # nasforge.torchutils's, re-exported by nasforge.trainer

Given a :class:`~nasforge.core.evaluator.TrialContext`, it calls ``context.check()`` before every
batch (so trial time limits are honoured mid-epoch) and ``context.report(epoch, train_loss=...,
accuracy=...)`` after every epoch. A loss that becomes NaN or infinite fails the trial with
:class:`~nasforge.core.errors.TrialFailed`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from nasforge.core.errors import ConfigError, TrialFailed
from nasforge.core.evaluator import TrialContext
from nasforge.torchutils import BatchLoader
from nasforge.trainer.data import DatasetSplits
from nasforge.trainer.task import CLASSIFICATION

OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("cosine", "none")


def resolve_device(device: str, field_name: str = "evaluator.options.device") -> torch.device:
    """``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"`` (CUDA when available) as a ``torch.device``."""
    if not isinstance(device, str):
        raise ConfigError(field_name, f"must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ConfigError(field_name, f"must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(field_name, f"{device!r} asked for, but torch sees no CUDA device here; use 'cpu' or 'auto'")
    if resolved.type not in ("cpu", "cuda"):
        raise ConfigError(field_name, f"only 'cpu' and 'cuda' devices are supported, got {device!r}")
    return resolved


def _number(field_name: str, value: Any, *, low: float, low_open: bool = False, integer: bool = False) -> Any:
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or (integer is False and not math.isfinite(float(value))):
        kind = "an integer" if integer else "a number"
        raise ConfigError(field_name, f"must be {kind}, got {value!r}")
    if value < low or (low_open and value == low):
        raise ConfigError(field_name, f"must be {'above' if low_open else 'at least'} {low}, got {value!r}")
    return value


@dataclass
class TrainConfig:
    """How :func:`fit` trains. Every field is an evaluator option of the same name."""

    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 0.01
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "cosine"
    device: str = "cpu"
    seed: int = 0
    eval_batch_size: int = 512
    keep_best: bool = False

    def validate(self, prefix: str = "evaluator.options") -> TrainConfig:
        """Raise :class:`ConfigError` naming the first bad field; return ``self`` otherwise."""
        _number(f"{prefix}.epochs", self.epochs, low=1, integer=True)
        _number(f"{prefix}.batch_size", self.batch_size, low=2, integer=True)
        _number(f"{prefix}.eval_batch_size", self.eval_batch_size, low=1, integer=True)
        _number(f"{prefix}.lr", self.lr, low=0.0, low_open=True)
        _number(f"{prefix}.weight_decay", self.weight_decay, low=0.0)
        _number(f"{prefix}.momentum", self.momentum, low=0.0)
        if self.momentum >= 1.0:
            raise ConfigError(f"{prefix}.momentum", f"must be below 1, got {self.momentum!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"{prefix}.optimizer", f"unknown optimizer {self.optimizer!r}; choose one of {list(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"{prefix}.schedule", f"unknown schedule {self.schedule!r}; choose one of {list(SCHEDULES)}")
        if not isinstance(self.keep_best, bool):
            raise ConfigError(f"{prefix}.keep_best", f"must be true or false, got {self.keep_best!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"{prefix}.seed", f"must be an integer, got {self.seed!r}")
        resolve_device(self.device, f"{prefix}.device")
        return self

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dictionary."""
        return asdict(self)


@dataclass
class FitResult:
    """What :func:`fit` measured: last epoch's mean training loss, validation accuracy and loss, per-epoch history."""

    train_loss: float
    valid_accuracy: float
    epochs: int
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    valid_loss: float = float("nan")
    best_epoch: int = 0


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named by ``config.optimizer`` over the model's parameters."""
    params = model.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def evaluate(model: nn.Module, data: Dataset | Iterable[Any], batch_size: int = 512) -> tuple[float, float]:
    """Mean cross-entropy loss and accuracy (fraction in ``[0, 1]``) of ``model`` on ``data``.

    ``data`` is a dataset or any iterable of ``(x, y)`` batches. The model is put in eval mode
    for the pass and its previous mode restored. (For other tasks use ``task.evaluate``.)
    """
    scores = CLASSIFICATION.evaluate(model, data, batch_size)
    return scores["loss"], scores["accuracy"]


def fit(
    model: nn.Module,
    splits: DatasetSplits,
    config: TrainConfig,
    context: TrialContext | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> FitResult:
    """Train ``model`` on ``splits.train`` for ``config.epochs`` epochs; validate after each epoch.

    :param model: the model; moved to ``config.device``.
    :param splits: the data; ``train`` is shuffled with ``config.seed``, ``valid`` is evaluated.
        ``splits.task`` gives the loss and the validation score (``valid_accuracy`` is the task's
        primary metric: accuracy for classification, HR@10 or RMSE for recommendation).
    :param config: the training set-up (validated here).
    :param context: optional trial context: ``check()`` per batch, ``report()`` per epoch.
    :param on_epoch: optional callback ``on_epoch(epoch, {"train_loss": ..., "accuracy": ...})``
        called after each epoch (1-based), before ``context.report``.
    With ``config.keep_best`` the model ends with the weights of the epoch whose validation score
    was best (in the task's direction; the first of equals), and the result reports that epoch's
    validation score and loss (``best_epoch``); otherwise the last epoch's.

    :raises TrialFailed: when the training loss becomes NaN or infinite.
    """
    config.validate()
    task = splits.task
    device = resolve_device(config.device)
    model.to(device)
    torch.manual_seed(config.seed)  # dropout masks
    loader = BatchLoader(splits.train, config.batch_size, shuffle=True, seed=config.seed)
    optimizer = make_optimizer(model, config)
    total_steps = max(1, config.epochs * len(loader))
    scheduler = None
    if config.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps)))
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    train_loss = float("nan")
    valid_accuracy = 0.0
    valid_loss = float("nan")
    best: tuple[int, float, float, dict[str, torch.Tensor]] | None = None
    for epoch in range(1, config.epochs + 1):
        model.train()
        loss_sum = 0.0
        seen = 0
        for step, (x, y) in enumerate(loader):
            if context is not None:
                context.check()
            if len(y) < 2:  # BatchNorm cannot train on a single sample; drop a trailing batch of one
                continue
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = task.loss(model(x), y)
            value = loss.item()
            if not math.isfinite(value):
                what = "NaN" if math.isnan(value) else "infinite"
                raise TrialFailed(f"loss became {what} at epoch {epoch} step {step} (lr={config.lr}, optimizer={config.optimizer}); try a lower learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            loss_sum += value * len(y)
            seen += len(y)
        train_loss = loss_sum / max(1, seen)
        scores = task.evaluate(model, splits.valid, config.eval_batch_size)
        valid_loss, valid_accuracy = scores["loss"], scores[task.primary]
        values = {"train_loss": train_loss, "accuracy": valid_accuracy}
        history.append({"epoch": float(epoch), **values})
        if config.keep_best and _improves(valid_accuracy, best[1] if best else None, task.primary_direction):
            best = (epoch, valid_accuracy, valid_loss, {k: v.detach().clone() for k, v in model.state_dict().items()})
        if on_epoch is not None:
            on_epoch(epoch, values)
        if context is not None:
            context.report(epoch, **values)
    best_epoch = config.epochs
    if best is not None:
        best_epoch, valid_accuracy, valid_loss, state = best
        model.load_state_dict(state)
    return FitResult(train_loss, valid_accuracy, config.epochs, time.perf_counter() - start, history, valid_loss, best_epoch)


def _improves(score: float, best: float | None, direction: str) -> bool:
    if not math.isfinite(score):
        return False
    if best is None:
        return True
    return score > best if direction == "max" else score < best
