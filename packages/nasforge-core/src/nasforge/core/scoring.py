"""Scoring and ranking trials: pure functions of a config and trials (no experiment, no store).

The experiment loop tells strategies :func:`observation` of each finished trial and reports
:func:`best_trial` and :func:`pareto_trials`; ``nasforge status`` ranks a stored experiment with
the same functions, without building its components.
"""

from __future__ import annotations

import math

from nasforge.core.config import ExperimentConfig
from nasforge.core.pareto import pareto_front
from nasforge.core.records import Observation, Trial, TrialState


def observation(config: ExperimentConfig, trial: Trial) -> Observation:
    """What a strategy is told about ``trial``: objectives oriented to be maximised, feasibility, score."""
    metrics = dict(trial.metrics)
    complete = trial.state is TrialState.COMPLETE
    objectives: tuple[float, ...] = ()
    if complete:
        values = [metrics.get(o.metric, math.nan) * o.sign for o in config.objectives]
        objectives = tuple(values)
    feasible = complete and all(c.violation(metrics) == 0 for c in config.constraints)
    score = objectives[0] if complete and feasible and objectives and math.isfinite(objectives[0]) else None
    return Observation(
        architecture=trial.architecture,
        score=score,
        objectives=objectives,
        feasible=feasible,
        state=trial.state,
        fidelity=trial.fidelity,
        trial_number=trial.number,
        metrics=metrics,
    )


def best_trial(config: ExperimentConfig, trials: list[Trial]) -> Trial | None:
    """The best complete, feasible trial at the highest fidelity reached (first objective)."""
    candidates = [(t, observation(config, t)) for t in trials]
    candidates = [(t, o) for t, o in candidates if o.score is not None]
    if not candidates:
        return None
    return max(candidates, key=lambda to: (math.inf if to[0].fidelity is None else to[0].fidelity, to[1].score, -to[0].number))[0]


def pareto_trials(config: ExperimentConfig, trials: list[Trial]) -> list[Trial]:
    """The Pareto front over all objectives among feasible complete trials at the highest fidelity, best first objective first."""
    feasible = [(t, o) for t, o in ((t, observation(config, t)) for t in trials) if o.feasible and all(map(math.isfinite, o.objectives))]
    if not feasible:
        return []
    top = max(math.inf if t.fidelity is None else t.fidelity for t, _ in feasible)
    feasible = [(t, o) for t, o in feasible if (math.inf if t.fidelity is None else t.fidelity) == top]
    front = pareto_front([o.objectives for _, o in feasible])
    return sorted((feasible[i][0] for i in front), key=lambda t: -observation(config, t).objectives[0])


def ranked(config: ExperimentConfig, trials: list[Trial]) -> list[Trial]:
    """Complete, feasible trials, best first: highest fidelity first (a 12-epoch score does not
    compete with a 200-epoch one), then by the first objective."""
    scored = [(t, observation(config, t).score) for t in trials]
    order = sorted(((t, s) for t, s in scored if s is not None), key=lambda ts: (-(math.inf if ts[0].fidelity is None else ts[0].fidelity), -ts[1], ts[0].number))
    return [t for t, _ in order]
