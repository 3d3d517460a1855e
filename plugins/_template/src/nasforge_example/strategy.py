"""A search strategy: hill climbing from the best architecture found so far."""

from __future__ import annotations

from nasforge.core.records import Architecture, Observation
from nasforge.core.space import SearchSpace
from nasforge.core.strategy import SearchStrategy

#: Spaces up to this size are enumerated to find an unseen architecture; larger ones are sampled.
ENUMERATE_LIMIT = 20_000


class ExampleWalk(SearchStrategy):
    """Hill climbing: after ``warmup`` random architectures, propose an unseen neighbour of the best.

    Never proposes an architecture twice and returns ``None`` once the whole space was proposed.
    Failed or infeasible trials (``score is None``) never become the best.

    :param warmup: random architectures before climbing starts (default 10).
    """

    def __init__(self, space: SearchSpace, seed: int = 0, warmup: int = 10) -> None:
        super().__init__(space, seed)
        if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
            # A ValueError from the constructor becomes a config error naming strategy.options.
            raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")
        self.warmup = warmup
        self.size = space.size()
        self.seen: set[Architecture] = set()
        self.best: tuple[float, Architecture] | None = None

    def suggest(self) -> Architecture | None:
        if len(self.seen) >= self.size:
            return None
        arch = None
        if self.best is not None and len(self.seen) >= self.warmup:
            fresh = [n for n in self.space.neighbours(self.best[1]) if n not in self.seen]
            if fresh:
                arch = fresh[int(self.rng.integers(len(fresh)))]
        if arch is None:
            arch = self._unseen()
        self.seen.add(arch)
        return arch

    def _unseen(self) -> Architecture:
        if self.size <= ENUMERATE_LIMIT:
            left = [a for a in self.space.enumerate() if a not in self.seen]
            return left[int(self.rng.integers(len(left)))]
        while True:
            arch = self.space.sample(self.rng)
            if arch not in self.seen:
                return arch

    def observe(self, observation: Observation) -> None:
        self.seen.add(observation.architecture)
        if observation.score is not None and (self.best is None or observation.score > self.best[0]):
            self.best = (observation.score, observation.architecture)
