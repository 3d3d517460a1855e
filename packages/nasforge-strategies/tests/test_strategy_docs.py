"""docs/strategies.md stays honest: every native strategy has a section listing each option with its real default."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from nasforge.strategies.plugin import STRATEGIES

DOC = Path(__file__).resolve().parents[3] / "docs" / "strategies.md"


def _section(text: str, name: str) -> str:
    match = re.search(rf"^## `{re.escape(name)}`.*?(?=^## |\Z)", text, re.M | re.S)
    assert match, f"docs/strategies.md has no section '## `{name}`'"
    return match.group(0)


def _yaml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_every_option_is_documented_with_its_default(name):
    assert DOC.exists(), f"{DOC} is missing"
    section = _section(DOC.read_text(encoding="utf-8"), name)
    cls = STRATEGIES[name][0]
    params = [p for p in inspect.signature(cls.__init__).parameters.values() if p.name not in ("self", "space", "seed")]
    for param in params:
        row = re.search(rf"^\| `{param.name}` \| `([^`]*)`", section, re.M)
        assert row, f"option {param.name!r} of {name} is not in its options table in docs/strategies.md"
        if param.default is not None:
            assert row.group(1) == _yaml(param.default), f"{name}.{param.name}: documented default {row.group(1)!r}, real {param.default!r}"
    if not params:
        assert "No options" in section
