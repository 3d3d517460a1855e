"""nasforge from Python (notebooks, scripts): build a config, run it, look at the results.

    import nasforge.api as nf

    def score(arch):                                   # any callable is an evaluator
        return {"accuracy": arch["width"] / 64, "params": arch["width"] * 1000.0}

    result = nf.run(
        space={"width": nf.integer(8, 64, step=8), "act": ["relu", "gelu"]},
        evaluator=score, strategy="random",
        objectives=["accuracy", "params:min"], budget={"trials": 10},
    )
    result.best, result.pareto, result.table()         # table(): a pandas DataFrame

Everything the YAML format says can be said here: :func:`config` takes the same fields as keyword
arguments or a dict (``space``, ``strategy`` and ``evaluator`` may also be Python objects: a
:class:`SearchSpace` or a ``{name: choice}`` mapping, a :class:`SearchStrategy` or
:class:`Evaluator` subclass, a plain function). Documented in docs/api.md.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasforge.core.config import ExperimentConfig, load_config, validate_config
from nasforge.core.errors import ConfigError, UserError
from nasforge.core.evaluator import Evaluator
from nasforge.core.plugins import PluginManager, get_plugin_manager
from nasforge.core.records import Trial, TrialState
from nasforge.core.space import Categorical, Choice, Integer, SearchSpace
from nasforge.core.strategy import SearchStrategy

__all__ = ["Categorical", "ConfigError", "Evaluator", "Integer", "Result", "SearchSpace", "SearchStrategy", "categorical", "config", "integer", "load", "resume", "run", "space"]


def integer(low: int, high: int, step: int = 1, when: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An integer choice from ``low`` to ``high`` (both included) for :func:`space`."""
    return {"type": "int", "low": low, "high": high, "step": step, **({"when": dict(when)} if when else {})}


