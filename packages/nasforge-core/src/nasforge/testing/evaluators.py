"""A conformance suite for evaluators: the same checks for every evaluator, built-in or plugin.

Each check takes an *evaluator factory*, a search space the evaluator accepts and a scratch folder,
and raises :class:`AssertionError` explaining what broke. A factory is a registered evaluator
name, an :class:`~nasforge.core.evaluator.Evaluator` subclass (built as ``cls(space, **options)``)
or any callable ``factory(space, **options)``.

Use them from pytest, e.g. in a plugin's own tests::

    import pytest
    from nasforge.testing.evaluators import EVALUATOR_CHECKS, run_check

    @pytest.mark.parametrize("check", sorted(EVALUATOR_CHECKS))
    def test_my_evaluator_conforms(check, tmp_path):
        run_check(check, MyEvaluator, my_space(), tmp_path, options={"epochs": 1})

The checks (each evaluates at most :data:`SAMPLES` architectures drawn with a fixed seed):

``declared_metrics``
    The evaluator declares its metric names in ``metrics``; every evaluation returns an
    :class:`~nasforge.core.records.EvaluationResult` or a mapping holding at least those metrics,
    each a finite number, and artifacts that exist. An evaluator that reports whatever a user
    function returns (``metrics = ()``) opts out of the declaration part with
    ``conformance_skip_declared_metrics``.
``timeout``
    With a deadline that has already passed, ``evaluate`` raises
    :class:`~nasforge.core.errors.TrialTimeout` (it calls ``context.check()`` or
    ``context.report()`` as it works) instead of running to the end.
``determinism``
    For an evaluator that claims ``deterministic = True``: the same architecture with the same
    ``context.seed`` gives the same metrics twice (up to :data:`TOLERANCE`), in two fresh
    evaluators. Evaluators that do not claim it skip this check.
``picklable``
    The evaluator survives :mod:`pickle` after construction (executors ship it to worker
    processes) and the copy evaluates like the original.
``lifecycle``
    ``setup(workdir)`` then several ``evaluate`` calls then ``teardown()`` work in that order, and
    ``evaluate`` writes only inside the trial's ``context.directory`` or the setup folder.

Opt out with a class attribute ``conformance_skip_<check>`` giving the reason, or pass
``skip={"check": "reason"}`` to :func:`run_check`.
"""

from __future__ import annotations

import math
import pickle
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nasforge.core.errors import TrialTimeout
from nasforge.core.evaluator import Evaluator, TrialContext
from nasforge.core.records import Architecture, EvaluationResult
from nasforge.core.space import SearchSpace

EvaluatorFactory = Any  # str | type[Evaluator] | Callable[..., Evaluator]

#: Architectures evaluated per check.
SAMPLES = 3
#: Relative tolerance of the determinism check.
TOLERANCE = 1e-6


def evaluator_class(factory: EvaluatorFactory) -> type | None:
    """The evaluator class behind ``factory`` (``None`` for a plain callable)."""
    if isinstance(factory, str):
        from nasforge.core.plugins import get_plugin_manager

        return get_plugin_manager().get("evaluator", factory)
    if isinstance(factory, type):
        return factory
    return None


def make_evaluator(factory: EvaluatorFactory, space: SearchSpace, options: Mapping[str, Any] | None = None) -> Evaluator:
    """Build an evaluator with ``conformance_options`` (a class attribute) then ``options``."""
    cls = evaluator_class(factory)
    build: Callable[..., Evaluator] = cls if cls is not None else factory
    merged = {**dict(getattr(cls, "conformance_options", None) or {}), **dict(options or {})}
    evaluator = build(space, **merged)
    assert isinstance(evaluator, Evaluator), f"the factory returned {type(evaluator).__name__}, not an Evaluator"
    return evaluator


