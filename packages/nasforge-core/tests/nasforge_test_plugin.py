"""A tiny plugin used by the core's tests: a seeded strategy and a synthetic evaluator.

It lets the core be tested without any other nasforge package installed.
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np

from nasforge.core import EvaluationResult, Evaluator, SearchStrategy, TrialFailed, hookimpl


class SeededRandom(SearchStrategy):
    """Uniform sampling without repeats, seeded (enough to exercise the loop)."""

    def __init__(self, space, seed=0):
        super().__init__(space, seed)
        self.seen = set()
        self.best = None

    def suggest(self):
        if len(self.seen) >= self.space.size():
            return None
        for _ in range(1000):
            arch = self.space.sample(self.rng)
            if arch not in self.seen:
                self.seen.add(arch)
                return arch
        return None

    def observe(self, observation):
        if observation.score is not None and (self.best is None or observation.score > self.best):
            self.best = observation.score


class Hill(SearchStrategy):
    """Samples, then mutates the best architecture so far: what it proposes depends on what it was told."""

    def __init__(self, space, seed=0):
        super().__init__(space, seed)
        self.best = None
        self.best_score = None

    def suggest(self):
        if self.best is None or self.rng.random() < 0.3:
            return self.space.sample(self.rng)
        return self.space.mutate(self.best, self.rng)

    def observe(self, observation):
        if observation.score is not None and (self.best_score is None or observation.score > self.best_score):
            self.best, self.best_score = observation.architecture, observation.score


class Broken(SeededRandom):
    """Raises in the method named by the NASFORGE_TEST_BREAK environment variable (init, ask or tell),
    after ``after`` successful calls of it."""

    def __init__(self, space, seed=0, after=0):
        self.after = after
        self.calls = 0
        if os.environ.get("NASFORGE_TEST_BREAK") == "init":
            raise RuntimeError("broken on purpose in __init__")
        super().__init__(space, seed)

    def _maybe_break(self, where):
        if os.environ.get("NASFORGE_TEST_BREAK") == where:
            self.calls += 1
            if self.calls > self.after:
                raise RuntimeError(f"broken on purpose in {where}")

    def suggest(self):
        self._maybe_break("ask")
        return super().suggest()

    def observe(self, observation):
        self._maybe_break("tell")
        super().observe(observation)


class Unseeded(SeededRandom):
    """Draws from an unseeded generator: not deterministic, so it cannot be resumed by replay."""

    def suggest(self):
        import random

        arch = self.space.sample(np.random.default_rng(random.randrange(2**32)))
        self.seen.add(arch)
        return arch


class Synthetic(Evaluator):
    """accuracy = a/10 (+0.05 when b == 'y'); params = 100 * (a + 1). Failure modes on request."""

    metrics = ("accuracy", "params", "latency_ms", "pid", "setups")

    def __init__(self, space, fail_on=None, nan_on=None, sleep=0.0, hang_on=None, log_file=None, crash_on=None, block_on=None,
                 fail_message=None, setup_error=None, jitter=0.0):
        super().__init__(space)
        self.fail_message = fail_message
        self.setup_error = setup_error
        self.jitter = float(jitter)
        self.fail_on = set(fail_on or [])
        self.nan_on = set(nan_on or [])
        self.hang_on = set(hang_on or [])
        self.crash_on = set(crash_on or [])
        self.block_on = set(block_on or [])
        self.sleep = float(sleep)
        self.log_file = log_file
        self.setups: list[int] = []  # pids that set this copy up; teardown clears it

    def setup(self, workdir):
        if self.setup_error:
            raise RuntimeError(self.setup_error)
        self.setups.append(os.getpid())

    def teardown(self):
        self.setups.clear()

    def _log(self, event, number):
        if self.log_file:
            with open(self.log_file, "a") as fh:
                fh.write(json.dumps([event, number]) + "\n")

    def evaluate(self, architecture, context):
        self._log("start", context.number)
        a = architecture["a"]
        if a in self.fail_on:
            raise (ValueError(self.fail_message) if self.fail_message else TrialFailed(f"a={a} is configured to fail"))
        if a in self.block_on:
            time.sleep(60)  # ignores its deadline entirely
        if a in self.crash_on:
            os._exit(3)  # the worker process dies abruptly
        if a in self.hang_on:
            while True:  # a long loop that checks its deadline, as evaluators should
                time.sleep(0.01)
                context.check()
        end = time.time() + self.sleep + (random.random() * self.jitter)  # unseeded: completion order varies
        while time.time() < end:
            time.sleep(0.01)
            context.check()
        accuracy = math.nan if a in self.nan_on else a / 10 + (0.05 if architecture.get("b") == "y" else 0.0)
        (Path(context.directory) / "done.txt").write_text("ok")
        self._log("end", context.number)
        return EvaluationResult({"accuracy": accuracy, "params": 100.0 * (a + 1), "latency_ms": float(a), "pid": float(os.getpid()), "setups": float(len(self.setups))})


@hookimpl
def nasforge_register_strategies(register):
    register("seeded_random", SeededRandom)
    register("hill", Hill)
    register("broken", Broken)
    register("unseeded", Unseeded)


@hookimpl
def nasforge_register_evaluators(register):
    register("synthetic", Synthetic)
