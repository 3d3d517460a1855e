import inspect
import types

import pytest

from nasforge.core import hookspecs
from nasforge.core.errors import PluginError, UnknownComponentError
from nasforge.core.hookspecs import hookimpl
from nasforge.core.plugins import KINDS, PluginManager


def _spec_functions():
    return {name: fn for name, fn in vars(hookspecs).items() if name.startswith("nasforge_") and callable(fn)}


def test_every_hook_is_documented_with_its_parameters():
    specs = _spec_functions()
    assert len(specs) >= 14
    for name, fn in specs.items():
        doc = inspect.getdoc(fn) or ""
        assert len(doc.splitlines()[0]) > 10, f"{name} has no summary line"
        for param in inspect.signature(fn).parameters:
            assert f":param {param}:" in doc, f"{name} does not document parameter {param!r}"


def test_every_provider_hook_has_a_registry_kind():
    providers = {n for n in _spec_functions() if n.startswith("nasforge_register_")}
    assert providers == set(KINDS.values())


def _plugin(name, **hooks):
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, hookimpl(fn))
    return module


def test_builtins_register_through_the_same_hooks(pm):
    assert "sequential" in pm.components("executor")
    assert pm.components("command")["run"].plugin.distribution == "nasforge-core"
    assert pm.components("strategy")["seeded_random"].plugin.name == "nasforge_test_plugin"


def test_duplicate_names_are_an_error_naming_both_plugins():
    manager = PluginManager()
    manager.register(_plugin("first", nasforge_register_strategies=lambda register: register("same", object)), distribution="dist-one")
    manager.register(_plugin("second", nasforge_register_strategies=lambda register: register("same", object)), distribution="dist-two")
    with pytest.raises(PluginError) as err:
        manager.components("strategy")
    assert "first" in str(err.value) and "second" in str(err.value) and "dist-two" in str(err.value)


def test_a_misspelt_hook_fails_loudly():
    manager = PluginManager()
    manager.register(_plugin("typo", nasforge_register_strategys=lambda register: None))
    with pytest.raises(PluginError, match="nasforge_register_strategys"):
        manager.check()


def test_a_plugin_that_raises_is_named():
    def broken(register):
        raise RuntimeError("boom")

    manager = PluginManager()
    manager.register(_plugin("bad", nasforge_register_evaluators=broken), distribution="bad-dist")
    with pytest.raises(PluginError, match=r"'bad' \(bad-dist\).*boom"):
        manager.components("evaluator")


def test_a_lifecycle_hook_that_raises_is_named():
    def after(experiment, trial):
        raise ValueError("nope")

    manager = PluginManager()
    manager.register(_plugin("noisy", nasforge_after_trial=after), distribution="noisy-dist")
    with pytest.raises(PluginError, match="noisy.*nasforge_after_trial.*nope"):
        manager.call_lifecycle("nasforge_after_trial", experiment=None, trial=None)


def test_unknown_component_suggests_the_closest_name(pm):
    with pytest.raises(UnknownComponentError, match="did you mean 'seeded_random'"):
        pm.get("strategy", "seeded_randon")


class _FakeDist:
    def __init__(self, name):
        self.metadata = {"Name": name}
        self.version = "9.9"


class _FakeEntryPoint:
    def __init__(self, name, dist, module):
        self.name, self.dist, self._module = name, _FakeDist(dist), module

    def load(self):
        if isinstance(self._module, Exception):
            raise self._module
        return self._module


def _fake_entry_points(monkeypatch, eps):
    import nasforge.core.plugins as plugins

    monkeypatch.setattr(plugins.md, "entry_points", lambda group: eps if group == "nasforge" else [])


def test_autoload_can_be_disabled_for_third_party_plugins_but_not_builtins(monkeypatch):
    first_party = _plugin("fp", nasforge_register_executors=lambda register: register("fp-exec", object))
    third_party = _plugin("tp", nasforge_register_executors=lambda register: register("tp-exec", object))
    _fake_entry_points(monkeypatch, [_FakeEntryPoint("fp", "nasforge-trainer", first_party), _FakeEntryPoint("tp", "someone-else", third_party)])
    monkeypatch.setenv("NASFORGE_DISABLE_PLUGIN_AUTOLOAD", "1")
    manager = PluginManager().load_default()
    assert "fp-exec" in manager.components("executor") and "tp-exec" not in manager.components("executor")
    monkeypatch.delenv("NASFORGE_DISABLE_PLUGIN_AUTOLOAD")
    manager = PluginManager().load_default()
    assert {"fp-exec", "tp-exec"} <= set(manager.components("executor"))
    assert manager.components("executor")["tp-exec"].plugin.distribution == "someone-else"


def test_a_plugin_that_fails_to_import_is_reported_and_the_rest_still_load(monkeypatch):
    good = _plugin("good", nasforge_register_executors=lambda register: register("good-exec", object))
    _fake_entry_points(monkeypatch, [_FakeEntryPoint("broken", "broken-dist", ImportError("no module named x")), _FakeEntryPoint("good", "good-dist", good)])
    with pytest.warns(UserWarning, match="broken-dist"):
        manager = PluginManager().load_default()
    assert "good-exec" in manager.components("executor")
    assert any("broken" in e for e in manager.load_errors)
    with pytest.raises(PluginError, match="broken-dist"):
        PluginManager().load_entry_points(strict=True)


def test_a_user_mistake_found_by_a_lifecycle_hook_stays_a_user_error():
    from nasforge.core.errors import ConfigError

    def before(experiment):
        raise ConfigError("compress.variants", "unknown compressor")

    manager = PluginManager()
    manager.register(_plugin("checker", nasforge_before_experiment=before))
    with pytest.raises(ConfigError, match="compress.variants"):
        manager.call_lifecycle("nasforge_before_experiment", experiment=None)
