"""Executors decide where trial evaluations run and how many at once.

The interface follows :mod:`concurrent.futures`: the loop keeps up to ``parallelism`` trials in
flight with :meth:`Executor.submit_trial` and collects them as their futures finish.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasforge.core.errors import ConfigError, TrialFailed, TrialTimeout

if TYPE_CHECKING:
    from nasforge.core.evaluator import Evaluator, TrialContext
    from nasforge.core.records import Architecture


class Executor(ABC):
    """Base class of executors.

    Call order::

        executor = Cls(**options)
        executor.start(workdir, evaluator)              # once, before the first trial
        future = executor.submit_trial(arch, context)   # a Future of an EvaluationResult
        ... concurrent.futures.wait(futures, return_when=FIRST_COMPLETED) ...
        executor.shutdown()

    Subclasses implement :meth:`submit`; :meth:`submit_trial` runs the bound evaluator through it
    and may be overridden to keep the evaluator resident in long-lived workers. A future whose
    worker died must finish with an exception; the loop records the trial as failed with it.
    """

    #: How many trials may be in flight at once.
    parallelism: int = 1
    #: False when trials run in other processes, which set the evaluator up themselves.
    in_process: bool = True
    #: True when the executor stops a trial that runs past ``trial_timeout`` even if the
    #: evaluator never calls ``context.check()`` (by killing its worker). The loop refuses a
    #: ``trial_timeout`` with an executor that cannot (see :meth:`honour_timeouts`).
    kills_hung_trials: bool = False

    def honour_timeouts(self) -> bool:
        """Called when the config sets ``trial_timeout``: make hung trials killable, or return False."""
        return self.kills_hung_trials

    def start(self, workdir: Path, evaluator: Evaluator) -> None:
        """Bind the experiment's evaluator and start workers."""
        self.workdir = Path(workdir)
        self.evaluator = evaluator

    @abstractmethod
    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        """Run ``fn(*args)`` and return a future for its result."""

    def submit_trial(self, architecture: Architecture, context: TrialContext) -> Future:
        """Evaluate one architecture with the bound evaluator."""
        from nasforge.core.evaluator import evaluate_trial

        return self.submit(evaluate_trial, self.evaluator, architecture, context)

    def shutdown(self) -> None:
        """Stop workers (optional)."""


class SequentialExecutor(Executor):
    """Runs trials one at a time (the default), in the calling process.

    With a ``trial_timeout`` it runs them instead in one child process that it kills when a trial
    is still running :data:`HARD_TIMEOUT_GRACE` seconds past its deadline, because a thread
    cannot stop code that never returns to Python. ``isolate: false`` keeps trials in the calling
    process anyway (e.g. to debug them); the timeout is then enforced only where the evaluator
    calls ``context.check()`` or ``context.report()``.

    :param isolate: run trials in a killable child process (default: only with ``trial_timeout``).
    """

    parallelism = 1

    def __init__(self, isolate: bool | None = None) -> None:
        if isolate is not None and not isinstance(isolate, bool):
            raise ConfigError("executor.options.isolate", f"must be true or false, got {isolate!r}")
        self.isolate = isolate
        self._child: LocalProcessExecutor | None = None
        if isolate:
            self._isolate()

    def _isolate(self) -> None:
        if self._child is None:
            self._child = LocalProcessExecutor(workers=1, threads_per_worker=os.cpu_count() or 1)

    @property
    def in_process(self) -> bool:  # type: ignore[override]
        return self._child is None

    @property
    def kills_hung_trials(self) -> bool:  # type: ignore[override]
        return self._child is not None

    def honour_timeouts(self) -> bool:
        if self.isolate is False:
            return True  # the user chose in-process trials: only cooperative timeouts
        self._isolate()
        return True

    def start(self, workdir: Path, evaluator: Evaluator) -> None:
        super().start(workdir, evaluator)
        if self._child is not None:
            self._child.start(workdir, evaluator)

    def submit_trial(self, architecture: Architecture, context: TrialContext) -> Future:
        if self._child is not None:
            return self._child.submit_trial(architecture, context)
        return super().submit_trial(architecture, context)

    def shutdown(self) -> None:
        if self._child is not None:
            self._child.shutdown()

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # the loop turns this into a failed trial
            future.set_exception(exc)
        return future


#: Seconds past a trial's deadline before its worker is killed (it had its chance to stop itself).
HARD_TIMEOUT_GRACE = 5.0


def _worker_main(conn: Any, pickled_evaluator: bytes, workdir: str, threads: int) -> None:
    """A worker process: set up the evaluator once, then evaluate trials until told to stop."""
    # Thread limits must be in the environment before the evaluator is unpickled, because that
    # is when libraries such as torch are imported and size their thread pools.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import pickle
    import signal

    from nasforge.core.evaluator import evaluate_trial

    # The driver decides when trials stop: Ctrl-C or SIGTERM sent to the whole process group
    # must not kill a worker mid-trial (its trial would be recorded as failed, not resumed).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    evaluator = pickle.loads(pickled_evaluator)

    evaluator.setup(Path(workdir))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        architecture, context = message
        conn.send(("started", None))  # the trial's hard deadline counts from here, not from start-up
        try:
            reply = ("ok", evaluate_trial(evaluator, architecture, context))
        except Exception as exc:
            reply = ("error", exc)
        try:
            conn.send(reply)
        except Exception:  # the exception (or result) could not be pickled
            conn.send(("error", TrialFailed(f"{type(reply[1]).__name__}: {reply[1]}")))


