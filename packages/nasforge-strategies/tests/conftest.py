"""Shared fixtures for the nasforge-strategies tests."""

from __future__ import annotations

import pytest

from nasforge.core.space import SearchSpace


@pytest.fixture
def small_space() -> SearchSpace:
    """24 architectures: ``expansion`` is active only for the ``fancy`` block."""
    from nasforge.testing.strategies import small_space

    return small_space()


@pytest.fixture
def flat_space() -> SearchSpace:
    """Four unconditional choices (3 * 4 * 5 * 2 = 120 architectures)."""
    return SearchSpace.from_config(
        [
            {"name": "op", "values": ["conv", "pool", "skip"]},
            {"name": "width", "type": "int", "low": 1, "high": 4},
            {"name": "kernel", "type": "int", "low": 1, "high": 5},
            {"name": "act", "values": ["relu", "gelu"]},
        ]
    )
