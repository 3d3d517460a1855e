from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = Path(os.environ.get("NASFORGE_SHARED_DATA", ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        raise FileNotFoundError(f"shared test data not found at {path}; set NASFORGE_SHARED_DATA")
    return path
