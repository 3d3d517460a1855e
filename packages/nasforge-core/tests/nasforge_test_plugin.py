"""A tiny plugin used by the core's tests: a seeded strategy and a synthetic evaluator.

It lets the core be tested without any other nasforge package installed.
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

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


class Synthetic(Evaluator):
    """accuracy = a/10 (+0.05 when b == 'y'); params = 100 * (a + 1). Failure modes on request."""

    metrics = ("accuracy", "params", "latency_ms", "pid", "setups")

    def __init__(self, space, fail_on=None, nan_on=None, sleep=0.0, hang_on=None, log_file=None, crash_on=None, block_on=None):
        super().__init__(space)
        self.fail_on = set(fail_on or [])
        self.nan_on = set(nan_on or [])
        self.hang_on = set(hang_on or [])
        self.crash_on = set(crash_on or [])
        self.block_on = set(block_on or [])
        self.sleep = float(sleep)
        self.log_file = log_file
        self.setups: list[int] = []  # pids that set this copy up; teardown clears it

    def setup(self, workdir):
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
            raise TrialFailed(f"a={a} is configured to fail")
        if a in self.block_on:
            time.sleep(60)  # ignores its deadline entirely
        if a in self.crash_on:
            os._exit(3)  # the worker process dies abruptly
        if a in self.hang_on:
            while True:  # a long loop that checks its deadline, as evaluators should
                time.sleep(0.01)
                context.check()
        end = time.time() + self.sleep
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


@hookimpl
def nasforge_register_evaluators(register):
    register("synthetic", Synthetic)
