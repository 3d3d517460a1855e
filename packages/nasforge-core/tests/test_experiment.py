import json
import math
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import yaml
from conftest import synthetic_config

from nasforge.core.config import validate_config
from nasforge.core.experiment import Experiment
from nasforge.core.records import TrialState
from nasforge.core.store import Store


def run(tmp_path, pm, **overrides):
    config = validate_config(synthetic_config(tmp_path, **overrides))
    experiment = Experiment.create(config, plugin_manager=pm)
    return experiment, experiment.run()


def test_a_search_runs_to_its_budget_and_finds_the_best(tmp_path, pm):
    experiment, result = run(tmp_path, pm, budget={"trials": 20})
    assert len(result.trials) == 20 and all(t.state is TrialState.COMPLETE for t in result.trials)
    best_accuracy = max(t.metrics["accuracy"] for t in result.trials)
    assert result.best.metrics["accuracy"] == best_accuracy
    saved = json.loads((experiment.directory / "result.json").read_text())
    assert saved["best"]["number"] == result.best.number and saved["counts"] == {"complete": 20}
    assert (experiment.directory / "config.yaml").exists()


def test_extra_choices_extend_the_space_and_reach_every_trial(tmp_path, pm):
    space = {"choices": [{"name": "a", "type": "int", "low": 0, "high": 9}], "extra_choices": [{"name": "p", "values": [0.0, 0.5]}]}
    experiment, result = run(tmp_path, pm, space=space, budget={"trials": 8})
    assert [c.name for c in experiment.space.choices] == ["a", "p"] and experiment.space.size() == 20
    assert {t.architecture["p"] for t in result.trials} == {0.0, 0.5}


def test_the_space_running_out_ends_the_search(tmp_path, pm):
    _, result = run(tmp_path, pm, budget={"trials": 100})
    assert len(result.trials) == 20 and "exhausted" in result.stop_reason
    assert len({t.architecture for t in result.trials}) == 20


def test_failures_nan_and_timeouts_are_recorded_and_the_search_goes_on(tmp_path, pm):
    options = {"fail_on": [1, 2], "nan_on": [3], "hang_on": [4]}
    experiment, result = run(tmp_path, pm, evaluator={"name": "synthetic", "options": options}, budget={"trials": 20}, trial_timeout=0.3)
    by_a = {}
    for t in result.trials:
        by_a.setdefault(t.architecture["a"], []).append(t)
    assert all(t.state is TrialState.FAILED and "configured to fail" in t.error for a in (1, 2) for t in by_a[a])
    assert all(t.state is TrialState.FAILED and "not finite" in t.error for t in by_a[3])
    assert all(t.state is TrialState.FAILED and "time limit" in t.error for t in by_a[4])
    assert sum(t.state is TrialState.COMPLETE for t in result.trials) == 12
    failed = next(t for t in result.trials if t.state is TrialState.FAILED and t.architecture["a"] == 1)
    assert "TrialFailed" in (experiment.trial_directory(failed.number) / "error.txt").read_text()
    assert result.best.state is TrialState.COMPLETE


def test_wall_time_budget(tmp_path, pm):
    start = time.time()
    _, result = run(tmp_path, pm, evaluator={"name": "synthetic", "options": {"sleep": 0.1}}, budget={"trials": None, "seconds": 0.5})
    assert 3 <= len(result.trials) <= 7 and "time budget" in result.stop_reason
    assert time.time() - start < 3


def test_constraints_exclude_infeasible_trials_from_the_best(tmp_path, pm):
    experiment, result = run(tmp_path, pm, budget={"trials": 20}, constraints=["latency_ms <= 4"])
    assert result.best.metrics["latency_ms"] <= 4
    infeasible = [t for t in result.trials if t.metrics["latency_ms"] > 4]
    assert infeasible and all(experiment.observation(t).score is None for t in infeasible)


def test_several_objectives_give_an_exact_pareto_front(tmp_path, pm):
    experiment, result = run(tmp_path, pm, budget={"trials": 20}, objectives=["accuracy", "params:min"])
    points = {(t.metrics["accuracy"], t.metrics["params"]) for t in result.trials}
    expected = {p for p in points if not any(q[0] >= p[0] and q[1] <= p[1] and q != p for q in points)}
    assert {(t.metrics["accuracy"], t.metrics["params"]) for t in result.pareto} == expected
    assert len(result.pareto) == 10  # one per value of a: b='y' dominates b='x' at equal params


