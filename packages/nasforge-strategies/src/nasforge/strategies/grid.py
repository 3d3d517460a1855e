"""Grid search: every architecture of the space exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from nasforge.core.errors import ConfigError
from nasforge.core.records import Architecture
from nasforge.core.space import SearchSpace
from nasforge.strategies.base import NativeStrategy, check_int


class GridSearch(NativeStrategy):
    """Enumerate the space, each architecture once, then return ``None``.

    Options:

    * ``shuffle`` (``False``): visit the architectures in a random order (seeded) instead of the
      space's enumeration order. Shuffling lists the whole space in memory, so it is refused for
      spaces larger than ``max_shuffle_size``.
    * ``max_shuffle_size`` (``1_000_000``): the largest space ``shuffle`` accepts.

    Architectures already told (for example from a warm start) are skipped.
    """

    conformance_skip_progress: ClassVar[str] = "grid search visits architectures in a fixed order and does not learn"
    conformance_skip_seed_variation: ClassVar[str] = "grid search without shuffle visits the same order whatever the seed"

    def __init__(self, space: SearchSpace, seed: int = 0, shuffle: bool = False, max_shuffle_size: int = 1_000_000) -> None:
        super().__init__(space, seed=seed)
        if not isinstance(shuffle, bool):
            raise ConfigError("strategy.options.shuffle", f"grid needs true or false, got {shuffle!r}")
        self.shuffle = shuffle
        self.max_shuffle_size = check_int("max_shuffle_size", max_shuffle_size, 1, "grid")
        self._order: Iterator[Architecture] | None = None
        if self.shuffle and self.space_size > self.max_shuffle_size:
            raise ConfigError(
                "strategy.options.shuffle",
                f"grid with shuffle lists the whole space, which has {self.space_size} architectures "
                f"(more than max_shuffle_size={self.max_shuffle_size}); use shuffle: false or the random strategy",
            )

    def _iterate(self) -> Iterator[Architecture]:
        if not self.shuffle:
            return self.space.enumerate()
        archs = list(self.space.enumerate())
        order = self.rng.permutation(len(archs))
        return (archs[int(i)] for i in order)

    def suggest(self) -> Architecture | None:
        if self._order is None:
            self._order = self._iterate()
        for arch in self._order:
            if arch not in self.seen:
                return self.mark_seen(arch)
        return None
