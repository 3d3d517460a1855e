"""REINFORCE policy-gradient search, after Zoph & Le 2017, "Neural Architecture Search with Reinforcement Learning".

Zoph & Le train a recurrent controller; here the policy is the simplest one that keeps their
update rule: an independent softmax over each choice's values (as in the REINFORCE baselines
of NAS-Bench-101 and NAS-Bench-201).
"""

from __future__ import annotations

import math

import numpy as np

from nasforge.core.records import Architecture, Observation
from nasforge.core.space import SearchSpace
from nasforge.strategies.base import NativeStrategy, check_float, check_int, score_of
from nasforge.strategies.encoding import IndexedSpace


class Reinforce(NativeStrategy):
    """Policy gradient over independent per-choice softmax distributions, with a moving-average baseline.

    Proposals are sampled from the policy (a choice is sampled only where its condition holds).
    For every told trial with reward ``R`` the logits of each choice *active in that
    architecture* move by ``learning_rate * A * (onehot(value) - softmax(logits))``, where the
    advantage ``A = (R - b) / s``, ``b`` is an exponential moving average of past rewards
    (decay ``baseline_decay``) and ``s`` a moving estimate of their standard deviation, so the
    step size does not depend on the scale of the score. ``entropy_weight > 0`` adds the gradient
    of the policy's entropy, which slows its collapse onto one architecture.

    A failed trial is rewarded with the lowest score seen so far, so it never pushes the policy
    toward itself; failures before any success teach nothing.

    ``sample_tries`` architectures are drawn from the policy at once and the first unseen one is
    proposed; when all were seen, a random unseen architecture is proposed instead.

    Options: ``learning_rate`` (0.5), ``baseline_decay`` (0.9), ``entropy_weight`` (0.0),
    ``sample_tries`` (50).
    """

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        learning_rate: float = 0.5,
        baseline_decay: float = 0.9,
        entropy_weight: float = 0.0,
        sample_tries: int = 50,
    ) -> None:
        super().__init__(space, seed=seed)
        self.learning_rate = check_float("learning_rate", learning_rate, 0.0, math.inf, "reinforce", low_open=True)
        self.baseline_decay = check_float("baseline_decay", baseline_decay, 0.0, 1.0, "reinforce")
        self.entropy_weight = check_float("entropy_weight", entropy_weight, 0.0, math.inf, "reinforce")
        self.sample_tries = check_int("sample_tries", sample_tries, 1, "reinforce")
        self.index = IndexedSpace(space)
        #: Logits of every choice side by side (choice i at index.offsets[i] : offsets[i] + sizes[i]).
        self.logits = np.zeros(self.index.n_values)
        self._probs: np.ndarray | None = None  # softmax of every slice, refreshed after an update
        self.baseline: float | None = None
        self.spread: float = 0.0  # moving average of squared deviations from the baseline
        self.worst: float | None = None

    def _slice(self, i: int) -> slice:
        lo = int(self.index.offsets[i])
        return slice(lo, lo + int(self.index.sizes[i]))

    def _all_probabilities(self) -> np.ndarray:
        if self._probs is None:
            probs = np.empty_like(self.logits)
            for i in range(len(self.index.choices)):
                part = self._slice(i)
                z = np.exp(self.logits[part] - self.logits[part].max())
                probs[part] = z / z.sum()
            self._probs = probs
        return self._probs

    def _position(self, name: str) -> int:
        for i, choice in enumerate(self.index.choices):
            if choice.name == name:
                return i
        raise KeyError(f"the space has no choice {name!r}")

    def probabilities(self, name: str) -> np.ndarray:
        """The policy's current distribution over the values of choice ``name``."""
        return self._all_probabilities()[self._slice(self._position(name))].copy()

    def choice_logits(self, name: str) -> np.ndarray:
        """The policy's current logits for the values of choice ``name`` (a copy)."""
        return self.logits[self._slice(self._position(name))].copy()

    def suggest(self) -> Architecture | None:
        if self.exhausted:
            return None
        idx, active = self.index.sample(self._all_probabilities(), self.sample_tries, self.rng)
        for j in range(self.sample_tries):
            arch = self.index.build(idx[j], active[j])
            if arch not in self.seen:
                return self.mark_seen(arch)
        return self.random_unseen()

    def learn(self, observation: Observation) -> None:
        score = score_of(observation)
        if math.isfinite(score):
            self.worst = score if self.worst is None else min(self.worst, score)
            reward = score
        elif self.worst is not None:
            reward = self.worst
        else:
            return
        if self.baseline is None:
            self.baseline = reward
            return
        deviation = reward - self.baseline
        scale = math.sqrt(self.spread) if self.spread > 0 else (abs(deviation) or 1.0)
        advantage = deviation / scale
        self.baseline += (1.0 - self.baseline_decay) * deviation
        self.spread = self.baseline_decay * self.spread + (1.0 - self.baseline_decay) * deviation**2
        row = self.index.encode(observation.architecture)  # valid: NativeStrategy.observe checked it
        probs = self._all_probabilities()
        for i in np.flatnonzero(row >= 0):
            part = self._slice(int(i))
            p = probs[part]
            step = -advantage * p
            step[row[i]] += advantage
            if self.entropy_weight > 0:
                log_p = np.log(p)
                entropy = -float(np.sum(p * log_p))
                step -= self.entropy_weight * p * (log_p + entropy)
            self.logits[part] += self.learning_rate * step
        self._probs = None
