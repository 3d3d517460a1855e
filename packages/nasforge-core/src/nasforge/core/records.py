"""Immutable records shared by every stage: architectures, trials, evaluation results.

Records are frozen dataclasses. They are hashable where that is meaningful and convert to
and from plain JSON-compatible dictionaries, which is how the store and the CLI see them.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

Value = int | float | str | bool


class Architecture(Mapping[str, Value]):
    """A frozen, hashable assignment of a search space's active choices.

    Keys are choice names, values are the chosen values. Choices that are inactive (their
    condition is not met) are simply absent. Two architectures with the same assignment are
    equal and hash alike, whatever order the keys were given in.
    """

    __slots__ = ("_items", "_hash")

    def __init__(self, values: Mapping[str, Value] | None = None, /, **kwargs: Value) -> None:
        merged = dict(values or {}, **kwargs)
        for key, value in merged.items():
            if not isinstance(key, str):
                raise TypeError(f"architecture keys must be strings, got {key!r}")
            if not isinstance(value, (int, float, str, bool)):
                raise TypeError(f"architecture value for {key!r} must be int, float, str or bool, got {type(value).__name__}")
        self._items: tuple[tuple[str, Value], ...] = tuple(sorted(merged.items()))
        self._hash = hash(self._items)

    def __getitem__(self, key: str) -> Value:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Architecture):
            return self._items == other._items
        if isinstance(other, Mapping):
            return dict(self._items) == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._items)
        return f"Architecture({inner})"

    def with_values(self, **changes: Value) -> Architecture:
        """Return a copy with some values replaced (the copy is not re-validated)."""
        return Architecture(dict(self._items), **changes)

    def to_dict(self) -> dict[str, Value]:
        return dict(self._items)

    def to_json(self) -> str:
        """Canonical JSON text: keys sorted, no whitespace; equal architectures give equal text."""
        return json.dumps(dict(self._items), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Architecture:
        return cls(json.loads(text))


class TrialState(str, enum.Enum):
    """Where a trial is in its life. ``PENDING -> RUNNING -> COMPLETE | FAILED | PRUNED``."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    PRUNED = "pruned"

    def is_finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.FAILED, TrialState.PRUNED)


@dataclass(frozen=True)
class EvaluationResult:
    """What an evaluator returns for one architecture.

    ``metrics`` holds plain floats (``accuracy``, ``params``, ``flops``, ``latency_ms`` ...).
    ``artifacts`` maps names to file paths the evaluator wrote (checkpoints, logs).
    """

    metrics: Mapping[str, float]
    artifacts: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clean: dict[str, float] = {}
        for name, value in dict(self.metrics).items():
            try:
                clean[str(name)] = float(value)
            except (TypeError, ValueError):
                raise TypeError(f"metric {name!r} must be a number, got {value!r}") from None
        object.__setattr__(self, "metrics", clean)
        object.__setattr__(self, "artifacts", {str(k): str(v) for k, v in dict(self.artifacts).items()})


@dataclass(frozen=True)
class Trial:
    """One evaluation of one architecture, as recorded in the store.

    ``number`` is the trial's position in the experiment (0-based, in the order the strategy
    proposed it). Times are UNIX seconds. ``error`` is the reason a trial failed or was pruned.
    """

    number: int
    architecture: Architecture
    state: TrialState = TrialState.PENDING
    metrics: Mapping[str, float] = field(default_factory=dict)
    fidelity: float | None = None
    created_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None
    artifacts: Mapping[str, str] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    def evolve(self, **changes: Any) -> Trial:
        """Return a copy with some fields replaced (records are never mutated)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "architecture": self.architecture.to_dict(),
            "state": self.state.value,
            "metrics": dict(self.metrics),
            "fidelity": self.fidelity,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "error": self.error,
            "artifacts": dict(self.artifacts),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trial:
        return cls(
            number=int(data["number"]),
            architecture=Architecture(data["architecture"]),
            state=TrialState(data["state"]),
            metrics=dict(data.get("metrics") or {}),
            fidelity=data.get("fidelity"),
            created_at=data.get("created_at"),
            started_at=data.get("started_at"),
            finished_at=data.get("finished_at"),
            error=data.get("error"),
            artifacts=dict(data.get("artifacts") or {}),
        )


@dataclass(frozen=True)
class Observation:
    """What a search strategy is told about one finished trial.

    ``score`` is the single number strategies maximise: the primary objective oriented so that
    larger is better. It is ``None`` when the trial failed or violated a constraint, which a
    strategy should treat as "worse than anything that succeeded".
    ``objectives`` holds every objective, each oriented so that larger is better, for
    multi-objective strategies; ``metrics`` holds everything the evaluator measured.
    """

    architecture: Architecture
    score: float | None
    objectives: tuple[float, ...] = ()
    feasible: bool = True
    state: TrialState = TrialState.COMPLETE
    fidelity: float | None = None
    trial_number: int | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.score is not None and not math.isfinite(self.score):
            object.__setattr__(self, "score", None)

    @property
    def ok(self) -> bool:
        """True when the trial completed, met its constraints and has a finite score."""
        return self.score is not None
