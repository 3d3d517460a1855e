"""The docs stay in step with the code: hooks, commands and the README quickstart."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys

import pytest


def _hook_reference(root):
    spec = importlib.util.spec_from_file_location("hook_reference", root / "docs" / "hook_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_plugin_docs_list_every_hook_exactly_as_its_docstring(root):
    ref = _hook_reference(root)
    text = (root / "docs" / "plugins.md").read_text()
    assert ref.BEGIN in text and ref.END in text
    section = text.split(ref.BEGIN, 1)[1].split(ref.END, 1)[0].strip()
    assert section == ref.hook_reference().strip(), "docs/plugins.md is out of date: regenerate it with docs/hook_reference.py"


def test_every_cli_command_is_documented(root):
    from nasforge.core.plugins import get_plugin_manager

    documented = set(re.findall(r"`nasforge (\w+)", (root / "docs" / "cli.md").read_text()))
    commands = set(get_plugin_manager(fresh=True).components("command"))
    assert commands <= documented, f"undocumented commands: {sorted(commands - documented)}"


def test_every_command_has_help(root):
    from nasforge.core.plugins import get_plugin_manager

    for name in get_plugin_manager(fresh=True).components("command"):
        out = subprocess.run([sys.executable, "-m", "nasforge.core.cli", name, "--help"], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0 and "usage: nasforge " + name in out.stdout, out.stderr


def test_readme_quickstart_is_two_lines_and_ci_runs_its_test_command(root):
    readme = (root / "README.md").read_text()
    block = readme.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines = [line for line in block.strip().splitlines() if line.strip()]
    assert len(lines) == 2
    assert "nasforge run" in lines[0]
    ci = (root / ".ci" / "run").read_text()
    for step in lines[1].split("&&"):
        assert step.strip() in ci, f"{step.strip()!r} of the README test line is not in .ci/run"


@pytest.mark.parametrize("doc", ["config.md", "cli.md", "plugins.md"])
def test_docs_exist_and_are_linked_from_the_readme(root, doc):
    assert (root / "docs" / doc).is_file()
    assert f"docs/{doc}" in (root / "README.md").read_text()


def _anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_in_the_docs_points_to_a_file_and_heading_that_exist(root):
    broken = []
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # http(s):, mailto: ...
            path, _, fragment = target.partition("#")
            file = (page.parent / path) if path else page
            if not file.exists():
                broken.append(f"{page.relative_to(root)} -> {target}")
            elif fragment and file.suffix == ".md":
                anchors = {_anchor(line.lstrip("#")) for line in file.read_text().splitlines() if line.startswith("#")}
                if fragment not in anchors:
                    broken.append(f"{page.relative_to(root)} -> {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)
