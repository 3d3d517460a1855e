"""The NAS-Bench-201 cell search space and its architecture strings.

A NAS-Bench-201 cell is a directed acyclic graph of 4 nodes. Node 0 is the cell input; every
later node ``j`` sums one operation applied to each earlier node ``i``, so there are 6 edges
``i -> j``. Each edge carries one of 5 operations, which gives ``5 ** 6 = 15,625`` cells.

The benchmark writes a cell as a string, one ``|...|`` group per node, each entry
``<operation>~<input node>``::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|

In nasforge the cell is a :class:`~nasforge.core.space.SearchSpace` of 6 categorical choices,
one per edge, named ``edge_<i>_<j>`` and listed in the order the string lists them
(:data:`EDGES`). :func:`to_arch_str` and :func:`from_arch_str` convert between the two forms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nasforge.core.errors import SpaceError
from nasforge.core.records import Architecture
from nasforge.core.space import Categorical, SearchSpace

#: The operations an edge can carry, in the benchmark's order.
OPERATIONS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")

#: ``(from_node, to_node)`` for every edge, in the order the architecture string lists them.
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))

#: The choice name of each edge, in :data:`EDGES` order.
EDGE_NAMES: tuple[str, ...] = tuple(f"edge_{i}_{j}" for i, j in EDGES)

NUM_NODES = 4
SPACE_NAME = "nasbench201"


def nasbench201_space() -> SearchSpace:
    """The NAS-Bench-201 cell space: 6 edges, each one of :data:`OPERATIONS` (15,625 cells)."""
    return SearchSpace([Categorical(name, list(OPERATIONS)) for name in EDGE_NAMES], name=SPACE_NAME)


def to_arch_str(arch: Mapping[str, Any]) -> str:
    """The benchmark's string for a cell given as a mapping ``edge_<i>_<j> -> operation``.

    Raises :class:`~nasforge.core.errors.SpaceError` naming the edge when one is missing or holds
    an unknown operation.
    """
    ops = []
    for name in EDGE_NAMES:
        if name not in arch:
            raise SpaceError(f"NAS-Bench-201 architecture is missing edge {name!r}; it needs all of {list(EDGE_NAMES)}")
        op = arch[name]
        if op not in OPERATIONS:
            raise SpaceError(f"edge {name!r} holds {op!r}, which is not a NAS-Bench-201 operation; use one of {list(OPERATIONS)}")
        ops.append(op)
    extra = set(arch) - set(EDGE_NAMES)
    if extra:
        raise SpaceError(f"NAS-Bench-201 architecture has unknown choice(s) {sorted(extra)}; its choices are {list(EDGE_NAMES)}")
    groups = []
    k = 0
    for node in range(1, NUM_NODES):
        entries = []
        for source in range(node):
            entries.append(f"{ops[k]}~{source}")
            k += 1
        groups.append("|" + "|".join(entries) + "|")
    return "+".join(groups)


def from_arch_str(text: str) -> Architecture:
    """Parse the benchmark's architecture string into an :class:`Architecture` of this space.

    Raises :class:`~nasforge.core.errors.SpaceError` saying what is malformed (wrong number of
    nodes or inputs, an input out of order, an unknown operation).
    """
    if not isinstance(text, str):
        raise SpaceError(f"a NAS-Bench-201 architecture string must be text, got {type(text).__name__}")
    example = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    groups = text.strip().split("+")
    if len(groups) != NUM_NODES - 1:
        raise SpaceError(f"NAS-Bench-201 string {text!r} has {len(groups)} node group(s) separated by '+'; expected {NUM_NODES - 1}, like {example!r}")
    values: dict[str, str] = {}
    for node, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|")) or len(group) < 2:
            raise SpaceError(f"node group {group!r} of {text!r} must start and end with '|', like {example!r}")
        entries = group[1:-1].split("|")
        if len(entries) != node:
            raise SpaceError(f"node {node} in {text!r} lists {len(entries)} input(s); it must list exactly {node} (one per earlier node)")
        for source, entry in enumerate(entries):
            op, sep, src = entry.partition("~")
            if not sep or src != str(source):
                raise SpaceError(f"entry {entry!r} of node {node} in {text!r} must read '<operation>~{source}'")
            if op not in OPERATIONS:
                raise SpaceError(f"unknown operation {op!r} in {text!r}; NAS-Bench-201 operations are {list(OPERATIONS)}")
            values[f"edge_{source}_{node}"] = op
    return Architecture(values)


def architecture_index(arch: Mapping[str, Any]) -> int:
    """A dense index in ``[0, 15625)``: the edges' operation indices read as a base-5 number.

    Edge ``edge_0_1`` is the most significant digit. Useful for array-backed lookups.
    """
    index = 0
    for name in EDGE_NAMES:
        op = arch.get(name)
        try:
            index = index * len(OPERATIONS) + OPERATIONS.index(op)  # type: ignore[arg-type]
        except ValueError:
            raise SpaceError(f"edge {name!r} holds {op!r}, which is not a NAS-Bench-201 operation; use one of {list(OPERATIONS)}") from None
    return index


def architecture_from_index(index: int) -> Architecture:
    """The inverse of :func:`architecture_index`."""
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(OPERATIONS) ** len(EDGE_NAMES):
        raise SpaceError(f"a NAS-Bench-201 architecture index is an integer in [0, {len(OPERATIONS) ** len(EDGE_NAMES)}), got {index!r}")
    values = {}
    for name in reversed(EDGE_NAMES):
        index, digit = divmod(index, len(OPERATIONS))
        values[name] = OPERATIONS[digit]
    return Architecture(values)
