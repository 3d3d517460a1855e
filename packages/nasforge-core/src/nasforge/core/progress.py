"""Live progress of a running experiment: trial i/N, best so far and ETA.

A plugin like any other: :class:`ProgressReporter` implements lifecycle hooks. On a terminal it
draws a rich progress bar; elsewhere (CI logs, pipes) it prints one line per finished trial.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from nasforge.core.formatting import human
from nasforge.core.hookspecs import hookimpl
from nasforge.core.records import Trial, TrialState


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    m, s = divmod(seconds, 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def infeasible_reason(config: Any, trial: Trial) -> str:
    """The constraints a complete trial breaks, as text ('' when it meets them all or is not complete)."""
    if trial.state is not TrialState.COMPLETE:
        return ""
    return ", ".join(str(c) for c in config.constraints if c.violation(dict(trial.metrics)) != 0)


class ProgressReporter:
    """Shows progress for one experiment; register it with the plugin manager while it runs."""

    def __init__(self, console: Console | None = None, live: bool | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.live = self.console.is_terminal if live is None else live
        self._progress: Progress | None = None
        self._task: Any = None
        self._done = 0
        self._total: int | None = None
        self._start = time.time()
        self._durations: list[float] = []

    def _best_text(self, experiment: Any) -> str:
        best = experiment.best_trial()
        if best is None:
            return "best: -"
        metric = experiment.config.objectives[0].metric
        return f"best {metric}: {human(best.metrics.get(metric, float('nan')), metric)} (trial {best.number})"

    def _eta(self) -> str:
        if self._total is None or not self._durations:
            return "?"
        mean = sum(self._durations) / len(self._durations)
        return format_duration(mean * max(0, self._total - self._done))

    @hookimpl
    def nasforge_before_experiment(self, experiment: Any) -> None:
        self._total = experiment.config.budget.trials
        self._done = len([t for t in experiment.store.trials() if t.state.is_finished()])
        self._start = time.time()
        if self.live:
            self._progress = Progress(
                TextColumn("[bold]trials"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[best]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._progress.start()
            self._task = self._progress.add_task("search", total=self._total, completed=self._done, best=escape(self._best_text(experiment)))

    @hookimpl
    def nasforge_after_trial(self, experiment: Any, trial: Trial) -> None:
        self._done += 1
        if trial.duration is not None:
            self._durations.append(trial.duration)
        best = self._best_text(experiment)
        broken = infeasible_reason(experiment.config, trial)
        if self._progress is not None:
            self._progress.update(self._task, completed=self._done, best=escape(best))
            if trial.state is not TrialState.COMPLETE:
                self._progress.console.print(Text(f"trial {trial.number} {trial.state.value}: {trial.error}", style="yellow"))
            elif broken:
                self._progress.console.print(Text(f"trial {trial.number} infeasible: breaks {broken}", style="yellow"))
            return
        total = "?" if self._total is None else self._total
        shown = ", ".join(f"{k}={human(v, k)}" for k, v in list(trial.metrics.items())[:4])
        if trial.state is not TrialState.COMPLETE:
            status = f"{trial.state.value} ({trial.error})"
        else:
            status = f"infeasible (breaks {broken})" if broken else "complete"
        print(f"[{self._done}/{total}] trial {trial.number} {status} {shown} | {best} | ETA {self._eta()}", file=sys.stderr, flush=True)

    @hookimpl
    def nasforge_after_experiment(self, experiment: Any, result: Any) -> None:
        self.stop()

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
