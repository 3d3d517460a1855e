"""Shared fixtures: where the NAS-Bench-201 table lives (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
TABLE_NAME = "nb201/nb201_cifar10.csv.gz"


@pytest.fixture(scope="session")
def nb201_table_path() -> Path:
    """The shared table; fails loudly when it is absent (skips only with NASFORGE_ALLOW_MISSING_DATA=1)."""
    root = Path(os.environ.get("NASFORGE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    path = root / TABLE_NAME
    if not path.is_file():
        message = f"NAS-Bench-201 table not found at {path}; set NASFORGE_SHARED_DATA to the folder holding {TABLE_NAME}"
        if os.environ.get("NASFORGE_ALLOW_MISSING_DATA") == "1":
            pytest.skip(message)
        pytest.fail(message)
    return path
