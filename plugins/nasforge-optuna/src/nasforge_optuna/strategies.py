"""Optuna samplers as nasforge search strategies, driven through Optuna's ask/tell interface.

Each strategy owns an in-memory :class:`optuna.Study`. ``suggest`` asks the study for a trial and
walks the nasforge space in its order, suggesting only the choices that are active given the values
already drawn (define-by-run), so conditional choices map onto Optuna's dynamic search spaces:

* an :class:`~nasforge.core.space.Integer` choice becomes ``suggest_int(name, low, high, step)``;
* an *ordered* categorical becomes ``suggest_int`` over its positions (so samplers see the order);
* an unordered categorical becomes ``suggest_categorical`` over its positions (indices, never the
  values themselves, so ``True`` and ``1`` cannot be confused).

``observe`` tells the study the result: the score (or, for NSGA-II, every objective) of a complete
trial; a complete but infeasible trial is told its objective values plus a positive constraint
violation on samplers that support constraints. A failed or pruned trial (and an infeasible one on
CMA-ES, which has no constraints) is told the worst values of any success so far, with the
constraint violated where supported, so it ranks below every success; ``TrialState.FAIL`` only
before any success, when there is no such value.

Optuna may propose an architecture again (it samples, it does not remember). A repeat is handled
the way an Optuna user's objective handles a duplicate: the repeated trial is told the value its
architecture already has (the same values and constraint; ``FAIL`` when that trial failed or is
still running, since there is no value yet) and the study is asked again, up to ``max_retries``
times per suggestion (and never more than the number of unseen architectures left). Only then
is an unseen architecture drawn from ``self.rng`` enqueued and asked instead. Once every architecture of the space was proposed, ``suggest`` returns ``None``.
``repeats`` and ``fallbacks`` count both events.

Checkpointing uses the base class's replay: the same seed and the same observations make Optuna's
seeded samplers propose the same trials again.
"""

from __future__ import annotations

import logging
import math
import warnings
from typing import Any, ClassVar

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.trial import TrialState as OptunaState

from nasforge.core.errors import ConfigError
from nasforge.core.records import Architecture, Observation, TrialState
from nasforge.core.space import Choice, Integer, SearchSpace
from nasforge.core.strategy import SearchStrategy

#: name of the constraint every told trial carries (``Trial.set_constraint``): 0 feasible, 1 infeasible
CONSTRAINT = "nasforge_feasibility"

#: repeats a suggestion tells their known value and asks again before it enqueues an unseen architecture
DEFAULT_RETRIES = 100

#: spaces up to this size are enumerated to find an unseen architecture; larger ones are sampled.
ENUMERATE_LIMIT = 20_000


def distribution(choice: Choice) -> BaseDistribution:
    """The Optuna distribution of one nasforge choice (its values are positions or integers)."""
    if isinstance(choice, Integer):
        return IntDistribution(choice.low, choice.high, step=choice.step)
    n = len(choice.domain)
    if choice.ordinal:
        return IntDistribution(0, n - 1)
    return CategoricalDistribution(tuple(range(n)))


def to_internal(choice: Choice, value: Any) -> int:
    """The Optuna parameter value of ``value`` for ``choice``."""
    return int(value) if isinstance(choice, Integer) else choice.index(value)


def from_internal(choice: Choice, internal: Any) -> Any:
    """The nasforge value of Optuna parameter value ``internal`` for ``choice``."""
    return int(internal) if isinstance(choice, Integer) else choice.domain[int(internal)]


def _positive_int(value: Any, option: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"strategy.options.{option}", f"must be a positive integer, got {value!r}")
    return value


