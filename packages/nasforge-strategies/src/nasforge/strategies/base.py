"""Shared machinery for nasforge's native strategies: option checks, the seen set, failed scores.

Every native strategy derives from :class:`NativeStrategy`, which adds to
:class:`~nasforge.core.strategy.SearchStrategy`:

* a *seen* set of every architecture asked for or told about, so that a strategy never
  proposes the same architecture twice while the space still has unseen ones;
* :meth:`NativeStrategy.propose_unseen`, which tries a strategy's own generator a bounded number
  of times and then falls back to a random unseen architecture (``None`` once the whole space,
  as counted by :meth:`~nasforge.core.space.SearchSpace.size`, has been proposed);
* one result per architecture: an architecture told again (e.g. promoted to a higher fidelity by
  successive halving) goes to :meth:`NativeStrategy.relearn` when its fidelity is at least the one
  known, and is ignored when it is lower, so a strategy that keeps one entry per architecture
  keeps the result at the highest fidelity seen;
* :func:`score_of`, which maps a failed or infeasible trial (``score is None``) to ``-inf`` so that it
  ranks below every successful one.

Sets of architectures are only ever used for membership tests: iterating one would depend on
Python's per-process string hashing and break the "same seed, same suggestions" promise.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

from nasforge.core.errors import ConfigError, SpaceError
from nasforge.core.records import Architecture, Observation, Value
from nasforge.core.space import SearchSpace
from nasforge.core.strategy import SearchStrategy

#: Random draws tried before :meth:`NativeStrategy.random_unseen` scans a nearly exhausted space in order.
RANDOM_TRIES = 200
#: A space with at most this many unseen architectures left counts as nearly exhausted; the
#: ordered scan also collects at most this many before picking one.
SCAN_LIMIT = 10_000


def score_of(observation: Observation) -> float:
    """The observation's score, or ``-inf`` for a failed or infeasible trial (worse than anything)."""
    if observation.score is None or not observation.feasible:
        return -math.inf
    return float(observation.score)


def value_key(value: Value) -> tuple[bool, Value]:
    """A dictionary key for a choice value that keeps ``True`` and ``1`` apart (they hash alike)."""
    return (isinstance(value, bool), value)


def check_int(name: str, value: Any, low: int, strategy: str) -> int:
    """Return ``value`` as an int ``>= low`` or raise a :class:`ConfigError` naming the option."""
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"strategy.options.{name}", f"{strategy} needs an integer >= {low}, got {value!r}")
    return value


def check_float(name: str, value: Any, low: float, high: float, strategy: str, *, low_open: bool = False) -> float:
    """Return ``value`` as a float in ``[low, high]`` (``(low, high]`` when ``low_open``) or raise a :class:`ConfigError`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"strategy.options.{name}", f"{strategy} needs a number, got {value!r}")
    if value < low or value > high or (low_open and value == low):
        bracket = "(" if low_open else "["
        raise ConfigError(f"strategy.options.{name}", f"{strategy} needs a number in {bracket}{low}, {high}], got {value!r}")
    return float(value)


class NativeStrategy(SearchStrategy):
    """Base class of the native strategies: tracks what was proposed and never repeats it.

    Subclasses implement :meth:`suggest` (usually through :meth:`propose_unseen`) and
    :meth:`learn`, which receives every told observation after the seen set is updated.
    """

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        super().__init__(space, seed=seed)
        self.seen: set[Architecture] = set()
        self._size: int | None = None
        #: The fidelity of the result each told architecture is known at (``inf`` for full fidelity).
        self.told_fidelity: dict[Architecture, float] = {}

    # -- the space's size, computed once on first need ---------------------------------------
    @property
    def space_size(self) -> int:
        """How many distinct architectures the space holds."""
        if self._size is None:
            self._size = self.space.size()
        return self._size

    @property
    def exhausted(self) -> bool:
        """True when every architecture of the space has been proposed or told."""
        return len(self.seen) >= self.space_size

    # -- proposing ----------------------------------------------------------------------------
    def mark_seen(self, arch: Architecture) -> Architecture:
        """Record ``arch`` as proposed and return it."""
        self.seen.add(arch)
        return arch

    def propose_unseen(self, generate: Callable[[], Architecture | None], tries: int) -> Architecture | None:
        """Call ``generate`` up to ``tries`` times for an unseen architecture, else fall back to a random one.

        The chosen architecture is marked as seen. Returns ``None`` only when the space is exhausted.
        """
        if self.exhausted:
            return None
        for _ in range(tries):
            arch = generate()
            if arch is None:
                break
            if arch not in self.seen:
                return self.mark_seen(arch)
        return self.random_unseen()

    def random_unseen(self) -> Architecture | None:
        """A random architecture not proposed before (marked as seen), or ``None`` when none is left.

        Draws with :meth:`~nasforge.core.space.SearchSpace.sample` first. When fewer than
        :data:`SCAN_LIMIT` architectures are left and :data:`RANDOM_TRIES` draws all hit seen
        ones, scans the space in enumeration order, collects the unseen ones and picks one of
        them at random.
        """
        if self.exhausted:
            return None
        # With many architectures left, random draws find one sooner or later (a run of misses means
        # the draws repeat an earlier sequence, e.g. a warm start from a run with the same seed);
        # with few left, scanning the space is the only way to find them.
        many_left = self.space_size - len(self.seen) > SCAN_LIMIT
        for _ in range(RANDOM_TRIES * 100 if many_left else RANDOM_TRIES):
            arch = self.space.sample(self.rng)
            if arch not in self.seen:
                return self.mark_seen(arch)
        unseen: list[Architecture] = []
        for arch in self.space.enumerate():
            if arch not in self.seen:
                unseen.append(arch)
                if len(unseen) >= SCAN_LIMIT:
                    break
        if not unseen:  # only if size() miscounted: the seen set holds valid architectures only
            return None
        return self.mark_seen(unseen[int(self.rng.integers(len(unseen)))])

    # -- observing ----------------------------------------------------------------------------
    def observe(self, observation: Observation) -> None:
        """Record the architecture as seen, then hand the observation to :meth:`learn` (or :meth:`relearn`).

        The first result of an architecture goes to :meth:`learn`. A later one goes to
        :meth:`relearn` when its fidelity is at least that of the result already known
        (``Observation.fidelity``; ``None`` is full fidelity), and is ignored when it is lower.

        An observation of an architecture that is not valid in this space (e.g. a warm start from
        an experiment with another space) is ignored with a warning: it must not count toward
        :meth:`~nasforge.core.space.SearchSpace.size` nor become, say, a parent to mutate.
        """
        arch = observation.architecture
        if arch not in self.seen:
            try:
                self.space.validate(arch)
            except SpaceError as exc:
                warnings.warn(f"{type(self).__name__} ignored an observation of an architecture outside its space: {exc}", stacklevel=3)
                return
            self.seen.add(arch)
        fidelity = math.inf if observation.fidelity is None else float(observation.fidelity)
        known = self.told_fidelity.get(arch)
        if known is not None and fidelity < known:
            return  # a lower-fidelity result than the one already learnt from
        self.told_fidelity[arch] = fidelity
        if known is None:
            self.learn(observation)
        else:
            self.relearn(observation)

    def learn(self, observation: Observation) -> None:
        """Update the strategy from one finished trial; the default learns nothing."""

    def relearn(self, observation: Observation) -> None:
        """Update the strategy from a new result, at the same or a higher fidelity, of an architecture told before.

        The default treats it as one more trial (:meth:`learn`); strategies that keep one entry
        per architecture replace that entry's result instead.
        """
        self.learn(observation)
