"""Tree-structured Parzen Estimator, Bergstra et al. 2011, "Algorithms for Hyper-Parameter Optimization".

A native, vectorised TPE for discrete, conditional search spaces. Observations are kept as an
integer matrix (one row per trial, one column per choice, ``-1`` where a choice is inactive) and
the value counts of all observations are updated as each trial is told. A suggestion then costs
one partial sort of the scores, one ``bincount`` over the few *good* rows, and a handful of
array operations per choice, whatever the length of the history.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nasforge.core.records import Architecture, Observation
from nasforge.core.space import SearchSpace
from nasforge.strategies.base import NativeStrategy, check_float, check_int, score_of
from nasforge.strategies.encoding import IndexedSpace


def _kernel_density(counts: np.ndarray, n: float, prior_weight: float) -> np.ndarray:
    """Parzen estimate over the positions of an ordinal domain, from the number of observations at each position.

    Each observation contributes a Gaussian bump (in index units) truncated to the domain and
    renormalised; the bandwidth follows Scott's rule, ``1.06 * sigma * n^(-1/5)`` with ``sigma``
    the standard deviation of the observed positions (at most that of a uniform over the
    domain), and is at least half a step. A uniform prior with
    the weight of ``prior_weight`` observations keeps every value possible.
    """
    d = counts.shape[0]
    uniform = np.full(d, 1.0 / d)
    if n <= 0 or d == 1:
        return uniform
    positions = np.arange(d, dtype=np.float64)
    mean = float(counts @ positions) / n
    spread = math.sqrt(max(0.0, float(counts @ (positions - mean) ** 2) / n))
    sigma = min(spread, (d - 1) / math.sqrt(12.0))  # the data's spread, at most that of a uniform
    h = max(0.5, 1.06 * sigma * n ** -0.2)
    half = min(d - 1, int(math.ceil(4.0 * h)))
    offsets = np.arange(-half, half + 1, dtype=np.float64)
    bump = np.exp(-0.5 * (offsets / h) ** 2)
    # Mass of a bump centred at each position that falls inside the domain: divide by it to renormalise.
    inside = np.convolve(np.ones(d), bump)[half : half + d]
    smoothed = np.convolve(counts / inside, bump)[half : half + d]
    return (smoothed + prior_weight * uniform) / (n + prior_weight)


class TPE(NativeStrategy):
    """Tree-structured Parzen Estimator for discrete, conditional spaces.

    After ``n_startup_trials`` random proposals, the successful observations are split by score:
    the best ``min(ceil(gamma * n), max_good)`` form the *good* set, everything else (failed
    trials included) the *bad* one. For every choice two densities are fitted, ``l`` on the good
    and ``g`` on the bad observations, each only on the observations where the choice is active:

    * categorical choices: value frequencies smoothed by a uniform prior worth
      ``prior_weight`` observations;
    * ordinal choices (integers, ``ordered`` categoricals): a discrete Gaussian kernel over the
      value positions plus the same prior.

    ``n_ei_candidates`` architectures are drawn from ``l`` (a choice is drawn only where its
    condition holds for the values drawn before it) and the one with the largest
    ``l(x) / g(x)`` -- the product over its active choices -- that was not proposed before wins.
    When all candidates were seen, up to ``candidate_batches`` further batches are drawn, then a
    random unseen architecture is proposed.

    Options: ``n_startup_trials`` (10), ``n_ei_candidates`` (24), ``gamma`` (0.1),
    ``max_good`` (25), ``prior_weight`` (1.0), ``candidate_batches`` (4).
    """

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        n_startup_trials: int = 10,
        n_ei_candidates: int = 24,
        gamma: float = 0.1,
        max_good: int = 25,
        prior_weight: float = 1.0,
        candidate_batches: int = 4,
    ) -> None:
        super().__init__(space, seed=seed)
        self.n_startup_trials = check_int("n_startup_trials", n_startup_trials, 0, "tpe")
        self.n_ei_candidates = check_int("n_ei_candidates", n_ei_candidates, 1, "tpe")
        self.gamma = check_float("gamma", gamma, 0.0, 1.0, "tpe", low_open=True)
        self.max_good = check_int("max_good", max_good, 1, "tpe")
        self.prior_weight = check_float("prior_weight", prior_weight, 0.0, math.inf, "tpe", low_open=True)
        self.candidate_batches = check_int("candidate_batches", candidate_batches, 1, "tpe")

        self.index = IndexedSpace(space)
        self._ordinal = [i for i, c in enumerate(self.index.choices) if c.ordinal and len(c.domain) > 1]

        # Observation history, grown by doubling; rows past self._n are unused.
        self._rows = np.full((64, len(self.index.choices)), -1, dtype=np.int64)
        self._scores = np.empty(64, dtype=np.float64)
        self._n = 0
        self._n_ok = 0
        self._counts = np.zeros(self.index.n_values, dtype=np.int64)  # value counts over every observation
        self._position: dict[Architecture, int] = {}  # history row of each told architecture

    # -- observations ---------------------------------------------------------------------------
    def learn(self, observation: Observation) -> None:
        row = self.index.encode(observation.architecture)  # valid: NativeStrategy.observe checked it
        if self._n == self._rows.shape[0]:
            self._rows = np.concatenate([self._rows, np.full_like(self._rows, -1)])
            self._scores = np.concatenate([self._scores, np.empty_like(self._scores)])
        score = score_of(observation)
        self._position[observation.architecture] = self._n
        self._rows[self._n] = row
        self._scores[self._n] = score
        self._n += 1
        self._n_ok += math.isfinite(score)
        self._counts[self.index.flat(row)] += 1

    def relearn(self, observation: Observation) -> None:
        """A result at the same or a higher fidelity replaces the architecture's score (one row per architecture)."""
        position = self._position[observation.architecture]
        score = score_of(observation)
        self._n_ok += math.isfinite(score) - math.isfinite(self._scores[position])
        self._scores[position] = score

    # -- densities -------------------------------------------------------------------------------
    def _densities(self, counts: np.ndarray) -> np.ndarray:
        """Per-value probabilities (flat, all choices side by side) from per-value observation counts."""
        ix = self.index
        n = np.add.reduceat(counts, ix.offsets).astype(np.float64)  # observations where each choice is active
        n_slot = n[ix.value_choice]
        size_slot = ix.sizes[ix.value_choice]
        probs = (counts + self.prior_weight / size_slot) / (n_slot + self.prior_weight)
        for i in self._ordinal:
            lo, hi = ix.offsets[i], ix.offsets[i] + ix.sizes[i]
            probs[lo:hi] = _kernel_density(counts[lo:hi].astype(np.float64), n[i], self.prior_weight)
        return probs

    def _split_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """Value counts of the good and of the bad observations."""
        n_good = max(1, min(int(math.ceil(self.gamma * self._n_ok)), self.max_good, self._n_ok))
        scores = self._scores[: self._n]
        if n_good < self._n:
            good = np.argpartition(-scores, n_good - 1)[:n_good]
        else:
            good = np.arange(self._n)
        rows = self._rows[good]
        mask = rows >= 0
        flat = (rows + self.index.offsets)[mask]
        good_counts = np.bincount(flat, minlength=self.index.n_values)
        return good_counts, self._counts - good_counts

    # -- proposing -----------------------------------------------------------------------------
    def _candidates(self, l_probs: np.ndarray, log_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Draw candidates from ``l``; return their value indices, activity masks and log l/g."""
        idx, active = self.index.sample(l_probs, self.n_ei_candidates, self.rng)
        score = np.where(active, log_ratio[idx + self.index.offsets], 0.0).sum(axis=1)
        return idx, active, score

    def suggest(self) -> Architecture | None:
        if self.exhausted:
            return None
        if self._n < self.n_startup_trials or self._n_ok == 0:
            return self.random_unseen()
        good_counts, bad_counts = self._split_counts()
        l_probs = self._densities(good_counts)
        log_ratio = np.log(l_probs) - np.log(self._densities(bad_counts))
        for _ in range(self.candidate_batches):
            idx, active, score = self._candidates(l_probs, log_ratio)
            for j in np.argsort(-score, kind="stable"):
                arch = self.index.build(idx[j], active[j])
                if arch not in self.seen:
                    return self.mark_seen(arch)
        return self.random_unseen()

    def describe(self) -> dict[str, Any]:
        """A summary for logs: how many trials are in the history and in the good set."""
        n_good = max(1, min(int(math.ceil(self.gamma * self._n_ok)), self.max_good, self._n_ok)) if self._n_ok else 0
        return {"observations": self._n, "successful": self._n_ok, "good": n_good}