class OptunaStrategy(SearchStrategy):
    """Base class: an Optuna sampler behind nasforge's ask/tell strategy interface.

    Subclasses implement :meth:`make_sampler`. ``n_startup_trials`` is the number of random trials
    before the sampler's model takes over (Optuna's own default where a sampler has one).
    ``max_retries`` bounds how many repeats one suggestion tells and asks again before it enqueues
    an unseen architecture (default 100).
    """

    #: whether the sampler reads constraints (``Trial.set_constraint``); others are told FAIL for infeasible trials
    supports_constraints: ClassVar[bool] = True

    def __init__(self, space: SearchSpace, seed: int = 0, max_retries: int = DEFAULT_RETRIES) -> None:
        super().__init__(space, seed)
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError("strategy.options.max_retries", f"must be an integer >= 0, got {max_retries!r}")
        self.max_retries = max_retries
        optuna.logging.set_verbosity(logging.WARNING)
        self.n_objectives = 1
        self.size = space.size()
        # Every random number comes from self.rng: the sampler's seed too.
        self.sampler_seed = int(self.rng.integers(2**31 - 1))
        self._pending: dict[Architecture, list[optuna.Trial]] = {}
        self._seen: set[Architecture] = set()
        #: What the study was told for each finished architecture: (values, infeasible), or None for FAIL.
        self._told: dict[Architecture, tuple[list[float], bool] | None] = {}
        self._worst: list[float] | None = None  # the worst values of a feasible success, per objective
        self._study: optuna.Study | None = None
        #: Re-proposed architectures told their known value (or FAIL) and asked again; unseen ones enqueued after max_retries.
        self.repeats = 0
        self.fallbacks = 0

    # -- what subclasses provide --------------------------------------------------------------
    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        """Build the Optuna sampler, seeded with ``seed``."""
        raise NotImplementedError

    @property
    def study(self) -> optuna.Study:
        """The in-memory Optuna study (created on first use, so subclasses can set options first)."""
        if self._study is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                sampler = self.make_sampler(self.sampler_seed)
            self._study = optuna.create_study(directions=["maximize"] * self.n_objectives, sampler=sampler)
        return self._study

    # -- ask ------------------------------------------------------------------------------------
    def suggest(self) -> Architecture | None:
        if len(self._seen) >= self.size:
            return None
        study = self.study
        with warnings.catch_warnings():
            # Samplers warn when they fall back to independent sampling for dynamic spaces.
            warnings.simplefilter("ignore")
            # Never more retries than unseen architectures left: near exhaustion a sampler repeats
            # almost surely, and each retry is a full ask (a model fit for GP).
            for _ in range(min(self.max_retries, self.size - len(self._seen)) + 1):
                trial = study.ask()
                arch = self._define(trial)
                if arch not in self._seen:
                    break
                self.repeats += 1
                self._tell(trial, self._told.get(arch))
            else:
                self.fallbacks += 1
                arch = self._unseen()
                study.enqueue_trial(self._params(arch))
                trial = study.ask()
                replaced = self._define(trial)
                assert replaced == arch, f"enqueued {arch} but Optuna replayed {replaced}"
        self._seen.add(arch)
        self._pending.setdefault(arch, []).append(trial)
        return arch

    def _define(self, trial: optuna.Trial) -> Architecture:
        """Suggest every active choice of the space on ``trial``, in the space's order."""
        assignment: dict[str, Any] = {}
        for choice in self.space.choices:
            if not choice.is_active(assignment):
                continue
            dist = distribution(choice)
            if isinstance(dist, IntDistribution):
                internal = trial.suggest_int(choice.name, dist.low, dist.high, step=dist.step)
            else:
                internal = trial.suggest_categorical(choice.name, dist.choices)
            assignment[choice.name] = from_internal(choice, internal)
        return Architecture(assignment)

    def _params(self, arch: Architecture) -> dict[str, Any]:
        return {name: to_internal(self.space[name], value) for name, value in arch.items()}

    def _unseen(self) -> Architecture:
        """An architecture not proposed yet, drawn from ``self.rng``."""
        if self.size <= ENUMERATE_LIMIT:
            # Enumerating builds every Architecture again (~0.2 s for NAS-Bench-201's 15,625);
            # keep the list, which gives the same draws as enumerating each time.
            if getattr(self, "_all", None) is None:
                self._all = list(self.space.enumerate())
            left = [a for a in self._all if a not in self._seen]
            return left[int(self.rng.integers(len(left)))]
        for _ in range(10_000):
            arch = self.space.sample(self.rng)
            if arch not in self._seen:
                return arch
        raise RuntimeError(f"could not draw an unseen architecture from {self.space!r} in 10,000 tries")

    # -- tell -----------------------------------------------------------------------------------
    def _values(self, observation: Observation) -> list[float] | None:
        """What Optuna is told for a complete trial, or ``None`` when there is nothing finite to tell."""
        if self.n_objectives > 1:
            values = [float(v) for v in observation.objectives]
            if not values:
                return None
            if len(values) != self.n_objectives:
                raise ConfigError(
                    "strategy.options.objectives",
                    f"{type(self).__name__} was built for {self.n_objectives} objectives but a trial reported {len(values)}; "
                    f"set strategy.options.objectives to {len(values)}",
                )
        elif observation.score is not None:
            values = [float(observation.score)]
        elif observation.objectives:  # complete but infeasible: its value, marked infeasible
            values = [float(observation.objectives[0])]
        else:
            return None
        return values if all(math.isfinite(v) for v in values) else None

    def observe(self, observation: Observation) -> None:
        arch = observation.architecture
        asked = self._pending.get(arch)
        study = self.study
        failed = observation.state is not TrialState.COMPLETE
        values = None if failed else self._values(observation)
        infeasible = not failed and not observation.feasible
        if infeasible and not self.supports_constraints:
            values = None
        if values is not None and not infeasible:
            self._worst = list(values) if self._worst is None else [min(w, v) for w, v in zip(self._worst, values, strict=True)]
        elif values is None and self._worst is not None:
            # Failed (or infeasible for a sampler without constraints): as bad as the worst success,
            # and marked infeasible where the sampler reads constraints, so that it counts as worse
            # than any success. Optuna would ignore a FAIL and keep proposing what fails.
            values, infeasible = list(self._worst), True
        if not asked:
            # A trial Optuna did not propose (e.g. re-evaluated after a resume): teach it anyway.
            self._seen.add(arch)
            self._told[arch] = None if values is None else (values, infeasible)
            if values is None or infeasible:
                return
            params = self._params(arch)
            trial = optuna.trial.create_trial(
                params=params,
                distributions={name: distribution(self.space[name]) for name in params},
                values=values,
            )
            study.add_trial(trial)
            return
        trial = asked.pop(0)
        if not asked:
            del self._pending[arch]
        outcome = None if values is None else (values, infeasible)
        self._told[arch] = outcome
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._tell(trial, outcome)

    def _tell(self, trial: optuna.Trial, outcome: tuple[list[float], bool] | None) -> None:
        """Tell ``trial`` its values (and feasibility constraint), or ``FAIL`` for ``None``."""
        if outcome is None:
            self.study.tell(trial, state=OptunaState.FAIL)
            return
        values, infeasible = outcome
        if self.supports_constraints:
            trial.set_constraint(CONSTRAINT, 1.0 if infeasible else 0.0)
        self.study.tell(trial, values=values if self.n_objectives > 1 else values[0])


