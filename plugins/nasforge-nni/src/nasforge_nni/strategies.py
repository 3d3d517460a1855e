"""NNI 3.0's multi-trial NAS strategies as nasforge search strategies.

Each wrapper owns one NNI strategy object, seeded from the nasforge seed, and drives it
in-process through the strategy's own sampling, mutation and learning code. NNI's experiment
machinery is never used: no ``NasExperiment``, no NNI manager, no Node daemon, no port, no
thread. NNI's ``Strategy.run`` loops are written for an execution engine that trains models
itself and, for the TPE wrapper, sleeps one second per model; the few lines of each loop that
decide *what to propose next* are re-expressed here as ``propose``/``feedback`` so that the
nasforge experiment loop (its store, executors and resume) asks and tells instead.

=========================  =====================================================  ======================
nasforge name              NNI algorithm                                           learns from scores
=========================  =====================================================  ======================
``nni_random``             ``nni.nas.strategy.Random``                             no
``nni_grid``               ``nni.nas.strategy.GridSearch`` (shuffled)              no
``nni_evolution``          ``nni.nas.strategy.RegularizedEvolution``               yes
``nni_tpe``                ``nni.algorithms.hpo.tpe_tuner.TpeTuner`` (NNI's TPE)   yes
``nni_rl``                 ``nni.nas.strategy.PolicyBasedRL`` (PPO, tianshou)      yes
=========================  =====================================================  ======================

How nasforge spaces are shown to NNI, including conditional choices, is described in
:mod:`nasforge_nni.space`: NNI sees every choice unconditionally and its samples are projected
onto the active choices. Several NNI samples can therefore name one architecture; a wrapper
evaluates each architecture once and tells NNI the known score for the others (or, while that
architecture is still running, tells NNI when its result arrives).

Failed or infeasible trials (``score=None``) are handled as NNI handles a model without a
metric: evolution leaves it out of the population, TPE ends the trial without a result, RL
drops the trajectory.

Checkpointing uses nasforge's replay (the base class logs asks and tells and replays them on
load): every random number comes from generators seeded by the nasforge seed (NumPy
``RandomState`` objects inside NNI, and a private torch generator state for the RL policy), so
replay reproduces the run exactly.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import numpy as np

from nasforge.core.errors import ConfigError
from nasforge.core.records import Architecture, Observation
from nasforge.core.space import SearchSpace
from nasforge.core.strategy import SearchStrategy

from ._imports import nni_rl, nni_strategies, quiet_import
from .space import NNISpace

#: After this many NNI proposals in a row that name already-proposed architectures, the wrapper
#: stops asking NNI and proposes an unseen architecture at random (see ``_fallback``).
MAX_DUPLICATE_DRAWS = 300


class _Handle:
    """One NNI proposal waiting for its score (compared by identity, as NNI compares models)."""

    __slots__ = ("sample", "metric", "extra")

    def __init__(self, sample: dict[str, Any], extra: Any = None) -> None:
        self.sample = sample
        self.metric: float | None = None
        self.extra = extra

    @property
    def model(self) -> _Handle:  # NNI's evolution callback reads ``event.model``
        return self


def _check_options(name: str, options: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(options) - allowed
    if unknown:
        raise ConfigError(f"strategy.options ({name})", f"unknown option(s) {sorted(unknown)}; {name!r} takes {sorted(allowed) or 'no options'}")


class NNIStrategy(SearchStrategy):
    """Base class of the NNI wrappers: projection, de-duplication and the ask/tell bookkeeping.

    Subclasses set :attr:`nni_name` and implement :meth:`_propose` (the next NNI sample and a
    handle, or ``None`` when NNI has nothing left) and :meth:`_feedback` (give NNI the score of
    one of its proposals; ``None`` for a failed trial).
    """

    nni_name: ClassVar[str] = ""
    options_allowed: ClassVar[set[str]] = set()

    def __init__(self, space: SearchSpace, seed: int = 0, **options: Any) -> None:
        super().__init__(space, seed)
        _check_options(self.registered_name(), options, self.options_allowed)
        self.options = dict(options)
        self.nni_space = NNISpace(space)
        # NNI's generators are seeded with the nasforge seed.
        self._nni_seed = self.seed % (2**32)
        self._size = space.size()
        self._proposed: set[Architecture] = set()
        self._waiting: dict[Architecture, list[_Handle]] = {}
        self._scores: dict[Architecture, float | None] = {}
        self._nni_done = False
        self.duplicate_draws = 0  # NNI proposals that named an architecture already proposed
        self.fallback_proposals = 0  # architectures proposed by the wrapper after NNI got stuck on duplicates

    @classmethod
    def registered_name(cls) -> str:
        """The name the plugin registers this class under."""
        return getattr(cls, "_registered_name", cls.__name__)

    # -- what subclasses implement -------------------------------------------------------------
    def _propose(self) -> tuple[dict[str, Any], _Handle] | None:
        raise NotImplementedError

    def _feedback(self, handle: _Handle, score: float | None) -> None:
        raise NotImplementedError

    # -- SearchStrategy ------------------------------------------------------------------------
    def suggest(self) -> Architecture | None:
        if len(self._proposed) >= self._size:
            return None
        streak = 0
        while not self._nni_done and streak < MAX_DUPLICATE_DRAWS:
            got = self._propose()
            if got is None:
                self._nni_done = True
                break
            sample, handle = got
            arch = self.nni_space.project(sample)
            if arch not in self._proposed:
                self._proposed.add(arch)
                self._waiting[arch] = [handle]
                return arch
            streak += 1
            self.duplicate_draws += 1
            if arch in self._waiting:  # still running: NNI hears its score when it arrives
                self._waiting[arch].append(handle)
            else:
                self._feedback(handle, self._scores.get(arch))
        return self._fallback()

    def _fallback(self) -> Architecture | None:
        """An unseen architecture drawn uniformly when NNI is exhausted or stuck proposing known ones.

        NNI's own strategies stop when their sampling retries run out; nasforge's contract is to
        propose until the space is exhausted, so the wrapper finishes the space itself. These
        proposals are not shown to NNI (it never asked for them).
        """
        if len(self._proposed) >= self._size:
            return None
        for _ in range(1000):
            arch = self.space.sample(self.rng)
            if arch not in self._proposed:
                break
        else:  # a nearly exhausted space: take the first unseen architecture in enumeration order
            arch = next(a for a in self.space.enumerate() if a not in self._proposed)
        self._proposed.add(arch)
        self._waiting[arch] = []
        self.fallback_proposals += 1
        return arch

    def observe(self, observation: Observation) -> None:
        arch = observation.architecture
        handles = self._waiting.pop(arch, None)
        if handles is None:
            if arch not in self._proposed:
                warnings.warn(f"{self.registered_name()}: ignoring an observation of {arch}, which this strategy did not propose", stacklevel=2)
            return
        score = observation.score
        self._scores[arch] = score
        for handle in handles:
            self._feedback(handle, score)


# -- the wrappers ---------------------------------------------------------------------------------
class NNIRandom(NNIStrategy):
    """NNI's ``Random``: uniform sampling of the NNI space, without repeats (NNI's de-duplication).

    Options: none. Does not learn from scores.
    """

    nni_name = "Random"
    conformance_skip_progress: ClassVar[str] = "random search is the baseline the progress check compares against; it does not learn"

    def __init__(self, space: SearchSpace, seed: int = 0, **options: Any) -> None:
        super().__init__(space, seed, **options)
        self.nni = nni_strategies().Random(dedup=True, seed=self._nni_seed)
        self._model_space = _raw_model_space(self.nni_space)

    def _propose(self) -> tuple[dict[str, Any], _Handle] | None:
        model = self.nni._retry_helper.retry(self.nni.random, self._model_space)
        if model is None:
            return None
        sample = dict(model.sample)
        return sample, _Handle(sample)

    def _feedback(self, handle: _Handle, score: float | None) -> None:
        pass  # random search ignores scores


class NNIGridSearch(NNIStrategy):
    """NNI's ``GridSearch``: every point of the NNI grid once, shuffled in blocks of 100 (NNI's scheme).

    Options: ``shuffle`` (default True; False visits the grid in NNI's depth-first order).
    Does not learn from scores.
    """

    nni_name = "GridSearch"
    options_allowed: ClassVar[set[str]] = {"shuffle"}
    conformance_skip_progress: ClassVar[str] = "grid search visits the grid in a fixed (block-shuffled) order and does not learn"

    def __init__(self, space: SearchSpace, seed: int = 0, shuffle: bool = True, **options: Any) -> None:
        super().__init__(space, seed, **options)
        self.options["shuffle"] = bool(shuffle)
        self.nni = nni_strategies().GridSearch(shuffle=bool(shuffle), seed=self._nni_seed, dedup=True)
        self._model_space = _raw_model_space(self.nni_space)
        self._points = self._grid()

    def _grid(self) -> Iterator[dict[str, Any]]:
        # NNI's GridSearch._run with "submit" replaced by "yield". NNI's RawFormatModelSpace.freeze
        # keeps a reference to the grid's working dict, which the grid keeps changing, so each
        # sample is copied the moment it is generated (NNI's own shuffle buffer would hold stale ones).
        generator = (dict(model.sample) for model in self.nni._grid_generator(self._model_space))
        if not self.nni.shuffle:
            yield from generator
            return
        buffer: list[dict[str, Any]] = []
        for sample in generator:
            buffer.append(sample)
            if len(buffer) == self.nni._shuffle_buffer_size:
                self.nni._random_state.shuffle(buffer)
                yield from buffer
                buffer = []
        self.nni._random_state.shuffle(buffer)
        yield from buffer

    def _propose(self) -> tuple[dict[str, Any], _Handle] | None:
        sample = next(self._points, None)
        return None if sample is None else (sample, _Handle(sample))

    def _feedback(self, handle: _Handle, score: float | None) -> None:
        pass


class NNIRegularizedEvolution(NNIStrategy):
    """NNI's ``RegularizedEvolution`` (aging evolution, Real et al. 2019).

    The first ``population_size`` proposals are random; then each is a mutation of the best of
    ``sample_size`` individuals drawn from the population (each choice re-drawn with probability
    ``mutation_prob``; with ``crossover`` two winners are mixed first), and the oldest individual
    leaves. Failed trials never join the population.

    Options (NNI's names): ``population_size`` (default 20; NNI's default of 100 suits thousands of
    trials), ``sample_size`` (default 5), ``mutation_prob`` (default 0.1), ``crossover`` (default False).
    """

    nni_name = "RegularizedEvolution"
    options_allowed: ClassVar[set[str]] = {"population_size", "sample_size", "mutation_prob", "crossover"}

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        population_size: int = 20,
        sample_size: int = 5,
        mutation_prob: float = 0.1,
        crossover: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(space, seed, **options)
        where = "strategy.options (nni_evolution)"
        if not isinstance(population_size, int) or population_size < 1:
            raise ConfigError(where, f"population_size must be a positive integer, got {population_size!r}")
        if not isinstance(sample_size, int) or not 1 <= sample_size <= population_size:
            raise ConfigError(where, f"sample_size must be an integer between 1 and population_size ({population_size}), got {sample_size!r}")
        if not 0.0 < float(mutation_prob) <= 1.0:
            raise ConfigError(where, f"mutation_prob must be in (0, 1], got {mutation_prob!r}")
        self.options.update(population_size=population_size, sample_size=sample_size, mutation_prob=float(mutation_prob), crossover=bool(crossover))
        self.nni = nni_strategies().RegularizedEvolution(
            population_size=population_size,
            sample_size=sample_size,
            mutation_prob=float(mutation_prob),
            crossover=bool(crossover),
            dedup=True,
            seed=self._nni_seed,
        )
        self.nni._model_space = _raw_model_space(self.nni_space)
        self._initial_phase = True

    def _propose(self) -> tuple[dict[str, Any], _Handle] | None:
        evo = self.nni
        # NNI's _run: random individuals until population + running reach population_size, then
        # mutations. NNI would crash on an empty population (every trial failed); sample randomly then.
        if self._initial_phase and len(evo._population) + len(evo._running_models) >= evo.population_size:
            self._initial_phase = False
        make = evo.random if self._initial_phase or not evo._population else evo.new_individual
        model = evo._retry_helper.retry(make)
        if model is None:
            return None
        handle = _Handle(dict(model.sample))
        evo._running_models.append(handle)
        return handle.sample, handle

    def _feedback(self, handle: _Handle, score: float | None) -> None:
        handle.metric = score
        with _quiet_nni_logs():
            self.nni._training_end_callback(handle)  # NNI's own population update (skips metric None)


class NNITPE(NNIStrategy):
    """NNI's TPE tuner (``nni.algorithms.hpo.tpe_tuner.TpeTuner``), as NNI's ``TPE`` strategy uses it.

    Options are ``TpeTuner``'s: ``tpe_args`` (a mapping of NNI's TPE settings such as
    ``n_startup_jobs``, ``constant_liar_type``) — ``optimize_mode`` is always ``maximize`` and the
    seed comes from nasforge. NNI's TPE cannot handle ``InputChoice`` (a ``CategoricalMultiple``);
    nasforge spaces have only single choices, so that limitation does not arise here.
    """

    nni_name = "TPE"
    options_allowed: ClassVar[set[str]] = {"tpe_args"}

    def __init__(self, space: SearchSpace, seed: int = 0, tpe_args: Mapping[str, Any] | None = None, **options: Any) -> None:
        super().__init__(space, seed, **options)
        tuner_module = quiet_import("nni.algorithms.hpo.tpe_tuner")
        args = dict(tpe_args or {})
        self.options["tpe_args"] = args
        try:
            self.tuner = tuner_module.TpeTuner(optimize_mode="maximize", seed=self._nni_seed, tpe_args=args or None)
        except (TypeError, ValueError) as exc:
            raise ConfigError("strategy.options.tpe_args (nni_tpe)", f"NNI's TpeTuner rejected {args}: {exc}") from None
        self.tuner.update_search_space(self.nni_space.legacy_search_space())
        self._next_id = 0

    def _propose(self) -> tuple[dict[str, Any], _Handle] | None:
        with _quiet_nni_logs():
            params = self.tuner.generate_parameters(self._next_id)
        handle = _Handle(dict(params), extra=self._next_id)
        self._next_id += 1
        return handle.sample, handle

    def _feedback(self, handle: _Handle, score: float | None) -> None:
        # NNI's HPOTunerStrategy: a metric is reported with receive_trial_result, then trial_end.
        with _quiet_nni_logs():
            if score is not None:
                self.tuner.receive_trial_result(handle.extra, handle.sample, float(score))
            self.tuner.trial_end(handle.extra, score is not None)


class NNIPolicyBasedRL(NNIStrategy):
    """NNI's ``PolicyBasedRL``: an LSTM policy trained with PPO (tianshou 0.5.0) picks one choice per step.

    Each proposal is one episode of the policy; its score is the episode's reward, and the policy
    is updated every ``samples_per_update`` finished episodes (NNI's schedule). Failed trials are
    dropped, as NNI drops a model without a metric.

    Options (NNI's names): ``samples_per_update`` (default 20), ``replay_buffer_size`` (default
    NNI's: episode length x samples_per_update), ``update_kwargs`` (default NNI's
    ``{"batch_size": 32, "repeat": 5, "update_times": 5}``).
    Needs the ``rl`` extra: ``pip install 'nasforge-nni[rl]'``.
    """

    nni_name = "PolicyBasedRL"
    options_allowed: ClassVar[set[str]] = {"samples_per_update", "replay_buffer_size", "update_kwargs"}
    #: Lighter settings for the conformance suite (NNI's algorithm and code, fewer PPO passes, more
    #: often). Measured on the progress check: 7.30 mean best vs random's 6.60 (NNI's defaults:
    #: 7.38, at about twice the time).
    conformance_options: ClassVar[dict[str, Any]] = {"samples_per_update": 10, "update_kwargs": {"batch_size": 32, "repeat": 2, "update_times": 2}}

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        samples_per_update: int = 20,
        replay_buffer_size: int | None = None,
        update_kwargs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> None:
        super().__init__(space, seed, **options)
        if not isinstance(samples_per_update, int) or samples_per_update < 1:
            raise ConfigError("strategy.options.samples_per_update (nni_rl)", f"must be a positive integer, got {samples_per_update!r}")
        self.options.update(samples_per_update=samples_per_update, replay_buffer_size=replay_buffer_size, update_kwargs=update_kwargs)
        import torch

        self._rl = nni_rl()
        strategy_cls = quiet_import("nni.nas.strategy.rl").PolicyBasedRL
        # The policy's initial weights and its sampling use torch's global generator: run every
        # NNI call under a private generator state derived from the seed, so runs replay exactly
        # and the caller's torch random state is left alone.
        self._torch_state = torch.Generator().manual_seed(self._nni_seed).get_state()
        # tianshou's replay buffer samples its PPO minibatches with NumPy's global generator: same treatment.
        self._numpy_state = np.random.RandomState(self._nni_seed).get_state()
        with self._own_torch_rng():
            self.nni = strategy_cls(
                samples_per_update=samples_per_update,
                replay_buffer_size=replay_buffer_size,
                update_kwargs=dict(update_kwargs) if update_kwargs is not None else None,
            )
            self.nni._initialize(self.nni_space.mutable, None)
            self.nni._policy.train()

    @contextlib.contextmanager
    def _own_torch_rng(self) -> Iterator[None]:
        import torch

        saved_numpy = np.random.get_state()
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.set_rng_state(self._torch_state)
            np.random.set_state(self._numpy_state)
            try:
                yield
            finally:
                self._torch_state = torch.get_rng_state()
                self._numpy_state = np.random.get_state()
                np.random.set_state(saved_numpy)

    def _propose(self) -> tuple[dict[str, Any], _Handle] | None:
        with self._own_torch_rng():
            generator = self._rl.TuningTrajectoryGenerator(self.nni_space.mutable, self.nni._policy)
            sample = dict(generator.next_sample())
        return sample, _Handle(sample, extra=generator)

    def _feedback(self, handle: _Handle, score: float | None) -> None:
        if score is None:
            return  # NNI's PolicyBasedRL skips models that have no metric
        with self._own_torch_rng(), _quiet_nni_logs():
            trajectory = handle.extra.send_reward(float(score))
            self.nni._add_trajectory(trajectory)
        handle.extra = None


# -- helpers -----------------------------------------------------------------------------------------
def _raw_model_space(nni_space: NNISpace) -> Any:
    """The NNI ``ExecutableModelSpace`` NNI's Random and GridSearch sample from (no evaluator: nasforge evaluates)."""
    space_module = quiet_import("nni.nas.space")
    return space_module.RawFormatModelSpace(nni_space.mutable, None)


@contextlib.contextmanager
def _quiet_nni_logs() -> Iterator[None]:
    """Silence NNI's per-sample INFO logging while it runs inside nasforge (nasforge logs trials itself)."""
    import logging

    logger = logging.getLogger("nni")
    previous = logger.level
    logger.setLevel(max(previous, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(previous)


#: Registered name -> (class, description).
STRATEGIES: dict[str, tuple[type[NNIStrategy], str]] = {
    "nni_random": (NNIRandom, "NNI 3.0 Random search (no repeats)"),
    "nni_grid": (NNIGridSearch, "NNI 3.0 GridSearch (block-shuffled grid)"),
    "nni_evolution": (NNIRegularizedEvolution, "NNI 3.0 RegularizedEvolution (aging evolution)"),
    "nni_tpe": (NNITPE, "NNI 3.0 TPE (its HPO TpeTuner, as NNI's TPE strategy)"),
    "nni_rl": (NNIPolicyBasedRL, "NNI 3.0 PolicyBasedRL (LSTM policy trained with PPO; needs the rl extra)"),
}
for _name, (_cls, _) in STRATEGIES.items():
    _cls._registered_name = _name  # type: ignore[attr-defined]
