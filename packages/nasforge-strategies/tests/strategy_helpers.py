"""Helpers shared by the nasforge-strategies tests (a uniquely named module, not conftest, so imports stay unambiguous)."""

from __future__ import annotations

from nasforge.core.records import Architecture, Observation
from nasforge.core.strategy import SearchStrategy


def tell(strategy: SearchStrategy, arch: Architecture, score: float | None) -> None:
    """Tell ``strategy`` a complete (or, with ``score=None``, failed) trial."""
    strategy.tell(Observation(architecture=arch, score=score))


def drive(strategy: SearchStrategy, objective, n: int) -> list[Architecture]:
    """Ask and tell ``n`` times with ``objective(arch) -> score``; return the proposals."""
    out = []
    for _ in range(n):
        arch = strategy.ask()
        assert arch is not None
        tell(strategy, arch, objective(arch))
        out.append(arch)
    return out
