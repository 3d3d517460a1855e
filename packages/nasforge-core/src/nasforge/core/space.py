"""Search-space primitives: choices, conditions and the space that combines them.

A :class:`SearchSpace` is an ordered list of choices. A choice may carry a condition on
choices listed before it (``when``), which makes it *active* only for some assignments, e.g.
``width_3`` only when ``depth >= 3``. An :class:`~nasforge.core.records.Architecture` holds
exactly the active choices.

The space knows how to sample, enumerate (for grid search), count, list the neighbours of an
architecture (for mutation and local search) and encode one as a fixed-length vector of
floats (for model-based strategies). It serialises to and from the plain dictionaries used in
YAML configs::

    choices:
      - {name: depth, type: int, low: 1, high: 3}
      - {name: width, type: categorical, values: [16, 32, 64], repeat: depth}
      - {name: act, type: categorical, values: [relu, gelu]}

``repeat: depth`` expands to ``width_1 .. width_3`` where ``width_i`` is active when
``depth >= i``.
"""

from __future__ import annotations

import operator
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nasforge.core.errors import SpaceError
from nasforge.core.records import Architecture, Value

_OPS = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
}
_COMPARISON = re.compile(r"^\s*(==|!=|>=|<=|>|<)\s*(.+?)\s*$")


def _parse_scalar(text: str) -> Value:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


@dataclass(frozen=True)
class Clause:
    """``<choice> <op> <operand>``; all clauses of a condition must hold."""

    choice: str
    op: str
    operand: Any

    def holds(self, assignment: Mapping[str, Value]) -> bool:
        if self.choice not in assignment:
            return False  # the parent is itself inactive, so the child is too
        try:
            return bool(_OPS[self.op](assignment[self.choice], self.operand))
        except TypeError:
            return False

    def to_config(self) -> Any:
        if self.op == "in":
            return list(self.operand)
        if self.op == "==":
            return self.operand
        return f"{self.op} {self.operand}"


def _parse_condition(when: Any, owner: str) -> tuple[Clause, ...]:
    if when is None:
        return ()
    if not isinstance(when, Mapping) or not when:
        raise SpaceError(f"choice {owner!r}: 'when' must map a choice name to a value, a list of values or a comparison like '>= 2', got {when!r}")
    clauses = []
    for parent, spec in when.items():
        if isinstance(spec, (list, tuple)):
            clauses.append(Clause(str(parent), "in", tuple(spec)))
        elif isinstance(spec, str) and (m := _COMPARISON.match(spec)):
            clauses.append(Clause(str(parent), m.group(1), _parse_scalar(m.group(2))))
        else:
            clauses.append(Clause(str(parent), "==", spec))
    return tuple(clauses)


