"""The intended structure (docs/architecture.md), checked on the source: who may import whom.

* Dependencies point one way: core <- torchutils <- trainer, compression, export <- deploy <- plugins
  (strategies: core only). The core imports no other nasforge package; strategies import only the
  core; torchutils (the shared torch helpers) only the core; compression and export the core and
  torchutils; the trainer those two (and nasforge-export for its optional onnxruntime latency);
  deploy anything below it; plugins any package (never another plugin).
* Every import of another first-party distribution is declared in the importing distribution's
  pyproject.toml (dependencies or an optional extra), so a user's ``pip install`` gets it.
* The core has no import cycle (imports inside functions count; ``if TYPE_CHECKING:`` imports,
  which never run, do not).
* ``nasforge.testing`` (shipped with the core, used by plugin authors' tests) imports neither torch
  nor another nasforge package.

Imports are read with :mod:`ast`, so nothing is imported and optional dependencies need not be installed.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]

#: May import (besides itself): the layering of docs/architecture.md.
ALLOWED = {
    "nasforge-core": set(),
    "nasforge-strategies": {"nasforge-core"},
    "nasforge-torchutils": {"nasforge-core"},
    "nasforge-compression": {"nasforge-core", "nasforge-torchutils"},
    "nasforge-export": {"nasforge-core", "nasforge-torchutils"},
    "nasforge-trainer": {"nasforge-core", "nasforge-torchutils", "nasforge-export"},
    "nasforge-deploy": {"nasforge-core", "nasforge-torchutils", "nasforge-trainer", "nasforge-compression", "nasforge-export"},
}
PACKAGES = set(ALLOWED)


def _distributions() -> dict[str, Path]:
    found = {}
    for pyproject in sorted([*ROOT.glob("packages/*/pyproject.toml"), *ROOT.glob("plugins/*/pyproject.toml")]):
        found[tomllib.loads(pyproject.read_text())["project"]["name"]] = pyproject.parent
    return found


DISTRIBUTIONS = _distributions()


def _top_modules(folder: Path) -> set[str]:
    """Importable names a distribution provides: nasforge.<sub> for the namespace packages, else top-level packages."""
    src = folder / "src"
    names = set()
    for child in src.iterdir() if src.is_dir() else ():
        if child.name == "nasforge":
            names |= {f"nasforge.{p.name}" if p.is_dir() else f"nasforge.{p.stem}" for p in child.iterdir() if p.name != "__pycache__" and (p.is_dir() or p.suffix == ".py")}
        elif child.is_dir() and (child / "__init__.py").exists():
            names.add(child.name)
    return names


OWNER = {module: dist for dist, folder in DISTRIBUTIONS.items() for module in _top_modules(folder)}


def _owner(module: str) -> str | None:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in OWNER:
            return OWNER[".".join(parts[:n])]
    return None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def runtime_imports(path: Path, module: str) -> Iterator[tuple[str, int]]:
    """``(imported module, line)`` for every import that can run (module level or inside functions)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(node: ast.AST) -> Iterator[tuple[str, int]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    yield from visit(other)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, child.lineno
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - (child.level - 1)] if child.level > 1 else base
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                yield target, child.lineno
                for alias in child.names:  # "from nasforge.core import cli" imports a module
                    yield f"{target}.{alias.name}", child.lineno
            yield from visit(child)

    yield from visit(ast.parse(path.read_text(encoding="utf-8")))


def _sources(dist: str) -> Iterator[tuple[Path, str]]:
    src = DISTRIBUTIONS[dist] / "src"
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src).with_suffix("")
        parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
        yield path, ".".join(parts)


def _declared(dist: str) -> set[str]:
    project = tomllib.loads((DISTRIBUTIONS[dist] / "pyproject.toml").read_text())["project"]
    requirements = list(project.get("dependencies", []))
    for name, extra in project.get("optional-dependencies", {}).items():
        if name != "test":
            requirements += extra
    return {re.split(r"[\s\[<>=!~;@]", r, maxsplit=1)[0] for r in requirements}


def _violations(dist: str) -> list[str]:
    allowed = ALLOWED.get(dist, PACKAGES)  # a plugin may use any package, never another plugin
    declared = _declared(dist)
    out = []
    for path, module in _sources(dist):
        seen = set()
        for target, line in runtime_imports(path, module):
            owner = _owner(target)
            if owner is None or owner == dist or (line, owner) in seen:
                continue
            seen.add((line, owner))
            where = f"{path.relative_to(ROOT)}:{line} imports {target} ({owner})"
            if owner not in allowed:
                out.append(f"{where}: {dist} must not import {owner}")
            elif owner not in declared:
                out.append(f"{where}: {owner} is not declared in {dist}'s pyproject.toml")
    return out


@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
def test_imports_point_down_and_are_declared(dist):
    assert _violations(dist) == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return found


def core_import_graph() -> dict[str, set[str]]:
    modules = dict(_sources("nasforge-core"))
    names = {m for m in modules.values()}
    graph: dict[str, set[str]] = {}
    for path, module in modules.items():
        graph[module] = {t for t, _ in runtime_imports(path, module) if t in names and t != module and not module.startswith(t + ".")}
        graph[module] -= {"nasforge.core", "nasforge.testing"}  # the package __init__ files re-export; see test below
    return graph


