"""The NAS-Bench-201 cell space and its architecture strings."""

from __future__ import annotations

import numpy as np
import pytest

from nasforge.core.errors import SpaceError
from nasforge.core.plugins import get_plugin_manager
from nasforge_nasbench201 import EDGE_NAMES, OPERATIONS, architecture_from_index, architecture_index, from_arch_str, nasbench201_space, to_arch_str

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


def test_enumeration_yields_15625_distinct_architectures():
    space = nasbench201_space()
    archs = list(space.enumerate())
    assert len(archs) == 15625
    assert len(set(archs)) == 15625
    assert len({to_arch_str(a) for a in archs}) == 15625
    assert space.size() == 15625
    assert sorted(architecture_index(a) for a in archs) == list(range(15625))
    assert all(architecture_from_index(architecture_index(a)) == a for a in archs)
    with pytest.raises(SpaceError, match="index"):
        architecture_from_index(15625)


def test_choices_are_the_edges_in_string_order():
    space = nasbench201_space()
    assert [c.name for c in space.choices] == list(EDGE_NAMES)
    assert all(tuple(c.domain) == OPERATIONS for c in space.choices)


def test_example_string_parses_edge_by_edge():
    arch = from_arch_str(EXAMPLE)
    assert arch == {
        "edge_0_1": "nor_conv_3x3",
        "edge_0_2": "nor_conv_3x3",
        "edge_1_2": "avg_pool_3x3",
        "edge_0_3": "skip_connect",
        "edge_1_3": "nor_conv_3x3",
        "edge_2_3": "skip_connect",
    }
    assert to_arch_str(arch) == EXAMPLE


def test_string_round_trip_on_every_architecture():
    for arch in nasbench201_space().enumerate():
        assert from_arch_str(to_arch_str(arch)) == arch


def test_sampled_and_mutated_architectures_are_valid():
    space = nasbench201_space()
    rng = np.random.default_rng(0)
    arch = space.sample(rng)
    for _ in range(50):
        child = space.mutate(arch, rng)
        assert sum(child[n] != arch[n] for n in EDGE_NAMES) == 1
        assert from_arch_str(to_arch_str(child)) == child
        arch = child
    assert space.encode(arch).shape == (30,)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|", "node group"),
        ("|conv_5x5~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "unknown operation"),
        ("|nor_conv_3x3~1|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "~0"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "exactly 2"),
        ("nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|", "start and end"),
    ],
)
def test_malformed_strings_say_what_is_wrong(text, fragment):
    with pytest.raises(SpaceError, match=fragment):
        from_arch_str(text)


def test_to_arch_str_rejects_incomplete_or_unknown():
    arch = dict(from_arch_str(EXAMPLE))
    del arch["edge_2_3"]
    with pytest.raises(SpaceError, match="edge_2_3"):
        to_arch_str(arch)
    with pytest.raises(SpaceError, match="not a NAS-Bench-201 operation"):
        to_arch_str({**from_arch_str(EXAMPLE), "edge_0_1": "sep_conv"})


def test_plugin_registers_space_builder_and_evaluator():
    pm = get_plugin_manager(fresh=True)
    assert pm.get("space", "nasbench201")() == nasbench201_space()
    assert pm.components("space")["nasbench201"].plugin.distribution == "nasforge-nasbench201"
    assert callable(pm.get("model_builder", "nasbench201"))
    assert pm.get("evaluator", "nasbench201").__name__ == "NASBench201Evaluator"
