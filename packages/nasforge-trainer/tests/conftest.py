"""Shared fixtures for the nasforge-trainer tests.

Tests run on one thread (the test machines are shared) and use small data slices. The CIFAR-10
JPEG archive of the shared test data is read from ``$NASFORGE_SHARED_DATA`` (default
``<repo>/../shared/data``); when it is missing those tests fail with a clear message, unless
``NASFORGE_ALLOW_MISSING_DATA=1`` is set, in which case they are skipped with the reason.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

from nasforge_trainer_testing import SHARED_DATA, require_shared  # noqa: E402

CIFAR_JPEG = SHARED_DATA / "cifar10" / "cifar10-jpeg.tar.gz"

#: images per class extracted from the archive (train / test)
TRAIN_PER_CLASS = 20
TEST_PER_CLASS = 5


@pytest.fixture(scope="session")
def cifar_jpeg_root(tmp_path_factory) -> Path:
    """A small CIFAR-10 JPEG subset (``train/<class>`` 20 each, ``test/<class>`` 5 each) extracted once per session."""
    archive = require_shared(CIFAR_JPEG)
    out = tmp_path_factory.mktemp("cifar10-jpeg")
    counts: dict[tuple[str, str], int] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".jpg"):
                continue
            parts = Path(member.name).parts
            split, cls = parts[-3], parts[-2]
            if split not in ("train", "test"):
                continue
            limit = TRAIN_PER_CLASS if split == "train" else TEST_PER_CLASS
            if counts.get((split, cls), 0) >= limit:
                continue
            counts[(split, cls)] = counts.get((split, cls), 0) + 1
            target = out / split / cls / parts[-1]
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())
    assert len(counts) == 20, f"expected 10 classes in train/ and test/ of {archive}, found {sorted(counts)}"
    return out


@pytest.fixture(scope="session")
def digits_splits():
    """The digits dataset split with the default fractions (seed 0)."""
    from nasforge.trainer.data import load_dataset

    return load_dataset("digits")
