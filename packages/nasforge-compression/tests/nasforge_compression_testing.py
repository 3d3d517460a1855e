"""Helpers for the compression tests (a unique module name, so that running several packages'
tests in one pytest session cannot pick up another package's helpers)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def shared_data_dir() -> Path:
    return Path(os.environ.get("NASFORGE_SHARED_DATA", REPO.parent / "shared" / "data"))


def require_shared(relative: str) -> Path:
    """The shared data file, or a loud failure (a skip only with NASFORGE_ALLOW_MISSING_DATA=1)."""
    path = shared_data_dir() / relative
    if not path.exists():
        message = f"shared test data missing: {path} (set NASFORGE_SHARED_DATA to the folder holding it)"
        if os.environ.get("NASFORGE_ALLOW_MISSING_DATA") == "1":
            pytest.skip(message)
        pytest.fail(message)
    return path
