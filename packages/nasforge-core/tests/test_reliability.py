"""Reliability: one writer per folder, bounded configs, no traceback for any failure, kill/SIGTERM/disk full.

Each test reproduces one finding of the reliability review (issue 10); docs/reliability.md lists
what is guaranteed and points here.
"""

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import synthetic_config

from nasforge.core.cli import main
from nasforge.core.config import validate_config
from nasforge.core.errors import ConfigError
from nasforge.core.experiment import Experiment
from nasforge.core.records import TrialState
from nasforge.core.store import Store

CLI = [sys.executable, "-m", "nasforge.core.cli"]


@pytest.fixture(autouse=True)
def _test_plugin(monkeypatch):
    monkeypatch.setenv("NASFORGE_PLUGINS", "nasforge_test_plugin")
    monkeypatch.delenv("NASFORGE_TEST_BREAK", raising=False)


def write_config(tmp_path, **overrides):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(synthetic_config(tmp_path, **overrides)))
    return path


def meta(folder, key):
    with Store(folder, read_only=True) as store:
        return store.get_meta(key)


def one_error_line(err, prefix="error:"):
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, err
    return lines[0]


def wait_for_trials(folder, n, proc, timeout=240):  # the CLI's start-up is slow on a loaded machine
    deadline = time.time() + timeout
    while time.time() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else "the run ended early"
        try:
            with Store(folder, read_only=True) as store:
                if len([t for t in store.trials() if t.state is TrialState.COMPLETE]) >= n:
                    return
        except Exception:
            pass
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} trials after {timeout} s")


# -- 1. one writer per experiment ------------------------------------------------------------------
def test_a_second_writer_is_refused_in_process_and_the_lock_is_released_on_close(tmp_path, pm):
    from nasforge.core.lock import ExperimentLocked

    experiment = Experiment.create(validate_config(synthetic_config(tmp_path, budget={"trials": 2})), plugin_manager=pm)
    with pytest.raises(ExperimentLocked, match=f"PID {os.getpid()}"):
        Experiment.resume(experiment.directory, plugin_manager=pm)
    experiment.run()
    experiment.close()
    again = Experiment.resume(experiment.directory, plugin_manager=pm, budget_trials=3)
    assert len(again.run().trials) == 3
    again.close()


