"""The executor conformance suite catches broken executors (so a passing ray executor means something)."""

from concurrent.futures import Future

import pytest

from nasforge.core.executor import Executor, SequentialExecutor
from nasforge.testing.executors import check_errors, check_parallelism, check_runs_trials


class ClaimsTwoRunsOne(SequentialExecutor):
    """Says it runs two trials at once but runs them one after another."""

    parallelism = 2


class SwallowsErrors(Executor):
    """Turns every failed evaluation into an empty result."""

    def submit(self, fn, /, *args):
        future = Future()
        try:
            future.set_result(fn(*args))
        except Exception:
            from nasforge.core.records import EvaluationResult

            future.set_result(EvaluationResult(metrics={}))
        return future


class WrongTrial(SequentialExecutor):
    """Evaluates the previous trial's architecture (a classic off-by-one in a work queue)."""

    def submit_trial(self, architecture, context):
        previous = getattr(self, "_previous", architecture)
        self._previous = architecture
        return super().submit_trial(previous, context)


def test_a_false_parallelism_claim_is_caught(tmp_path):
    with pytest.raises(AssertionError, match="did not overlap"):
        check_parallelism(ClaimsTwoRunsOne, tmp_path, sleep=0.3)


def test_swallowed_errors_are_caught(tmp_path):
    with pytest.raises(AssertionError, match="where an exception was expected"):
        check_errors(SwallowsErrors, tmp_path)


def test_results_of_the_wrong_architecture_are_caught(tmp_path):
    with pytest.raises(AssertionError, match="holds value"):
        check_runs_trials(WrongTrial, tmp_path)


def test_the_sequential_executor_passes_what_applies_to_it(tmp_path):
    check_runs_trials(SequentialExecutor, tmp_path / "a")
    check_errors(SequentialExecutor, tmp_path / "b")
