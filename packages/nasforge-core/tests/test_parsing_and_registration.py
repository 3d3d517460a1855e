"""The core's one home for the small text forms (references, shapes, JSON flags) and for
registering a plugin's components from a table."""

from __future__ import annotations

import sys

import pytest

from nasforge.core.errors import ConfigError, PluginError
from nasforge.core.parsing import import_reference, load_reference, parse_json_option, parse_shape
from nasforge.core.plugins import PluginManager
from nasforge.core.registration import KINDS, ComponentTable


def test_references_resolve_dotted_attributes():
    import os.path

    assert import_reference("os.path:join") is os.path.join
    assert load_reference("collections:OrderedDict.fromkeys", "f").__name__ == "fromkeys"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("tiny_cnn", "expected 'package.module:function'"),
        ("no_such_module_xyz:f", "cannot import module 'no_such_module_xyz'"),
        ("os.path:no_such_thing", "module 'os.path' has no attribute 'no_such_thing'"),
        ("os:sep", "'os:sep' is not callable"),
    ],
)
def test_reference_mistakes_are_one_line_config_errors_naming_the_field(reference, message):
    with pytest.raises(ConfigError, match="^--model-factory: ") as info:
        load_reference(reference, "--model-factory")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_module_that_fails_while_importing_is_named(tmp_path, monkeypatch):
    (tmp_path / "broken_factory_mod.py").write_text("raise RuntimeError('boom at import')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    with pytest.raises(ConfigError, match="RuntimeError: boom at import"):
        load_reference("broken_factory_mod:f", "--model-factory")


def test_a_module_in_the_current_folder_is_found_only_when_asked(tmp_path, monkeypatch):
    (tmp_path / "cwd_only_mod.py").write_text("def score(arch):\n    return {'accuracy': 1.0}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    with pytest.raises(ModuleNotFoundError):
        import_reference("cwd_only_mod:score")  # plugins' references: installed packages only
    assert load_reference("cwd_only_mod:score", "evaluator.options.function")({}) == {"accuracy": 1.0}
    assert sys.path[-1] == str(tmp_path)  # appended, never in front of installed packages


@pytest.mark.parametrize(("text", "shape"), [("3,32,32", (3, 32, 32)), ("3x32x32", (3, 32, 32)), (" 1, 8 ,8 ", (1, 8, 8)), ([3, 4], (3, 4))])
def test_shapes(text, shape):
    assert parse_shape(text) == shape


@pytest.mark.parametrize("text", ["3,a,8", "", "3,0,8", "-1"])
def test_bad_shapes_name_the_flag(text):
    with pytest.raises(ConfigError, match="^--input-shape: must be"):
        parse_shape(text)


def test_json_options_must_be_objects():
    assert parse_json_option('{"num_classes": 3}', "--model-kwargs") == {"num_classes": 3}
    with pytest.raises(ConfigError, match=r"^--model-kwargs: is not valid JSON"):
        parse_json_option("{bad", "--model-kwargs")
    with pytest.raises(ConfigError, match="must be a JSON object"):
        parse_json_option("[1, 2]", "--arch")


def test_a_component_table_writes_the_provider_hooks(tmp_path):
    import types

    table = ComponentTable([
        ("executor", "later", "nasforge.core.executor:SequentialExecutor", "registered by reference"),
        ("command", "hello", "nasforge.core.cli:RunCommand", "say hello"),
        ("executor", "now", object, "the object itself"),
    ])
    plugin = types.ModuleType("table_plugin")
    plugin.nasforge_register_executors = table.hook("executor")
    plugin.nasforge_register_commands = table.hook("command")
    assert plugin.nasforge_register_executors.__name__ == KINDS["executor"]
    pm = PluginManager()
    pm.register(plugin, distribution="table-dist")
    pm.check()
    executors = pm.components("executor")
    assert list(executors) == ["later", "now"]  # table order
    assert executors["later"].target == "nasforge.core.executor:SequentialExecutor"  # not imported yet
    assert executors["later"].plugin.distribution == "table-dist" and executors["later"].description == "registered by reference"
    assert executors["now"].obj is object
    from nasforge.core.executor import SequentialExecutor

    assert executors["later"].obj is SequentialExecutor
    assert list(pm.components("command")) == ["hello"] and pm.components("strategy") == {}


def test_a_component_table_refuses_unknown_kinds_and_short_rows():
    with pytest.raises(ValueError, match="kind one of"):
        ComponentTable([("strategie", "x", "m:x", "")])
    with pytest.raises(ValueError, match="kind one of"):
        ComponentTable([("strategy", "x", "m:x")])
    with pytest.raises(ValueError, match="unknown component kind"):
        ComponentTable([]).hook("nope")


def test_a_broken_reference_in_a_table_names_the_plugin():
    import types

    plugin = types.ModuleType("broken_table_plugin")
    plugin.nasforge_register_executors = ComponentTable([("executor", "gone", "no_such_module_xyz:X", "d")]).hook("executor")
    pm = PluginManager()
    pm.register(plugin, distribution="broken-dist")
    with pytest.raises(PluginError, match="broken_table_plugin.*broken-dist.*no_such_module_xyz"):
        pm.get("executor", "gone")
