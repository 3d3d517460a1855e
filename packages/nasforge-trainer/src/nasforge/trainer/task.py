"""What a dataset asks of training and scoring: its loss, its metrics and its example input.

Images, text and speech are classification (cross-entropy, accuracy); recommendation is not
(sampled-negative ranking, or rating regression). A :class:`Task` carries the difference, so
:func:`~nasforge.trainer.training.fit`, the ``trainer`` evaluator and the after-search pipeline
need no per-modality code. A dataset loader returns :class:`~nasforge.trainer.data.DatasetSplits`
whose ``task`` field is set (the default is :class:`ClassificationTask`).

A task object provides:

* ``metric_names`` — what :meth:`Task.evaluate` returns besides ``loss`` (the ``trainer``
  evaluator reports each on the validation split under its name and on the test split as
  ``test_<name>``); ``primary`` is the one the trainer calls ``accuracy`` when it is not
  already ``accuracy`` itself (so the default objective works for every task);
* ``loss(output, target)`` — the training loss of one batch;
* ``evaluate(model, dataset, batch_size)`` — ``{"loss": ..., <metric>: ...}`` on a dataset;
* ``example_input(input_shape, batch_size)`` — a valid input batch for cost measurement and
  export (random normal data for float inputs, in-range indices for token or id inputs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.torchutils import classification_scores


class Task:
    """Base class: classification by cross-entropy, scored by accuracy."""

    name = "classification"
    metric_names: tuple[str, ...] = ("accuracy",)
    primary = "accuracy"
    #: ``"max"`` when a higher primary metric is better, ``"min"`` otherwise
    primary_direction = "max"

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean training loss of one batch."""
        return F.cross_entropy(output, target)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, data: Any, batch_size: int = 512) -> dict[str, float]:
        """Mean loss and accuracy of ``model`` on a dataset or an iterable of ``(x, y)`` batches."""
        return classification_scores(model, data, batch_size)

    def example_input(self, input_shape: Sequence[int], batch_size: int = 1) -> torch.Tensor:
        """A random input batch of ``input_shape`` (float, standard normal)."""
        return torch.randn(batch_size, *[int(s) for s in input_shape])

    def describe(self) -> dict[str, Any]:
        """JSON-compatible facts about the task (written into ``model.json``)."""
        return {"name": self.name, "primary": self.primary}


class ClassificationTask(Task):
    """The default task: logits ``(N, K)``, integer labels, cross-entropy, accuracy."""


class TokenClassificationTask(ClassificationTask):
    """Classification of integer token sequences: example inputs are token ids in ``[2, vocab_size)``."""

    name = "token-classification"

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = int(vocab_size)

    def example_input(self, input_shape: Sequence[int], batch_size: int = 1) -> torch.Tensor:
        return torch.randint(2, max(3, self.vocab_size), (batch_size, *[int(s) for s in input_shape]))


#: The task of datasets that set none.
CLASSIFICATION = ClassificationTask()


def _aliases_accuracy(task: Task | type[Task]) -> bool:
    return "accuracy" not in task.metric_names and task.primary_direction == "max"


def task_metric_names(task: Task | type[Task] | None, base: Sequence[str], robust: bool = False) -> tuple[str, ...]:
    """The metric names the ``trainer`` evaluator reports for ``task`` (``None``: classification).

    ``base`` is the evaluator's classification list; ``accuracy``/``test_accuracy`` stay when the
    task has them or aliases them (a primary metric where higher is better).
    """
    task = task if task is not None else CLASSIFICATION
    names = [m for m in base if m not in ("accuracy", "test_accuracy") or "accuracy" in task.metric_names or _aliases_accuracy(task)]
    for name in task.metric_names:
        for m in (name, f"test_{name}"):
            if m not in names:
                names.append(m)
    if robust:
        names += ["robust_accuracy", "test_robust_accuracy"]
    return tuple(names)


def task_scores(task: Task, model: nn.Module, valid: Any, test: Any, batch_size: int = 512) -> dict[str, float]:
    """The task's metrics on ``valid`` (by name) and on ``test`` (``test_<name>``), with the accuracy alias."""
    scores = task.evaluate(model, valid, batch_size)
    tests = task.evaluate(model, test, batch_size)
    out: dict[str, float] = {}
    for name in task.metric_names:
        out[name] = float(scores[name])
        out[f"test_{name}"] = float(tests[name])
    if _aliases_accuracy(task):
        out["accuracy"] = float(scores[task.primary])
        out["test_accuracy"] = float(tests[task.primary])
    return out