def test_the_core_has_no_import_cycle():
    assert _cycles(core_import_graph()) == []


def test_the_core_package_init_imports_only_foundation_modules():
    """``import nasforge.core`` must not pull in the loop, the CLI or the plugin manager."""
    path = DISTRIBUTIONS["nasforge-core"] / "src" / "nasforge" / "core" / "__init__.py"
    imported = {t for t, _ in runtime_imports(path, "nasforge.core")}
    assert not imported & {"nasforge.core.cli", "nasforge.core.experiment", "nasforge.core.plugins", "nasforge.core.builtin"}


def test_nasforge_testing_imports_neither_torch_nor_other_nasforge_packages():
    bad = []
    for path, module in _sources("nasforge-core"):
        if not module.startswith("nasforge.testing"):
            continue
        for target, line in runtime_imports(path, module):
            if target.split(".")[0] == "torch" or (_owner(target) not in (None, "nasforge-core")):
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert bad == []


def test_the_checks_catch_a_wrong_import(tmp_path):
    """The checker itself: a cycle and an upward import are found."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    source = tmp_path / "mod.py"
    source.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import nasforge.trainer\ndef f():\n    from nasforge.export import cli\n")
    assert list(runtime_imports(source, "nasforge.compression.mod")) == [("typing", 1), ("typing.TYPE_CHECKING", 1), ("nasforge.export", 5), ("nasforge.export.cli", 5)]
    assert _owner("nasforge.export.cli") == "nasforge-export" and _owner("nasforge.trainer") == "nasforge-trainer"


#: Helpers with one home each (docs/architecture.md, "One home per helper"): name -> the module
#: that defines it. No other module of a package, plugin or benchmark may define a function or
#: class of that name; the modules that need one import it.
SINGLE_HOMES = {
    "count_params": "nasforge.torchutils",
    "count_flops": "nasforge.torchutils",
    "count_macs": "nasforge.torchutils",
    "evaluate_accuracy": "nasforge.torchutils",
    "classification_scores": "nasforge.torchutils",
    "model_device": "nasforge.torchutils",
    "parse_device": "nasforge.torchutils",
    "eval_mode": "nasforge.torchutils",
    "example_batch": "nasforge.torchutils",
    "BatchLoader": "nasforge.torchutils",
    "iterate_batches": "nasforge.torchutils",
    "import_reference": "nasforge.core.parsing",
    "load_reference": "nasforge.core.parsing",
    "parse_shape": "nasforge.core.parsing",
    "parse_json_option": "nasforge.core.parsing",
    "ComponentTable": "nasforge.core.registration",
    "ModelSpec": "nasforge.compression.base",
}
#: Names of the copies the single homes replaced; defining one again brings a copy back.
RETIRED = {"load_callable", "load_factory", "resolve_reference", "count_parameters", "_count", "_device_of", "_EvalMode"}


def _all_definitions() -> dict[str, list[str]]:
    """Top-level function and class names -> ``module`` (or file, for benchmarks) defining them."""
    found: dict[str, list[str]] = {}
    sources = [(path, module) for dist in DISTRIBUTIONS for path, module in _sources(dist)]
    sources += [(path, str(path.relative_to(ROOT))) for path in sorted((ROOT / "benchmarks").rglob("*.py"))]
    for path, module in sources:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                found.setdefault(node.name, []).append(module)
    return found


def test_each_shared_helper_has_exactly_one_definition_in_its_home():
    defined = _all_definitions()
    wrong = {name: defined.get(name, []) for name, home in SINGLE_HOMES.items() if defined.get(name, []) != [home]}
    assert wrong == {}, "define these once, in SINGLE_HOMES' module, and import them elsewhere"
    assert {name: defined[name] for name in RETIRED if name in defined} == {}


def test_only_torchutils_counts_flops():
    """FLOP/MAC counting goes through nasforge.torchutils (torch.utils.flop_counter), nowhere else."""
    users = []
    for dist in DISTRIBUTIONS:
        users += [module for path, module in _sources(dist) if module != "nasforge.torchutils" and any(t.startswith("torch.utils.flop_counter") for t, _ in runtime_imports(path, module))]
    for path in sorted((ROOT / "benchmarks").rglob("*.py")):
        users += [str(path.relative_to(ROOT)) for t, _ in runtime_imports(path, "benchmarks") if t.startswith("torch.utils.flop_counter")]
    assert users == []


def test_torchutils_is_a_leaf_below_compression_export_and_trainer():
    """The shared torch helpers may import only the core, so compression and export stay installable alone."""
    assert ALLOWED["nasforge-torchutils"] == {"nasforge-core"}
    for dist in ("nasforge-compression", "nasforge-export", "nasforge-trainer", "nasforge-deploy"):
        assert "nasforge-torchutils" in _declared(dist)
    assert _violations("nasforge-torchutils") == []
