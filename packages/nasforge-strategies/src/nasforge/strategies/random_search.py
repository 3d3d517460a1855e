"""Random search: every active choice drawn uniformly, never the same architecture twice."""

from __future__ import annotations

from typing import ClassVar

from nasforge.core.records import Architecture
from nasforge.core.space import SearchSpace
from nasforge.strategies.base import NativeStrategy


class RandomSearch(NativeStrategy):
    """Draw architectures at random (each active choice uniform over its values), without repeats.

    A strong baseline for neural architecture search (Li & Talwalkar, 2019). Takes no options.
    """

    conformance_skip_progress: ClassVar[str] = "random search is the baseline the progress check compares against"

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        super().__init__(space, seed=seed)

    def suggest(self) -> Architecture | None:
        return self.random_unseen()
