"""One-shot search with NNI: each working algorithm derives a valid architecture; ENAS and bad spaces are refused."""

from __future__ import annotations

import json

import pytest

from nasforge.core.errors import UserError
from nasforge.core.space import SearchSpace
from nasforge_nni.oneshot import ALGORITHMS, default_space, digits_split, search_oneshot


@pytest.fixture(scope="module")
def digits():
    return digits_split(limit=256)


@pytest.mark.parametrize("algorithm", sorted(ALGORITHMS))
def test_oneshot_derives_an_architecture_of_the_space(algorithm, digits):
    space = default_space(layers=2, operations=("conv3x3", "maxpool3x3", "skip"))
    result = search_oneshot(space, *digits, algorithm=algorithm, epochs=1, channels=8)
    assert space.validate(result.architecture) == result.architecture
    assert set(result.architecture) == {"op_1", "op_2"}


def test_enas_is_refused_naming_lightning(digits):
    with pytest.raises(UserError, match="ENAS fails under PyTorch Lightning"):
        search_oneshot(default_space(2), *digits, algorithm="enas")


def test_conditional_or_numeric_spaces_are_refused(digits):
    space = SearchSpace.from_config([{"name": "op_1", "values": ["conv3x3", "skip"]}, {"name": "op_2", "values": ["skip"], "when": {"op_1": "skip"}}])
    with pytest.raises(UserError, match="conditional"):
        search_oneshot(space, *digits)
    with pytest.raises(UserError, match="not one-shot operations"):
        search_oneshot(SearchSpace.from_config([{"name": "op", "values": ["conv3x3", "conv7x7"]}]), *digits)


def test_the_nni_oneshot_command(capsys):
    from nasforge.core.cli import main

    assert main(["nni-oneshot", "--algorithm", "gumbel_darts", "--layers", "1", "--ops", "conv3x3,skip", "--epochs", "1", "--limit", "128", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["algorithm"] == "gumbel_darts" and out["architecture"]["op_1"] in {"conv3x3", "skip"}
    assert main(["nni-oneshot", "--algorithm", "enas"]) == 2
    assert "refused" in capsys.readouterr().err
