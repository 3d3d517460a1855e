"""REINFORCE policy-gradient search, after Zoph & Le 2017, "Neural Architecture Search with Reinforcement Learning".

Zoph & Le train a recurrent controller; here the policy is the simplest one that keeps their
update rule: an independent softmax over each choice's values (as in ENAS-style ablations and
the "REINFORCE" baselines of NAS-Bench-101/201).
"""

from __future__ import annotations

import math

import numpy as np

from nasforge.core.records import Architecture, Observation
from nasforge.core.space import SearchSpace
from nasforge.strategies.base import check_float, check_int, NativeStrategy, score_of, value_key


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = np.exp(logits - logits.max())
    return z / z.sum()


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

    When the policy keeps proposing seen architectures (up to ``sample_tries`` draws), a random
    unseen architecture is proposed instead.

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
        self.logits: dict[str, np.ndarray] = {c.name: np.zeros(len(c.domain)) for c in space.choices}
        self._index = {c.name: {value_key(v): i for i, v in enumerate(c.domain)} for c in space.choices}
        self.baseline: float | None = None
        self.spread: float = 0.0  # moving average of squared deviations from the baseline
        self.worst: float | None = None
        self._probs: dict[str, np.ndarray] = {}  # softmax of the logits, refreshed when they change

    def probabilities(self, name: str) -> np.ndarray:
        """The policy's current distribution over the values of choice ``name``."""
        p = self._probs.get(name)
        if p is None:
            p = self._probs[name] = _softmax(self.logits[name])
        return p

    def sample_policy(self) -> Architecture:
        """Draw one architecture from the policy."""
        values: dict = {}
        for choice in self.space.choices:
            if choice.is_active(values):
                p = self.probabilities(choice.name)
                values[choice.name] = choice.domain[int(min(np.searchsorted(np.cumsum(p), self.rng.random(), side="right"), len(p) - 1))]
        return Architecture(values)

    def suggest(self) -> Architecture | None:
        return self.propose_unseen(self.sample_policy, self.sample_tries)

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
        for name, value in observation.architecture.items():
            if name not in self.logits:
                continue
            index = self._index[name].get(value_key(value))
            if index is None:
                continue
            p = self.probabilities(name)
            grad = -p  # a new array: p itself stays untouched
            grad[index] += 1.0
            step = advantage * grad
            if self.entropy_weight > 0:
                log_p = np.log(p)
                entropy = -float(np.sum(p * log_p))
                step = step - self.entropy_weight * p * (log_p + entropy)
            self.logits[name] += self.learning_rate * step
            self._probs.pop(name, None)
