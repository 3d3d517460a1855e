"""The PyTorch network matches the benchmark's parameter counts and runs."""

from __future__ import annotations

import csv
import gzip
import random

import pytest

torch = pytest.importorskip("torch", reason="the model builder needs the torch extra")

from nasforge.core.errors import SpaceError  # noqa: E402
from nasforge.core.plugins import get_plugin_manager  # noqa: E402
from nasforge.torchutils import count_params  # noqa: E402
from nasforge_nasbench201 import from_arch_str  # noqa: E402
from nasforge_nasbench201.model import build_nasbench201  # noqa: E402


@pytest.fixture(scope="module")
def table_rows(nb201_table_path):
    with gzip.open(nb201_table_path, "rt", newline="") as fh:
        return list(csv.DictReader(fh))


def test_parameter_count_matches_table_on_a_sample(table_rows):
    torch.set_num_threads(1)
    rng = random.Random(201)
    sample = rng.sample(table_rows, 50)
    # Make sure extremes are covered: the smallest and largest cells in the table.
    sample.append(min(table_rows, key=lambda r: float(r["params_m"])))
    sample.append(max(table_rows, key=lambda r: float(r["params_m"])))
    for row in sample:
        model = build_nasbench201(from_arch_str(row["arch_str"]), num_classes=10)
        # The table counts parameters in millions, rounded to 6 decimals, i.e. exact to the unit.
        assert round(count_params(model, trainable_only=True) / 1e6, 6)  # trainable only, as NAS-Bench-201 counts == pytest.approx(float(row["params_m"]), abs=1e-9), row["arch_str"]


def test_forward_pass_shapes_and_registered_builder():
    torch.set_num_threads(1)
    builder = get_plugin_manager(fresh=True).get("model_builder", "nasbench201")
    arch = "|nor_conv_3x3~0|+|none~0|none~1|+|skip_connect~0|none~1|avg_pool_3x3~2|"
    model = builder(from_arch_str(arch), input_shape=(1, 16, 16), num_classes=4).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, 16, 16))
    assert out.shape == (2, 4)
    assert torch.isfinite(out).all()


def test_all_none_cell_outputs_zero_cell_but_network_still_runs():
    torch.set_num_threads(1)
    model = build_nasbench201("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|").eval()
    cell = model.cells[0]
    x = torch.randn(1, 16, 8, 8)
    assert torch.count_nonzero(cell(x)) == 0
    with torch.no_grad():
        assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_builder_rejects_bad_input_shape():
    with pytest.raises(SpaceError, match="input_shape"):
        build_nasbench201("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", input_shape=(3, 2, 2))
