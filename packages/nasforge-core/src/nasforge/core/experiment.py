"""The experiment loop: ask the strategy, evaluate, store, tell — until the budget is spent.

An :class:`Experiment` owns one folder::

    <output>/<name>-<timestamp>/
        nasforge.db        every trial and the strategy state (SQLite, committed as it happens)
        config.yaml        the validated config
        trials/00003/      what the evaluator wrote for trial 3 (weights, logs, error.txt)
        result.json        best trial and Pareto front, written at the end

:meth:`Experiment.resume` reopens a folder after a crash: finished trials are kept as they are,
trials that were pending or running are evaluated again, and the strategy continues from its
stored state.
"""

from __future__ import annotations

import json
import math
import sys
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from nasforge.core import scoring
from nasforge.core.config import ExperimentConfig, validate_config
from nasforge.core.errors import ConfigError, NasforgeError, PluginError, StorageError, TrialFailed, TrialPruned, UserError
from nasforge.core.evaluator import Evaluator, TrialContext, evaluate_trial  # noqa: F401 - evaluate_trial: its old home
from nasforge.core.executor import Executor
from nasforge.core.lock import LOCK_NAME, ExperimentLock
from nasforge.core.plugins import PluginManager, get_plugin_manager, instantiate  # instantiate: its old home
from nasforge.core.records import Observation, Trial, TrialState
from nasforge.core.report import write_report
from nasforge.core.space import SearchSpace
from nasforge.core.store import Store
from nasforge.core.strategy import SearchStrategy

FINISHED = (TrialState.COMPLETE, TrialState.FAILED, TrialState.PRUNED)


@dataclass
class ExperimentResult:
    """How an experiment ended: its best trial, the Pareto front (several objectives) and every trial."""

    directory: Path
    best: Trial | None
    pareto: list[Trial]
    trials: list[Trial]
    stop_reason: str
    objectives: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for t in self.trials:
            counts[t.state.value] = counts.get(t.state.value, 0) + 1
        return {
            "directory": str(self.directory),
            "stop_reason": self.stop_reason,
            "objectives": self.objectives,
            "counts": counts,
            "best": None if self.best is None else self.best.to_dict(),
            "pareto": [t.to_dict() for t in self.pareto],
        }


def build_space(config: ExperimentConfig, pm: PluginManager) -> SearchSpace:
    if config.space.choices is not None:
        try:
            space = SearchSpace.from_config(config.space.choices, name=config.space.name or "custom")
        except UserError as exc:
            raise ConfigError("space.choices", str(exc)) from None
    else:
        factory = pm.get("space", config.space.name or "")
        space = instantiate(factory, (), dict(config.space.options), "space.options", f"space {config.space.name!r}")
        if not isinstance(space, SearchSpace):
            raise NasforgeError(f"space factory {config.space.name!r} returned {type(space).__name__}, not a SearchSpace")
    if not config.space.extra_choices:
        return space
    try:  # appended after the space's own choices (they may depend on them), under the space's name
        extra = SearchSpace.from_config([*space.to_config()["choices"], *config.space.extra_choices], name=space.name)
    except UserError as exc:
        raise ConfigError("space.extra_choices", str(exc)) from None
    return extra


