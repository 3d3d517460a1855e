"""docs/trainer.md stays in step with the code: every evaluator option, metric, dataset and space is documented."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from nasforge.trainer import TrainingEvaluator
from nasforge.trainer.data import DATASETS
from nasforge.trainer.models import BUILDERS

DOC = (Path(__file__).resolve().parents[3] / "docs" / "trainer.md").read_text()


def _table_keys(text: str) -> set[str]:
    """Names in the first column of the tables (``| `a` |`` or ``| `a` / `b` |``)."""
    rows = re.findall(r"^\| `([a-z_0-9]+)`(?: / `([a-z_0-9]+)`)?", text, flags=re.MULTILINE)
    return {name for row in rows for name in row if name}


def test_every_evaluator_option_is_in_the_options_table():
    options = [p for p in inspect.signature(TrainingEvaluator).parameters if p != "space"]
    documented = _table_keys(DOC)
    missing = [o for o in options if o not in documented]
    assert not missing, f"options missing from docs/trainer.md: {missing}"


def test_every_metric_is_explained():
    missing = [m for m in TrainingEvaluator.metrics if f"| `{m}` |" not in DOC]
    assert not missing, f"metrics missing from the metrics table of docs/trainer.md: {missing}"


def test_every_dataset_and_space_is_described():
    for name in [*DATASETS, *BUILDERS]:
        assert f"`{name}`" in DOC, name
