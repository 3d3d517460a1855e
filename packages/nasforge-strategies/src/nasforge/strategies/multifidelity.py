"""Multi-fidelity search: successive halving and Hyperband around any registered strategy.

Both wrap an *inner* strategy (any registered name, ``random`` by default) that proposes new
architectures, and decide at which fidelity each is evaluated: :meth:`suggest` returns
``(architecture, fidelity)``; the experiment loop passes the fidelity to the evaluator as
``context.fidelity`` (epochs for the trainer, 12 vs 200 epochs for the NAS-Bench-201 table) and
back in ``Observation.fidelity``.

Rungs: the fidelities are either listed (``fidelities: [12, 200]``) or geometric,
``max_fidelity * eta ** -k`` down to ``min_fidelity`` (``1, 3, 9, 27`` for the defaults).

A *bracket* of successive halving (Jamieson & Talwalkar 2016) evaluates ``n`` new architectures at
its lowest rung; once every one of them is told, the best ``floor(n / eta)`` (at least one;
failed trials never) are promoted to the next rung, and so on up to the top rung. The inner
strategy is told every result with the fidelity it was measured at (``Observation.fidelity``):
an architecture's entry-rung result first, then each promotion's. nasforge's own strategies keep
one entry per architecture at the highest fidelity seen (a promoted architecture's new result
replaces its old one; a model-based strategy never mixes an architecture's 12- and 200-epoch
scores as two data points), see :meth:`~nasforge.strategies.base.NativeStrategy.relearn`.

Budget balance: Hyperband's analysis assumes geometric rungs, each ``eta`` times the previous, so
that every rung of a bracket costs about the same (``n`` architectures at fidelity ``r``, then
``n / eta`` at ``eta * r``, ...). That holds for the rungs derived from ``min_fidelity``,
``max_fidelity`` and ``eta``. Listed ``fidelities`` whose ratios differ from ``eta`` (such as
NAS-Bench-201's ``[12, 200]`` with ``eta = 3``: 3 x 12 = 36 epochs at the first rung, then 200)
are *not* budget-balanced; the strategy warns, and :meth:`SuccessiveHalving.rung_budgets` gives
each rung's cost. Pick ``eta`` near the fidelities' ratio (``eta: 16.7`` for ``[12, 200]``) for
balanced rungs.

:class:`SuccessiveHalving` runs the most aggressive bracket (lowest rung, ``eta ** (rungs - 1)``
architectures unless ``n_configs`` says otherwise) again and again. :class:`Hyperband`
(Li et al. 2018) cycles through brackets from the most aggressive to plain full-fidelity
evaluation, hedging against a low fidelity that ranks architectures badly.

Brackets run one after another. When the current one is waiting for results (several trials in
flight), the next bracket starts rather than leaving workers idle, so :meth:`suggest` only returns
``None`` when the inner strategy is exhausted and nothing is left to promote.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from nasforge.core.errors import ConfigError, UserError
from nasforge.core.records import Architecture, Observation
from nasforge.core.space import SearchSpace
from nasforge.core.strategy import SearchStrategy
from nasforge.strategies.base import check_float, check_int, score_of


def rung_fidelities(min_fidelity: float, max_fidelity: float, eta: float) -> list[float]:
    """Geometric rungs ``max * eta**-k`` for ``k = K..0`` where ``K = floor(log_eta(max / min))``."""
    k_max = int(math.floor(math.log(max_fidelity / min_fidelity) / math.log(eta) + 1e-9))
    return [max_fidelity * eta ** -(k_max - i) for i in range(k_max + 1)]


class _Bracket:
    """One successive-halving bracket over ``rungs`` (ascending fidelities), ``n`` new architectures at the bottom.

    A rung is complete when no more architectures can enter it (rung 0: nothing left to draw;
    rung ``k``: the promotion from rung ``k - 1`` happened) and every one that entered was told.
    Completing a rung promotes its best ``floor(size / eta)`` (at least one) to the next.
    """

    def __init__(self, rungs: Sequence[float], n: int, eta: float) -> None:
        self.rungs = list(rungs)
        self.eta = eta
        self.to_draw = n  # new architectures still to draw from the inner strategy
        self.queue: deque[tuple[Architecture, int]] = deque()  # promotions ready to hand out
        self.launched = [0] * len(self.rungs)
        self.expected: list[int | None] = [None] * len(self.rungs)  # final size of each rung, once known
        self.results: list[list[tuple[Architecture, float]]] = [[] for _ in self.rungs]

    @property
    def done(self) -> bool:
        """Nothing to draw, nothing queued, nothing in flight: every promotion has happened."""
        return self.to_draw == 0 and not self.queue and sum(self.launched) == sum(len(r) for r in self.results)

    def record(self, arch: Architecture, rung: int, score: float) -> None:
        """Store a result; when the rung is complete, queue its best ``1/eta`` for the next rung."""
        self.results[rung].append((arch, score))
        self._maybe_promote(rung)

    def stop_drawing(self) -> None:
        """No more new architectures (all drawn, or the inner strategy is exhausted)."""
        self.to_draw = 0
        self.expected[0] = self.launched[0]
        self._maybe_promote(0)

    def _maybe_promote(self, rung: int) -> None:
        size = self.expected[rung]
        if size is None or len(self.results[rung]) < size or rung == len(self.rungs) - 1:
            return
        if self.expected[rung + 1] is not None:
            return  # already promoted
        ranked = sorted(enumerate(self.results[rung]), key=lambda item: (-item[1][1], item[0]))  # best first, earliest among ties
        ok = [arch for _, (arch, score) in ranked if math.isfinite(score)]
        keep = ok[: max(1, int(math.floor(size / self.eta)))] if size else []
        self.expected[rung + 1] = len(keep)
        for arch in keep:
            self.queue.append((arch, rung + 1))
        if not keep:
            self._maybe_promote(rung + 1)  # an empty rung is complete at once


class SuccessiveHalving(SearchStrategy):
    """Successive halving around an inner strategy: evaluate many cheaply, promote the best 1/eta.

    Options: ``strategy`` (inner strategy name, ``random``), ``strategy_options`` (mapping),
    ``min_fidelity`` (1), ``max_fidelity`` (27), ``eta`` (3), ``fidelities`` (explicit ascending
    rung list, overrides min/max), ``n_configs`` (new architectures per bracket; default
    ``eta ** (rungs - 1)``, so one reaches the top rung).
    """

    multi_fidelity: ClassVar[bool] = True
    #: The registered name, used in error messages.
    option_prefix: ClassVar[str] = "successive_halving"
    #: The conformance suite's progress check scores with a fidelity-free objective, where every
    #: promotion re-evaluates a known architecture for nothing; promotion is tested on its own instead.
    conformance_skip_progress: ClassVar[str] = (
        "re-evaluates promoted architectures at higher fidelities, which a fidelity-free objective makes pure overhead; "
        "tests/test_multifidelity.py checks promotions and that the inner strategy learns"
    )

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        strategy: str = "random",
        strategy_options: Mapping[str, Any] | None = None,
        min_fidelity: float = 1,
        max_fidelity: float = 27,
        eta: float = 3,
        fidelities: Sequence[float] | None = None,
        n_configs: int | None = None,
    ) -> None:
        super().__init__(space, seed=seed)
        name = type(self).option_prefix
        self.eta = check_float("eta", eta, 1.0, math.inf, name, low_open=True)
        if fidelities is not None:
            if isinstance(fidelities, (str, bytes)) or not isinstance(fidelities, Sequence) or not fidelities:
                raise ConfigError("strategy.options.fidelities", f"{name} needs a non-empty list of fidelities, got {fidelities!r}")
            values = [check_float("fidelities", f, 0.0, math.inf, name, low_open=True) for f in fidelities]
            if values != sorted(set(values)):
                raise ConfigError("strategy.options.fidelities", f"{name} needs distinct fidelities in ascending order, got {list(fidelities)}")
            self.rungs = values
        else:
            low = check_float("min_fidelity", min_fidelity, 0.0, math.inf, name, low_open=True)
            high = check_float("max_fidelity", max_fidelity, 0.0, math.inf, name, low_open=True)
            if high < low:
                raise ConfigError("strategy.options.max_fidelity", f"{name}: max_fidelity ({max_fidelity}) is below min_fidelity ({min_fidelity})")
            self.rungs = rung_fidelities(low, high, self.eta)
        self.n_configs = None if n_configs is None else check_int("n_configs", n_configs, 1, name)
        ratios = [b / a for a, b in zip(self.rungs, self.rungs[1:])]
        if fidelities is not None and any(abs(math.log(r / self.eta)) > math.log(1.1) for r in ratios):
            warnings.warn(
                f"{name}: the fidelities {list(fidelities)} with eta={eta:g} are not budget-balanced (consecutive ratios "
                f"{', '.join(f'{r:.3g}' for r in ratios)}, not eta), so the rungs of a bracket cost "
                f"{self.rung_budgets(0)}; set eta near the ratio for balanced rungs",
                UserWarning,
                stacklevel=2,
            )
        self.inner = self._make_inner(strategy, strategy_options)
        self.brackets: list[_Bracket] = []
        self._bracket_count = 0
        self._jobs: dict[tuple[Architecture, float], deque[tuple[_Bracket, int]]] = {}
        self._inner_exhausted = False

    def _make_inner(self, strategy: Any, options: Mapping[str, Any] | None) -> SearchStrategy:
        if options is not None and not isinstance(options, Mapping):
            raise ConfigError("strategy.options.strategy_options", f"expected a mapping of the inner strategy's options, got {options!r}")
        if isinstance(strategy, type) and issubclass(strategy, SearchStrategy):
            cls = strategy
        elif isinstance(strategy, str):
            from nasforge.core.plugins import get_plugin_manager

            try:
                cls = get_plugin_manager().get("strategy", strategy)
            except UserError as exc:
                raise ConfigError("strategy.options.strategy", str(exc)) from None
        else:
            raise ConfigError("strategy.options.strategy", f"expected the name of a registered strategy, got {strategy!r}")
        if getattr(cls, "multi_fidelity", False):
            raise ConfigError("strategy.options.strategy", f"the inner strategy of {self.option_prefix} must not itself be multi-fidelity, got {strategy!r}")
        try:
            return cls(self.space, seed=self.seed, **dict(options or {}))
        except TypeError as exc:
            raise ConfigError("strategy.options.strategy_options", f"inner strategy {strategy!r}: {exc}") from None

    # -- brackets --------------------------------------------------------------------------------
    def bracket_shape(self, index: int) -> tuple[list[float], int]:
        """The rungs and number of new architectures of the ``index``-th bracket (0-based)."""
        s = len(self.rungs) - 1
        return list(self.rungs), self.n_configs or int(round(self.eta**s))

    def rung_budgets(self, index: int) -> list[float]:
        """The cost (architectures x fidelity) of each rung of the ``index``-th bracket, ignoring failures."""
        rungs, n = self.bracket_shape(index)
        budgets = []
        for fidelity in rungs:
            budgets.append(float(n * fidelity))
            n = max(1, int(math.floor(n / self.eta)))
        return budgets

    def _new_bracket(self) -> _Bracket:
        rungs, n = self.bracket_shape(self._bracket_count)
        self._bracket_count += 1
        bracket = _Bracket(rungs, n, self.eta)
        self.brackets.append(bracket)
        return bracket

    def _job_from(self, bracket: _Bracket) -> tuple[Architecture, float] | None:
        if bracket.queue:
            arch, rung = bracket.queue.popleft()
            return self._launch(bracket, arch, rung)
        if bracket.to_draw > 0 and not self._inner_exhausted:
            arch = self.inner.ask()
            if arch is None:
                self._inner_exhausted = True
                bracket.stop_drawing()
                return self._job_from(bracket)
            bracket.to_draw -= 1
            job = self._launch(bracket, arch, 0)
            if bracket.to_draw == 0:
                bracket.stop_drawing()
            return job
        if bracket.to_draw > 0:
            bracket.stop_drawing()
        return None

    def _launch(self, bracket: _Bracket, arch: Architecture, rung: int) -> tuple[Architecture, float]:
        bracket.launched[rung] += 1
        fidelity = float(bracket.rungs[rung])
        self._jobs.setdefault((arch, fidelity), deque()).append((bracket, rung))
        return arch, fidelity

    def suggest(self) -> tuple[Architecture, float] | None:
        self.brackets = [b for b in self.brackets if not b.done]
        for bracket in self.brackets:
            job = self._job_from(bracket)
            if job is not None:
                return job
        if self._inner_exhausted:
            return None
        job = self._job_from(self._new_bracket())
        return job

    def observe(self, observation: Observation) -> None:
        fidelity = None if observation.fidelity is None else float(observation.fidelity)
        key = (observation.architecture, fidelity if fidelity is not None else float(self.rungs[-1]))
        waiting = self._jobs.get(key)
        if not waiting:
            return  # not one of ours (e.g. a trial added by hand); nothing to update
        bracket, rung = waiting.popleft()
        if not waiting:
            del self._jobs[key]
        # Every result, promotions included, with its fidelity: the inner strategy keeps the highest.
        self.inner.tell(observation)
        bracket.record(observation.architecture, rung, score_of(observation))


class Hyperband(SuccessiveHalving):
    """Hyperband: successive-halving brackets from the most aggressive to full fidelity only, in turn.

    Same options as :class:`SuccessiveHalving`; ``n_configs`` is ignored (each bracket's size follows
    Li et al.: ``ceil((S + 1) / (s + 1) * eta ** s)`` for bracket ``s`` of ``S + 1``).
    """

    option_prefix: ClassVar[str] = "hyperband"

    def bracket_shape(self, index: int) -> tuple[list[float], int]:
        s_max = len(self.rungs) - 1
        s = s_max - index % (s_max + 1)
        n = int(math.ceil((s_max + 1) / (s + 1) * self.eta**s - 1e-9))
        return list(self.rungs[s_max - s :]), n