def samples(space: SearchSpace, n: int = SAMPLES, seed: int = 0) -> list[Architecture]:
    """``n`` distinct architectures of ``space`` (fewer if the space is smaller), drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    out: list[Architecture] = []
    for _ in range(50 * n):
        arch = space.sample(rng)
        if arch not in out:
            out.append(arch)
        if len(out) == n:
            break
    return out


def context(number: int, workdir: Path, timeout: float | None = None, seed: int | None = None) -> TrialContext:
    """A started trial context like the loop's, with its folder under ``workdir``."""
    directory = Path(workdir) / "trials" / f"{number:05d}"
    directory.mkdir(parents=True, exist_ok=True)
    ctx = TrialContext(number=number, seed=number if seed is None else seed, directory=directory, timeout=timeout)
    ctx.start()
    return ctx


def metrics_of(result: Any, who: str) -> dict[str, float]:
    """The metrics of an evaluation result, checked for type."""
    if isinstance(result, EvaluationResult):
        return dict(result.metrics)
    assert isinstance(result, Mapping), f"{who} returned {type(result).__name__}; evaluate must return an EvaluationResult or a mapping of metrics"
    return dict(EvaluationResult(metrics=result).metrics)


def _name(evaluator: Evaluator) -> str:
    return type(evaluator).__name__


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()} if folder.exists() else set()


# -- the checks -------------------------------------------------------------------------------------------
def check_declared_metrics(factory: EvaluatorFactory, space: SearchSpace, workdir: Path, options: Mapping[str, Any] | None = None) -> None:
    """Every evaluation returns every declared metric, each finite; artifacts exist."""
    evaluator = make_evaluator(factory, space, options)
    declared = tuple(getattr(evaluator, "metrics", ()) or ())
    assert declared, f"{_name(evaluator)}.metrics is empty; list the metric names it reports so configs can be checked against them"
    evaluator.setup(workdir)
    try:
        for i, arch in enumerate(samples(space)):
            result = evaluator.evaluate(arch, context(i, workdir))
            metrics = metrics_of(result, _name(evaluator))
            missing = [m for m in declared if m not in metrics]
            assert not missing, f"{_name(evaluator)} declares {list(declared)} but did not report {missing} for {arch}"
            bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
            assert not bad, f"{_name(evaluator)} reported non-finite metrics {bad} for {arch}; raise TrialFailed instead"
            if isinstance(result, EvaluationResult):
                gone = [p for p in result.artifacts.values() if not Path(p).exists()]
                assert not gone, f"{_name(evaluator)} listed artifacts that do not exist: {gone}"
    finally:
        evaluator.teardown()


def check_timeout(factory: EvaluatorFactory, space: SearchSpace, workdir: Path, options: Mapping[str, Any] | None = None) -> None:
    """With its deadline already past, ``evaluate`` raises TrialTimeout (it checks the context)."""
    evaluator = make_evaluator(factory, space, options)
    evaluator.setup(workdir)
    try:
        arch = samples(space, 1)[0]
        ctx = context(0, workdir, timeout=1e-9)
        time.sleep(0.01)
        try:
            evaluator.evaluate(arch, ctx)
        except TrialTimeout:
            return
        raise AssertionError(
            f"{_name(evaluator)} ran to the end although the trial's deadline had passed; call context.check() or "
            "context.report() regularly (e.g. once per epoch or batch) so time limits hold"
        )
    finally:
        evaluator.teardown()


def check_determinism(factory: EvaluatorFactory, space: SearchSpace, workdir: Path, options: Mapping[str, Any] | None = None) -> None:
    """An evaluator claiming ``deterministic = True`` gives the same metrics for the same seed."""
    runs = []
    for attempt in range(2):
        evaluator = make_evaluator(factory, space, options)
        folder = Path(workdir) / f"run{attempt}"
        evaluator.setup(folder)
        try:
            runs.append([metrics_of(evaluator.evaluate(arch, context(i, folder, seed=1234 + i)), _name(evaluator)) for i, arch in enumerate(samples(space, 2))])
        finally:
            evaluator.teardown()
    volatile = set(getattr(type(evaluator), "nondeterministic_metrics", ()) or ())
    for first, second in zip(*runs):
        for key in sorted(set(first) - volatile):
            a, b = first[key], second.get(key)
            assert b is not None and math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE), (
                f"{_name(evaluator)} claims deterministic = True but metric {key!r} was {a} then {b} for the same architecture and seed; "
                "list timing metrics in nondeterministic_metrics"
            )