def categorical(values: Sequence[Any], ordered: bool = False, when: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A choice among ``values`` for :func:`space`; ``ordered`` makes neighbours adjacent values."""
    return {"type": "categorical", "values": list(values), "ordered": ordered, **({"when": dict(when)} if when else {})}


def space(choices: SearchSpace | Mapping[str, Any] | Sequence[Any] | None = None, /, **named: Any) -> SearchSpace:
    """A search space from Python: ``space(width=integer(8, 64, step=8), act=["relu", "gelu"])``.

    A value may be :func:`integer` or :func:`categorical`, a list or tuple of values
    (categorical), a ``range`` (integers), a choice's config mapping (``{"type": "int", "low": 1,
    "high": 3}``, with ``when``/``repeat`` as in YAML) or a :class:`Choice` (its name is replaced
    by the key). A list of config mappings or an
    existing :class:`SearchSpace` is taken as it is.
    """
    if isinstance(choices, SearchSpace):
        return choices
    if isinstance(choices, Sequence) and not isinstance(choices, (str, bytes)):
        return SearchSpace.from_config(list(choices))
    items = {**(dict(choices) if choices else {}), **named}
    configs = []
    for name, value in items.items():
        if isinstance(value, Choice):
            cfg = value.to_config()
        elif isinstance(value, range):
            cfg = {"type": "int", "low": value.start, "high": value[-1], "step": value.step}
        elif isinstance(value, (list, tuple)):
            cfg = {"type": "categorical", "values": list(value)}
        elif isinstance(value, Mapping):
            cfg = dict(value)
        else:
            raise ConfigError(f"space.{name}", f"expected a Choice, a list of values, a range or a choice mapping, got {value!r}")
        cfg["name"] = name
        configs.append(cfg)
    if not configs:
        raise ConfigError("space", "a search space needs at least one choice")
    return SearchSpace.from_config(configs)


def _python_component(pm: PluginManager, kind: str, obj: Any) -> str:
    """Register a Python class or function for this run only; return the name it got."""
    if kind == "evaluator" and not (isinstance(obj, type) and issubclass(obj, Evaluator)):
        from nasforge.core.builtin import FunctionEvaluator

        fn = obj

        class _Bound(FunctionEvaluator):
            def __init__(self, space: SearchSpace) -> None:
                super().__init__(space, fn)

        target: Any = _Bound
    else:
        target = obj
    name = f"python:{getattr(obj, '__qualname__', type(obj).__name__)}"

    class _Plugin:
        pass

    plugin = _Plugin()
    hook = f"nasforge_register_{'strategies' if kind == 'strategy' else kind + 's'}"
    from nasforge.core.hookspecs import hookimpl

    setattr(plugin, hook, hookimpl(lambda register: register(name, target, f"Python object {name[7:]} (this session)")))
    plugin_name = f"python-{kind}-{id(obj)}"
    if plugin_name not in {p.name for p in pm.plugins()}:
        pm.register(plugin, name=plugin_name, distribution="(Python session)")
    return name


def _importable_path(fn: Callable[..., Any]) -> str | None:
    """``module:function`` when ``fn`` can be imported back by that path (so a run can be resumed)."""
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname or "." in qualname or not inspect.isfunction(fn):
        return None
    return f"{module}:{qualname}"


def config(data: Mapping[str, Any] | ExperimentConfig | str | Path | None = None, /, **fields: Any) -> ExperimentConfig:
    """A validated config from a dict, a YAML file path or keyword arguments (the YAML fields).

    Python objects for ``space``, ``strategy`` or ``evaluator`` are turned into their config
    form; objects that have none (a lambda, a class defined in a notebook) are registered when
    :func:`run` is given them, so pass them to :func:`run` rather than here.
    """
    if isinstance(data, ExperimentConfig) and not fields:
        return data
    if isinstance(data, (str, Path)):
        base = load_config(data).model_dump(mode="json")
    elif isinstance(data, ExperimentConfig):
        base = data.model_dump(mode="json")
    else:
        base = dict(data or {})
    base.update(fields)
    if isinstance(base.get("space"), (SearchSpace, Mapping)) and not _is_space_config(base["space"]):
        base["space"] = {"choices": space(base["space"]).to_config()["choices"]}
    elif isinstance(base.get("space"), SearchSpace):
        base["space"] = {"choices": base["space"].to_config()["choices"]}
    for kind in ("strategy", "evaluator", "executor"):
        if isinstance(base.get(kind), str):
            base[kind] = {"name": base[kind]}
    evaluator = base.get("evaluator")
    if callable(evaluator) and not isinstance(evaluator, type):
        path = _importable_path(evaluator)
        if path is None:
            raise ConfigError("evaluator", f"{evaluator!r} cannot be imported back by name; pass it to nasforge.api.run(evaluator=...) instead")
        base["evaluator"] = {"name": "function", "options": {"function": path}}
    return validate_config(base, source="the config given in Python")


def _is_space_config(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(set(value) & {"name", "choices", "options"})


@dataclass
class Result:
    """What a run gave: the best trial, the Pareto front and every trial, plus a table of them."""

    directory: Path
    config: ExperimentConfig
    trials: list[Trial]
    best: Trial | None
    pareto: list[Trial] = field(default_factory=list)
    stop_reason: str = ""

    @property
    def complete(self) -> list[Trial]:
        return [t for t in self.trials if t.state is TrialState.COMPLETE]

    def feasible(self, trial: Trial) -> bool:
        return trial.state is TrialState.COMPLETE and all(c.violation(dict(trial.metrics)) == 0 for c in self.config.constraints)

    def records(self) -> list[dict[str, Any]]:
        """One flat dict per trial: number, state, feasible, fidelity, every metric and choice."""
        rows = []
        for t in self.trials:
            row: dict[str, Any] = {"number": t.number, "state": t.state.value, "feasible": self.feasible(t), "fidelity": t.fidelity}
            row.update({m: v for m, v in t.metrics.items()})
            row.update({f"arch.{k}": v for k, v in t.architecture.items()})
            row["error"] = t.error
            rows.append(row)
        return rows

    def table(self) -> Any:
        """Every trial as a pandas DataFrame indexed by trial number (pandas must be installed;
        :meth:`records` gives the same rows without it)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("Result.table() needs pandas (pip install pandas); Result.records() gives the same rows as dicts") from None
        return pd.DataFrame(self.records()).set_index("number")

    def top(self, k: int = 5) -> list[Trial]:
        """The ``k`` best feasible complete trials by the first objective."""
        objective = self.config.objectives[0]
        scored = [t for t in self.complete if self.feasible(t) and math.isfinite(t.metrics.get(objective.metric, math.nan))]
        return sorted(scored, key=lambda t: -t.metrics[objective.metric] * objective.sign)[:k]

    def __repr__(self) -> str:
        best = "none" if self.best is None else f"trial {self.best.number} {dict(self.best.metrics)}"
        return f"Result({len(self.trials)} trials in {self.directory}, best: {best}, front: {len(self.pareto)})"


