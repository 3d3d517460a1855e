"""docs/api.md's examples run, in order, in one namespace, in a temporary folder."""

from __future__ import annotations

import re


def test_every_python_example_in_the_api_docs_runs(root, tmp_path, monkeypatch):
    text = (root / "docs" / "api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) >= 6
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__main__"}
    for i, block in enumerate(blocks):
        try:
            exec(compile(block, f"docs/api.md example {i + 1}", "exec"), namespace)
        except Exception as exc:  # name the example that failed
            raise AssertionError(f"docs/api.md example {i + 1} failed: {type(exc).__name__}: {exc}\n{block}") from exc
    assert (tmp_path / "runs").is_dir()
