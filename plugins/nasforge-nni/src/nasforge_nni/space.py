"""Mapping a nasforge :class:`~nasforge.core.space.SearchSpace` onto NNI mutables and back.

NNI 3.0's multi-trial strategies explore a space of *mutables* (``nni.mutable``): they sample it
(``random``), enumerate it (``grid``), list its independent decisions (``simplify``) and check a
sample (``freeze``). Every nasforge choice becomes one ``nni.mutable.Categorical`` over the
choice's domain, labelled with the choice's name, inside a ``nni.mutable.MutableDict``; integer
choices become categoricals over their grid of values (NNI's strategies then ignore their order).

**Conditional choices.** NNI mutables have no conditions: a decision is always present. So the
NNI space is the *unconditional* product of every choice's domain, and an NNI sample is turned
into a nasforge architecture by *projection*: walking the choices in order and keeping only those
whose condition holds (exactly as :meth:`SearchSpace.validate` defines activity). The projection
is onto, so every nasforge architecture is reachable, but not one-to-one: NNI samples that differ
only in inactive choices name the same architecture. The strategy wrappers handle that (see
:mod:`nasforge_nni.strategies`): such a sample is never evaluated twice; NNI is told the score of
the architecture it names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nasforge.core.records import Architecture
from nasforge.core.space import SearchSpace


class NNISpace:
    """A nasforge search space seen as an NNI ``MutableDict`` of categoricals.

    :param space: the nasforge space.

    ``mutable`` is the NNI space; :meth:`project` turns an NNI sample into a nasforge
    architecture and :meth:`lift` an architecture into one NNI sample (inactive choices take
    their first value).
    """

    def __init__(self, space: SearchSpace) -> None:
        from ._imports import quiet_import

        nm = quiet_import("nni.mutable")
        self.space = space
        self.labels = [choice.name for choice in space.choices]
        self.conditional = [choice.name for choice in space.choices if choice.condition]
        self.mutable = nm.MutableDict({c.name: nm.Categorical(list(c.domain), label=c.name) for c in space.choices})

    def project(self, sample: Mapping[str, Any]) -> Architecture:
        """The nasforge architecture an NNI sample names: its values of the choices active under it."""
        assignment: dict[str, Any] = {}
        for choice in self.space.choices:
            if choice.is_active(assignment):
                assignment[choice.name] = sample[choice.name]
        return self.space.validate(assignment)

    def lift(self, arch: Mapping[str, Any]) -> dict[str, Any]:
        """One NNI sample that projects to ``arch`` (inactive choices at their first value)."""
        return {c.name: arch[c.name] if c.name in arch else c.domain[0] for c in self.space.choices}

    def legacy_search_space(self) -> dict[str, dict[str, Any]]:
        """The space in NNI's HPO format (``{"name": {"_type": "choice", "_value": [...]}}``), for NNI's tuners."""
        return {label: mutable.as_legacy_dict() for label, mutable in self.mutable.simplify().items()}