def _prepare(evaluator: Any = None, strategy: Any = None, plugins: Sequence[str] = (), **fields: Any) -> tuple[dict[str, Any], PluginManager]:
    pm = get_plugin_manager(list(plugins), fresh=True)
    if plugins:
        fields["plugins"] = list(plugins)
    if evaluator is not None:
        if isinstance(evaluator, (str, Mapping)):
            fields["evaluator"] = evaluator
        elif callable(evaluator) and not isinstance(evaluator, type) and _importable_path(evaluator):
            fields["evaluator"] = {"name": "function", "options": {"function": _importable_path(evaluator)}}
        else:
            fields["evaluator"] = {"name": _python_component(pm, "evaluator", evaluator)}
    if strategy is not None:
        fields["strategy"] = strategy if isinstance(strategy, (str, Mapping)) else {"name": _python_component(pm, "strategy", strategy)}
    return fields, pm


def run(cfg: Mapping[str, Any] | ExperimentConfig | str | Path | None = None, /, *, evaluator: Any = None, strategy: Any = None,
        plugins: Sequence[str] = (), directory: str | Path | None = None, progress: bool = False, **fields: Any) -> Result:
    """Run a search and return its :class:`Result`.

    ``cfg`` is a dict, an :class:`ExperimentConfig` or a YAML path; keyword arguments set or
    override its fields (``space``, ``objectives``, ``constraints``, ``budget``, ``output`` ...).
    ``evaluator`` may be a function ``arch_dict -> {metric: value}`` or an :class:`Evaluator`
    subclass, ``strategy`` a :class:`SearchStrategy` subclass; both may also be registered names.
    ``directory`` is the experiment folder (default: a new one under ``output``); ``progress``
    prints one line per finished trial. Each run writes the same folder, store and report as
    ``nasforge run``.
    """
    from nasforge.core.experiment import Experiment

    base = config(cfg).model_dump(mode="json") if cfg is not None else {}
    extra, pm = _prepare(evaluator, strategy, plugins, **fields)
    final = config({**base, **extra})
    experiment = Experiment.create(final, plugin_manager=pm, directory=directory)
    reporter = None
    if progress:
        from nasforge.core.progress import ProgressReporter

        reporter = ProgressReporter(live=False)
        pm.register(reporter, name="api-progress")
    try:
        outcome = experiment.run()
    finally:
        experiment.close()
    return Result(Path(experiment.directory), final, outcome.trials, outcome.best, outcome.pareto, outcome.stop_reason)


def resume(directory: str | Path, *, evaluator: Any = None, strategy: Any = None, trials: int | None = None) -> Result:
    """Continue an experiment folder; pass the same Python ``evaluator``/``strategy`` objects a
    run made from Python was given (a config names them ``python:...``)."""
    from nasforge.core.experiment import Experiment
    from nasforge.core.store import Store

    with Store(directory, read_only=True) as store:
        stored = store.get_meta("config")
    if stored is None:
        raise UserError(f"{str(directory)!r} has no stored config")
    pm = get_plugin_manager(stored.get("plugins", []), fresh=True)
    for kind, obj in (("evaluator", evaluator), ("strategy", strategy)):
        if obj is not None and not isinstance(obj, str):
            name = _python_component(pm, kind, obj)
            if stored[kind]["name"] != name and stored[kind]["name"].startswith("python:"):
                raise UserError(f"the experiment's {kind} was {stored[kind]['name']!r}; got {name!r}")
    experiment = Experiment.resume(directory, plugin_manager=pm, budget_trials=trials)
    try:
        outcome = experiment.run()
    finally:
        experiment.close()
    return Result(Path(directory), experiment.config, outcome.trials, outcome.best, outcome.pareto, outcome.stop_reason)


def load(directory: str | Path) -> Result:
    """The :class:`Result` of an experiment folder, read-only (also while it is running)."""
    from nasforge.core.experiment import Experiment
    from nasforge.core.report import load_experiment

    cfg, trials, status = load_experiment(directory)
    view = Experiment.__new__(Experiment)  # just enough of an Experiment to rank trials
    view.config = cfg
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    front = view.pareto_trials(complete) if len(cfg.objectives) > 1 else []
    return Result(Path(directory), cfg, trials, view.best_trial(complete), front, status)
