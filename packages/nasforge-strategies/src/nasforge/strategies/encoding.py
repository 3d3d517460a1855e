"""Architectures as integer rows, and vectorised sampling from per-choice distributions.

:class:`IndexedSpace` numbers the values of every choice of a
:class:`~nasforge.core.space.SearchSpace`. An architecture becomes a row of value indices (``-1``
where a choice is inactive); per-value quantities of all choices (counts, probabilities,
logits) sit side by side in one flat array, choice ``i`` at ``offsets[i] : offsets[i] + sizes[i]``.
Conditions are precomputed as lookup tables over the parent's value indices, so a batch of
architectures can be drawn from per-choice distributions with a handful of array operations per
choice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nasforge.core.records import Architecture, Value
from nasforge.core.space import SearchSpace
from nasforge.strategies.base import value_key


@dataclass
class Condition:
    """One clause of a choice's condition: active where ``table[index of the parent's value]`` holds."""

    parent: int
    table: np.ndarray  # bool, one entry per value of the parent


@dataclass
class IndexedChoice:
    """A choice's name, values, value -> index map, whether it is ordinal, its flat offset and its conditions."""

    name: str
    domain: tuple[Value, ...]
    index: dict[tuple[bool, Value], int]
    ordinal: bool
    offset: int
    conditions: list[Condition]


class IndexedSpace:
    """A search space with every value numbered: rows for architectures, flat arrays for per-value data."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.choices: list[IndexedChoice] = []
        position = {c.name: i for i, c in enumerate(space.choices)}
        offset = 0
        for choice in space.choices:
            conditions = []
            for clause in choice.condition:
                parent = space[clause.choice]
                table = np.array([clause.holds({parent.name: v}) for v in parent.domain], dtype=bool)
                conditions.append(Condition(position[parent.name], table))
            domain = tuple(choice.domain)
            index = {value_key(v): i for i, v in enumerate(domain)}
            self.choices.append(IndexedChoice(choice.name, domain, index, choice.ordinal, offset, conditions))
            offset += len(domain)
        #: Number of values over all choices: the length of the flat per-value arrays.
        self.n_values = offset
        self.sizes = np.array([len(c.domain) for c in self.choices], dtype=np.int64)
        self.offsets = np.array([c.offset for c in self.choices], dtype=np.int64)
        #: For every flat slot, the choice it belongs to.
        self.value_choice = np.repeat(np.arange(len(self.choices)), self.sizes)

    def encode(self, arch: Architecture) -> np.ndarray:
        """The row of value indices of ``arch`` (``-1`` for absent choices); ``KeyError`` for an unknown value."""
        row = np.full(len(self.choices), -1, dtype=np.int64)
        for i, info in enumerate(self.choices):
            if info.name in arch:
                row[i] = info.index[value_key(arch[info.name])]
        return row

    def flat(self, row: np.ndarray) -> np.ndarray:
        """Flat slots of a row's active values."""
        active = row >= 0
        return self.offsets[active] + row[active]

    def build(self, idx: np.ndarray, active: np.ndarray) -> Architecture:
        """The architecture of one sampled row."""
        return Architecture({info.name: info.domain[int(idx[i])] for i, info in enumerate(self.choices) if active[i]})

    def sample(self, probs: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` architectures, each choice from its slice of the flat ``probs``, respecting conditions.

        Returns the value indices and the activity mask, both ``(n, choices)``. A choice's index is
        drawn for every row but only meaningful where it is active; exactly ``n * choices``
        uniforms are taken from ``rng`` whatever the outcome.
        """
        uniforms = rng.random((n, len(self.choices)))
        idx = np.empty((n, len(self.choices)), dtype=np.int64)
        active = np.empty((n, len(self.choices)), dtype=bool)
        for i, info in enumerate(self.choices):
            d = len(info.domain)
            cdf = np.cumsum(probs[info.offset : info.offset + d])
            idx[:, i] = np.minimum(np.searchsorted(cdf, uniforms[:, i] * cdf[-1], side="right"), d - 1)
            act = np.ones(n, dtype=bool)
            for cond in info.conditions:
                act &= active[:, cond.parent] & cond.table[np.maximum(idx[:, cond.parent], 0)]
            active[:, i] = act
        return idx, active
