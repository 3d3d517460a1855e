"""The docs of the advanced strategies stay honest: every option is in its table with its real default."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from nasforge.strategies.model_based import Bananas
from nasforge.strategies.multifidelity import Hyperband, SuccessiveHalving
from nasforge.strategies.nsga2 import NSGA2

DOCS = Path(__file__).resolve().parents[3] / "docs"
#: strategy -> (doc file, text that starts the part of the file holding its options table)
WHERE = {
    "bananas": (Bananas, "nasbench201.md", "## The model-based strategy: `bananas`"),
    "nsga2": (NSGA2, "multi_objective.md", "### `nsga2`"),
    "successive_halving": (SuccessiveHalving, "multi_objective.md", "## Multi-fidelity"),
    "hyperband": (Hyperband, "multi_objective.md", "## Multi-fidelity"),
}


def _default_text(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pytest.mark.parametrize("name", sorted(WHERE))
def test_every_option_is_documented_with_its_default(name):
    cls, filename, heading = WHERE[name]
    text = (DOCS / filename).read_text(encoding="utf-8")
    assert heading in text, f"docs/{filename} has no heading {heading!r}"
    part = text[text.index(heading) :]
    params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name not in ("self", "space", "seed")]
    for param in params:
        row = re.search(rf"^\| `{param.name}` \| `([^`]*)`", part, re.M)
        assert row, f"option {param.name!r} of {name} is not in its options table in docs/{filename}"
        assert row.group(1) == _default_text(param.default), f"{name}.{param.name}: documented default {row.group(1)!r}, real {param.default!r}"


def test_advanced_strategies_are_registered_by_their_plugin():
    from nasforge.core.plugins import get_plugin_manager
    from nasforge.strategies.advanced_plugin import STRATEGIES

    registered = get_plugin_manager(fresh=True).components("strategy")
    for name, (cls, _description) in STRATEGIES.items():
        assert registered[name].obj is cls
        assert registered[name].plugin.name == "strategies-advanced"
    assert set(STRATEGIES) == set(WHERE)
