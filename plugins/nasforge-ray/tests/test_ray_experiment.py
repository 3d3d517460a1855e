"""The ray executor drives a real experiment: resident workers, a dying worker, retries, resume."""

from pathlib import Path

import pytest
import ray

from nasforge.core.config import validate_config
from nasforge.core.errors import ConfigError
from nasforge.core.experiment import Experiment
from nasforge.core.records import TrialState
from nasforge_ray import RayExecutor


def config(tmp_path, budget, **executor_options):
    return validate_config(
        {
            "name": "ray-e2e",
            "seed": 0,
            "space": {"choices": [{"name": "x", "type": "int", "low": 0, "high": 7}]},
            "strategy": {"name": "in_order"},
            "evaluator": {"name": "probe", "options": {"die_on": [2], "die_once_on": [4], "fail_on": [5]}},
            "objectives": [{"metric": "value", "direction": "maximize"}],
            "budget": {"trials": budget},
            "trial_timeout": 120,
            "executor": {"name": "ray", "options": {"workers": 2, "retries": 1, **executor_options}},
            "output": str(tmp_path),
        }
    )


def test_a_search_on_ray_survives_a_dying_worker_retries_and_resumes(tmp_path, pm):
    home_before = set(Path.home().iterdir())
    experiment = Experiment.create(config(tmp_path, 6), plugin_manager=pm)
    result = experiment.run()
    experiment.close()
    assert not ray.is_initialized(), "the executor started Ray, so it must stop it"
    by_x = {t.architecture["x"]: t for t in result.trials}
    assert sorted(by_x) == [0, 1, 2, 3, 4, 5]
    # x=2 kills its worker every time: it fails after one retry; the search went on.
    assert by_x[2].state is TrialState.FAILED and "Ray worker died" in by_x[2].error and "after 1 retry" in by_x[2].error
    # x=4 kills its worker once: the retry on a fresh worker succeeds.
    assert by_x[4].state is TrialState.COMPLETE and by_x[4].metrics["value"] == 40
    # An evaluator error is not a worker death and is not retried.
    assert by_x[5].state is TrialState.FAILED and "probe failure for x=5" in by_x[5].error
    complete = [t for t in result.trials if t.state is TrialState.COMPLETE]
    assert [t.architecture["x"] for t in complete] == [0, 1, 3, 4]
    # The loop sets the evaluator up in the driver, each worker sets its copy up once more: never per trial.
    assert {t.metrics["setups"] for t in complete} == {2}, "each worker's copy of the evaluator is set up once, not per trial"
    # Ray's temp folder lives in the experiment folder, or (path too long for sockets) in a short
    # /tmp folder that is named in ray-tmpdir.txt and removed at the end. Nothing in the home folder.
    note = experiment.directory / "ray-tmpdir.txt"
    if note.exists():
        scratch = note.read_text().split()[4].rstrip(":")
        assert scratch.startswith("/tmp/nfray-") and not Path(scratch).exists()
    else:
        assert (experiment.directory / "ray").is_dir()
    assert set(Path.home().iterdir()) == home_before

    resumed = Experiment.resume(experiment.directory, plugin_manager=pm, budget_trials=8)
    final = resumed.run()
    resumed.close()
    assert [t.architecture["x"] for t in final.trials] == list(range(8))
    assert [t.to_dict() for t in final.trials[:6]] == [t.to_dict() for t in result.trials]
    assert final.best.architecture["x"] == 7


def test_short_experiment_paths_keep_ray_inside_the_experiment_folder(tmp_path, pm):
    import tempfile

    short = Path(tempfile.mkdtemp(prefix="nf", dir="/tmp"))
    try:
        experiment = Experiment.create(config(short, 2), plugin_manager=pm, directory=short / "e")
        result = experiment.run()
        experiment.close()
        assert [t.state for t in result.trials] == [TrialState.COMPLETE, TrialState.COMPLETE]
        assert (short / "e" / "ray").is_dir() and not (short / "e" / "ray-tmpdir.txt").exists()
        assert any((short / "e" / "ray").iterdir()), "Ray wrote its session there"
    finally:
        import shutil

        shutil.rmtree(short, ignore_errors=True)


@pytest.mark.parametrize(
    "options, field",
    [({"workers": 0}, "workers"), ({"retries": -1}, "retries"), ({"threads_per_worker": 1.5}, "threads_per_worker"), ({"address": "auto", "temp_dir": "/tmp/x"}, "temp_dir")],
)
def test_bad_options_are_config_errors(options, field):
    with pytest.raises(ConfigError, match=field):
        RayExecutor(**options)
