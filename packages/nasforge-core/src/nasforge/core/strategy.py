"""The search-strategy interface: ask for candidates, tell results back.

Strategies see only :class:`~nasforge.core.space.SearchSpace` and
:class:`~nasforge.core.records.Observation` objects, never models or data.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from nasforge.core.errors import NasforgeError
from nasforge.core.records import Architecture, Observation, TrialState
from nasforge.core.space import SearchSpace


class StrategyError(NasforgeError):
    """A strategy broke its contract (e.g. it is not deterministic under replay)."""


def observation_to_dict(obs: Observation) -> dict[str, Any]:
    return {
        "architecture": obs.architecture.to_dict(),
        "score": obs.score,
        "objectives": list(obs.objectives),
        "feasible": obs.feasible,
        "state": obs.state.value,
        "fidelity": obs.fidelity,
        "trial_number": obs.trial_number,
        "metrics": dict(obs.metrics),
    }


def observation_from_dict(data: dict[str, Any]) -> Observation:
    return Observation(
        architecture=Architecture(data["architecture"]),
        score=data["score"],
        objectives=tuple(data.get("objectives") or ()),
        feasible=bool(data.get("feasible", True)),
        state=TrialState(data.get("state", "complete")),
        fidelity=data.get("fidelity"),
        trial_number=data.get("trial_number"),
        metrics=dict(data.get("metrics") or {}),
    )


class SearchStrategy(ABC):
    """Base class of every search strategy.

    Call order::

        strategy = Cls(space, seed=0, **options)
        while budget left:
            arch = strategy.ask()          # None: nothing left to propose (space exhausted)
            ...evaluate arch...            # several asks may be outstanding at once
            strategy.tell(observation)     # in any order, once per asked architecture
        state = strategy.state_dict()      # at any point between calls; JSON-serialisable
        clone = Cls(space, seed=0, **options); clone.load_state_dict(state)

    Subclasses implement :meth:`suggest` and :meth:`observe`. They must draw every random
    number from ``self.rng`` so that the same seed and the same observations give the same
    suggestions. Checkpointing works out of the box by *replay*: the base class logs every
    ask and tell, and :meth:`load_state_dict` rebuilds a fresh strategy and replays the log,
    checking that each replayed suggestion matches. A strategy whose state is cheaper to save
    directly may override both :meth:`state_dict` and :meth:`load_state_dict`.

    ``Observation.score`` is what to maximise; ``None`` marks a failed or infeasible trial.
    """

    #: Strategies that use ``Observation.objectives`` (several objectives) set this to True.
    multi_objective: ClassVar[bool] = False

    def __new__(cls, *args: Any, **kwargs: Any) -> SearchStrategy:
        obj = super().__new__(cls)
        obj._init_args = (args, dict(kwargs))  # what load_state_dict needs to rebuild a fresh copy
        obj._log = []
        return obj

    def __init__(self, space: SearchSpace, seed: int = 0) -> None:
        if not isinstance(space, SearchSpace):
            raise TypeError(f"a strategy needs a SearchSpace, got {type(space).__name__}")
        self.space = space
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)

    # -- what subclasses implement ---------------------------------------------------------
    @abstractmethod
    def suggest(self) -> Architecture | None:
        """Propose the next architecture to evaluate, or ``None`` when nothing is left."""

    @abstractmethod
    def observe(self, observation: Observation) -> None:
        """Learn from one finished trial (complete, failed or pruned)."""

    # -- the public ask/tell interface -------------------------------------------------------
    def ask(self) -> Architecture | None:
        """The next architecture to evaluate, or ``None`` when the strategy has nothing left."""
        suggestion = self.ask_with_fidelity()
        return None if suggestion is None else suggestion[0]

    def ask_with_fidelity(self) -> tuple[Architecture, float | None] | None:
        """Like :meth:`ask`, with the fidelity a multi-fidelity strategy wants (``None`` = full)."""
        raw = self.suggest()
        if raw is None:
            self._log.append(["ask", None, None])
            return None
        arch, fidelity = raw if isinstance(raw, tuple) else (raw, None)
        arch = self.space.validate(arch)
        fidelity = None if fidelity is None else float(fidelity)
        self._log.append(["ask", arch.to_dict(), fidelity])
        return arch, fidelity

    def tell(self, observation: Observation) -> None:
        self.observe(observation)
        self._log.append(["tell", observation_to_dict(observation)])

    # -- checkpointing ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot (by default, the log of asks and tells to replay)."""
        return {"format": "replay", "log": [list(entry) for entry in self._log]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from :meth:`state_dict`. After this, the strategy behaves as the original would."""
        if state.get("format") != "replay":
            raise StrategyError(f"{type(self).__name__} cannot load a state of format {state.get('format')!r}")
        args, kwargs = self._init_args
        fresh = type(self)(*args, **kwargs)
        for kind, payload, *rest in state["log"]:
            if kind == "ask":
                got = fresh.ask_with_fidelity()
                expected = None if payload is None else (payload, rest[0] if rest else None)
                actual = None if got is None else (got[0].to_dict(), got[1])
                if actual != expected:
                    raise StrategyError(
                        f"{type(self).__name__} is not deterministic: replaying its log it proposed {actual} where it had proposed {expected}"
                    )
            else:
                fresh.tell(observation_from_dict(payload))
        self.__dict__.clear()
        self.__dict__.update(fresh.__dict__)