class Experiment:
    """One search: config, folder, store, strategy, evaluator and executor."""

    def __init__(self, config: ExperimentConfig, directory: Path, store: Store, plugin_manager: PluginManager | None = None) -> None:
        self.config = config
        self.name = config.name
        self.directory = Path(directory)
        self.store = store
        #: The folder's writer lock, held from create/resume until :meth:`close` (or the process ends).
        self.lock: ExperimentLock | None = None
        self.pm = _plugin_manager(config, plugin_manager)
        self.space = build_space(config, self.pm)
        if self.space.size() == 0:
            raise ConfigError("space", "the search space contains no architecture")
        strategy_cls = self._lookup("strategy", config.strategy.name, "strategy.name")
        with self._blame("strategy", "__init__"):
            self.strategy: SearchStrategy = instantiate(
                strategy_cls, (self.space,), {"seed": config.seed, **config.strategy.options}, "strategy.options", f"strategy {config.strategy.name!r}"
            )
        evaluator_cls = self._lookup("evaluator", config.evaluator.name, "evaluator.name")
        with self._blame("evaluator", "__init__"):
            self.evaluator: Evaluator = instantiate(evaluator_cls, (self.space,), dict(config.evaluator.options), "evaluator.options", f"evaluator {config.evaluator.name!r}")
        self._check_metrics()
        if len(config.objectives) > 1 and not getattr(self.strategy, "multi_objective", False):
            self.scalar_note = f"strategy {config.strategy.name!r} optimises the first objective ({config.objectives[0].metric}); the Pareto front covers all"
        else:
            self.scalar_note = ""
        executor_cls = self._lookup("executor", config.executor.name, "executor.name")
        with self._blame("executor", "__init__"):
            self.executor: Executor = instantiate(executor_cls, (), dict(config.executor.options), "executor.options", f"executor {config.executor.name!r}")
        if config.trial_timeout is not None and not self.executor.honour_timeouts():
            raise ConfigError(
                "trial_timeout",
                f"executor {config.executor.name!r} cannot stop a trial that ignores its deadline; use the 'sequential' or 'process' "
                "executor, or drop trial_timeout and let the evaluator enforce its own limit",
            )
        self.stopper = self._early_stopper()
        self.started_at = time.time()
        self._elapsed_base = float(store.get_meta("elapsed", 0.0))
        self.stop_reason = ""
        #: Extra sections (rich renderables or text) that plugins add to the run's summary.
        self.summaries: list[Any] = []

    # -- construction ---------------------------------------------------------------------------
    def _lookup(self, kind: str, name: str, field_name: str) -> Any:
        try:
            return self.pm.get(kind, name)
        except UserError as exc:
            raise ConfigError(field_name, str(exc)) from None

    def _check_metrics(self) -> None:
        known = tuple(getattr(self.evaluator, "metrics", ()) or ())
        if not known:
            return
        for i, objective in enumerate(self.config.objectives):
            if objective.metric not in known:
                raise ConfigError(f"objectives[{i}].metric", f"evaluator {self.config.evaluator.name!r} does not report {objective.metric!r}; it reports: {', '.join(known)}")
        for i, constraint in enumerate(self.config.constraints):
            if constraint.metric not in known:
                raise ConfigError(f"constraints[{i}]", f"evaluator {self.config.evaluator.name!r} does not report {constraint.metric!r}; it reports: {', '.join(known)}")

    def _early_stopper(self) -> Any:
        section = self.config.early_stopping
        if section is None:
            return None
        from nasforge.core.early_stopping import EarlyStopper

        metric = section.metric or self.config.objectives[0].metric
        known = tuple(getattr(self.evaluator, "metrics", ()) or ())
        if known and metric not in known:
            raise ConfigError("early_stopping.metric", f"evaluator {self.config.evaluator.name!r} does not report {metric!r}; it reports: {', '.join(known)}")
        sign = next((o.sign for o in self.config.objectives if o.metric == metric), 1.0)
        return EarlyStopper(section.rule, metric, sign, section.grace, section.eta, section.min_trials)

    @classmethod
    def create(cls, config: ExperimentConfig, output: str | Path | None = None, plugin_manager: PluginManager | None = None, directory: str | Path | None = None) -> Experiment:
        """Start a new experiment in a new folder under ``output`` (or exactly in ``directory``)."""
        pm = _plugin_manager(config, plugin_manager)
        if directory is None:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            base = Path(output or config.output) / f"{config.name}-{stamp}"
            directory, k = base, 1
            while directory.exists():
                k += 1
                directory = base.with_name(f"{base.name}-{k}")
        # Plugins check the sections they own first: a typo there creates no folder at all.
        pm.call_lifecycle("nasforge_check_config", config=config, plugin_manager=pm)
        directory = Path(directory)
        lock = ExperimentLock(directory)
        if (directory / "nasforge.db").exists():
            if not _unfinished_creation(directory):
                raise UserError(f"{str(directory)!r} already holds an experiment; resume it with 'nasforge resume {directory}' or choose another folder")
            # A run killed while it created this folder left a database without config or trials:
            # nothing is lost by starting over in it.
            lock.acquire("start an experiment in")
            _remove_new_folder(directory, keep_folder=True)
        # A config mistake found while building the components removes the new folder again.
        directory.mkdir(parents=True, exist_ok=True)
        lock.acquire("start an experiment in")
        try:
            store = Store(directory, create=True)
        except BaseException:
            lock.release()
            raise
        try:
            experiment = cls(config, directory, store, pm)
        except BaseException:
            store.close()
            lock.release()
            _remove_new_folder(directory)
            raise
        experiment.lock = lock
        with store.transaction():
            store.set_meta("config", config.model_dump(mode="json"))
            store.set_meta("created_at", time.time())
            store.set_meta("status", "created")
            store.set_meta("elapsed", 0.0)
        (directory / "config.yaml").write_text(config.to_yaml(), encoding="utf-8")
        return experiment

    @classmethod
    def resume(cls, directory: str | Path, plugin_manager: PluginManager | None = None, budget_trials: int | None = None) -> Experiment:
        """Reopen an experiment folder; ``budget_trials`` may raise the trial budget."""
        directory = Path(directory)
        if budget_trials is not None and (isinstance(budget_trials, bool) or not isinstance(budget_trials, int) or budget_trials < 1):
            raise ConfigError("--trials", f"must be a positive whole number, got {budget_trials!r}")
        Store(directory, read_only=True).close()  # a clear error for a missing or foreign folder before locking it
        lock = ExperimentLock(directory).acquire("resume")
        try:
            store = Store(directory)
        except BaseException:
            lock.release()
            raise
        try:
            raw = store.get_meta("config")
            if raw is None:
                if _unfinished_creation(directory):
                    raise UserError(
                        f"{str(directory)!r} was interrupted while it was being created and holds no trial; "
                        f"start it again with 'nasforge run CONFIG --dir {directory}'"
                    )
                raise UserError(f"{str(directory)!r} has no stored config; it was not made by 'nasforge run'")
            if budget_trials is not None:
                raw = {**raw, "budget": {**raw.get("budget", {}), "trials": budget_trials}}
            config = validate_config(raw, source=f"the config stored in {directory}")
            if budget_trials is not None:
                store.set_meta("config", raw)  # only once it is known to be valid
            experiment = cls(config, directory, store, plugin_manager)
            state = store.strategy_state()
            if state is not None:
                with experiment._blame("strategy", "load_state_dict (resuming from its stored state)"):
                    experiment.strategy.load_state_dict(state)
        except BaseException:
            store.close()
            lock.release()
            raise
        experiment.lock = lock
        return experiment

    # -- what the loop tells strategies --------------------------------------------------------
    def observation(self, trial: Trial) -> Observation:
        """What the strategy is told about ``trial`` (:func:`nasforge.core.scoring.observation`)."""
        return scoring.observation(self.config, trial)

    # -- the loop -------------------------------------------------------------------------------
    def run(self) -> ExperimentResult:
        """Run until the budget is spent or the space is exhausted; safe to interrupt at any moment.

        However the run ends, the stored status says how (``finished``, ``interrupted`` or
        ``failed``, with the reason under the ``reason`` key): a broken plugin is raised as a
        :class:`PluginError` naming it, a storage problem (disk full) as a :class:`StorageError`;
        both leave a folder that ``nasforge resume`` continues once the cause is fixed.
        """
        self._elapsed_base = float(self.store.get_meta("elapsed", 0.0))
        self.started_at = time.time()
        self._released = False
        self._set_status("running", "")
        try:
            # Set up here even when workers evaluate: a mistake found by setup (a missing dataset
            # folder) then stops the run before any trial. Workers set up their own copy, so the
            # driver's resources are released before the evaluator is shipped to them.
            with self._blame("evaluator", "setup"):
                self.evaluator.setup(self.directory)
            if not self.executor.in_process:
                with self._blame("evaluator", "teardown"):
                    self.evaluator.teardown()
            with self._blame("executor", "start"):
                self.executor.start(self.directory, self.evaluator)
            self.pm.call_lifecycle("nasforge_before_experiment", experiment=self)
            self._loop()
            result = self._finish_run()
        except KeyboardInterrupt as exc:
            self.stop_reason = str(exc) or "interrupted"
            self._stopped("interrupted", self.stop_reason)
            raise
        except StorageError as exc:
            self.stop_reason = f"storage error: {exc}"
            self._stopped("interrupted", self.stop_reason)  # transient (disk full): resume continues
            raise
        except Exception as exc:
            self.stop_reason = f"{type(exc).__name__}: {exc}" if not isinstance(exc, NasforgeError) else str(exc)
            self._stopped("failed", self.stop_reason)
            raise
        finally:
            self._release()
        return result

    def _release(self) -> None:
        """Stop the executor and tear the evaluator down, once."""
        if not getattr(self, "_released", False):
            self._released = True
            self._quietly(self.executor.shutdown)
            self._quietly(self.evaluator.teardown)

    def _finish_run(self) -> ExperimentResult:
        """Write the results, then run the after-search hooks (compress, export ...).

        The status is ``finishing`` while those hooks run and becomes ``finished`` only when they
        are done: a run killed during them is resumed (the search part returns at once).
        """
        self._release()  # free workers and evaluator resources before the after-search steps
        result = self.result()
        with self.store.transaction():
            self.store.set_meta("elapsed", self._checkpoint_clock())
            self.store.set_meta("status", "finishing")
            self.store.set_meta("reason", "the search is done; the after-search steps (compress, export) have not finished")
        (self.directory / "result.json").write_text(json.dumps(result.to_dict(), indent=2), encoding="utf-8")
        write_report(self.directory, self.config, result.trials, result.stop_reason)
        self.pm.call_lifecycle("nasforge_after_experiment", experiment=self, result=result)
        if (self.directory / "deploy").is_dir():  # the after-search pipeline ran: its table joins the report
            write_report(self.directory, self.config, result.trials, result.stop_reason)
        self._save_elapsed("finished")
        return result

    def _loop(self) -> None:
        """Ask, evaluate, store, tell until the budget is spent.

        In deterministic mode (the default) the strategy is told results in trial-number order
        and asks for trial ``n + parallelism`` right after it is told trial ``n``, so its calls
        are the same sequence whatever order parallel workers finish in. Otherwise results are
        told as they arrive and a free worker gets a new proposal at once.
        """
        parallelism = max(1, self.executor.parallelism)
        ordered = self.config.deterministic
        trials = self.store.trials()
        untold = set(self.store.untold())
        if self.stopper is not None:  # curves of trials finished before a resume
            from nasforge.core.early_stopping import read_curve

            for t in trials:
                if t.state in FINISHED:
                    self.stopper.add_curve(t.number, read_curve(self.trial_directory(t.number)))
        # Asked but not yet told: None while it runs, the finished trial once it has a result.
        outstanding: dict[int, Trial | None] = {t.number: t for t in trials if t.state in FINISHED and t.number in untold}
        queue = [t for t in trials if t.state in (TrialState.PENDING, TrialState.RUNNING)]
        outstanding.update({t.number: None for t in queue})
        asked = len(trials)
        in_flight: dict[Future, tuple[Trial, TrialContext]] = {}
        exhausted = False

        def fill() -> None:
            nonlocal asked, exhausted
            while True:
                while queue and len(in_flight) < parallelism and self._time_left():
                    trial = self.store.mark_running(queue.pop(0))
                    self.pm.call_lifecycle("nasforge_before_trial", experiment=self, trial=trial)
                    context = self._context(trial)
                    with self._blame("executor", "submit_trial"):
                        future = self.executor.submit_trial(trial.architecture, context)
                    in_flight[future] = (trial, context)
                if queue or exhausted or len(outstanding) >= parallelism or not self._budget_left(asked):
                    return
                with self._blame("strategy", "ask"):
                    suggestion = self.strategy.ask_with_fidelity()
                    state = self.strategy.state_dict()
                if suggestion is None:
                    exhausted = True
                    self.stop_reason = "the strategy has nothing left to propose (space exhausted)"
                    return
                trial = self.store.add_trial(suggestion[0], suggestion[1], state)
                asked += 1
                outstanding[trial.number] = None
                queue.append(trial)

        def tell_ready() -> None:
            # Tell finished trials; in order (waiting for earlier ones) in deterministic mode.
            while outstanding:
                ready = [n for n, t in outstanding.items() if t is not None]
                if not ready:
                    return
                number = min(outstanding) if ordered else min(ready)
                trial = outstanding[number]
                if trial is None:
                    return
                self._tell(trial)
                del outstanding[number]
                fill()

        tell_ready()  # results stored but not told before a crash
        fill()
        while in_flight:
            done, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            for future in sorted(done, key=lambda f: in_flight[f][0].number):
                trial, _context = in_flight.pop(future)
                # The usual case (next in order, or any order allowed): told and stored in one commit.
                tell_now = not ordered or trial.number == min(outstanding)
                finished, told = self._record(trial, future, tell_now)
                if told:
                    del outstanding[trial.number]
                    fill()
                else:
                    outstanding[trial.number] = finished
            tell_ready()
            fill()

    def trial_directory(self, number: int) -> Path:
        return self.directory / "trials" / f"{number:05d}"

    def trial_seed(self, number: int) -> int:
        """The seed trial ``number`` is evaluated with (also used to retrain it after the search)."""
        return (self.config.seed * 100_003 + number) % 2**63

    def _context(self, trial: Trial) -> TrialContext:
        directory = self.trial_directory(trial.number)
        directory.mkdir(parents=True, exist_ok=True)
        return TrialContext(
            number=trial.number,
            seed=self.trial_seed(trial.number),
            directory=directory,
            fidelity=trial.fidelity,
            timeout=self.config.trial_timeout,
            reporter=None if self.stopper is None else self.stopper.reporter(trial.number, directory),
        )

    def _time_left(self) -> bool:
        seconds = self.config.budget.seconds
        if seconds is not None and self.elapsed() >= seconds:
            self.stop_reason = f"time budget of {seconds:g} s spent"
            return False
        return True

    def _budget_left(self, asked: int) -> bool:
        budget = self.config.budget
        if budget.trials is not None and asked >= budget.trials:
            self.stop_reason = f"trial budget of {budget.trials} spent"
            return False
        return self._time_left()

    def elapsed(self) -> float:
        """Seconds this experiment has run, over all its runs (saved with every trial)."""
        return self._elapsed_base + (time.time() - self.started_at)

    def _checkpoint_clock(self) -> float:
        """The elapsed time to save now; the in-memory clock restarts from it."""
        now = time.time()
        self._elapsed_base += now - self.started_at
        self.started_at = now
        return self._elapsed_base

    def _set_status(self, status: str, reason: str) -> None:
        with self.store.transaction():
            self.store.set_meta("status", status)
            self.store.set_meta("reason", reason)

    def _stopped(self, status: str, reason: str) -> None:
        """Record how the run stopped; best effort (the disk may be full)."""
        try:
            with self.store.transaction():
                self.store.set_meta("elapsed", self._checkpoint_clock())
                self.store.set_meta("status", status)
                self.store.set_meta("reason", reason)
        except Exception:
            pass

    @staticmethod
    def _quietly(fn: Any) -> None:
        try:
            fn()
        except Exception:
            pass

    def culprit(self, kind: str) -> str:
        """``strategy 'x' (plugin 'p' from distribution d 1.0)``: who provides the configured component."""
        name = getattr(self.config, kind).name
        try:
            info = self.pm.components(kind)[name].plugin
        except Exception:
            return f"{kind} {name!r}"
        return f"{kind} {name!r} (plugin {info.name!r} from {info.distribution} {info.version})".replace(" )", ")")

    @contextmanager
    def _blame(self, kind: str, what: str) -> Iterator[None]:
        """Re-raise an unexpected exception from a plugin's component as a PluginError naming it."""
        try:
            yield
        except (UserError, PluginError, StorageError):
            raise
        except Exception as exc:
            raise PluginError(f"{self.culprit(kind)} raised in {what}: {type(exc).__name__}: {exc}") from exc

    def _save_elapsed(self, status: str) -> None:
        with self.store.transaction():
            self.store.set_meta("elapsed", self._checkpoint_clock())
            self.store.set_meta("status", status)
            self.store.set_meta("reason", "" if status == "finished" else self.stop_reason)

    def _record(self, trial: Trial, future: Future, tell_now: bool = False) -> tuple[Trial, bool]:
        """Store a finished trial; with ``tell_now``, tell the strategy first and store both in one
        commit. Returns the trial and whether the strategy was told. The result is stored even when
        the strategy raises while told (it is then told again on resume)."""
        error: BaseException | None = None
        try:
            result = future.result()
            trial = trial.evolve(state=TrialState.COMPLETE, metrics=dict(result.metrics), artifacts=dict(result.artifacts))
            bad = [o.metric for o in self.config.objectives if not math.isfinite(result.metrics.get(o.metric, math.nan))]
            if bad:
                trial = trial.evolve(state=TrialState.FAILED, error=f"objective metric(s) missing or not finite: {', '.join(bad)}")
        except TrialPruned as exc:
            trial = trial.evolve(state=TrialState.PRUNED, error=str(exc) or "pruned")
        except Exception as exc:  # any evaluator error fails the trial; the search goes on
            error = exc
            reason = str(exc) if isinstance(exc, (TrialFailed, UserError)) else f"{type(exc).__name__}: {exc}"
            trial = trial.evolve(state=TrialState.FAILED, error=reason)
            directory = self.trial_directory(trial.number)
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "error.txt").write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        trial = trial.evolve(finished_at=time.time())
        if self.stopper is not None:  # what a worker process reported reaches the driver's rules
            from nasforge.core.early_stopping import read_curve

            self.stopper.add_curve(trial.number, read_curve(self.trial_directory(trial.number)))
        if trial.state is TrialState.COMPLETE:
            self._warn_unreported_constraints(trial)
        state = None
        if tell_now:
            try:
                with self._blame("strategy", "tell"):
                    self.strategy.tell(self.observation(trial))
                    state = self.strategy.state_dict()
            except BaseException:
                self.store.finish_trial(trial, None, untold=True, elapsed=self._checkpoint_clock())
                raise
        self.store.finish_trial(trial, state, untold=state is None, elapsed=self._checkpoint_clock())
        if error is not None:
            self.pm.call_lifecycle("nasforge_on_trial_error", experiment=self, trial=trial, error=error)
        self.pm.call_lifecycle("nasforge_after_trial", experiment=self, trial=trial)
        return trial, state is not None

    def _tell(self, trial: Trial) -> None:
        with self._blame("strategy", "tell"):
            self.strategy.tell(self.observation(trial))
            state = self.strategy.state_dict()
        self.store.mark_told(trial.number, state)

    def _warn_unreported_constraints(self, trial: Trial) -> None:
        """Say once, loudly, when a constraint names a metric the evaluator did not report: every
        trial would otherwise count as infeasible without a word. Kept in the store for ``status``."""
        warnings = list(self.store.get_meta("warnings", []))
        for constraint in self.config.constraints:
            if constraint.metric in trial.metrics:
                continue
            message = (f"constraint {constraint} names metric {constraint.metric!r}, which the evaluator did not report for trial {trial.number} "
                       f"(it reported: {', '.join(trial.metrics) or 'nothing'}); every trial counts as infeasible while it is missing")
            if not any(w.startswith(f"constraint {constraint} ") for w in warnings):
                warnings.append(message)
                print(f"warning: {message}", file=sys.stderr, flush=True)
                self.store.set_meta("warnings", warnings)

    # -- results --------------------------------------------------------------------------------
    def best_trial(self, trials: list[Trial] | None = None) -> Trial | None:
        """The best complete, feasible trial at the highest fidelity reached (first objective)."""
        return scoring.best_trial(self.config, trials if trials is not None else self.store.trials((TrialState.COMPLETE,)))

    def pareto_trials(self, trials: list[Trial] | None = None) -> list[Trial]:
        """The Pareto front (:func:`nasforge.core.scoring.pareto_trials`)."""
        return scoring.pareto_trials(self.config, trials if trials is not None else self.store.trials((TrialState.COMPLETE,)))

    def result(self) -> ExperimentResult:
        trials = self.store.trials()
        complete = [t for t in trials if t.state is TrialState.COMPLETE]
        return ExperimentResult(
            directory=self.directory,
            best=self.best_trial(complete),
            pareto=self.pareto_trials(complete),
            trials=trials,
            stop_reason=self.stop_reason or "finished",
            objectives=[f"{o.metric} ({o.direction})" for o in self.config.objectives],
        )

    def close(self) -> None:
        self.store.close()
        if self.lock is not None:
            self.lock.release()

    def discard(self) -> None:
        """Close and delete a folder that holds no trial (an experiment that never started)."""
        if self.store.trials():
            raise NasforgeError(f"refusing to discard {self.directory}: it holds trials")
        self.store.close()
        _remove_new_folder(self.directory)
        if self.lock is not None:
            self.lock.release()


