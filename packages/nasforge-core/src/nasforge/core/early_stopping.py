"""Early stopping of hopeless trials from their learning curves.

An evaluator reports a trial's curve with ``context.report(step, **metrics)`` (the trainer does
after every epoch, with the validation ``accuracy``). With ``early_stopping`` in the config, the
experiment checks each report against the curves of the trials before it and stops the trial
(state ``pruned``, with the reason) when a rule says it cannot win:

``median``
    (the median stopping rule of Google Vizier) after ``grace`` steps, stop a trial whose best
    value so far is worse than the median of the other trials' best values up to the same step,
    once at least ``min_trials`` trials reached that step.
``asha``
    (asynchronous successive halving, Li et al. 2020) rungs at steps ``grace * eta**k``; a trial
    reaching a rung continues only if its value there is in the top ``1/eta`` of every value
    recorded at that rung so far (its own included). No trial waits for another.

Both compare the same metric (default: the first objective, in its direction). The curves of
finished trials are kept in each trial folder (``curve.json``) and read back by the driver, so the
rules work with trials run in other processes too (a worker decides with the curves known when
its trial started). Config::

    early_stopping: {rule: asha, grace: 1, eta: 3}
    early_stopping: {rule: median, grace: 2, min_trials: 3, metric: accuracy}
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nasforge.core.errors import TrialPruned

CURVE_FILE = "curve.json"


def _median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


@dataclass
class EarlyStopper:
    """Decides from reported curves whether a running trial should stop (picklable plain data).

    ``sign`` is +1 to maximise ``metric``, -1 to minimise it. ``curves`` maps a trial number to
    its reported ``{step: value}``.
    """

    rule: str
    metric: str
    sign: float = 1.0
    grace: int = 1
    eta: int = 3
    min_trials: int = 3
    curves: dict[int, dict[int, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.rule not in ("median", "asha"):
            raise ValueError(f"unknown early-stopping rule {self.rule!r}; rules: median, asha")

    # -- what the driver learns ---------------------------------------------------------------
    def record(self, trial: int, step: int, value: float) -> None:
        if math.isfinite(value):
            self.curves.setdefault(trial, {})[int(step)] = float(value)

    def add_curve(self, trial: int, curve: Mapping[int, float]) -> None:
        for step, value in curve.items():
            self.record(trial, int(step), float(value))

    # -- the rules ----------------------------------------------------------------------------
    def rungs(self, up_to: int) -> list[int]:
        out, r = [], max(1, self.grace)
        while r <= up_to:
            out.append(r)
            r *= max(2, self.eta)
        return out

    def decide(self, trial: int, step: int, value: float) -> str | None:
        """Record the report; return why the trial should stop, or None to go on."""
        self.record(trial, step, value)
        if step < self.grace or not math.isfinite(value):
            return None
        return self._median(trial, step) if self.rule == "median" else self._asha(trial, step, value)

    def _best_up_to(self, curve: Mapping[int, float], step: int) -> float | None:
        seen = [v * self.sign for s, v in curve.items() if s <= step]
        return max(seen) if seen else None

    def _median(self, trial: int, step: int) -> str | None:
        others = [self._best_up_to(c, step) for n, c in self.curves.items() if n != trial and max(c, default=0) >= step]
        others = [v for v in others if v is not None]
        if len(others) < self.min_trials:
            return None
        mine = self._best_up_to(self.curves[trial], step)
        median = _median(others)
        if mine is not None and mine < median:
            return (f"early-stopped at step {step} (median rule): best {self.metric} so far {mine * self.sign:.4g} is worse than "
                    f"the median {median * self.sign:.4g} of {len(others)} trials at the same step")
        return None

    def _asha(self, trial: int, step: int, value: float) -> str | None:
        if step not in self.rungs(step):
            return None
        at_rung = [c[step] * self.sign for c in self.curves.values() if step in c]
        keep = max(1, len(at_rung) // max(2, self.eta))
        if len(at_rung) < max(2, self.eta):
            return None  # too few trials at this rung to rank them yet
        cutoff = sorted(at_rung, reverse=True)[keep - 1]
        if value * self.sign < cutoff:
            return (f"early-stopped at step {step} (ASHA rung, eta={self.eta}): {self.metric} {value:.4g} is not in the top "
                    f"{keep} of {len(at_rung)} trials at this rung (cut-off {cutoff * self.sign:.4g})")
        return None

    # -- in a trial ---------------------------------------------------------------------------
    def reporter(self, trial: int, directory: Path) -> TrialReporter:
        """The ``context.reporter`` of one trial: saves its curve, raises TrialPruned to stop it."""
        return TrialReporter(self, trial, Path(directory))


@dataclass
class TrialReporter:
    """One trial's reporter (a picklable object, so it travels to worker processes)."""

    stopper: EarlyStopper
    trial: int
    directory: Path
    curve: dict[int, float] = field(default_factory=dict)

    def __call__(self, step: int, values: Mapping[str, float]) -> None:
        metric = self.stopper.metric
        if metric not in values:
            return
        self.curve[int(step)] = float(values[metric])
        (self.directory / CURVE_FILE).write_text(json.dumps({"metric": metric, "curve": self.curve}), encoding="utf-8")
        reason = self.stopper.decide(self.trial, int(step), float(values[metric]))
        if reason is not None:
            raise TrialPruned(reason)


def read_curve(directory: Path) -> dict[int, float]:
    """A finished trial's saved curve (empty when it reported none)."""
    try:
        data = json.loads((Path(directory) / CURVE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {int(k): float(v) for k, v in data.get("curve", {}).items()}
