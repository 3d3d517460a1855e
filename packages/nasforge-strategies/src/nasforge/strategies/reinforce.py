"""REINFORCE policy-gradient search, after Zoph & Le 2017, "Neural Architecture Search with Reinforcement Learning".

Zoph & Le train a recurrent controller; here the policy is the simplest one that keeps their
update rule: an independent softmax over each choice's values (as in the REINFORCE baselines
of NAS-Bench-101 and NAS-Bench-201).
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from nasforge.core.records import Architecture, Observation
from nasforge.core.space import SearchSpace
from nasforge.strategies.base import NativeStrategy, check_float, check_int, score_of
from nasforge.strategies.encoding import IndexedSpace


class Reinforce(NativeStrategy):
    """Policy gradient over independent per-choice softmax distributions, with a moving-average baseline.

    **On-policy.** The policy is only ever updated with architectures it drew itself. Each ask
    draws from the policy until it gets an architecture not evaluated yet, which it proposes; its
    result updates the policy when told. A draw of an architecture whose result is already known
    (told before, including trials told from a warm start) is a genuine sample of the policy with
    a known reward: it updates the policy at once, at no evaluation cost, and the policy draws
    again -- the way Optuna users tell a repeated trial its known value. (Using every draw this
    way keeps the update an unbiased estimate of the policy gradient; a draw of an architecture
    still being evaluated is skipped.) After ``sample_tries`` draws without an unseen architecture,
    a random unseen one is proposed instead; the policy did not draw it, so its result never
    updates the policy (it still counts toward the reward statistics below).

    **Update.** For a reward ``R`` the logits of each choice *active in that architecture* move by
    ``learning_rate * (A * (onehot(value) - softmax(logits)) + entropy_weight * dH/dlogits)``. The
    advantage ``A = (R - b) / s`` uses ``b``, an exponential moving average of the policy's rewards
    (decay ``baseline_decay``), and ``s``, a moving estimate of their standard deviation, so the
    step size does not depend on the scale of the score. The entropy term (the gradient of the
    choice's entropy ``H``) keeps the policy from collapsing onto one architecture, so it keeps
    proposing new ones.

    A failed trial is rewarded with the lowest score seen so far, so it never pushes the policy
    toward itself; failures before any success teach nothing.

    Options: ``learning_rate`` (0.3), ``baseline_decay`` (0.9), ``entropy_weight`` (0.05),
    ``sample_tries`` (50).
    """

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        learning_rate: float = 0.3,
        baseline_decay: float = 0.9,
        entropy_weight: float = 0.05,
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
        #: Architectures the policy drew and proposed, not told yet (how many times each).
        self.drawn: dict[Architecture, list[float]] = defaultdict(list)
        #: The reward of every architecture told so far (a repeat draw of one updates the policy with it).
        self.known: dict[Architecture, float] = {}
        #: Policy updates made, and how many of them came from repeat draws (no evaluation).
        self.updates = 0
        self.repeat_updates = 0
        #: Proposals the policy did not draw (random fallbacks); they never update the policy.
        self.fallbacks = 0

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
        # One batch of draws from the current policy, used in order up to the first unseen one.
        idx, active = self.index.sample(self._all_probabilities(), self.sample_tries, self.rng)
        repeats: list[Architecture] = []
        proposal = None
        for j in range(self.sample_tries):
            arch = self.index.build(idx[j], active[j])
            if arch not in self.seen:
                proposal = arch
                break
            if arch in self.known:  # a repeat with a known result: a free sample of the policy
                repeats.append(arch)
        # Every draw used counts once, with equal weight: one ask moves the policy as far as one sample.
        weight = 1.0 / (len(repeats) + (proposal is not None)) if repeats or proposal is not None else 0.0
        for arch in repeats:
            self.update(arch, self.known[arch], weight)
        self.repeat_updates += len(repeats)
        if proposal is not None:
            self.drawn[proposal].append(weight)
            return self.mark_seen(proposal)
        # The policy found nothing new: explore around its most likely architecture instead (a
        # proposal it did not draw, so it will not learn from it).
        self.fallbacks += 1
        walk = [self.mode()]

        def next_mutant() -> Architecture:
            walk[0] = self.space.mutate(walk[0], self.rng)
            return walk[0]

        return self.propose_unseen(next_mutant, self.sample_tries)

    def mode(self) -> Architecture:
        """The policy's most likely architecture (each active choice at its most likely value)."""
        probs = self._all_probabilities()
        idx = np.array([int(np.argmax(probs[self._slice(i)])) for i in range(len(self.index.choices))])
        active = np.ones(len(idx), dtype=bool)
        for i, info in enumerate(self.index.choices):
            for cond in info.conditions:
                active[i] &= bool(active[cond.parent] and cond.table[idx[cond.parent]])
        return self.index.build(idx, active)

    def reward_of(self, observation: Observation) -> float | None:
        """The reward of a told trial: its score, or the lowest score seen for a failure (``None`` before any success)."""
        score = score_of(observation)
        if math.isfinite(score):
            self.worst = score if self.worst is None else min(self.worst, score)
            return score
        return self.worst  # None before any success: nothing to learn

    def learn(self, observation: Observation) -> None:
        arch = observation.architecture
        reward = self.reward_of(observation)
        if reward is None:
            return
        self.known[arch] = reward
        weights = self.drawn.get(arch)
        if weights:
            weight = weights.pop(0)
            if not weights:
                del self.drawn[arch]
            self.update(arch, reward, weight)

    def update(self, arch: Architecture, reward: float | None, weight: float = 1.0) -> None:
        """One REINFORCE step, scaled by ``weight``, for a draw ``arch`` of the policy with reward ``reward``.

        The first reward only sets the baseline; ``None`` (a failure before any success) teaches nothing.
        """
        if reward is None:
            return
        if self.baseline is None:
            self.baseline = reward
            return
        deviation = reward - self.baseline
        scale = math.sqrt(self.spread) if self.spread > 0 else (abs(deviation) or 1.0)
        advantage = deviation / scale
        self.baseline += (1.0 - self.baseline_decay) * deviation
        self.spread = self.baseline_decay * self.spread + (1.0 - self.baseline_decay) * deviation**2
        row = self.index.encode(arch)
        probs = self._all_probabilities()
        for i in np.flatnonzero(row >= 0):
            part = self._slice(int(i))
            p = probs[part]
            step = -advantage * p
            step[row[i]] += advantage
            if self.entropy_weight > 0:
                log_p = self.logits[part] - self.logits[part].max()
                log_p -= math.log(float(np.sum(np.exp(log_p))))
                entropy = -float(np.sum(p * log_p))
                step -= self.entropy_weight * p * (log_p + entropy)
            self.logits[part] += self.learning_rate * weight * step
        self._probs = None
        self.updates += 1
