"""BANANAS-style model-based search: an ensemble of small neural predictors over the space's encoding.

After White, Neiswanger & Savani, "BANANAS: Bayesian Optimization with Neural Architectures for
Neural Architecture Search" (AAAI 2021). The predictor learns from
:meth:`~nasforge.core.space.SearchSpace.encode` (one-hot / scaled ordinal), so it works on any
space. Each suggestion:

1. builds a candidate pool around the best ``top_k`` architectures of the current *local run*:
   every single-choice change of each, ``mutation_candidates`` random mutations (two changes on
   average) and ``crossover_candidates`` uniform crossovers of two of them, plus
   ``random_candidates`` random architectures; everything proposed before is removed;
2. scores the pool with an ensemble of ``ensemble_size`` two-hidden-layer MLPs (numpy only, no
   torch) trained on every observation so far, on the *rank* of the score (ties averaged), so
   that a few very bad architectures do not squash the differences among good ones;
3. proposes the candidate with the best *independent Thompson sample*: one draw per candidate from
   a normal with the ensemble's mean and spread (the acquisition BANANAS found best).

The first ``initial`` proposals are random (none once ``initial`` observations are known, e.g.
told from an earlier experiment). When a local run has gone ``patience`` observations
without improving (default: half the number of neighbours of an architecture, i.e. the model
found nothing better around it), its best architecture's remaining neighbours are tried, in the
model's order, until one improves (the run goes on) or none is left: then the best is a true local
optimum and the next proposal is a random architecture that starts a new local run, as local
search restarts; the model keeps everything it learnt. This is what gets
the search out of a good region that is not the best one, which no predictor trained on that
region alone would leave.

Suggestions are cheap (under a millisecond on the spaces of the tests and benchmarks): the ensemble
is warm-started from its last weights and trained for ``train_steps`` full-batch Adam steps only
once the data grew by ``refit_growth`` (20 %) since the last training, so the training cost per
suggestion stays constant as the history grows. The pool is generated, de-duplicated and encoded
with vectorised index arithmetic (:class:`_IndexCodec`), conditional choices included: each
condition is a precomputed lookup table over its parent's values.

Failed or infeasible trials are taught to the predictor with the worst score seen, so it learns to
avoid what breaks, and are never proposed again.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

import numpy as np

from nasforge.core.errors import ConfigError
from nasforge.core.records import Architecture, Observation
from nasforge.core.space import SearchSpace
from nasforge.strategies.base import NativeStrategy, check_float, check_int, score_of

#: Spaces with up to this many codes keep a boolean "seen" array indexed by code.
SEEN_BITMAP_LIMIT = 1 << 24


class MLPEnsemble:
    """``members`` independent MLPs ``D -> hidden -> hidden -> 1`` (ReLU), trained together with Adam.

    Weights are stacked along a leading member axis so that one batched matrix product trains or
    evaluates every member at once; all parameters live in one flat float32 buffer so that an Adam
    step is a handful of vector operations. Targets are standardised internally.
    """

    def __init__(self, n_inputs: int, members: int, hidden: int, rng: np.random.Generator, lr: float = 0.01, weight_decay: float = 1e-4) -> None:
        self.lr = lr
        shapes = [(members, n_inputs, hidden), (members, 1, hidden), (members, hidden, hidden), (members, 1, hidden), (members, hidden, 1), (members, 1, 1)]
        sizes = [int(np.prod(shape)) for shape in shapes]
        self._theta = np.zeros(sum(sizes), dtype=np.float32)
        self._grad = np.zeros_like(self._theta)
        self._decay = np.zeros_like(self._theta)  # weight decay on weights, not on biases
        self.params: list[np.ndarray] = []
        self.grads: list[np.ndarray] = []
        start = 0
        for shape, size in zip(shapes, sizes, strict=True):
            view = self._theta[start : start + size].reshape(shape)
            if shape[1] != 1:  # He initialisation, a different draw per member: the ensemble's diversity
                view[...] = rng.normal(0.0, math.sqrt(2.0 / shape[1]), size=shape)
                self._decay[start : start + size] = weight_decay
            self.params.append(view)
            self.grads.append(self._grad[start : start + size].reshape(shape))
            start += size
        self._m = np.zeros_like(self._theta)
        self._v = np.zeros_like(self._theta)
        self._t = 0
        self.mean = 0.0
        self.scale = 1.0

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        w1, b1, w2, b2, w3, b3 = self.params
        h1 = np.maximum(x @ w1 + b1, 0.0)  # (members, n, hidden)
        h2 = np.maximum(h1 @ w2 + b2, 0.0)
        return h1, h2, (h2 @ w3 + b3)[..., 0]  # (members, n)

    def fit(self, x: np.ndarray, y: np.ndarray, steps: int) -> None:
        """Train every member for ``steps`` full-batch Adam steps on mean squared error (warm start)."""
        self.mean = float(y.mean())
        self.scale = float(y.std()) or 1.0
        target = ((y - self.mean) / self.scale).astype(np.float32)
        x = x.astype(np.float32, copy=False)
        xt = np.ascontiguousarray(x.T)
        n = x.shape[0]
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        w1, b1, w2, b2, w3, b3 = self.params
        g_w1, g_b1, g_w2, g_b2, g_w3, g_b3 = self.grads
        for _ in range(steps):
            h1, h2, out = self._forward(x)
            g_out = (2.0 / n) * (out - target)[..., None]  # (members, n, 1)
            np.matmul(h2.transpose(0, 2, 1), g_out, out=g_w3)
            g_b3[...] = g_out.sum(axis=1, keepdims=True)
            g_h2 = (g_out @ w3.transpose(0, 2, 1)) * (h2 > 0)
            np.matmul(h1.transpose(0, 2, 1), g_h2, out=g_w2)
            g_b2[...] = g_h2.sum(axis=1, keepdims=True)
            g_h1 = (g_h2 @ w2.transpose(0, 2, 1)) * (h1 > 0)
            np.matmul(xt, g_h1, out=g_w1)  # (D, n) @ (members, n, hidden) broadcasts over members
            g_b1[...] = g_h1.sum(axis=1, keepdims=True)
            g = self._grad + self._decay * self._theta
            self._t += 1
            self._m *= beta1
            self._m += (1.0 - beta1) * g
            self._v *= beta2
            self._v += (1.0 - beta2) * (g * g)
            step = self.lr / (1.0 - beta1**self._t)
            self._theta -= step * self._m / (np.sqrt(self._v / (1.0 - beta2**self._t)) + eps)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions of every member, shape ``(members, len(x))``, in the original target units."""
        return self._forward(x.astype(np.float32, copy=False))[2].astype(np.float64) * self.scale + self.mean


