"""Hooks are called through pluggy: wrappers, tryfirst/trylast, monitoring and per-plugin attribution work."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

from nasforge.core.errors import PluginError, UserError
from nasforge.core.hookspecs import hookimpl
from nasforge.core.plugins import Component, PluginInfo, PluginManager


def _plugin(name, **hooks):
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, fn)
    return module


def test_a_wrapper_hook_implementation_runs_around_the_others_and_sees_their_results():
    pm = PluginManager()
    seen = []

    @hookimpl(wrapper=True)
    def nasforge_after_trial(experiment, trial):
        seen.append("wrapper before")
        results = yield
        seen.append(f"wrapper after {results}")
        return [*results, "from wrapper"]

    pm.register(_plugin("plain", nasforge_after_trial=hookimpl(lambda experiment, trial: seen.append("plain") or "plain result")), name="plain")
    pm.register(_plugin("wrapping", nasforge_after_trial=nasforge_after_trial), name="wrapping")
    results = pm.call_lifecycle("nasforge_after_trial", experiment=None, trial=None)
    assert seen == ["wrapper before", "plain", "wrapper after ['plain result']"]
    assert results == ["plain result", "from wrapper"]


def test_an_old_style_hookwrapper_runs_too():
    pm = PluginManager()
    seen = []

    @hookimpl(hookwrapper=True)
    def nasforge_before_experiment(experiment):
        seen.append("before")
        yield
        seen.append("after")

    pm.register(_plugin("inner", nasforge_before_experiment=hookimpl(lambda experiment: seen.append("inner"))), name="inner")
    pm.register(_plugin("outer", nasforge_before_experiment=nasforge_before_experiment), name="outer")
    pm.call_lifecycle("nasforge_before_experiment", experiment=None)
    assert seen == ["before", "inner", "after"]


def test_tryfirst_and_trylast_order_the_calls():
    pm = PluginManager()
    order = []
    pm.register(_plugin("last", nasforge_before_experiment=hookimpl(trylast=True)(lambda experiment: order.append("last"))), name="last")
    pm.register(_plugin("first", nasforge_before_experiment=hookimpl(tryfirst=True)(lambda experiment: order.append("first"))), name="first")
    pm.register(_plugin("a", nasforge_before_experiment=hookimpl(lambda experiment: order.append("a"))), name="a")
    pm.register(_plugin("b", nasforge_before_experiment=hookimpl(lambda experiment: order.append("b"))), name="b")
    pm.call_lifecycle("nasforge_before_experiment", experiment=None)
    assert order == ["first", "b", "a", "last"]  # pluggy: last registered first, then tryfirst/trylast


def test_a_tryfirst_provider_registers_before_the_others_and_a_duplicate_names_both_plugins():
    pm = PluginManager()
    pm.register(_plugin("one", nasforge_register_strategies=hookimpl(lambda register: register("s", object, "first one"))), name="one", distribution="dist-one")
    pm.register(_plugin("two", nasforge_register_strategies=hookimpl(tryfirst=True)(lambda register: register("s", object, "second one"))), name="two", distribution="dist-two")
    with pytest.raises(PluginError, match=r"registered twice: by plugin 'two' \(dist-two\) and by plugin 'one' \(dist-one\)"):
        pm.components("strategy")


def test_register_knows_which_plugin_registers_even_through_a_wrapper():
    pm = PluginManager()

    @hookimpl(wrapper=True)
    def nasforge_register_executors(register):
        register("from-wrapper", object, "registered by the wrapper")
        return (yield)

    pm.register(_plugin("p1", nasforge_register_executors=hookimpl(lambda register: register("x1", object, "one"))), name="p1", distribution="d1")
    pm.register(_plugin("p2", nasforge_register_executors=nasforge_register_executors), name="p2", distribution="d2")
    found = pm.components("executor")
    assert {n: c.plugin.distribution for n, c in found.items()} == {"x1": "d1", "from-wrapper": "d2"}


def test_errors_in_hooks_name_the_plugin_and_user_errors_pass_unchanged():
    pm = PluginManager()

    def broken(experiment):
        raise RuntimeError("disk full")

    pm.register(_plugin("broken", nasforge_before_experiment=hookimpl(broken)), name="broken", distribution="nasforge-broken")
    with pytest.raises(PluginError, match=r"plugin 'broken' \(nasforge-broken\) raised in nasforge_before_experiment: RuntimeError: disk full"):
        pm.call_lifecycle("nasforge_before_experiment", experiment=None)

    def mistaken(experiment):
        raise UserError("compress.variants[0].name: unknown compressor")

    pm2 = PluginManager()
    pm2.register(_plugin("strict", nasforge_before_experiment=hookimpl(mistaken)), name="strict")
    with pytest.raises(UserError, match="unknown compressor") as info:
        pm2.call_lifecycle("nasforge_before_experiment", experiment=None)
    assert not isinstance(info.value, PluginError)


def test_hook_call_monitoring_traces_calls():
    pm = PluginManager()
    pm.register(_plugin("p", nasforge_before_experiment=hookimpl(lambda experiment: None)), name="p")
    lines: list[str] = []
    undo = pm.trace_hooks(lines.append)
    pm.call_lifecycle("nasforge_before_experiment", experiment=None)
    undo()
    pm.call_lifecycle("nasforge_before_experiment", experiment=None)
    assert lines == ["hook nasforge_before_experiment(experiment) -> p", "hook nasforge_before_experiment done"]


def test_the_trace_environment_switch_prints_hook_calls_of_the_cli(tmp_path):
    env = {"NASFORGE_TRACE_HOOKS": "1", "PATH": "", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", "from nasforge.core.cli import main; main(['plugins', '--kind', 'executor'])"], capture_output=True, text=True, env={**_inherit(), **env}, timeout=300)
    assert "hook nasforge_register_executors(register) ->" in out.stderr and "nasforge.core" in out.stderr


def _inherit() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k.startswith(("PYTHON", "VIRTUAL_ENV", "NASFORGE_PLUGINS"))}


def test_a_component_registered_by_reference_is_imported_on_first_use():
    pm = PluginManager()
    pm.register(_plugin("lazy", nasforge_register_executors=hookimpl(lambda register: register("lazy", "nasforge.core.executor:SequentialExecutor", "by reference"))), name="lazy")
    component = pm.components("executor")["lazy"]
    assert component.target == "nasforge.core.executor:SequentialExecutor"
    from nasforge.core.executor import SequentialExecutor

    assert pm.get("executor", "lazy") is SequentialExecutor


def test_a_broken_reference_is_an_error_naming_the_plugin():
    component = Component("executor", "bad", "nasforge.core.nothing_here:Cls", "broken", PluginInfo("bad-plugin", "nasforge-bad", "1.0"))
    with pytest.raises(PluginError, match=r"plugin 'bad-plugin' \(nasforge-bad\) registered executor 'bad' as 'nasforge.core.nothing_here:Cls'"):
        component.obj  # noqa: B018


def test_create_builds_a_component_with_checked_options():
    from nasforge.core.errors import ConfigError

    pm = PluginManager().load_default()
    executor = pm.create("executor", "process", {"workers": 2})
    assert type(executor).__name__ == "LocalProcessExecutor" and executor.parallelism == 2
    with pytest.raises(ConfigError, match=r"executor\.process\.wokers: unknown option for executor 'process' \(did you mean 'workers'\?\)"):
        pm.create("executor", "process", {"wokers": 2})
    with pytest.raises(ConfigError, match=r"^my\.field\.x: "):
        pm.create("executor", "sequential", {"x": 1}, field="my.field")


def test_scoring_ranks_stored_trials_without_an_experiment():
    from nasforge.core import scoring
    from nasforge.core.config import validate_config
    from nasforge.core.records import Architecture, Trial, TrialState

    config = validate_config({"name": "s", "space": {"choices": [{"name": "x", "values": [1, 2, 3]}]}, "evaluator": {"name": "function", "options": {"function": "math:fabs"}},
                              "objectives": [{"metric": "acc", "direction": "maximize"}, {"metric": "ms", "direction": "minimize"}]})

    def trial(n, acc, ms, fidelity=None):
        return Trial(number=n, architecture=Architecture({"x": n}), state=TrialState.COMPLETE, metrics={"acc": acc, "ms": ms}, fidelity=fidelity)

    trials = [trial(0, 0.9, 5.0), trial(1, 0.8, 1.0), trial(2, 0.7, 3.0), trial(3, 0.99, 9.0, fidelity=1.0)]
    assert scoring.best_trial(config, trials).number == 0  # full fidelity beats a better low-fidelity score
    assert [t.number for t in scoring.ranked(config, trials)] == [0, 1, 2, 3]
    assert [t.number for t in scoring.pareto_trials(config, trials)] == [0, 1]  # trial 2 is dominated by 1
    assert scoring.observation(config, trials[1]).objectives == (0.8, -1.0)


def test_tables_show_the_metrics_plugins_name_and_links_they_give(tmp_path, capsys):
    """Core's CLI knows no evaluator's metric names or folders: plugins name them through hooks."""
    from nasforge.core.cli import main

    plugin = types.ModuleType("nasforge_links_plugin")
    plugin.nasforge_summary_metrics = hookimpl(lambda config: ["bonus", "never_reported"])
    plugin.nasforge_experiment_links = hookimpl(lambda experiment: [f"look at {experiment.directory.name}/extra"])
    sys.modules["nasforge_links_plugin"] = plugin
    config = tmp_path / "c.yaml"
    config.write_text(
        "name: links\nspace: {choices: [{name: x, values: [1, 2]}]}\nstrategy: {name: seeded_random}\n"
        "evaluator: {name: function, options: {function: 'nasforge_links_fn:score'}}\nobjectives: [{metric: y, direction: maximize}]\n"
        f"budget: {{trials: 2}}\noutput: {tmp_path}\nplugins: [nasforge_test_plugin, nasforge_links_plugin]\n"
    )
    (tmp_path / "nasforge_links_fn.py").write_text("def score(arch):\n    return {'y': arch['x'], 'bonus': 10 * arch['x'], 'hidden': 1.0}\n")
    sys.path.insert(0, str(tmp_path))
    try:
        assert main(["run", str(config), "--quiet"]) == 0
    finally:
        from nasforge.core.plugins import get_plugin_manager

        sys.path.remove(str(tmp_path))
        sys.modules.pop("nasforge_links_plugin", None)
        get_plugin_manager().unregister("nasforge_links_plugin")
    out = capsys.readouterr().out
    assert "bonus" in out and "hidden" not in out and "never_reported" not in out
    assert "/extra" in out and "look at links-" in out