class _Worker:
    def __init__(self, ctx: Any, evaluator: Evaluator, workdir: Path, threads: int) -> None:
        self.conn, child = ctx.Pipe()
        import pickle

        self.process = ctx.Process(target=_worker_main, args=(child, pickle.dumps(evaluator), str(workdir), threads), daemon=True)
        self.process.start()
        child.close()
        self.busy = False

    def stop(self, kill: bool = False) -> None:
        if kill:
            self.process.kill()
        else:
            try:
                self.conn.send(None)
            except OSError:
                pass
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.conn.close()


class LocalProcessExecutor(Executor):
    """Runs up to ``workers`` trials at once in worker processes on this machine.

    Each worker receives the evaluator once and calls its ``setup`` once, then evaluates trial
    after trial (start-up costs such as importing torch are paid once per worker, not per trial).
    Workers are started with ``spawn``, so CUDA and thread pools behave. A worker that dies fails
    only its own trial ("worker process died") and is replaced. A trial still running
    ``HARD_TIMEOUT_GRACE`` seconds past its deadline has its worker killed: a hard time limit
    even for evaluators that never call ``context.check()``.

    :param workers: processes running trials in parallel (default: number of CPUs).
    :param threads_per_worker: threads each worker's math libraries may use (default: CPUs / workers).
    """

    in_process = False
    kills_hung_trials = True

    def __init__(self, workers: int | None = None, threads_per_worker: int | None = None) -> None:
        cpus = os.cpu_count() or 1
        workers = cpus if workers is None else workers
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ConfigError("executor.options.workers", f"must be a positive integer, got {workers!r}")
        if threads_per_worker is not None and (not isinstance(threads_per_worker, int) or threads_per_worker < 1):
            raise ConfigError("executor.options.threads_per_worker", f"must be a positive integer, got {threads_per_worker!r}")
        self.parallelism = workers
        self.threads = threads_per_worker or max(1, cpus // workers)
        self._ctx = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._lock = threading.Lock()

    def start(self, workdir: Path, evaluator: Evaluator) -> None:
        super().start(workdir, evaluator)
        self._workers = [_Worker(self._ctx, evaluator, self.workdir, self.threads) for _ in range(self.parallelism)]

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        raise NotImplementedError("LocalProcessExecutor runs trials only (submit_trial)")

    def submit_trial(self, architecture: Architecture, context: TrialContext) -> Future:
        with self._lock:
            index = next((i for i, w in enumerate(self._workers) if not w.busy), None)
            if index is None:
                raise RuntimeError(f"all {self.parallelism} workers are busy; the loop keeps at most 'parallelism' trials in flight")
            worker = self._workers[index]
            worker.busy = True
        future: Future = Future()
        worker.conn.send((architecture, context))
        # The worker starts the trial's own clock when it begins; the hard limit, counted from
        # the worker's "started" message, is a backstop for evaluators that never look at it.
        threading.Thread(target=self._wait, args=(index, worker, context.timeout, future), daemon=True).start()
        return future

    def _wait(self, index: int, worker: _Worker, timeout: float | None, future: Future) -> None:
        outcome: tuple[str, Any]
        hard_deadline: float | None = None
        while True:
            wait_for = 1.0
            if hard_deadline is not None:
                wait_for = max(0.0, min(1.0, hard_deadline - time.time()))
            try:
                if worker.conn.poll(wait_for):
                    outcome = worker.conn.recv()
                    if outcome[0] == "started":
                        if timeout is not None:
                            hard_deadline = time.time() + timeout + HARD_TIMEOUT_GRACE
                        continue
                    break
            except (EOFError, OSError):
                worker.process.join(timeout=5)
                outcome = ("dead", TrialFailed(f"worker process died while evaluating this trial (exit code {worker.process.exitcode})"))
                break
            if not worker.process.is_alive():
                outcome = ("dead", TrialFailed(f"worker process died while evaluating this trial (exit code {worker.process.exitcode})"))
                break
            if hard_deadline is not None and time.time() > hard_deadline:
                outcome = ("dead", TrialTimeout(f"trial exceeded its time limit; its worker was killed {HARD_TIMEOUT_GRACE:g} s past the deadline"))
                break
        if outcome[0] == "dead":
            worker.stop(kill=True)
            replacement = _Worker(self._ctx, self.evaluator, self.workdir, self.threads)
            with self._lock:
                self._workers[index] = replacement
        else:
            with self._lock:
                worker.busy = False
        if outcome[0] == "ok":
            future.set_result(outcome[1])
        else:
            future.set_exception(outcome[1])

    def shutdown(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.stop(kill=worker.busy)