def test_same_config_and_seed_give_the_same_architectures(tmp_path, pm):
    _, r1 = run(tmp_path / "one", pm, budget={"trials": 8}, seed=3)
    _, r2 = run(tmp_path / "two", pm, budget={"trials": 8}, seed=3)
    _, r3 = run(tmp_path / "three", pm, budget={"trials": 8}, seed=4)
    seq = lambda r: [t.architecture for t in r.trials]  # noqa: E731
    assert seq(r1) == seq(r2)
    assert seq(r1) != seq(r3)


def test_lifecycle_hooks_are_called_in_order(tmp_path, pm):
    from nasforge.core.hookspecs import hookimpl

    events = []

    class Recorder:
        @hookimpl
        def nasforge_before_experiment(self, experiment):
            events.append("start")

        @hookimpl
        def nasforge_before_trial(self, experiment, trial):
            events.append(f"before {trial.number} {trial.state.value}")

        @hookimpl
        def nasforge_on_trial_error(self, experiment, trial, error):
            events.append(f"error {trial.number} {type(error).__name__}")

        @hookimpl
        def nasforge_after_trial(self, experiment, trial):
            events.append(f"after {trial.number} {trial.state.value}")

        @hookimpl
        def nasforge_after_experiment(self, experiment, result):
            events.append(f"end {len(result.trials)}")

    pm.register(Recorder(), name="recorder")
    space = [{"name": "a", "type": "int", "low": 1, "high": 2}]
    run(tmp_path, pm, space={"choices": space}, evaluator={"name": "synthetic", "options": {"fail_on": [1]}}, budget={"trials": 2})
    assert events[0] == "start" and events[-1] == "end 2"
    assert len(events) == 2 + 2 * 2 + 1
    failed = [e for e in events if e.startswith("error")]
    assert len(failed) == 1 and failed[0].endswith("TrialFailed")
    i = events.index(failed[0])
    assert events[i + 1].startswith("after") and events[i + 1].endswith("failed")


def test_resume_continues_a_strategy_exactly_where_it_was(tmp_path, pm):
    config = validate_config(synthetic_config(tmp_path, budget={"trials": 5}, seed=11))
    experiment = Experiment.create(config, plugin_manager=pm)
    experiment.run()
    experiment.close()
    resumed = Experiment.resume(experiment.directory, plugin_manager=pm, budget_trials=12)
    result = resumed.run()
    uninterrupted = Experiment.create(validate_config(synthetic_config(tmp_path / "b", budget={"trials": 12}, seed=11)), plugin_manager=pm).run()
    assert [t.architecture for t in result.trials] == [t.architecture for t in uninterrupted.trials]


