"""A conformance suite for executors: the same checks for the built-in executors and every plugin's.

Each check takes an *executor factory* and a scratch folder and raises :class:`AssertionError`
explaining what broke. A factory is a registered executor name, an
:class:`~nasforge.core.executor.Executor` subclass, or any callable returning a new (not yet
started) executor; ``options`` are passed to it. Every check starts its own executor with a
:class:`ProbeEvaluator` and shuts it down again.

Use them from pytest, e.g. in a plugin's own tests::

    import pytest
    from nasforge.testing.executors import EXECUTOR_CHECKS, run_check

    @pytest.mark.parametrize("check", sorted(EXECUTOR_CHECKS))
    def test_my_executor_conforms(check, tmp_path):
        run_check(check, MyExecutor, tmp_path, options={"workers": 2})

The checks:

``runs_trials``
    ``submit_trial`` returns :class:`concurrent.futures.Future` objects whose results are the
    evaluator's metrics for the right architecture; more trials than workers run in waves.
``submit``
    ``submit(fn, *args)`` runs an importable function and returns its result in a future.
``parallelism``
    With ``parallelism >= 2``, that many trials run at the same time: their evaluation intervals
    (measured inside the evaluator) overlap.
``errors``
    An evaluation raising :class:`~nasforge.core.errors.TrialFailed` or any other exception ends
    as an exception on its future, carrying the message; the next trial runs normally.
``worker_death``
    A worker process that dies mid-trial (``os._exit``) fails only that trial's future (with an
    exception) and the executor goes on evaluating later trials.
``hard_timeout``
    A trial that overruns its ``context.timeout`` without ever calling ``context.check()`` is
    stopped: its future ends with an exception within the timeout plus
    :data:`~nasforge.core.executor.HARD_TIMEOUT_GRACE` plus :data:`TIMEOUT_SLACK` seconds.

An executor opts out of a check with a class attribute ``conformance_skip_<check>`` giving the
reason (e.g. an in-process executor cannot survive ``os._exit``), or the caller passes
``skip={"check": "reason"}`` to :func:`run_check` (for executors one cannot edit).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any, ClassVar

from nasforge.core.errors import TrialFailed
from nasforge.core.evaluator import Evaluator, TrialContext
from nasforge.core.executor import HARD_TIMEOUT_GRACE, Executor
from nasforge.core.records import Architecture, EvaluationResult
from nasforge.core.space import SearchSpace

ExecutorFactory = Any  # str | type[Executor] | Callable[..., Executor]

#: Seconds allowed on top of a trial's timeout and the hard-timeout grace (loaded machines).
TIMEOUT_SLACK = 20.0
#: Seconds a check waits for any single future before declaring the executor hung.
WAIT_LIMIT = 120.0


def probe_space() -> SearchSpace:
    """The space of :class:`ProbeEvaluator`: ``x`` (0..9) and ``mode`` (what the evaluation does)."""
    return SearchSpace.from_config(
        [
            {"name": "x", "type": "int", "low": 0, "high": 9},
            {"name": "mode", "values": ["ok", "sleep", "fail", "error", "die", "hang"]},
        ],
        name="executor-probe",
    )


def probe(x: int, mode: str = "ok") -> Architecture:
    """An architecture of :func:`probe_space`."""
    return Architecture(x=x, mode=mode)


class ProbeEvaluator(Evaluator):
    """A tiny evaluator for executor tests, steered by the architecture's ``mode``.

    ``ok``: returns ``value = x * 10``; ``sleep``: the same after sleeping ``sleep`` seconds;
    ``fail``: raises :class:`TrialFailed`; ``error``: raises :class:`ValueError`; ``die``: ends its
    process with ``os._exit(3)``; ``hang``: sleeps ``hang`` seconds without calling
    ``context.check()``. Every result also holds ``pid`` (the evaluating process), ``start`` and
    ``end`` (``time.time()`` around the work) and ``setups`` (how often ``setup`` ran in that
    process's copy of the evaluator).

    For experiments, where the strategy picks the architectures, ``fail_on`` and ``die_on`` list
    ``x`` values whose trials fail or kill their worker, and ``die_once_on`` those whose first
    evaluation kills its worker and later ones succeed (a marker file in the ``setup`` folder
    remembers it across processes).
    """

    metrics: ClassVar[tuple[str, ...]] = ("value", "pid", "start", "end", "setups")
    deterministic: ClassVar[bool] = True

    def __init__(
        self,
        space: SearchSpace | None = None,
        sleep: float = 1.0,
        hang: float = 600.0,
        fail_on: list[int] = (),  # type: ignore[assignment]
        die_on: list[int] = (),  # type: ignore[assignment]
        die_once_on: list[int] = (),  # type: ignore[assignment]
    ) -> None:
        super().__init__(space or probe_space())
        self.sleep, self.hang = float(sleep), float(hang)
        self.fail_on, self.die_on, self.die_once_on = set(fail_on), set(die_on), set(die_once_on)
        self.setups = 0
        self.workdir: Path | None = None

    def setup(self, workdir: Path) -> None:
        """Count set-ups (executors that keep evaluators resident set each copy up once)."""
        self.setups += 1
        self.workdir = Path(workdir)

    def evaluate(self, architecture: Architecture, context: TrialContext) -> EvaluationResult:
        """Do what ``architecture["mode"]`` says (see the class docstring)."""
        context.check()
        start = time.time()
        mode = architecture.get("mode", "ok")
        x = architecture["x"]
        if x in self.fail_on:
            mode = "fail"
        elif x in self.die_on:
            mode = "die"
        elif x in self.die_once_on and self.workdir is not None:
            marker = self.workdir / f"probe-died-on-{x}"
            if not marker.exists():
                marker.touch()
                mode = "die"
        if mode == "sleep":
            end_at = start + self.sleep
            while time.time() < end_at:
                context.check()
                time.sleep(0.02)
        elif mode == "fail":
            raise TrialFailed(f"probe failure for x={architecture['x']}")
        elif mode == "error":
            raise ValueError(f"probe error for x={architecture['x']}")
        elif mode == "die":
            os._exit(3)
        elif mode == "hang":
            time.sleep(self.hang)
        value = float(architecture["x"]) * 10
        return EvaluationResult(metrics={"value": value, "pid": float(os.getpid()), "start": start, "end": time.time(), "setups": float(self.setups)})


def square(x: float) -> float:
    """An importable function for the ``submit`` check."""
    return x * x


# -- driving executors ----------------------------------------------------------------------------------
def executor_class(factory: ExecutorFactory) -> type | None:
    """The executor class behind ``factory`` (``None`` for a plain callable)."""
    if isinstance(factory, str):
        from nasforge.core.plugins import get_plugin_manager

        return get_plugin_manager().get("executor", factory)
    if isinstance(factory, type):
        return factory
    return None


def make_executor(factory: ExecutorFactory, options: Mapping[str, Any] | None = None) -> Executor:
    """Build an executor from a name, class or callable, with ``conformance_options`` then ``options``."""
    cls = executor_class(factory)
    build: Callable[..., Executor] = cls if cls is not None else factory
    merged = {**dict(getattr(cls, "conformance_options", None) or {}), **dict(options or {})}
    executor = build(**merged)
    assert isinstance(executor, Executor), f"the factory returned {type(executor).__name__}, not an Executor"
    return executor


def context(number: int, workdir: Path, timeout: float | None = None) -> TrialContext:
    """A trial context like the loop's, with its folder under ``workdir``."""
    directory = Path(workdir) / "trials" / f"{number:05d}"
    directory.mkdir(parents=True, exist_ok=True)
    return TrialContext(number=number, seed=number, directory=directory, timeout=timeout)


def _result(future: Future, what: str) -> Any:
    try:
        return future.result(timeout=WAIT_LIMIT)
    except TimeoutError:
        raise AssertionError(f"{what}: no result after {WAIT_LIMIT:g} s; the executor seems hung") from None


def _exception(future: Future, what: str) -> BaseException:
    try:
        exc = future.exception(timeout=WAIT_LIMIT)
    except TimeoutError:
        raise AssertionError(f"{what}: the future did not finish within {WAIT_LIMIT:g} s") from None
    assert exc is not None, f"{what}: the future holds a result ({future.result()!r}) where an exception was expected"
    return exc


class _Running:
    """An executor started on a ProbeEvaluator in ``workdir``, shut down on exit."""

    def __init__(self, factory: ExecutorFactory, workdir: Path, options: Mapping[str, Any] | None, evaluator: ProbeEvaluator | None = None) -> None:
        self.executor = make_executor(factory, options)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.evaluator = evaluator or ProbeEvaluator()
        self.count = 0

    def __enter__(self) -> _Running:
        self.executor.start(self.workdir, self.evaluator)
        return self

    def __exit__(self, *exc: object) -> None:
        self.executor.shutdown()

    @property
    def width(self) -> int:
        return max(1, int(self.executor.parallelism))

    def submit(self, arch: Architecture, timeout: float | None = None) -> Future:
        future = self.executor.submit_trial(arch, context(self.count, self.workdir, timeout))
        self.count += 1
        assert isinstance(future, Future), f"submit_trial returned {type(future).__name__}, not a concurrent.futures.Future"
        return future

    def run_all(self, archs: list[Architecture]) -> list[Future]:
        """Submit ``archs`` keeping at most ``parallelism`` in flight, like the loop; wait for all."""
        todo = list(archs)
        futures: list[Future] = []
        in_flight: set[Future] = set()
        while todo or in_flight:
            while todo and len(in_flight) < self.width:
                future = self.submit(todo.pop(0))
                futures.append(future)
                in_flight.add(future)
            done, _ = wait(in_flight, timeout=WAIT_LIMIT, return_when=FIRST_COMPLETED)
            assert done, f"no trial finished within {WAIT_LIMIT:g} s"
            in_flight -= done
        return futures


# -- the checks -------------------------------------------------------------------------------------------
def check_runs_trials(factory: ExecutorFactory, workdir: Path, options: Mapping[str, Any] | None = None) -> None:
    """Futures of ``submit_trial`` hold the metrics of the right architecture; more trials than workers work."""
    with _Running(factory, workdir, options) as running:
        archs = [probe(x) for x in range(running.width * 2 + 1)]
        futures = running.run_all(archs)
        for arch, future in zip(archs, futures):
            result = _result(future, f"trial {arch}")
            metrics = result.metrics if isinstance(result, EvaluationResult) else dict(result)
            assert metrics["value"] == arch["x"] * 10, f"the future of {arch} holds value {metrics['value']}, expected {arch['x'] * 10}"


def check_submit(factory: ExecutorFactory, workdir: Path, options: Mapping[str, Any] | None = None) -> None:
    """``submit(fn, *args)`` returns a future of ``fn(*args)``."""
    with _Running(factory, workdir, options) as running:
        future = running.executor.submit(square, 7)
        assert isinstance(future, Future), f"submit returned {type(future).__name__}, not a concurrent.futures.Future"
        assert _result(future, "submit(square, 7)") == 49


def check_parallelism(factory: ExecutorFactory, workdir: Path, options: Mapping[str, Any] | None = None, sleep: float = 1.5) -> None:
    """``parallelism`` trials really run at once: their evaluation intervals overlap."""
    with _Running(factory, workdir, options, ProbeEvaluator(sleep=sleep)) as running:
        width = running.width
        assert width >= 2, f"the parallelism check needs an executor with parallelism >= 2 (got {width}); pass options that give it two workers"
        # Warm-up: a first trial per worker, so slow worker start-up does not hide overlap.
        running.run_all([probe(x) for x in range(width)])
        futures = [running.submit(probe(x, "sleep")) for x in range(width)]
        metrics = [(_result(f, "sleeping trial").metrics) for f in futures]
    latest_start = max(m["start"] for m in metrics)
    earliest_end = min(m["end"] for m in metrics)
    assert latest_start < earliest_end, (
        f"{width} trials of {sleep:g} s submitted together did not overlap (the last started {latest_start - earliest_end:.2f} s after the "
        f"first ended); the executor claims parallelism {width} but ran them one after another"
    )


def check_errors(factory: ExecutorFactory, workdir: Path, options: Mapping[str, Any] | None = None) -> None:
    """A failing evaluation becomes an exception on its future, with its message; the executor goes on."""
    with _Running(factory, workdir, options) as running:
        failed = _exception(running.submit(probe(1, "fail")), "a trial raising TrialFailed")
        assert isinstance(failed, TrialFailed), f"TrialFailed came back as {type(failed).__name__}: {failed}"
        assert "probe failure for x=1" in str(failed), f"the reason was lost: {failed}"
        error = _exception(running.submit(probe(2, "error")), "a trial raising ValueError")
        assert "probe error for x=2" in str(error), f"the error message was lost: {type(error).__name__}: {error}"
        after = _result(running.submit(probe(3)), "a trial after two failures")
        assert after.metrics["value"] == 30


def check_worker_death(factory: ExecutorFactory, workdir: Path, options: Mapping[str, Any] | None = None) -> None:
    """A worker dying mid-trial fails only that trial; later trials are evaluated normally."""
    with _Running(factory, workdir, options) as running:
        before = _result(running.submit(probe(4)), "a trial before the death")
        died = _exception(running.submit(probe(5, "die")), "a trial whose worker died")
        assert isinstance(died, Exception), f"a dead worker's trial ended with {type(died).__name__}, which the loop does not catch"
        results = running.run_all([probe(x) for x in range(6, 6 + running.width)])
        values = sorted(_result(f, "a trial after the death").metrics["value"] for f in results)
        assert values == [x * 10.0 for x in range(6, 6 + running.width)], f"trials after a worker death returned {values}"
        assert before.metrics["value"] == 40


def check_hard_timeout(factory: ExecutorFactory, workdir: Path, options: Mapping[str, Any] | None = None, timeout: float = 1.0) -> None:
    """A trial that never calls ``context.check()`` is still stopped shortly after its deadline."""
    with _Running(factory, workdir, options, ProbeEvaluator(hang=600)) as running:
        _result(running.submit(probe(0)), "a warm-up trial")
        started = time.time()
        exc = _exception(running.submit(probe(1, "hang"), timeout=timeout), "a hanging trial with a timeout")
        took = time.time() - started
        limit = timeout + HARD_TIMEOUT_GRACE + TIMEOUT_SLACK
        assert took <= limit, f"a trial with a {timeout:g} s timeout was stopped only after {took:.1f} s (limit {limit:g} s)"
        assert isinstance(exc, Exception)
        after = _result(running.submit(probe(2)), "a trial after a hard timeout")
        assert after.metrics["value"] == 20


#: Every check by name, for pytest parametrisation.
EXECUTOR_CHECKS: dict[str, Callable[..., None]] = {
    "runs_trials": check_runs_trials,
    "submit": check_submit,
    "parallelism": check_parallelism,
    "errors": check_errors,
    "worker_death": check_worker_death,
    "hard_timeout": check_hard_timeout,
}


def skip_reason(factory: ExecutorFactory, check: str, skip: Mapping[str, str] | None = None) -> str | None:
    """Why ``check`` does not apply: ``skip[check]`` or the class attribute ``conformance_skip_<check>``."""
    if skip and skip.get(check):
        return str(skip[check])
    cls = executor_class(factory)
    reason = getattr(cls, f"conformance_skip_{check}", None) if cls is not None else None
    return str(reason) if reason else None


def run_check(check: str, factory: ExecutorFactory, workdir: Path, options: Mapping[str, Any] | None = None, skip: Mapping[str, str] | None = None) -> None:
    """Run one named check in ``workdir``; calls ``pytest.skip`` with the reason when it does not apply."""
    if check not in EXECUTOR_CHECKS:
        raise KeyError(f"unknown executor check {check!r}; checks: {sorted(EXECUTOR_CHECKS)}")
    reason = skip_reason(factory, check, skip)
    if reason:
        import pytest

        pytest.skip(f"{check}: {reason}")
    EXECUTOR_CHECKS[check](factory, Path(workdir) / check, options)


def run_all(factory: ExecutorFactory, workdir: Path, options: Mapping[str, Any] | None = None, skip: Mapping[str, str] | None = None) -> None:
    """Run every check that applies (outside pytest)."""
    for check, fn in EXECUTOR_CHECKS.items():
        if not skip_reason(factory, check, skip):
            fn(factory, Path(workdir) / check, options)
