import numpy as np
import pytest

from nasforge.core.errors import SpaceError
from nasforge.core.space import Categorical, Integer, SearchSpace

CONDITIONAL = [
    {"name": "depth", "type": "int", "low": 1, "high": 3},
    {"name": "width", "values": [16, 32, 64], "repeat": "depth"},
    {"name": "act", "values": ["relu", "gelu"]},
    {"name": "residual", "values": [True, False], "when": {"depth": ">= 2"}},
]


@pytest.fixture
def space():
    return SearchSpace.from_config(CONDITIONAL, name="cond")


def test_size_matches_enumeration_and_every_architecture_is_distinct_and_valid(space):
    archs = list(space.enumerate())
    # depth 1: 3*2 ; depth 2: 9*2*2 ; depth 3: 27*2*2
    assert space.size() == len(archs) == 3 * 2 + 9 * 2 * 2 + 27 * 2 * 2
    assert len(set(archs)) == len(archs)
    for arch in archs:
        assert space.validate(arch) == arch


def test_conditional_choices_only_up_to_the_chosen_depth(space):
    for arch in space.enumerate():
        widths = [k for k in arch if k.startswith("width_")]
        assert len(widths) == arch["depth"]
        assert ("residual" in arch) == (arch["depth"] >= 2)


def test_sampling_is_valid_and_deterministic_under_a_seed(space):
    a = [space.sample(np.random.default_rng(7)) for _ in range(1)] + [space.sample(np.random.default_rng(7))]
    assert a[0] == a[1]
    rng = np.random.default_rng(0)
    samples = [space.sample(rng) for _ in range(200)]
    assert all(s in space for s in samples)
    assert len(set(samples)) > 50  # it explores, it does not repeat one point


def test_neighbours_differ_in_one_decision(space):
    arch = space.validate({"depth": 2, "width_1": 32, "width_2": 16, "act": "relu", "residual": True})
    neighbours = space.neighbours(arch)
    assert arch not in neighbours and len(set(neighbours)) == len(neighbours)
    for n in neighbours:
        assert n in space
        shared = set(n) & set(arch)
        changed = [k for k in shared if n[k] != arch[k]]
        assert len(changed) <= 1
    # ordinal depth moves one step either way
    assert {n["depth"] for n in neighbours if n["depth"] != 2} == {1, 3}


def test_mutate_changes_something_and_stays_valid(space):
    rng = np.random.default_rng(1)
    arch = space.sample(rng)
    for _ in range(50):
        child = space.mutate(arch, rng)
        assert child in space and child != arch


def test_encoding_has_fixed_length_and_zeros_for_inactive_choices(space):
    shallow = space.validate({"depth": 1, "width_1": 16, "act": "gelu"})
    deep = space.validate({"depth": 3, "width_1": 16, "width_2": 64, "width_3": 32, "act": "gelu", "residual": False})
    e1, e2 = space.encode(shallow), space.encode(deep)
    assert e1.shape == e2.shape == (space.encoding_size,)
    assert not np.array_equal(e1, e2)
    # width_3 (one-hot of 3) is all zeros for the shallow architecture
    offset = 1 + 3 + 3
    assert e1[offset : offset + 3].tolist() == [0, 0, 0]
    assert e2[offset : offset + 3].tolist() == [0, 1, 0]


def test_config_round_trip(space):
    again = SearchSpace.from_config(space.to_config())
    assert again == space and again.size() == space.size()


@pytest.mark.parametrize(
    "choices, message",
    [
        ([], "empty"),
        ([{"name": "a", "values": [1, 2]}, {"name": "a", "values": [3]}], "used twice"),
        ([{"name": "b", "values": [1], "when": {"a": [1]}}, {"name": "a", "values": [1]}], "listed after"),
        ([{"name": "b", "values": [1], "when": {"zz": [1]}}], "no such choice"),
        ([{"name": "a", "type": "float", "low": 0, "high": 1}], "unknown type"),
        ([{"name": "a", "type": "int", "low": 5, "high": 1}], "empty"),
        ([{"name": "a", "values": []}], "non-empty"),
        ([{"name": "a", "values": [1, 1]}], "distinct"),
        ([{"name": "a", "values": [1], "colour": "red"}], "unknown key"),
        ([{"values": [1]}], "missing its 'name'"),
        ([{"name": "w", "values": [1], "repeat": "nope"}], "integer choice listed before"),
    ],
)
def test_malformed_spaces_are_refused_with_a_reason(choices, message):
    with pytest.raises(SpaceError, match=message):
        SearchSpace.from_config(choices)


def test_validate_explains_what_is_wrong(space):
    with pytest.raises(SpaceError, match="missing active choice 'act'"):
        space.validate({"depth": 1, "width_1": 16})
    with pytest.raises(SpaceError, match="not allowed for 'width_1'"):
        space.validate({"depth": 1, "width_1": 17, "act": "relu"})
    with pytest.raises(SpaceError, match="inactive"):
        space.validate({"depth": 1, "width_1": 16, "width_2": 16, "act": "relu"})
    with pytest.raises(SpaceError, match="unknown choice"):
        space.validate({"depth": 1, "width_1": 16, "act": "relu", "colour": "red"})


def test_booleans_are_not_integers():
    s = SearchSpace([Integer("n", 0, 2), Categorical("flag", [True, False])])
    assert {"n": 1, "flag": True} in s
    assert {"n": True, "flag": True} not in s
    assert {"n": 1, "flag": 1} not in s


def test_size_of_a_large_space_is_computed_without_enumerating():
    s = SearchSpace([Categorical(f"c{i}", list(range(5))) for i in range(30)])
    assert s.size() == 5**30