def check_picklable(factory: EvaluatorFactory, space: SearchSpace, workdir: Path, options: Mapping[str, Any] | None = None) -> None:
    """The evaluator pickles after construction, and the copy evaluates."""
    evaluator = make_evaluator(factory, space, options)
    try:
        copy = pickle.loads(pickle.dumps(evaluator))
    except Exception as exc:
        raise AssertionError(
            f"{_name(evaluator)} cannot be pickled ({type(exc).__name__}: {exc}); executors send it to worker processes. "
            "Create unpicklable resources (data loaders, sessions) in setup(), not in __init__"
        ) from None
    copy.setup(workdir)
    try:
        metrics = metrics_of(copy.evaluate(samples(space, 1)[0], context(0, workdir)), _name(copy))
        assert metrics, f"{_name(copy)} returned no metrics after a pickle round trip"
    finally:
        copy.teardown()


def check_lifecycle(factory: EvaluatorFactory, space: SearchSpace, workdir: Path, options: Mapping[str, Any] | None = None) -> None:
    """setup, several evaluations, teardown; evaluations write only in their trial folder or the setup folder."""
    workdir = Path(workdir)
    setup_dir = workdir / "experiment"
    setup_dir.mkdir(parents=True, exist_ok=True)
    outside = workdir / "outside"
    outside.mkdir(exist_ok=True)
    evaluator = make_evaluator(factory, space, options)
    evaluator.setup(setup_dir)
    before_outside = _files(outside)
    for i, arch in enumerate(samples(space)):
        metrics_of(evaluator.evaluate(arch, context(i, setup_dir)), _name(evaluator))
    evaluator.teardown()
    stray = _files(workdir) - _files(setup_dir) - before_outside
    assert not stray, f"{_name(evaluator)} wrote outside its trial and experiment folders: {sorted(map(str, stray))[:5]}"


#: Every check by name, for pytest parametrisation.
EVALUATOR_CHECKS: dict[str, Callable[..., None]] = {
    "declared_metrics": check_declared_metrics,
    "timeout": check_timeout,
    "determinism": check_determinism,
    "picklable": check_picklable,
    "lifecycle": check_lifecycle,
}


def skip_reason(factory: EvaluatorFactory, check: str, skip: Mapping[str, str] | None = None) -> str | None:
    """Why ``check`` does not apply (``skip``, ``conformance_skip_<check>``, or no determinism claim)."""
    if skip and skip.get(check):
        return str(skip[check])
    cls = evaluator_class(factory)
    reason = getattr(cls, f"conformance_skip_{check}", None) if cls is not None else None
    if reason:
        return str(reason)
    if check == "determinism" and not getattr(cls, "deterministic", False):
        return "the evaluator does not claim deterministic = True"
    return None


def run_check(
    check: str,
    factory: EvaluatorFactory,
    space: SearchSpace,
    workdir: Path,
    options: Mapping[str, Any] | None = None,
    skip: Mapping[str, str] | None = None,
) -> None:
    """Run one named check; calls ``pytest.skip`` with the reason when it does not apply."""
    if check not in EVALUATOR_CHECKS:
        raise KeyError(f"unknown evaluator check {check!r}; checks: {sorted(EVALUATOR_CHECKS)}")
    reason = skip_reason(factory, check, skip)
    if reason:
        import pytest

        pytest.skip(f"{check}: {reason}")
    folder = Path(workdir) / check
    folder.mkdir(parents=True, exist_ok=True)
    EVALUATOR_CHECKS[check](factory, space, folder, options)


def run_all(factory: EvaluatorFactory, space: SearchSpace, workdir: Path, options: Mapping[str, Any] | None = None, skip: Mapping[str, str] | None = None) -> None:
    """Run every check that applies (outside pytest)."""
    for check, fn in EVALUATOR_CHECKS.items():
        if not skip_reason(factory, check, skip):
            folder = Path(workdir) / check
            folder.mkdir(parents=True, exist_ok=True)
            fn(factory, space, folder, options)
