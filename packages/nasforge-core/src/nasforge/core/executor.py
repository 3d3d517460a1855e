"""Executors decide where trial evaluations run and how many at once.

The interface follows :mod:`concurrent.futures`: the loop keeps up to ``parallelism`` trials in
flight with :meth:`Executor.submit` and collects them as their futures finish.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class Executor(ABC):
    """Base class of executors.

    Call order::

        executor = Cls(**options)
        executor.start(workdir)            # once, before the first submit
        future = executor.submit(fn, *args)   # fn(*args) must be picklable for remote executors
        ... concurrent.futures.wait(futures, return_when=FIRST_COMPLETED) ...
        executor.shutdown()

    A future whose worker died must finish with an exception; the loop records the trial as
    failed with that exception's message.
    """

    #: How many trials may be in flight at once.
    parallelism: int = 1

    def start(self, workdir: Any) -> None:
        """Start workers (optional)."""

    @abstractmethod
    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        """Run ``fn(*args)`` and return a future for its result."""

    def shutdown(self) -> None:
        """Stop workers (optional)."""


class SequentialExecutor(Executor):
    """Runs each trial in the calling process, one at a time (the default)."""

    parallelism = 1

    def submit(self, fn: Callable[..., Any], /, *args: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # the loop turns this into a failed trial
            if isinstance(exc, KeyboardInterrupt):
                raise
            future.set_exception(exc)
        return future
