"""Test sessions: one per package and per plugin, each in a virtualenv holding only that
distribution and its declared dependencies (so a missing dependency declaration fails), plus an
end-to-end session over the whole workspace.

    nox            # everything (what CI runs)
    nox -l         # list sessions
    nox -s core    # one session
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nox
import tomllib

ROOT = Path(__file__).parent
nox.options.default_venv_backend = "venv"  # pip, which finds the locally cached torch wheels
nox.options.error_on_missing_interpreters = True


def _distributions() -> dict[str, Path]:
    """Every first-party distribution in the workspace, by name."""
    found = {}
    for pyproject in sorted([*ROOT.glob("packages/*/pyproject.toml"), *ROOT.glob("plugins/*/pyproject.toml")]):
        name = tomllib.loads(pyproject.read_text())["project"]["name"]
        found[name] = pyproject.parent
    return found


DISTRIBUTIONS = _distributions()


def _local_closure(name: str) -> list[Path]:
    """The folder of ``name`` and of every workspace distribution it depends on, transitively,
    including those its ``test`` extra asks for (workspace packages are not on an index)."""
    seen: dict[str, Path] = {}
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen[current] = DISTRIBUTIONS[current]
        project = tomllib.loads((DISTRIBUTIONS[current] / "pyproject.toml").read_text())["project"]
        requirements = list(project.get("dependencies", []))
        if current == name:
            requirements += project.get("optional-dependencies", {}).get("test", [])
        for requirement in requirements:
            dep = re.split(r"[\s\[<>=!~;@]", requirement, maxsplit=1)[0]
            if dep in DISTRIBUTIONS:
                todo.append(dep)
    return list(seen.values())


def _free_disk(s: nox.Session) -> None:
    """On CI, delete a session's virtualenv once it is done: each one holding torch takes
    5-6 GB, and CI runs every session on one machine's disk."""
    if os.environ.get("CI") and s.virtualenv.location:
        shutil.rmtree(s.virtualenv.location, ignore_errors=True)


def _test_session(name: str, folder: Path):
    def session(s: nox.Session) -> None:
        paths = [str(p) for p in _local_closure(name) if p != folder]
        try:
            s.install(*paths, f"{folder}[test]")
            s.run("pytest", str(folder / "tests"), "-q", "-p", "no:cacheprovider", *s.posargs)
        finally:
            _free_disk(s)

    session.__doc__ = f"Tests of {name}, installed alone with its declared dependencies."
    return session


for _name, _folder in DISTRIBUTIONS.items():
    _short = _name.removeprefix("nasforge-") if _folder.parent.name == "packages" else _name
    if (_folder / "tests").is_dir():
        nox.session(name=_short)(_test_session(_name, _folder))


@nox.session(name="e2e")
def e2e(s: nox.Session) -> None:
    """End-to-end tests over the whole workspace as a user installs it (`pip install .`)."""
    try:
        s.install(".[test]")
        s.run("pytest", "tests", "-q", "-p", "no:cacheprovider", *s.posargs)
    finally:
        _free_disk(s)


@nox.session(name="lint")
def lint(s: nox.Session) -> None:
    """ruff over the whole workspace, with the rule set in the root pyproject.toml."""
    s.install("ruff>=0.6")
    s.run("ruff", "check", str(ROOT))
