"""The tabular evaluator answers with the table's values."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from nasforge.core.errors import ConfigError, UserError
from nasforge.core.evaluator import TrialContext
from nasforge.core.formatting import human
from nasforge.core.space import Categorical, SearchSpace
from nasforge_nasbench201 import NASBench201Evaluator, accuracy_fraction, epochs_for_fidelity, from_arch_str, nasbench201_space


@pytest.fixture(scope="module")
def rows(nb201_table_path):
    with gzip.open(nb201_table_path, "rt", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def evaluator(nb201_table_path):
    ev = NASBench201Evaluator(nasbench201_space(), path=str(nb201_table_path))
    ev.setup(Path("."))
    return ev


def _context(fidelity=None):
    return TrialContext(number=0, seed=0, directory=Path("."), fidelity=fidelity)


def test_full_fidelity_returns_the_200_epoch_row(evaluator, rows):
    for row in rows[:: 1000]:
        result = evaluator.evaluate(from_arch_str(row["arch_str"]), _context())
        m = result.metrics
        assert m["accuracy"] == pytest.approx(float(row["cifar10_valid_acc"]) / 100)
        assert m["test_accuracy"] == pytest.approx(float(row["cifar10_test_acc"]) / 100)
        assert m["epochs"] == 200
        assert m["params_m"] == float(row["params_m"])
        assert m["params"] == round(float(row["params_m"]) * 1e6)
        assert m["flops_m"] == float(row["flops_m"])
        assert m["latency_ms"] == float(row["lat_pixel3_ms"])
        assert m["latency_raspi4"] == float(row["lat_raspi4_ms"])
        assert m["latency_gold_6226"] == float(row["lat_gold_6226_ms"])


def test_low_fidelity_returns_the_12_epoch_columns(evaluator, rows):
    row = rows[123]
    m = evaluator.evaluate(from_arch_str(row["arch_str"]), _context(fidelity=12)).metrics
    assert m["accuracy"] == pytest.approx(float(row["cifar10_valid_acc_12ep"]) / 100)
    assert m["test_accuracy"] == pytest.approx(float(row["cifar10_test_acc_12ep"]) / 100)
    assert m["epochs"] == 12


def test_accuracy_is_a_fraction_shown_as_a_percentage_like_every_evaluator(evaluator, rows):
    """One convention: stored 0-1 (as the trainer stores it), displayed as the same percentage the table publishes."""
    for row in rows[:: 997]:
        m = evaluator.lookup(from_arch_str(row["arch_str"]))
        for metric, column in (("accuracy", "cifar10_valid_acc"), ("test_accuracy", "cifar10_test_acc")):
            assert 0.0 <= m[metric] <= 1.0
            assert human(m[metric], metric) == f"{float(row[column]):.2f}%"
    assert accuracy_fraction(94.37) == pytest.approx(0.9437)


def test_fidelity_mapping_floors_to_known_epochs():
    assert epochs_for_fidelity(None) == 200
    assert epochs_for_fidelity(1) == 12
    assert epochs_for_fidelity(12) == 12
    assert epochs_for_fidelity(199.9) == 12
    assert epochs_for_fidelity(200) == 200
    assert epochs_for_fidelity(1000) == 200


def test_queries_count_distinct_architectures(nb201_table_path, rows):
    ev = NASBench201Evaluator(nasbench201_space(), path=nb201_table_path)
    a, b = from_arch_str(rows[0]["arch_str"]), from_arch_str(rows[1]["arch_str"])
    for arch in (a, b, a):
        ev.evaluate(arch, _context())
    assert ev.queries == 2


def test_configurable_latency_device(nb201_table_path, rows):
    ev = NASBench201Evaluator(nasbench201_space(), path=nb201_table_path, latency_device="fpga")
    assert ev.lookup(from_arch_str(rows[5]["arch_str"]))["latency_ms"] == float(rows[5]["lat_fpga_ms"])
    bad = NASBench201Evaluator(nasbench201_space(), path=nb201_table_path, latency_device="toaster")
    with pytest.raises(ConfigError, match="toaster.*devices: pixel3"):
        bad.setup(Path("."))


def test_missing_path_is_a_clear_user_error(tmp_path):
    with pytest.raises(ConfigError, match="evaluator.options.path.*does not ship"):
        NASBench201Evaluator(nasbench201_space())
    with pytest.raises(ConfigError, match="no NAS-Bench-201 table at"):
        NASBench201Evaluator(nasbench201_space(), path=tmp_path / "nope.csv.gz")


def test_wrong_columns_is_a_clear_user_error(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("arch_str,accuracy\n|none~0|+|none~0|none~1|+|none~0|none~1|none~2|,50\n")
    ev = NASBench201Evaluator(nasbench201_space(), path=bad)
    with pytest.raises(UserError, match=r"lacks column\(s\) \['cifar10_valid_acc'"):
        ev.setup(tmp_path)


def test_other_spaces_are_refused(nb201_table_path):
    space = SearchSpace([Categorical("op", ["a", "b"])], name="toy")
    with pytest.raises(ConfigError, match="only answers for the 'nasbench201' space"):
        NASBench201Evaluator(space, path=nb201_table_path)