def _events(log_file):
    return [json.loads(line) for line in log_file.read_text().splitlines()] if log_file.exists() else []


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kill_9_then_resume_loses_nothing_and_reruns_only_unfinished_trials(tmp_path, subprocess_env, seed):
    log_file = tmp_path / "evaluations.log"
    data = synthetic_config(tmp_path, budget={"trials": 14}, evaluator={"name": "synthetic", "options": {"sleep": 0.12, "log_file": str(log_file)}})
    config_path = tmp_path / "c.yaml"
    config_path.write_text(yaml.safe_dump(data))
    folder = tmp_path / "exp"
    cmd = [sys.executable, "-m", "nasforge.core.cli"]
    proc = subprocess.Popen([*cmd, "run", str(config_path), "--dir", str(folder), "--quiet"], env=subprocess_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # kill at a random moment once a few trials have finished
    deadline = time.time() + 240  # the CLI's start-up (loading every plugin) is slow on a loaded machine
    while len([e for e in _events(log_file) if e[0] == "end"]) < 3 and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(random.Random(seed).uniform(0.0, 0.4))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with Store(folder) as store:
        before = {t.number: t for t in store.trials() if t.state is TrialState.COMPLETE}
    assert 3 <= len(before) < 14
    events_before = len(_events(log_file))
    resumed = subprocess.run([*cmd, "resume", str(folder), "--quiet"], env=subprocess_env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    with Store(folder) as store:
        after = store.trials()
    assert len(after) == 14 and all(t.state is TrialState.COMPLETE for t in after)
    for number, trial in before.items():
        assert after[number].metrics == trial.metrics and after[number].finished_at == trial.finished_at
    restarted = [n for event, n in _events(log_file)[events_before:] if event == "start"]
    assert not set(restarted) & set(before), "a finished trial was evaluated again"
    assert len(restarted) == len(set(restarted)) == 14 - len(before)
    assert len({t.architecture for t in after}) == 14


def test_status_and_resume_of_a_folder_that_is_not_an_experiment(tmp_path, capsys):
    from nasforge.core.cli import main

    assert main(["status", str(tmp_path)]) == 2
    assert "no nasforge experiment" in capsys.readouterr().err
    assert main(["resume", str(tmp_path / "missing")]) == 2


def test_run_status_and_plugins_from_the_command_line(tmp_path, subprocess_env):
    config_path = tmp_path / "c.yaml"
    config_path.write_text(yaml.safe_dump(synthetic_config(tmp_path, budget={"trials": 4})))
    cmd = [sys.executable, "-m", "nasforge.core.cli"]
    out = subprocess.run([*cmd, "run", str(config_path), "--dir", str(tmp_path / "e")], env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "[4/4] trial 3" in out.stderr and "ETA" in out.stderr  # progress, one line per trial off a terminal
    assert "experiment folder" in out.stdout and "Best 4 architectures" in out.stdout
    status = subprocess.run([*cmd, "status", str(tmp_path / "e"), "--json"], env=subprocess_env, capture_output=True, text=True, timeout=60)
    info = json.loads(status.stdout)
    assert info["counts"]["complete"] == 4 and info["status"] == "finished"
    assert info["best"][0]["metrics"]["accuracy"] == max(t["metrics"]["accuracy"] for t in info["best"])
    plugins = subprocess.run([*cmd, "plugins", "--json"], env=subprocess_env, capture_output=True, text=True, timeout=60)
    listing = json.loads(plugins.stdout)
    assert {"kind": "evaluator", "name": "synthetic"}.items() <= next(c for c in listing["components"] if c["name"] == "synthetic").items()
    assert any(p["distribution"] == "nasforge-core" for p in listing["plugins"])
    assert math.isfinite(info["elapsed_seconds"])


def test_process_executor_runs_trials_in_parallel_workers_and_survives_a_dead_worker(tmp_path, pm):
    options = {"sleep": 0.2, "crash_on": [5]}
    experiment, result = run(tmp_path, pm, budget={"trials": 12}, evaluator={"name": "synthetic", "options": options}, executor={"name": "process", "options": {"workers": 2}})
    assert len(result.trials) == 12
    crashed = [t for t in result.trials if t.architecture["a"] == 5]
    assert crashed and all(t.state is TrialState.FAILED and "worker process died" in t.error for t in crashed)
    complete = [t for t in result.trials if t.state is TrialState.COMPLETE]
    assert len(complete) == 12 - len(crashed)
    assert len({t.metrics["pid"] for t in complete}) >= 2  # really spread over worker processes
    assert os.getpid() not in {t.metrics["pid"] for t in complete}
    # each worker set up its own copy; the driver's set-up state was released, not shipped along
    assert {t.metrics["setups"] for t in complete} == {1.0}
    assert len({t.architecture for t in result.trials}) == 12


def test_process_executor_rejects_a_bad_worker_count(tmp_path, pm):
    from nasforge.core.errors import ConfigError

    with pytest.raises(ConfigError, match="executor.options.workers"):
        run(tmp_path, pm, executor={"name": "process", "options": {"workers": 0}})


def test_process_executor_kills_a_trial_that_ignores_its_deadline(tmp_path, pm, monkeypatch):
    import nasforge.core.executor as executor

    monkeypatch.setattr(executor, "HARD_TIMEOUT_GRACE", 1.0)  # the parent process enforces it
    space = {"choices": [{"name": "a", "type": "int", "low": 6, "high": 8}]}
    options = {"sleep": 0.05, "log_file": None}
    # 'a' == 7 sleeps in one uninterruptible call that never checks the deadline
    _, result = run(tmp_path, pm, space=space, budget={"trials": 3}, trial_timeout=4,
                    evaluator={"name": "synthetic", "options": {**options, "block_on": [7]}}, executor={"name": "process", "options": {"workers": 2}})
    by_a = {t.architecture["a"]: t for t in result.trials}
    assert by_a[7].state is TrialState.FAILED and "worker was killed" in by_a[7].error
    assert by_a[6].state is TrialState.COMPLETE and by_a[8].state is TrialState.COMPLETE
