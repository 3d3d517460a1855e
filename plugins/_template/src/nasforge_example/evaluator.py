"""An evaluator: a synthetic, instant score, so the plugin can be tried without data or torch."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import ClassVar

from nasforge.core.evaluator import Evaluator, TrialContext
from nasforge.core.records import Architecture
from nasforge.core.space import SearchSpace


def example_space() -> SearchSpace:
    """A small conditional space the conformance suite evaluates the evaluator on."""
    return SearchSpace.from_config(
        [
            {"name": "depth", "type": "int", "low": 1, "high": 3},
            {"name": "width", "values": [16, 32, 64], "repeat": "depth"},
            {"name": "act", "values": ["relu", "gelu"]},
        ],
        name="example",
    )


class ExampleScore(Evaluator):
    """Scores an architecture by a fixed pseudo-random value per (choice, value) pair.

    Reports ``score`` (to maximise) and ``size`` (the number of active choices). Deterministic:
    the same architecture always gets the same score (CRC32 of the choice and value, not Python's
    salted ``hash``).

    :param noise: standard deviation of noise added from ``context.seed`` (default 0: none).
    """

    metrics: ClassVar[tuple[str, ...]] = ("score", "size")
    deterministic: ClassVar[bool] = True
    #: the space nasforge.testing's evaluator suite uses for this evaluator
    conformance_space = staticmethod(example_space)

    def __init__(self, space: SearchSpace, noise: float = 0.0) -> None:
        super().__init__(space)
        if not isinstance(noise, (int, float)) or noise < 0:
            raise ValueError(f"noise must be a non-negative number, got {noise!r}")
        self.noise = float(noise)

    def evaluate(self, architecture: Architecture, context: TrialContext) -> Mapping[str, float]:
        score = 0.0
        for name, value in architecture.items():
            context.check()  # long evaluations call this (or context.report) often: it enforces the time limit
            score += zlib.crc32(f"{name}={value!r}".encode()) / 2**32 - 0.5
        if self.noise:
            import random

            score += random.Random(context.seed).gauss(0.0, self.noise)
        return {"score": score, "size": float(len(architecture))}