def _plugin_manager(config: ExperimentConfig, given: PluginManager | None) -> PluginManager:
    """The plugin manager with the config's ``plugins:`` modules loaded.

    A module that does not exist is the user's mistake (a :class:`ConfigError`); one that exists
    but fails while importing stays a :class:`PluginError` naming it.
    """
    def missing(exc: PluginError, name: str) -> bool:
        cause = exc.__cause__
        return isinstance(cause, ModuleNotFoundError) and cause.name is not None and (name == cause.name or name.startswith(cause.name + "."))

    try:
        pm = given or get_plugin_manager(config.plugins)
        for i, module_name in enumerate(config.plugins):
            if module_name not in {p.name for p in pm.plugins()}:
                try:
                    pm.load_module(module_name)
                except PluginError as exc:
                    if missing(exc, module_name):
                        raise ConfigError(f"plugins[{i}]", f"no module named {module_name!r}; install it or fix the name") from None
                    raise
    except PluginError as exc:
        bad = next((i for i, m in enumerate(config.plugins) if missing(exc, m)), None)
        if bad is not None:
            raise ConfigError(f"plugins[{bad}]", f"no module named {config.plugins[bad]!r}; install it or fix the name") from None
        raise
    return pm


def _unfinished_creation(directory: Path) -> bool:
    """True for a folder whose creation was cut short: a database with neither config nor trials."""
    try:
        with Store(directory, read_only=True) as store:
            return store.get_meta("config") is None and not store.trials()
    except UserError:
        return False


def _remove_new_folder(directory: Path, keep_folder: bool = False) -> None:
    import shutil

    for name in ("nasforge.db", "nasforge.db-wal", "nasforge.db-shm", "config.yaml"):
        (directory / name).unlink(missing_ok=True)
    shutil.rmtree(directory / "trials", ignore_errors=True)
    if keep_folder:
        return
    try:
        (directory / LOCK_NAME).unlink(missing_ok=True)
        directory.rmdir()  # only if nothing else is left in it
    except OSError:
        pass
