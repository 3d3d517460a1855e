"""Each fix in nasforge_nni.compat: without it NNI's ModelSpeedup fails on current torch, with it the model shrinks."""

from __future__ import annotations

import importlib.metadata as md

import pytest
import torch

import nasforge_nni
from nasforge_nni import compat


def _speedup(model):
    from nni.compression.pruning import L1NormPruner
    from nni.compression.speedup import ModelSpeedup

    model.eval()
    x = torch.randn(2, 1, 8, 8)
    pruner = L1NormPruner(model, [{"op_types": ["Conv2d"], "sparse_ratio": 0.5, "exclude_op_names": ["8"]}])
    _, masks = pruner.compress()
    pruner.unwrap_model()
    ModelSpeedup(model, x, masks).speedup_model()
    return model


def test_with_both_fixes_speedup_shrinks(tiny_cnn):
    model = _speedup(tiny_cnn())
    assert model[0].out_channels == 4 and model[3].out_channels == 8 and model[8].in_features == 8


def test_without_the_moduleless_fix_nni_tracer_fails(tiny_cnn):
    compat.revert_moduleless_leaf_functions()
    try:
        with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'startswith'"):
            _speedup(tiny_cnn())
    finally:
        compat.fix_moduleless_leaf_functions()
    assert _speedup(tiny_cnn())[0].out_channels == 4


def test_without_the_is_impure_fix_nni_tracer_fails(tiny_cnn):
    compat.revert_node_is_impure()
    try:
        with pytest.raises(TypeError, match="is_impure"):
            _speedup(tiny_cnn())
    finally:
        compat.fix_node_is_impure()
    assert _speedup(tiny_cnn())[0].out_channels == 4


def test_fixes_are_idempotent():
    compat.apply()
    compat.apply()
    assert set(compat._applied) == {"moduleless", "is_impure"}


def test_another_nni_version_is_refused_with_a_clear_message(monkeypatch):
    monkeypatch.setattr(md, "version", lambda name: "2.10" if name == "nni" else "0")
    with pytest.raises(ImportError, match=r"NNI 3\.0.*NNI 2\.10 is installed.*nni==3\.0"):
        nasforge_nni.check_nni_version()
