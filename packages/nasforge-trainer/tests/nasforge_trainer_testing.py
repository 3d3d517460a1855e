"""Shared-data helpers of the trainer tests, in a uniquely named module so that test files can import
them without clashing with other packages' ``conftest`` modules when several test folders run together."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_DATA = Path(os.environ.get("NASFORGE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def require_shared(path: Path) -> Path:
    """Return ``path``, or fail (skip with NASFORGE_ALLOW_MISSING_DATA=1) saying what is missing."""
    if path.exists():
        return path
    message = f"shared test data {path} is missing; set NASFORGE_SHARED_DATA to the folder holding the shared data (cifar10/, text/, speech/, movielens/)"
    if os.environ.get("NASFORGE_ALLOW_MISSING_DATA") == "1":
        pytest.skip(message)
    pytest.fail(message)
