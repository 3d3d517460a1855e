"""Shared fixtures: tiny random models (built in-process, no download) and the shared text data."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from nasforge_transformers.testing import save_tiny_model

# no test may reach the network: transformers/huggingface_hub refuse to download with this set
os.environ["HF_HUB_OFFLINE"] = "1"
# trust_remote_code copies a folder's modeling code into this cache: keep it out of the home folder
os.environ["HF_MODULES_CACHE"] = tempfile.mkdtemp(prefix="nasforge-hf-modules-")

#: The offline data folder of the workspace (../shared/data/text from the project root).
TEXT_DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "text"


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def text_root() -> Path:
    if not (TEXT_DATA / "sst2_sentences.csv").is_file():
        pytest.fail(f"the shared text data is missing: {TEXT_DATA}")
    return TEXT_DATA.resolve()


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny-bert"), "encoder", "classification", 2)


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory) -> Path:
    return save_tiny_model(tmp_path_factory.mktemp("tiny-gpt2"), "decoder", "causal-lm")
