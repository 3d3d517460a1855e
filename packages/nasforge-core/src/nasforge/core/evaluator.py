"""The evaluator interface: turn an architecture into metrics."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from nasforge.core.errors import TrialTimeout
from nasforge.core.records import Architecture, EvaluationResult
from nasforge.core.space import SearchSpace


@dataclass
class TrialContext:
    """What an evaluator knows about the trial it runs.

    ``report(step, **metrics)`` records intermediate values (shown as progress, used by
    schedulers); it and :meth:`check` raise :class:`~nasforge.core.errors.TrialTimeout`
    once the trial is past its deadline, so long loops should call one of them regularly.
    """

    number: int
    seed: int
    directory: Path
    fidelity: float | None = None
    timeout: float | None = None  # seconds the evaluation may take; None = no limit
    deadline: float | None = None  # a time.time() value, set by :meth:`start`
    reporter: Callable[[int, Mapping[str, float]], None] | None = None
    reports: list[tuple[int, dict[str, float]]] = field(default_factory=list)

    def start(self) -> None:
        """Start the trial's clock (called where the evaluation actually begins)."""
        if self.timeout is not None:
            self.deadline = time.time() + self.timeout

    def check(self) -> None:
        if self.deadline is not None and time.time() > self.deadline:
            raise TrialTimeout("trial exceeded its time limit")

    def report(self, step: int, **metrics: float) -> None:
        values = {k: float(v) for k, v in metrics.items()}
        self.reports.append((step, values))
        if self.reporter is not None:
            self.reporter(step, values)
        self.check()


class Evaluator(ABC):
    """Base class of evaluators.

    Call order::

        evaluator = Cls(space, **options)     # cheap; validate options here
        evaluator.setup(workdir)              # once per experiment: load data, etc.
        result = evaluator.evaluate(arch, context)   # once per trial
        evaluator.teardown()

    ``evaluate`` returns an :class:`EvaluationResult` (or a plain mapping of metrics). To fail
    a trial with a reason, raise :class:`~nasforge.core.errors.TrialFailed`; any other exception
    also fails the trial, with its message recorded.
    """

    #: Metric names this evaluator reports; objectives and constraints are checked against them.
    metrics: ClassVar[tuple[str, ...]] = ()

    def __init__(self, space: SearchSpace) -> None:
        self.space = space

    def setup(self, workdir: Path) -> None:
        """Prepare shared resources once per experiment (optional)."""

    @abstractmethod
    def evaluate(self, architecture: Architecture, context: TrialContext) -> EvaluationResult | Mapping[str, float]:
        """Evaluate one architecture and return its metrics."""

    def teardown(self) -> None:
        """Release resources (optional)."""


def evaluate_trial(evaluator: Evaluator, architecture: Architecture, context: TrialContext) -> EvaluationResult:
    """Run one evaluation (this function is what executors run, possibly in another process)."""
    context.start()
    result = evaluator.evaluate(architecture, context)
    if not isinstance(result, EvaluationResult):
        result = EvaluationResult(metrics=result)
    return result