class OptunaTPE(OptunaStrategy):
    """Optuna's TPESampler (tree-structured Parzen estimator; Bergstra et al. 2011).

    Every default is Optuna's own (``TPESampler()``).

    :param n_startup_trials: random trials before the model is used (default 10).
    :param multivariate: model choices jointly (Falkner et al. 2018) rather than one by one.
        Default ``None``: Optuna decides, multivariate for one objective.
    :param group: with ``multivariate``, model each set of co-occurring choices separately
        (suits conditional spaces; default off).
    :param constant_liar: treat running trials as bad so parallel asks spread out (default on).
    :param max_retries: see :class:`OptunaStrategy` (default 100).
    """

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        n_startup_trials: int = 10,
        multivariate: bool | None = None,
        group: bool = False,
        constant_liar: bool = True,
        max_retries: int = DEFAULT_RETRIES,
    ) -> None:
        super().__init__(space, seed, max_retries=max_retries)
        self.n_startup_trials = _positive_int(n_startup_trials, "n_startup_trials")
        if group and multivariate is False:
            raise ConfigError("strategy.options.group", "group: true needs multivariate: true (or unset)")
        self.multivariate = None if multivariate is None else bool(multivariate)
        self.group, self.constant_liar = bool(group), bool(constant_liar)

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.TPESampler(
            n_startup_trials=self.n_startup_trials,
            multivariate=self.multivariate,
            group=self.group,
            constant_liar=self.constant_liar,
            seed=seed,
        )