class _IndexCodec:
    """Vectorised sampling, moves and encoding over a space, conditions included.

    An architecture is a row of value indices, one per choice, ``-1`` where the choice is inactive.
    Each condition is precomputed as a boolean table over its parent's value indices (with a last
    ``False`` entry that index ``-1`` picks up: an inactive parent makes the child inactive), so
    activity is a few array lookups. :meth:`encode` matches :meth:`SearchSpace.encode` column for
    column; :meth:`neighbours` gives the same set as :meth:`SearchSpace.neighbours`.
    """

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.sizes = np.array([len(c.domain) for c in space.choices], dtype=np.int64)
        self.ordinal = np.array([c.ordinal for c in space.choices])
        widths = np.where(self.ordinal, 1, self.sizes)
        self.offsets = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(np.int64)
        self.width = int(widths.sum())
        position = {c.name: j for j, c in enumerate(space.choices)}
        self.conditions: list[list[tuple[int, np.ndarray]]] = []
        for choice in space.choices:
            tables = []
            for clause in choice.condition:
                parent = space[clause.choice]
                holds = [clause.holds({clause.choice: v}) for v in parent.domain] + [False]
                tables.append((position[clause.choice], np.array(holds)))
            self.conditions.append(tables)
        self.conditional = any(self.conditions)
        # Codes: mixed radix over (index + 1), 0 standing for "inactive"; exact while they fit in 62 bits.
        self.n_codes = float(np.prod((self.sizes + 1).astype(float)))
        self.exact_codes = self.n_codes < 2.0**62
        self.radix = np.concatenate([np.cumprod((self.sizes + 1)[::-1])[::-1][1:], [1]]).astype(np.int64) if self.exact_codes else None
        self._lookup = [{(isinstance(v, bool), v): i for i, v in enumerate(c.domain)} for c in space.choices]

    # -- conversions ----------------------------------------------------------------------------
    def index_of(self, arch: Architecture) -> np.ndarray:
        row = np.full(len(self.sizes), -1, dtype=np.int64)
        for j, (choice, table) in enumerate(zip(self.space.choices, self._lookup, strict=True)):
            if choice.name in arch:
                value = arch[choice.name]
                row[j] = table[(isinstance(value, bool), value)]
        return row

    def architecture(self, row: np.ndarray) -> Architecture:
        return Architecture({c.name: c.domain[int(i)] for c, i in zip(self.space.choices, row, strict=True) if i >= 0})

    def codes(self, rows: np.ndarray) -> np.ndarray:
        """One integer per row (only when :attr:`exact_codes`)."""
        return (rows + 1) @ self.radix

    def keys(self, rows: np.ndarray) -> list[Any]:
        return self.codes(rows).tolist() if self.exact_codes else [r.tobytes() for r in rows]

    def key(self, row: np.ndarray) -> Any:
        return self.keys(row[None, :])[0]

    def encode(self, rows: np.ndarray) -> np.ndarray:
        x = np.zeros((rows.shape[0], self.width))
        categorical = np.flatnonzero(~self.ordinal)
        if len(categorical):
            values = rows[:, categorical]
            active = values >= 0
            r = np.broadcast_to(np.arange(rows.shape[0])[:, None], values.shape)
            x[r[active], (self.offsets[categorical] + values)[active]] = 1.0
        for j in np.flatnonzero(self.ordinal):
            x[:, self.offsets[j]] = np.where(rows[:, j] >= 0, rows[:, j] / max(1, self.sizes[j] - 1), 0.0)
        return x

    # -- validity ---------------------------------------------------------------------------------
    def _active(self, rows: np.ndarray, j: int) -> np.ndarray:
        mask = np.ones(rows.shape[0], dtype=bool)
        for parent, holds in self.conditions[j]:
            mask &= holds[rows[:, parent]]
        return mask

    def complete(self, rows: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """Make rows valid in place: inactive choices -1, newly active ones sampled (first value without ``rng``)."""
        if not self.conditional:
            return rows
        for j in range(rows.shape[1]):
            if not self.conditions[j]:
                continue
            active = self._active(rows, j)
            missing = active & (rows[:, j] < 0)
            if missing.any():
                rows[missing, j] = rng.integers(self.sizes[j], size=int(missing.sum())) if rng is not None else 0
            rows[~active, j] = -1
        return rows

    # -- generating -------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        rows = (rng.random((n, len(self.sizes))) * self.sizes).astype(np.int64)
        return self.complete(rows, rng)  # every value is drawn already: this only switches inactive ones off

    def neighbours(self, row: np.ndarray) -> np.ndarray:
        """Every architecture one active choice away (adjacent values only for ordinal choices)."""
        out = []
        for j, (size, ordinal) in enumerate(zip(self.sizes.tolist(), self.ordinal.tolist(), strict=True)):
            if row[j] < 0:
                continue
            values = [v for v in (row[j] - 1, row[j] + 1) if 0 <= v < size] if ordinal else [v for v in range(size) if v != row[j]]
            if values:
                block = np.repeat(row[None, :], len(values), axis=0)
                block[:, j] = values
                out.append(block)
        if not out:
            return np.empty((0, len(self.sizes)), dtype=np.int64)
        return self.complete(np.concatenate(out), None)

    def mutate(self, rows: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Change each active choice with probability ``2 / #active`` (at least one) to another value; then complete.

        Two changes on average reach architectures that no single move reaches from a local optimum.
        """
        n, k = rows.shape
        active = rows >= 0
        n_active = np.maximum(active.sum(axis=1), 1)
        change = (rng.random((n, k)) < np.minimum(0.5, 2.0 / n_active)[:, None]) & active
        pick = np.where(active, rng.random((n, k)), -1.0).argmax(axis=1)
        change[np.arange(n), pick] = active[np.arange(n), pick]
        change &= self.sizes > 1
        shift = 1 + (rng.random((n, k)) * (self.sizes - 1)).astype(np.int64)  # 1 .. size-1: never the same value
        mutated = np.where(change, (rows + shift) % self.sizes, rows)
        return self.complete(mutated, rng)

    def crossover(self, first: np.ndarray, second: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Uniform crossover row by row (a value inactive in the chosen parent is taken from the other), then complete."""
        take_first = rng.random(first.shape) < 0.5
        child = np.where(take_first, first, second)
        child = np.where(child < 0, np.maximum(first, second), child)
        return self.complete(child, rng)


class Bananas(NativeStrategy):
    """Model-based search with an ensemble of neural predictors and Thompson-sampling acquisition (BANANAS).

    Options (generic defaults, chosen to keep a suggestion under a millisecond, not tuned to one
    benchmark): ``initial`` random proposals (10), ``ensemble_size`` (5), ``hidden`` units per
    layer (16), ``train_steps`` Adam steps per training (20; the first training runs 4x as many),
    ``learning_rate`` (0.03), ``top_k`` best architectures of the local run whose moves are
    candidates (5), ``mutation_candidates`` (100), ``crossover_candidates`` (50),
    ``random_candidates`` (100), ``refit_growth`` (0.2: retrain once the data grew by 20 %),
    ``patience`` (observations without improvement before a restart; default half the
    neighbourhood size), ``target`` (``rank`` or ``score``: what the predictor learns).
    See the module docstring for the algorithm.
    """

    def __init__(
        self,
        space: SearchSpace,
        seed: int = 0,
        initial: int = 10,
        ensemble_size: int = 5,
        hidden: int = 16,
        train_steps: int = 20,
        learning_rate: float = 0.03,
        top_k: int = 5,
        random_candidates: int = 100,
        crossover_candidates: int = 50,
        mutation_candidates: int = 100,
        patience: int | None = None,
        refit_growth: float = 0.2,
        target: str = "rank",
    ) -> None:
        super().__init__(space, seed=seed)
        self.initial = check_int("initial", initial, 1, "bananas")
        self.ensemble_size = check_int("ensemble_size", ensemble_size, 2, "bananas")
        self.hidden = check_int("hidden", hidden, 1, "bananas")
        self.train_steps = check_int("train_steps", train_steps, 1, "bananas")
        self.learning_rate = check_float("learning_rate", learning_rate, 0.0, 1.0, "bananas", low_open=True)
        self.top_k = check_int("top_k", top_k, 1, "bananas")
        self.random_candidates = check_int("random_candidates", random_candidates, 0, "bananas")
        self.patience = None if patience is None else check_int("patience", patience, 1, "bananas")
        self.mutation_candidates = check_int("mutation_candidates", mutation_candidates, 0, "bananas")
        self.crossover_candidates = check_int("crossover_candidates", crossover_candidates, 0, "bananas")
        self.refit_growth = check_float("refit_growth", refit_growth, 0.0, 10.0, "bananas")
        if target not in ("rank", "score"):
            raise ConfigError("strategy.options.target", f"bananas learns either 'rank' or 'score', got {target!r}")
        self.target = target
        self.codec = _IndexCodec(space)
        # With up to ~16 million codes, "seen?" is one lookup in a bitmap.
        self._seen_mask = np.zeros(int(self.codec.n_codes), dtype=bool) if self.codec.n_codes <= SEEN_BITMAP_LIMIT else None
        self._asked = 0
        self._archs: list[Architecture] = []
        self._scores: list[float] = []
        self._x: list[np.ndarray] = []
        self._rows: list[np.ndarray] = []  # index rows of the observed architectures
        self._neighbours: dict[int, np.ndarray] = {}  # observation position -> its neighbours' rows
        self._seen_keys: set[Any] = set()
        self._model: MLPEnsemble | None = None
        self._patience_default: int | None = None
        self._start = 0  # observations before this position belong to earlier local runs
        self._top: list[tuple[float, int]] = []  # (-score, position) of the current run's best, sorted
        self._run_best = -math.inf  # best score of the current local run
        self._stalled = 0  # observations since the current local run last improved
        self._fitted_on = 0
        self._position: dict[Architecture, int] = {}  # observation position of each told architecture

    # -- observing --------------------------------------------------------------------------------
    def mark_seen(self, arch: Architecture) -> Architecture:
        self._add_seen(self.codec.index_of(arch))
        return super().mark_seen(arch)

    def _add_seen(self, row: np.ndarray) -> None:
        key = self.codec.key(row)
        self._seen_keys.add(key)
        if self._seen_mask is not None:
            self._seen_mask[key] = True

    def learn(self, observation: Observation) -> None:
        arch = observation.architecture  # valid: NativeStrategy.observe drops architectures outside the space
        row = self.codec.index_of(arch)
        self._add_seen(row)
        self._rows.append(row)
        x = self.codec.encode(row[None, :])[0]
        score = score_of(observation)
        if score > self._run_best:
            self._run_best, self._stalled = score, 0
        else:
            self._stalled += 1
        if math.isfinite(score):
            # Kept sorted best first, earliest among equals; only the top_k are ever needed.
            position = len(self._scores)
            bisect.insort(self._top, (-score, position))
            del self._top[self.top_k :]
        self._position[arch] = len(self._archs)
        self._archs.append(arch)
        self._scores.append(score)
        self._x.append(x)

    def relearn(self, observation: Observation) -> None:
        """A result at the same or a higher fidelity replaces the architecture's score (one entry per architecture).

        The predictor learns the new score at its next training; the current local run's best are
        re-ranked with it.
        """
        position = self._position[observation.architecture]
        score = score_of(observation)
        self._scores[position] = score
        if position >= self._start:
            ranked = sorted((-s, i) for i, s in enumerate(self._scores[self._start :], start=self._start) if math.isfinite(s))
            self._top = ranked[: self.top_k]
            self._run_best = -ranked[0][0] if ranked else -math.inf

    # -- proposing --------------------------------------------------------------------------------
    def _training_data(self) -> tuple[np.ndarray, np.ndarray]:
        scores = np.array(self._scores)
        finite = np.isfinite(scores)
        worst = scores[finite].min() if finite.any() else 0.0
        y = np.where(finite, scores, worst)
        if self.target == "rank":
            # Ranks scaled to [0, 1] (ties share their mean rank): the predictor spends its capacity on
            # the order among good architectures instead of on the distance to a few very bad ones.
            order = np.argsort(y, kind="stable")
            ranks = np.empty(len(y))
            ranks[order] = np.arange(len(y))
            _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
            sums = np.bincount(inverse, weights=ranks)
            y = (sums / counts)[inverse] / max(1, len(y) - 1)
        return np.stack(self._x), y

    def _maybe_fit(self) -> None:
        n = len(self._scores)
        if self._model is not None and n < self._fitted_on * (1.0 + self.refit_growth):
            return
        x, y = self._training_data()
        steps = self.train_steps
        if self._model is None:
            self._model = MLPEnsemble(x.shape[1], self.ensemble_size, self.hidden, self.rng, lr=self.learning_rate)
            steps *= 4
        self._model.fit(x, y, steps)
        self._fitted_on = n

    def _patience(self) -> int:
        """Observations without improvement before a restart: half a neighbourhood's size unless set."""
        if self.patience is not None:
            return self.patience
        if self._patience_default is None:
            best = self._archs[self._top[0][1]] if self._top else self.space.sample(self.rng)
            self._patience_default = max(1, len(self.space.neighbours(best)) // 2)
        return self._patience_default

    def _best_indices(self) -> list[int]:
        """Positions of the best ``top_k`` successful observations of the current local run, best first."""
        return [i for _, i in self._top]

    def _unseen_neighbours(self, position: int) -> np.ndarray:
        if position not in self._neighbours:
            self._neighbours[position] = self.codec.neighbours(self._rows[position])
        rows = self._neighbours[position]
        return rows[~self._is_seen(rows)]

    def _is_seen(self, rows: np.ndarray) -> np.ndarray:
        codec = self.codec
        if self._seen_mask is not None:
            return self._seen_mask[codec.codes(rows)]
        if codec.exact_codes:
            seen = np.fromiter(self._seen_keys, dtype=np.int64, count=len(self._seen_keys))
            return np.isin(codec.codes(rows), seen)
        return np.array([key in self._seen_keys for key in codec.keys(rows)], dtype=bool)

    def _candidates(self) -> tuple[np.ndarray, np.ndarray]:
        """Unseen candidates as index rows, and their encodings."""
        codec = self.codec
        blocks = []
        best = self._best_indices()
        for i in best:
            if i not in self._neighbours:
                self._neighbours[i] = codec.neighbours(self._rows[i])
            blocks.append(self._neighbours[i])
        if best:
            parents = np.stack([self._rows[i] for i in best])
            if len(best) >= 2 and self.crossover_candidates:
                # Uniform crossover of random pairs of good architectures: combines what different
                # good regions got right, which single-choice moves from one incumbent cannot reach.
                pairs = self.rng.integers(len(best), size=(self.crossover_candidates, 2))
                blocks.append(codec.crossover(parents[pairs[:, 0]], parents[pairs[:, 1]], self.rng))
            if self.mutation_candidates:
                blocks.append(codec.mutate(parents[self.rng.integers(len(best), size=self.mutation_candidates)], self.rng))
        blocks.append(codec.sample(self.rng, self.random_candidates))
        rows = np.concatenate(blocks)
        # A candidate generated twice stays twice: it just gets two Thompson draws.
        rows = rows[~self._is_seen(rows)]
        return rows, codec.encode(rows)

    def suggest(self) -> Architecture | None:
        if self.exhausted:
            return None
        if (self._asked < self.initial and len(self._scores) < self.initial) or len(self._scores) < 2:
            self._asked += 1
            return self.random_unseen()
        self._maybe_fit()
        local_only = False
        if self._stalled >= self._patience() and self._top:
            # Stalled: before giving up on this local run, make sure its best really is a local
            # optimum by trying its remaining neighbours (in the model's order), as local search would.
            local_only = bool(self._unseen_neighbours(self._top[0][1]).shape[0])
        if self._stalled >= self._patience() and not local_only:
            # A local optimum: restart the local moves from a random architecture (the model keeps
            # everything it learnt), as local search does. The best so far stays on record.
            self._start = len(self._scores)
            self._top = []
            self._stalled = 0
            self._run_best = -math.inf
            self._asked += 1
            return self.random_unseen()
        if local_only:
            candidates = self._unseen_neighbours(self._top[0][1])
            x = self.codec.encode(candidates)
        else:
            candidates, x = self._candidates()
        if len(x) == 0:
            self._asked += 1
            return self.random_unseen()
        assert self._model is not None
        predictions = self._model.predict(x)
        mean = predictions.mean(axis=0)
        spread = predictions.std(axis=0)
        draw = mean + spread * self.rng.standard_normal(len(mean))
        best = int(np.argmax(draw))
        arch = self.codec.architecture(candidates[best])
        self._asked += 1
        return self.mark_seen(arch)
