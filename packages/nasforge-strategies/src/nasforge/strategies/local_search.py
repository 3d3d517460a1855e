"""Local search (hill climbing with restarts), as studied by White et al. 2021, "Exploring the Loss Landscape in Neural Architecture Search"."""

from __future__ import annotations

import math

from nasforge.core.errors import ConfigError
from nasforge.core.records import Architecture, Observation
from nasforge.core.space import SearchSpace
from nasforge.strategies.base import NativeStrategy, check_int, score_of


class LocalSearch(NativeStrategy):
    """Climb from the best of a few random architectures through neighbourhoods; restart at a local optimum.

    1. *Start*: propose random architectures; once ``n_initial`` of them are told, the best becomes
       the current architecture.
    2. *Neighbourhood*: propose the neighbours of the current architecture
       (:meth:`~nasforge.core.space.SearchSpace.neighbours`, one choice changed by one step) in a
       random order, skipping those already evaluated. With ``first_improvement: false`` (the
       default, White et al.'s variant) all of them are evaluated and the search moves to the best
       one if it beats the current architecture; with ``first_improvement: true`` it moves as soon
       as one neighbour does.
    3. *Restart*: when no neighbour is better, the current architecture is a local optimum
       (kept in :attr:`local_optima`) and the search starts again from step 1.

    Failed trials score worst, so the search never moves to one. While it waits for running
    neighbours to finish it proposes random unseen architectures rather than stall (they count
    toward the next start).

    Options: ``n_initial`` (10), ``first_improvement`` (``False``).
    """

    def __init__(self, space: SearchSpace, seed: int = 0, n_initial: int = 10, first_improvement: bool = False) -> None:
        super().__init__(space, seed=seed)
        self.n_initial = check_int("n_initial", n_initial, 1, "local_search")
        if not isinstance(first_improvement, bool):
            raise ConfigError("strategy.options.first_improvement", f"local_search needs true or false, got {first_improvement!r}")
        self.first_improvement = first_improvement
        self.scores: dict[Architecture, float] = {}
        self.current: Architecture | None = None
        self.current_score = -math.inf
        #: (architecture, score) of every local optimum reached, in order.
        self.local_optima: list[tuple[Architecture, float]] = []
        self._start_batch: list[Architecture] = []
        self._neighbourhood: list[Architecture] = []
        self._queue: list[Architecture] = []

    # -- state transitions -------------------------------------------------------------------
    def _move_to(self, arch: Architecture) -> None:
        self.current = arch
        self.current_score = self.scores[arch]
        self._neighbourhood = self.space.neighbours(arch)
        order = self.rng.permutation(len(self._neighbourhood))
        self._queue = [self._neighbourhood[int(i)] for i in order]

    def _restart(self) -> None:
        self.local_optima.append((self.current, self.current_score))  # type: ignore[arg-type]
        self.current = None
        self.current_score = -math.inf
        self._start_batch = []
        self._neighbourhood = []
        self._queue = []

    def _advance(self) -> None:
        """Take every step that needs no new evaluation: leave the start phase, move, or restart."""
        while True:
            if self.current is None:
                told = [a for a in self._start_batch if a in self.scores]
                if len(told) < self.n_initial:
                    return
                self._move_to(max(told, key=lambda a: self.scores[a]))  # first of equals
                continue
            if any(a not in self.scores for a in self._neighbourhood):
                return
            best = max(self._neighbourhood, key=lambda a: self.scores[a], default=None)
            if best is not None and self.scores[best] > self.current_score:
                self._move_to(best)
            else:
                self._restart()

    # -- ask/tell ------------------------------------------------------------------------------
    def suggest(self) -> Architecture | None:
        self._advance()
        while self._queue:
            arch = self._queue.pop(0)
            if arch not in self.seen:
                return self.mark_seen(arch)
        arch = self.random_unseen()
        if arch is not None and self.current is None:
            self._start_batch.append(arch)
        return arch

    def learn(self, observation: Observation) -> None:
        arch, score = observation.architecture, score_of(observation)
        self.scores[arch] = score
        if self.first_improvement and self.current is not None and score > self.current_score and arch in self._neighbourhood:
            self._move_to(arch)
        self._advance()