def test_a_running_experiment_refuses_a_second_process_stays_readable_and_its_lock_dies_with_it(tmp_path, subprocess_env):
    config = write_config(tmp_path, budget={"trials": 200}, evaluator={"name": "synthetic", "options": {"sleep": 0.3}},
                          space={"choices": [{"name": "a", "type": "int", "low": 0, "high": 999}]})
    folder = tmp_path / "exp"
    run = subprocess.Popen([*CLI, "run", str(config), "--dir", str(folder), "--quiet"], env=subprocess_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_trials(folder, 2, run)
        second = subprocess.run([*CLI, "resume", str(folder), "--quiet"], env=subprocess_env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 2, second.stderr
        assert f"in use by PID {run.pid}" in one_error_line(second.stderr)
        again = subprocess.run([*CLI, "run", str(config), "--dir", str(folder)], env=subprocess_env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 2 and "already holds an experiment" in again.stderr
        status = subprocess.run([*CLI, "status", str(folder), "--json"], env=subprocess_env, capture_output=True, text=True, timeout=300)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["status"] == "running"
        # 7. the elapsed time is saved with every trial, not only at the end
        assert meta(folder, "elapsed") > 0
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    # The OS released the lock with the process: resume goes ahead although the lock file is left.
    assert (folder / "nasforge.lock").exists()
    # (a budget below what is done: only the trial that was in flight runs again)
    resumed = subprocess.run([*CLI, "resume", str(folder), "--trials", "1", "--quiet"], env=subprocess_env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert meta(folder, "status") == "finished"


# -- 3. rich markup in plugin and user text -------------------------------------------------------
def test_square_brackets_in_errors_and_architectures_are_printed_not_parsed(tmp_path, pm, monkeypatch):
    from rich.console import Console

    import nasforge.core.cli as cli
    from nasforge.core.progress import ProgressReporter

    space = {"choices": [{"name": "a", "type": "int", "low": 0, "high": 3}, {"name": "b", "values": ["[/conv2]", "[bold]y"]}]}
    options = {"fail_on": [1], "fail_message": "shape mismatch [/conv2] at [red]"}
    config = validate_config(synthetic_config(tmp_path, space=space, budget={"trials": 8}, evaluator={"name": "synthetic", "options": options}))
    experiment = Experiment.create(config, plugin_manager=pm)
    terminal = io.StringIO()
    reporter = ProgressReporter(console=Console(file=terminal, force_terminal=True, width=200), live=True)
    pm.register(reporter, name="live-progress")
    result = experiment.run()
    assert "[/conv2] at [red]" in terminal.getvalue()
    out = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=out, width=300))
    cli.print_summary(experiment, result)
    assert "b=[/conv2]" in out.getvalue() or "b=[bold]y" in out.getvalue()
    experiment.close()
    out.truncate(0)
    assert main(["status", str(experiment.directory)]) == 0
    assert "shape mismatch [/conv2] at [red]" in out.getvalue()


# -- 4. bounded YAML -------------------------------------------------------------------------------
BOMB = "".join(f"{c}: &{c} [" + ",".join([f"*{p}"] * 9 if p.strip() else ["x"] * 9) + "]\n" for p, c in zip(" abcdefgh", "abcdefghi"))


@pytest.mark.parametrize("text, words", [
    (BOMB, "expands to more than"),
    ("a: " + "[" * 5000 + "]" * 5000, "nested more than"),
    ("a:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 80)), "nested more than"),
    ("x: 1\n" + "#" * 1_100_000, "larger than"),
], ids=["alias-bomb", "deep-flow", "deep-block", "oversized"])
def test_a_hostile_yaml_config_is_refused_within_a_second_with_exit_2(tmp_path, capsys, text, words):
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    from nasforge.core.config import load_config

    start = time.time()
    with pytest.raises(ConfigError, match=words):
        load_config(path)
    assert time.time() - start < 1.0  # (the CLI's own start-up, loading plugins, is not counted)
    assert main(["run", str(path), "--quiet"]) == 2
    assert words in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "runs").exists()


# -- 5. values checked before they are stored -----------------------------------------------------
def test_an_invalid_trial_budget_on_resume_is_refused_and_not_stored(tmp_path, pm, capsys):
    experiment = Experiment.create(validate_config(synthetic_config(tmp_path, budget={"trials": 2})), plugin_manager=pm)
    experiment.run()
    experiment.close()
    for bad in ("0", "-3"):
        assert main(["resume", str(experiment.directory), "--trials", bad, "--quiet"]) == 2
        assert "--trials" in one_error_line(capsys.readouterr().err)
    assert meta(experiment.directory, "config")["budget"]["trials"] == 2
    assert main(["status", str(experiment.directory)]) == 0


@pytest.mark.parametrize("field, value, words", [
    ("seed", -1, "seed"),
    ("seed", 2**70, "seed"),
    ("constraints", [{"metric": "latency_ms", "op": "<=", "value": float("nan")}], "constraints.0.value"),
    ("constraints", ["latency_ms <= 1e999"], "constraints.0.value"),
])
def test_out_of_range_seeds_and_non_finite_constraints_are_config_errors(tmp_path, field, value, words):
    with pytest.raises(ConfigError) as info:
        validate_config(synthetic_config(tmp_path, **{field: value}))
    assert info.value.field.startswith(words.split(".")[0]) and words in str(info.value)


# -- 6. failures end in one line, a status and a distinct exit code --------------------------------
@pytest.mark.parametrize("where", ["init", "ask", "tell"])
def test_a_strategy_that_raises_is_named_and_the_experiment_is_marked_failed(tmp_path, capsys, monkeypatch, where):
    monkeypatch.setenv("NASFORGE_TEST_BREAK", where)
    config = write_config(tmp_path, strategy={"name": "broken", "options": {"after": 2}}, budget={"trials": 5})
    folder = tmp_path / "exp"
    assert main(["run", str(config), "--dir", str(folder), "--quiet"]) == 3
    line = one_error_line(capsys.readouterr().err, "plugin error:")
    assert "strategy 'broken' (plugin 'nasforge_test_plugin'" in line and f"broken on purpose in {where.replace('init', '__init__')}" in line
    if where == "init":
        return  # nothing was created
    assert meta(folder, "status") == "failed" and "broken on purpose" in meta(folder, "reason")
    with Store(folder, read_only=True) as store:
        before = {t.number: t for t in store.trials() if t.state is TrialState.COMPLETE}
    if where == "tell":
        assert len(before) == 3, "the result of the trial whose tell raised is kept"
    monkeypatch.delenv("NASFORGE_TEST_BREAK")
    assert main(["resume", str(folder), "--quiet"]) == 0
    with Store(folder, read_only=True) as store:
        after = store.trials()
        assert store.untold() == []
    assert len(after) == 5 and all(t.state is TrialState.COMPLETE for t in after)
    assert all(after[n].finished_at == t.finished_at for n, t in before.items()), "a finished trial was evaluated again"


def test_an_evaluator_whose_setup_raises_is_named(tmp_path, capsys):
    config = write_config(tmp_path, evaluator={"name": "synthetic", "options": {"setup_error": "GPU [0] vanished"}})
    folder = tmp_path / "exp"
    assert main(["run", str(config), "--dir", str(folder), "--quiet"]) == 3
    line = one_error_line(capsys.readouterr().err, "plugin error:")
    assert "evaluator 'synthetic' (plugin 'nasforge_test_plugin'" in line and "setup" in line and "GPU [0] vanished" in line
    assert meta(folder, "status") == "failed"


def test_resuming_a_non_deterministic_strategy_is_one_line_naming_it(tmp_path, capsys):
    config = write_config(tmp_path, strategy={"name": "unseeded"}, budget={"trials": 3})
    folder = tmp_path / "exp"
    assert main(["run", str(config), "--dir", str(folder), "--quiet"]) == 0
    capsys.readouterr()
    code = main(["resume", str(folder), "--trials", "6", "--quiet"])
    line = one_error_line(capsys.readouterr().err, "plugin error:")
    assert code == 3 and "strategy 'unseeded'" in line and "not deterministic" in line


def test_a_full_disk_stops_the_run_cleanly_and_resume_continues_after_space_is_freed(tmp_path, pm):
    from nasforge.core.errors import StorageError

    space = {"choices": [{"name": "a", "type": "int", "low": 0, "high": 999}]}
    experiment = Experiment.create(validate_config(synthetic_config(tmp_path, space=space, budget={"trials": 40})), plugin_manager=pm)
    db = experiment.store._db
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages + 1}")  # SQLite answers 'database or disk is full' past it
    with pytest.raises(StorageError, match="full"):
        experiment.run()
    experiment.close()
    with Store(experiment.directory, read_only=True) as store:
        done = [t for t in store.trials() if t.state is TrialState.COMPLETE]
    assert 0 < len(done) < 40
    resumed = Experiment.resume(experiment.directory, plugin_manager=pm)
    result = resumed.run()
    assert len(result.trials) == 40 and all(t.state is TrialState.COMPLETE for t in result.trials)
    assert all(result.trials[t.number].finished_at == t.finished_at for t in done)
    resumed.close()


def test_a_damaged_database_is_one_line_not_a_traceback(tmp_path, pm, capsys):
    experiment = Experiment.create(validate_config(synthetic_config(tmp_path, budget={"trials": 20})), plugin_manager=pm)
    experiment.run()
    experiment.close()
    path = experiment.directory / "nasforge.db"
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(page, len(data), page):  # every page but the header's
        data[start : start + page] = os.urandom(page)
    path.write_bytes(bytes(data))
    code = main(["status", str(experiment.directory)])
    assert code in (2, 4)
    assert "nasforge.db" in one_error_line(capsys.readouterr().err)


# -- 7. the time budget survives a kill ----------------------------------------------------------
def test_elapsed_time_is_committed_with_every_trial(tmp_path, pm):
    from nasforge.core.hookspecs import hookimpl

    seen = []

    class Watch:
        @hookimpl
        def nasforge_after_trial(self, experiment, trial):
            seen.append(meta(experiment.directory, "elapsed"))

    pm.register(Watch(), name="watch")
    run_config = synthetic_config(tmp_path, budget={"trials": 3}, evaluator={"name": "synthetic", "options": {"sleep": 0.1}})
    Experiment.create(validate_config(run_config), plugin_manager=pm).run()
    assert len(seen) == 3 and 0.1 <= seen[0] < seen[1] < seen[2]


# -- 8. SIGTERM is handled like Ctrl-C -----------------------------------------------------------
def test_sigterm_saves_the_state_says_how_to_resume_and_exits_143(tmp_path, subprocess_env):
    config = write_config(tmp_path, budget={"trials": 200}, evaluator={"name": "synthetic", "options": {"sleep": 0.3}},
                          space={"choices": [{"name": "a", "type": "int", "low": 0, "high": 999}]})
    folder = tmp_path / "exp"
    run = subprocess.Popen([*CLI, "run", str(config), "--dir", str(folder), "--quiet"], env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_trials(folder, 2, run)
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=300)
    assert run.returncode == 143, err
    assert "Traceback" not in err and f"nasforge resume {folder}" in out
    assert meta(folder, "status") == "interrupted" and "SIGTERM" in meta(folder, "reason")


# -- 9. trial_timeout holds without the evaluator's help ----------------------------------------
def test_the_sequential_executor_stops_a_trial_that_never_checks_its_deadline(tmp_path, pm, monkeypatch):
    import nasforge.core.executor as executor

    monkeypatch.setattr(executor, "HARD_TIMEOUT_GRACE", 0.5)
    space = {"choices": [{"name": "a", "type": "int", "low": 6, "high": 8}]}
    start = time.time()
    _, result = None, Experiment.create(validate_config(synthetic_config(
        tmp_path, space=space, budget={"trials": 3}, trial_timeout=1, evaluator={"name": "synthetic", "options": {"block_on": [7]}}
    )), plugin_manager=pm).run()
    by_a = {t.architecture["a"]: t for t in result.trials}
    assert by_a[7].state is TrialState.FAILED and "time limit" in by_a[7].error
    assert by_a[6].state is TrialState.COMPLETE and by_a[8].state is TrialState.COMPLETE
    assert time.time() - start < 30  # the blocked trial sleeps 60 s


def test_an_in_process_sequential_run_with_a_timeout_is_an_explicit_choice(tmp_path, pm):
    config = synthetic_config(tmp_path, trial_timeout=1, executor={"name": "sequential", "options": {"isolate": False}})
    experiment = Experiment.create(validate_config(config), plugin_manager=pm)
    assert experiment.executor.in_process and not experiment.executor.kills_hung_trials
    experiment.close()


# -- 10. parallel workers give the same search ---------------------------------------------------
def test_the_process_executor_gives_the_same_search_whatever_order_workers_finish_in(tmp_path, pm):
    def sequence(sub):
        options = {"sleep": 0.01, "jitter": 0.15}
        config = synthetic_config(tmp_path / sub, strategy={"name": "hill"}, seed=5, budget={"trials": 10},
                                  evaluator={"name": "synthetic", "options": options}, executor={"name": "process", "options": {"workers": 2}})
        experiment = Experiment.create(validate_config(config), plugin_manager=pm)
        result = experiment.run()
        experiment.close()
        finish_order = [t.number for t in sorted(result.trials, key=lambda t: t.finished_at)]
        return [t.architecture for t in result.trials], finish_order

    first, order1 = sequence("one")
    second, order2 = sequence("two")
    third, order3 = sequence("three")
    assert first == second == third
    assert len({tuple(order1), tuple(order2), tuple(order3)}) > 1 or order1 != sorted(order1), "workers finished in the same order every time; the test shows nothing"


# -- 11. smaller ones -------------------------------------------------------------------------------
def test_status_never_writes_not_even_to_an_empty_or_foreign_file(tmp_path, capsys):
    db = tmp_path / "nasforge.db"
    db.write_bytes(b"")
    assert main(["status", str(tmp_path)]) == 2
    assert "not a nasforge database" in one_error_line(capsys.readouterr().err)
    assert db.read_bytes() == b"" and sorted(p.name for p in tmp_path.iterdir()) == ["nasforge.db"]


def test_resume_of_a_missing_folder_names_it(tmp_path, capsys):
    missing = tmp_path / "nonexistent"
    assert main(["resume", str(missing)]) == 2
    assert repr(str(missing)) in one_error_line(capsys.readouterr().err)


def test_a_folder_killed_while_being_created_can_be_started_again(tmp_path, capsys):
    folder = tmp_path / "exp"
    folder.mkdir()
    Store(folder, create=True).close()  # what a kill right after nasforge.db appeared leaves
    assert main(["resume", str(folder)]) == 2
    assert "interrupted while it was being created" in one_error_line(capsys.readouterr().err)
    config = write_config(tmp_path, budget={"trials": 2})
    assert main(["run", str(config), "--dir", str(folder), "--quiet"]) == 0
    assert meta(folder, "status") == "finished"


def test_an_unwritable_database_is_reported_as_such(tmp_path, pm, capsys, monkeypatch):
    experiment = Experiment.create(validate_config(synthetic_config(tmp_path, budget={"trials": 2})), plugin_manager=pm)
    experiment.run()
    experiment.close()
    import nasforge.core.store as store_module

    real = sqlite3.connect

    def read_only(path, *args, **kwargs):  # what a read-only folder or file gives (root ignores chmod)
        if not kwargs.get("uri"):
            return real(Path(path).resolve().as_uri() + "?mode=ro", *args, uri=True, **kwargs)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(store_module.sqlite3, "connect", read_only)
    code = main(["resume", str(experiment.directory), "--trials", "3", "--quiet"])
    line = one_error_line(capsys.readouterr().err)
    assert code in (2, 4) and "cannot write" in line and "not a nasforge database" not in line


def test_an_unknown_plugins_module_is_a_config_error(tmp_path, capsys):
    config = write_config(tmp_path, plugins=["no_such_nasforge_plugin"])
    assert main(["run", str(config), "--quiet"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "plugins" in line and "no_such_nasforge_plugin" in line


# -- 2. 'finished' only once the after-search steps are done -------------------------------------
def test_the_status_is_finished_only_after_the_after_search_hooks_and_a_failed_one_is_resumed(tmp_path, pm):
    from nasforge.core.errors import PluginError
    from nasforge.core.hookspecs import hookimpl

    seen = []

    class Deploy:
        fail = True

        @hookimpl
        def nasforge_after_experiment(self, experiment, result):
            seen.append(meta(experiment.directory, "status"))
            if self.fail:
                raise OSError("disk vanished during export")

    deploy = Deploy()
    pm.register(deploy, name="deploy-step")
    experiment = Experiment.create(validate_config(synthetic_config(tmp_path, budget={"trials": 3})), plugin_manager=pm)
    with pytest.raises(PluginError, match="deploy-step"):
        experiment.run()
    experiment.close()
    assert seen == ["finishing"]
    assert meta(experiment.directory, "status") == "failed" and "disk vanished" in meta(experiment.directory, "reason")
    deploy.fail = False
    resumed = Experiment.resume(experiment.directory, plugin_manager=pm)
    result = resumed.run()
    resumed.close()
    assert len(result.trials) == 3 and seen == ["finishing", "finishing"]
    assert meta(experiment.directory, "status") == "finished"