class Choice(ABC):
    """One decision in a search space. Subclasses define a finite, ordered domain."""

    kind: str = ""

    def __init__(self, name: str, when: Mapping[str, Any] | None = None) -> None:
        if not isinstance(name, str) or not name:
            raise SpaceError(f"a choice needs a non-empty string name, got {name!r}")
        self.name = name
        self.condition: tuple[Clause, ...] = _parse_condition(when, name)

    @property
    @abstractmethod
    def domain(self) -> tuple[Value, ...]:
        """Every value this choice can take, in order."""

    @property
    def ordinal(self) -> bool:
        """True when the domain has a meaningful order (neighbours are adjacent values)."""
        return False

    def is_active(self, assignment: Mapping[str, Value]) -> bool:
        return all(clause.holds(assignment) for clause in self.condition)

    def contains(self, value: Any) -> bool:
        # True == 1 in Python; a boolean must not pass for an integer choice or vice versa.
        return any(isinstance(v, bool) == isinstance(value, bool) and v == value for v in self.domain)

    def index(self, value: Value) -> int:
        for i, v in enumerate(self.domain):
            if v == value:
                return i
        raise SpaceError(f"{value!r} is not a value of choice {self.name!r}; allowed: {list(self.domain)}")

    def sample(self, rng: np.random.Generator) -> Value:
        return self.domain[int(rng.integers(len(self.domain)))]

    def neighbour_values(self, value: Value) -> list[Value]:
        """Values one step away: adjacent values for ordinal choices, all others otherwise."""
        i = self.index(value)
        if self.ordinal:
            return [self.domain[j] for j in (i - 1, i + 1) if 0 <= j < len(self.domain)]
        return [v for j, v in enumerate(self.domain) if j != i]

    @property
    def encoding_size(self) -> int:
        return 1 if self.ordinal else len(self.domain)

    def encode(self, value: Value | None) -> list[float]:
        """One-hot for categorical choices, position scaled to [0, 1] for ordinal ones, zeros when inactive."""
        if value is None:
            return [0.0] * self.encoding_size
        i = self.index(value)
        if self.ordinal:
            return [i / max(1, len(self.domain) - 1)]
        out = [0.0] * len(self.domain)
        out[i] = 1.0
        return out

    def _base_config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"name": self.name, "type": self.kind}
        if self.condition:
            cfg["when"] = {c.choice: c.to_config() for c in self.condition}
        return cfg

    @abstractmethod
    def to_config(self) -> dict[str, Any]:
        """The plain dictionary form used in YAML configs."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_config()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Choice) and self.to_config() == other.to_config()

    def __hash__(self) -> int:
        return hash(repr(self))


class Categorical(Choice):
    """A choice among unordered values (strings, numbers or booleans)."""

    kind = "categorical"

    def __init__(self, name: str, values: Sequence[Value], when: Mapping[str, Any] | None = None, ordered: bool = False) -> None:
        super().__init__(name, when)
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise SpaceError(f"choice {name!r}: 'values' must be a non-empty list, got {values!r}")
        for v in values:
            if not isinstance(v, (int, float, str, bool)):
                raise SpaceError(f"choice {name!r}: values must be numbers, strings or booleans, got {v!r}")
        if len(set(map(repr, values))) != len(values):
            raise SpaceError(f"choice {name!r}: values must be distinct, got {list(values)}")
        self._values = tuple(values)
        self._ordered = bool(ordered)

    @property
    def domain(self) -> tuple[Value, ...]:
        return self._values

    @property
    def ordinal(self) -> bool:
        return self._ordered

    def to_config(self) -> dict[str, Any]:
        cfg = self._base_config()
        cfg["values"] = list(self._values)
        if self._ordered:
            cfg["ordered"] = True
        return cfg


class Integer(Choice):
    """An integer in ``[low, high]`` (both included) on a grid of ``step``; ordinal."""

    kind = "int"

    def __init__(self, name: str, low: int, high: int, step: int = 1, when: Mapping[str, Any] | None = None) -> None:
        super().__init__(name, when)
        for label, v in (("low", low), ("high", high), ("step", step)):
            if not isinstance(v, int) or isinstance(v, bool):
                raise SpaceError(f"choice {name!r}: {label!r} must be an integer, got {v!r}")
        if high < low:
            raise SpaceError(f"choice {name!r}: high ({high}) is below low ({low}); the range is empty")
        if step < 1:
            raise SpaceError(f"choice {name!r}: step must be at least 1, got {step}")
        self.low, self.high, self.step = low, high, step

    @property
    def domain(self) -> tuple[int, ...]:
        return tuple(range(self.low, self.high + 1, self.step))

    @property
    def ordinal(self) -> bool:
        return True

    def to_config(self) -> dict[str, Any]:
        cfg = self._base_config()
        cfg.update(low=self.low, high=self.high)
        if self.step != 1:
            cfg["step"] = self.step
        return cfg


CHOICE_TYPES: dict[str, type[Choice]] = {"categorical": Categorical, "int": Integer}


def choice_from_config(cfg: Mapping[str, Any]) -> Choice:
    if not isinstance(cfg, Mapping):
        raise SpaceError(f"each choice must be a mapping with 'name' and 'type', got {cfg!r}")
    data = dict(cfg)
    name = data.pop("name", None)
    kind = data.pop("type", "categorical" if "values" in data else None)
    if name is None:
        raise SpaceError(f"a choice is missing its 'name': {dict(cfg)!r}")
    if kind not in CHOICE_TYPES:
        raise SpaceError(f"choice {name!r}: unknown type {kind!r}; use one of {sorted(CHOICE_TYPES)}")
    cls = CHOICE_TYPES[kind]
    allowed = {"categorical": {"values", "when", "ordered"}, "int": {"low", "high", "step", "when"}}[kind]
    unknown = set(data) - allowed
    if unknown:
        raise SpaceError(f"choice {name!r}: unknown key(s) {sorted(unknown)}; a {kind} choice takes {sorted(allowed | {'name', 'type'})}")
    try:
        return cls(name, **data)
    except TypeError as exc:
        raise SpaceError(f"choice {name!r}: {exc}") from None


class SearchSpace:
    """An ordered collection of choices, some of them conditional on earlier ones."""

    def __init__(self, choices: Sequence[Choice], name: str = "custom") -> None:
        self.name = name
        self.choices: tuple[Choice, ...] = tuple(choices)
        if not self.choices:
            raise SpaceError(f"search space {name!r} is empty: give it at least one choice")
        seen: dict[str, Choice] = {}
        for choice in self.choices:
            if choice.name in seen:
                raise SpaceError(f"search space {name!r}: choice name {choice.name!r} is used twice")
            for clause in choice.condition:
                if clause.choice not in seen:
                    hint = "it is listed after" if any(c.name == clause.choice for c in self.choices) else "no such choice"
                    raise SpaceError(f"choice {choice.name!r} depends on {clause.choice!r}, but {hint}; conditions may only name choices listed before them")
            seen[choice.name] = choice
        self._by_name = seen

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | Sequence[Mapping[str, Any]], name: str = "custom") -> SearchSpace:
        """Build a space from its config form: a list of choice mappings (or ``{choices: [...]}``)."""
        if isinstance(cfg, Mapping):
            name = str(cfg.get("name", name))
            cfg = cfg.get("choices")  # type: ignore[assignment]
        if not isinstance(cfg, Sequence) or isinstance(cfg, (str, bytes)):
            raise SpaceError(f"a search space needs a list of choices, got {cfg!r}")
        expanded: list[Choice] = []
        for item in cfg:
            if isinstance(item, Mapping) and "repeat" in item:
                expanded.extend(_expand_repeat(item, expanded))
            else:
                expanded.append(choice_from_config(item))
        return cls(expanded, name=name)

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name, "choices": [c.to_config() for c in self.choices]}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.to_config() == other.to_config()

    def __hash__(self) -> int:
        return hash(repr(self.to_config()))

    def __repr__(self) -> str:
        return f"SearchSpace({self.name!r}, {len(self.choices)} choices)"

    def __getitem__(self, name: str) -> Choice:
        return self._by_name[name]

    def __contains__(self, arch: object) -> bool:
        try:
            self.validate(arch)  # type: ignore[arg-type]
        except (SpaceError, TypeError):
            return False
        return True

    # -- validity -----------------------------------------------------------------------
    def validate(self, arch: Mapping[str, Any]) -> Architecture:
        """Return ``arch`` as an :class:`Architecture` or raise :class:`SpaceError` saying what is wrong."""
        assignment: dict[str, Value] = {}
        for choice in self.choices:
            active = choice.is_active(assignment)
            if active:
                if choice.name not in arch:
                    raise SpaceError(f"architecture is missing active choice {choice.name!r}")
                value = arch[choice.name]
                if not choice.contains(value):
                    raise SpaceError(f"{value!r} is not allowed for {choice.name!r}; allowed: {list(choice.domain)}")
                assignment[choice.name] = choice.domain[choice.index(value)]
            elif choice.name in arch:
                raise SpaceError(f"choice {choice.name!r} is inactive for this architecture but has a value")
        extra = set(arch) - set(self._by_name)
        if extra:
            raise SpaceError(f"architecture has unknown choice(s) {sorted(extra)}")
        return Architecture(assignment)

    def complete(self, partial: Mapping[str, Value], rng: np.random.Generator | None = None) -> Architecture:
        """Fill in what ``partial`` lacks and drop what is inactive.

        Missing active choices are sampled with ``rng`` (or take their first value when no
        generator is given). Used after a mutation activates new choices.
        """
        assignment: dict[str, Value] = {}
        for choice in self.choices:
            if not choice.is_active(assignment):
                continue
            value = partial.get(choice.name)
            if value is None or not choice.contains(value):
                value = choice.sample(rng) if rng is not None else choice.domain[0]
            assignment[choice.name] = value
        return Architecture(assignment)

    # -- sampling and enumeration ---------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Architecture:
        """Draw one architecture: each active choice uniformly over its domain."""
        assignment: dict[str, Value] = {}
        for choice in self.choices:
            if choice.is_active(assignment):
                assignment[choice.name] = choice.sample(rng)
        return Architecture(assignment)

    def enumerate(self) -> Iterator[Architecture]:
        """Yield every distinct architecture once, in a fixed order (for grid search)."""

        def walk(i: int, assignment: dict[str, Value]) -> Iterator[Architecture]:
            if i == len(self.choices):
                yield Architecture(assignment)
                return
            choice = self.choices[i]
            if not choice.is_active(assignment):
                yield from walk(i + 1, assignment)
                return
            for value in choice.domain:
                assignment[choice.name] = value
                yield from walk(i + 1, assignment)
            del assignment[choice.name]

        yield from walk(0, {})

    def size(self) -> int:
        """The number of distinct architectures, counted without enumerating them all."""
        referenced = {clause.choice for c in self.choices for clause in c.condition}

        memo: dict[tuple[int, tuple[tuple[str, Value], ...]], int] = {}

        def count(i: int, assignment: dict[str, Value]) -> int:
            if i == len(self.choices):
                return 1
            key = (i, tuple(sorted((k, v) for k, v in assignment.items() if k in referenced)))
            if key in memo:
                return memo[key]
            choice = self.choices[i]
            if not choice.is_active(assignment):
                total = count(i + 1, assignment)
            elif choice.name not in referenced:
                total = len(choice.domain) * count(i + 1, assignment)
            else:
                total = 0
                for value in choice.domain:
                    assignment[choice.name] = value
                    total += count(i + 1, assignment)
                del assignment[choice.name]
            memo[key] = total
            return total

        return count(0, {})

    # -- local moves ------------------------------------------------------------------------
    def neighbours(self, arch: Mapping[str, Value]) -> list[Architecture]:
        """Architectures that differ from ``arch`` in one active choice (one step for ordinal ones).

        Choices that the change activates take their first value, so the list is deterministic.
        """
        base = self.validate(arch)
        out: list[Architecture] = []
        seen = {base}
        for choice in self.choices:
            if choice.name not in base:
                continue
            for value in choice.neighbour_values(base[choice.name]):
                candidate = self.complete(base.with_values(**{choice.name: value}))
                if candidate not in seen:
                    seen.add(candidate)
                    out.append(candidate)
        return out

    def mutate(self, arch: Mapping[str, Value], rng: np.random.Generator) -> Architecture:
        """Change one active choice to a different value at random; newly active choices are sampled."""
        base = self.validate(arch)
        mutable = [c for c in self.choices if c.name in base and len(c.domain) > 1]
        if not mutable:
            return base
        choice = mutable[int(rng.integers(len(mutable)))]
        others = [v for v in choice.domain if v != base[choice.name]]
        value = others[int(rng.integers(len(others)))]
        return self.complete(base.with_values(**{choice.name: value}), rng)

    # -- numeric encoding -------------------------------------------------------------------
    @property
    def encoding_size(self) -> int:
        return sum(c.encoding_size for c in self.choices)

    def encode(self, arch: Mapping[str, Value]) -> np.ndarray:
        """A fixed-length float vector: one-hot for categorical, scaled index for ordinal, zeros when inactive."""
        parts: list[float] = []
        for choice in self.choices:
            parts.extend(choice.encode(arch.get(choice.name)))
        return np.asarray(parts, dtype=np.float64)


def _expand_repeat(item: Mapping[str, Any], earlier: Sequence[Choice]) -> list[Choice]:
    data = dict(item)
    base_name = data.get("name")
    counter = data.pop("repeat")
    if isinstance(counter, int) and not isinstance(counter, bool):
        if counter < 1:
            raise SpaceError(f"choice {base_name!r}: 'repeat' must be at least 1, got {counter}")
        return [choice_from_config({**data, "name": f"{base_name}_{i}"}) for i in range(1, counter + 1)]
    parent = next((c for c in earlier if c.name == counter), None)
    if parent is None:
        raise SpaceError(f"choice {base_name!r}: 'repeat: {counter}' must name an integer choice listed before it, or be a number")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in parent.domain):
        raise SpaceError(f"choice {base_name!r}: 'repeat: {counter}' needs {counter!r} to have integer values")
    out = []
    lowest = min(parent.domain)  # type: ignore[type-var]
    for i in range(1, int(max(parent.domain)) + 1):  # type: ignore[arg-type]
        when = dict(data.get("when") or {})
        if i > lowest:
            when[counter] = f">= {i}"
        out.append(choice_from_config({**data, "name": f"{base_name}_{i}", "when": when or None}))
    return out