class OptunaCmaEs(OptunaStrategy):
    """Optuna's CmaEsSampler (CMA-ES; Hansen 2016) over the space's numeric choices.

    CMA-ES searches the integer and ordered choices that every trial has; unordered categorical
    choices, and conditional choices absent from some trials, are drawn by an independent TPE
    sampler. A space with no integer or ordered choice is refused (use ``optuna_tpe``).
    ``with_margin`` (default on) keeps CMA-ES from collapsing onto one value of an integer choice.

    :param n_startup_trials: trials drawn by the independent sampler before CMA-ES starts.
    :param popsize: CMA-ES population size (default: CMA-ES's rule ``4 + 3 ln(dims)``).
    :param sigma0: initial step size (default: a sixth of the smallest range).
    :param with_margin: CMA-ES with margin for discrete dimensions (Hamano et al. 2022).
    :param restart_strategy: ``None``, ``"ipop"`` or ``"bipop"``.
    """

    supports_constraints = False

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        n_startup_trials: int = 5,
        popsize: int | None = None,
        sigma0: float | None = None,
        with_margin: bool = True,
        restart_strategy: str | None = None,
        max_retries: int = DEFAULT_RETRIES,
    ) -> None:
        super().__init__(space, seed, max_retries=max_retries)
        numeric = [c.name for c in space.choices if c.ordinal and len(c.domain) > 1]
        if not numeric:
            raise ConfigError(
                "strategy.name",
                f"optuna_cmaes needs at least one integer or ordered choice, but space {space.name!r} has only unordered categorical "
                "choices; CMA-ES would be random search there. Use optuna_tpe or optuna_gp",
            )
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise ConfigError("strategy.name", "optuna_cmaes needs the 'cmaes' package: pip install 'nasforge-optuna[cmaes]'") from None
        self.n_startup_trials = _positive_int(n_startup_trials, "n_startup_trials")
        self.popsize = None if popsize is None else _positive_int(popsize, "popsize")
        if restart_strategy not in (None, "ipop", "bipop"):
            raise ConfigError("strategy.options.restart_strategy", f"must be null, 'ipop' or 'bipop', got {restart_strategy!r}")
        self.sigma0, self.with_margin, self.restart_strategy = sigma0, bool(with_margin), restart_strategy

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.CmaEsSampler(
            n_startup_trials=self.n_startup_trials,
            independent_sampler=optuna.samplers.TPESampler(seed=seed + 1, n_startup_trials=self.n_startup_trials),
            popsize=self.popsize,
            sigma0=self.sigma0,
            with_margin=self.with_margin,
            restart_strategy=self.restart_strategy,
            warn_independent_sampling=False,
            seed=seed,
        )


class OptunaNSGA2(OptunaStrategy):
    """Optuna's NSGAIISampler: a genetic algorithm over several objectives (Deb et al. 2002).

    Uses every objective of the config (``Observation.objectives``), so the experiment's Pareto
    front is what it optimises. ``objectives`` must equal the number of objectives in the config.

    :param objectives: number of objectives (default 2).
    :param population_size: individuals per generation (default 20).
    :param mutation_prob: probability of mutating each choice (default ``1 / number of choices``).
    :param crossover_prob: probability of crossing two parents over (default 0.9).
    """

    multi_objective = True

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        objectives: int = 2,
        population_size: int = 20,
        mutation_prob: float | None = None,
        crossover_prob: float = 0.9,
        max_retries: int = DEFAULT_RETRIES,
    ) -> None:
        super().__init__(space, seed, max_retries=max_retries)
        self.n_objectives = _positive_int(objectives, "objectives")
        self.population_size = _positive_int(population_size, "population_size")
        if self.population_size < 2:
            raise ConfigError("strategy.options.population_size", "must be at least 2")
        for option, value in (("mutation_prob", mutation_prob), ("crossover_prob", crossover_prob)):
            if value is not None and not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"strategy.options.{option}", f"must be a probability between 0 and 1, got {value!r}")
        self.mutation_prob, self.crossover_prob = mutation_prob, float(crossover_prob)

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.NSGAIISampler(
            population_size=self.population_size,
            mutation_prob=self.mutation_prob,
            crossover_prob=self.crossover_prob,
            seed=seed,
        )


class OptunaGP(OptunaStrategy):
    """Optuna's GPSampler: Gaussian-process Bayesian optimisation with log expected improvement.

    Needs ``torch`` and ``scipy`` (``pip install 'nasforge-optuna[gp]'``). Conditional choices
    absent from some trials are drawn by an independent random sampler.

    :param n_startup_trials: random trials before the GP is fitted (default 10).
    :param deterministic_objective: assume noise-free scores (no noise term in the GP).
    """

    def __init__(
        self, space: SearchSpace, seed: int = 0, n_startup_trials: int = 10, deterministic_objective: bool = False, max_retries: int = DEFAULT_RETRIES
    ) -> None:
        super().__init__(space, seed, max_retries=max_retries)
        missing = [m for m in ("torch", "scipy") if not _importable(m)]
        if missing:
            raise ConfigError("strategy.name", f"optuna_gp needs {' and '.join(missing)}: pip install 'nasforge-optuna[gp]'")
        self.n_startup_trials = _positive_int(n_startup_trials, "n_startup_trials")
        self.deterministic_objective = bool(deterministic_objective)

    def make_sampler(self, seed: int) -> optuna.samplers.BaseSampler:
        return optuna.samplers.GPSampler(
            n_startup_trials=self.n_startup_trials,
            deterministic_objective=self.deterministic_objective,
            independent_sampler=optuna.samplers.RandomSampler(seed=seed + 1),
            warn_independent_sampling=False,
            seed=seed,
        )


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


__all__ = ["OptunaCmaEs", "OptunaGP", "OptunaNSGA2", "OptunaStrategy", "OptunaTPE", "distribution"]
