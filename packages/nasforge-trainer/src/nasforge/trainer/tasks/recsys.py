"""Recommendation on MovieLens: implicit feedback (HR@10, NDCG@10) and rating regression (RMSE), the ``ncf`` space.

Datasets (``evaluator.options.dataset``):

* ``movielens`` — implicit feedback under the NCF protocol (He et al. 2017): every rating is a
  positive interaction; per user the latest interaction (by timestamp) is the test item and the
  second latest the validation item (what searches select on); each is ranked against
  ``eval_negatives`` (99) items the user never rated, drawn once with ``seed``. Training pairs
  each positive with ``num_negatives`` (4) unrated items drawn afresh every epoch.
  Metrics: ``hr_at_10`` (the held-out item is in the top 10) and ``ndcg_at_10``; ties count
  against the held-out item, so a constant model scores 0.
* ``movielens_ratings`` — rating prediction on a base/test split (``u1.base``/``u1.test`` by
  default): mean squared error training, metric ``rmse`` (predictions clipped to 1..5);
  ``valid_fraction`` of the base ratings (seeded) is the validation split.

Both read ``root`` (the ``ml-100k`` folder); ratings files are tab-separated
``user item rating timestamp`` lines (a file in another format fails with its line number).
Users with fewer than ``min_user_ratings`` ratings (default 20, what GroupLens guarantees
for ML-100K) are left out, and the count is reported in ``splits.info``.

The ``ncf`` space (:func:`ncf_space`): ``interaction`` (``gmf`` = matrix factorisation with a
learnt output weighting, ``mlp`` = a tower over concatenated embeddings, ``neumf`` = both fused),
``embedding_dim``, MLP tower ``mlp_layers`` and ``mlp_width`` (first layer; each next layer
halves it), ``dropout``. Every model also learns a bias per user and per item. Models take
``(batch, 2)`` int64 ``(user, item)`` ids and return one score per pair.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from nasforge.core.errors import ConfigError, SpaceError, UserError
from nasforge.core.space import SearchSpace
from nasforge.torchutils import iterate_batches, model_device
from nasforge.trainer.data import DatasetSplits
from nasforge.trainer.task import Task
from nasforge.trainer.tasks._common import check_fraction, check_int, choice_values, data_path


# -- reading ---------------------------------------------------------------------------------------
def read_ratings(path: Path) -> np.ndarray:
    """``(N, 4)`` int64 array of ``user, item, rating, timestamp`` from a tab-separated ratings file."""
    if not path.is_file():
        raise UserError(f"ratings file {path} not found; set dataset_options.root to the MovieLens folder (e.g. ml-100k)")
    rows = []
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            parts = line.split("\t")
            try:
                if len(parts) != 4:
                    raise ValueError
                rows.append([int(p) for p in parts])
            except ValueError:
                raise UserError(
                    f"{path}:{number}: expected 4 tab-separated integers 'user item rating timestamp' (MovieLens u.data format), got {line[:80]!r}"
                ) from None
    if not rows:
        raise UserError(f"ratings file {path} has no ratings")
    return np.asarray(rows, dtype=np.int64)


def _drop_sparse_users(data: np.ndarray, min_user_ratings: int) -> tuple[np.ndarray, int]:
    users, counts = np.unique(data[:, 0], return_counts=True)
    keep = set(users[counts >= min_user_ratings].tolist())
    mask = np.fromiter((u in keep for u in data[:, 0]), dtype=bool, count=len(data))
    return data[mask], int(len(users) - len(keep))


def _index(values: np.ndarray) -> dict[int, int]:
    return {int(v): i for i, v in enumerate(np.unique(values))}


# -- implicit feedback -------------------------------------------------------------------------------
class NegativeSamplingPairs(Dataset):
    """Positive ``(user, item)`` pairs; each batch adds ``num_negatives`` unrated items per positive (label 0)."""

    def __init__(self, pairs: torch.Tensor, rated: torch.Tensor, num_negatives: int) -> None:
        self.pairs = pairs
        self.rated = rated  # (users, items) bool: every known interaction, never sampled as a negative
        self.num_negatives = int(num_negatives)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pairs[index], torch.tensor(1.0)

    def batch(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        pos = self.pairs[indices]
        users = pos[:, 0].repeat_interleave(self.num_negatives)
        items = sample_unrated(self.rated, users, generator)
        x = torch.cat([pos, torch.stack([users, items], dim=1)])
        y = torch.cat([torch.ones(len(pos)), torch.zeros(len(users))])
        return x, y


def sample_unrated(rated: torch.Tensor, users: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One uniformly random item per entry of ``users`` that the user has not rated."""
    num_items = rated.shape[1]
    items = torch.randint(0, num_items, (len(users),), generator=generator)
    for _ in range(100):
        clash = rated[users, items]
        if not bool(clash.any()):
            return items
        items[clash] = torch.randint(0, num_items, (int(clash.sum()),), generator=generator)
    raise UserError("could not sample unrated items: some user has rated (nearly) every item")


class RankingCandidates(Dataset):
    """Per user one held-out item and its ranking negatives: ``x`` is ``(candidates, 2)``, the held-out item first."""

    def __init__(self, candidates: torch.Tensor) -> None:
        self.candidates = candidates  # (users, 1 + negatives, 2)

    def __len__(self) -> int:
        return len(self.candidates)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.candidates[index], torch.tensor(0)

    def batch(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.candidates[indices], torch.zeros(len(indices), dtype=torch.long)

    def subset(self, indices: torch.Tensor | Sequence[int]) -> RankingCandidates:
        return RankingCandidates(self.candidates[torch.as_tensor(indices, dtype=torch.long)])


def _pair_example(num_users: int, num_items: int, batch_size: int) -> torch.Tensor:
    return torch.stack([torch.randint(0, num_users, (batch_size,)), torch.randint(0, num_items, (batch_size,))], dim=1)


class ImplicitFeedbackTask(Task):
    """Binary cross-entropy on sampled negatives; HR@k and NDCG@k of the held-out item among its candidates."""

    name = "implicit-feedback"
    metric_names = ("hr_at_10", "ndcg_at_10")
    primary = "hr_at_10"

    def __init__(self, num_users: int = 1, num_items: int = 1, k: int = 10) -> None:
        self.num_users, self.num_items, self.k = int(num_users), int(num_items), int(k)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(output.reshape(-1), target.float())

    @torch.no_grad()
    def evaluate(self, model: nn.Module, data: Any, batch_size: int = 512) -> dict[str, float]:
        device = model_device(model)
        was_training = model.training
        model.eval()
        hits = ndcg = loss_sum = 0.0
        users = 0
        try:
            for x, _ in iterate_batches(data, max(1, batch_size // 16)):
                n, c, _ = x.shape
                scores = model(x.reshape(n * c, 2).to(device)).reshape(n, c).float()
                target = torch.zeros_like(scores)
                target[:, 0] = 1.0
                loss_sum += float(F.binary_cross_entropy_with_logits(scores, target, reduction="sum")) / c
                rank = (scores[:, 1:] >= scores[:, :1]).sum(dim=1)  # negatives scored at least as high
                hit = rank < self.k
                hits += float(hit.sum())
                ndcg += float((hit.float() / torch.log2(rank.float() + 2.0)).sum())
                users += n
        finally:
            model.train(was_training)
        if users == 0:
            raise ValueError("cannot evaluate on an empty dataset")
        return {"loss": loss_sum / users, "hr_at_10": hits / users, "ndcg_at_10": ndcg / users}

    def example_input(self, input_shape: Sequence[int], batch_size: int = 1) -> torch.Tensor:
        return _pair_example(self.num_users, self.num_items, batch_size)


def load_movielens(
    root: str | os.PathLike[str] | None = None,
    ratings_file: str = "u.data",
    num_negatives: int = 4,
    eval_negatives: int = 99,
    min_user_ratings: int = 20,
    max_users: int | None = None,
    seed: int = 0,
) -> DatasetSplits:
    """MovieLens as implicit feedback, split leave-one-out (see the module docstring)."""
    num_negatives = check_int("num_negatives", num_negatives, 1)
    eval_negatives = check_int("eval_negatives", eval_negatives, 1)
    min_user_ratings = check_int("min_user_ratings", min_user_ratings, 3)
    folder = data_path(root, "ml-100k")
    data, dropped = _drop_sparse_users(read_ratings(folder / ratings_file), min_user_ratings)
    if max_users is not None:  # a seeded random sample of users (tests, quick runs)
        max_users = check_int("max_users", max_users, 1)
        chosen = np.random.default_rng(seed).permutation(np.unique(data[:, 0]))[:max_users]
        data = data[np.isin(data[:, 0], chosen)]
    users, items = _index(data[:, 0]), _index(data[:, 1])
    u = np.fromiter((users[int(v)] for v in data[:, 0]), dtype=np.int64, count=len(data))
    i = np.fromiter((items[int(v)] for v in data[:, 1]), dtype=np.int64, count=len(data))
    num_users, num_items = len(users), len(items)
    if eval_negatives >= num_items:
        raise UserError(f"eval_negatives ({eval_negatives}) must be below the number of items ({num_items})")
    # per user: order by timestamp (stable, so file order breaks ties), last = test, second last = valid
    order = np.lexsort((np.arange(len(data)), data[:, 3], u))
    u, i = u[order], i[order]
    last = np.r_[u[1:] != u[:-1], True]
    second = np.r_[last[1:], False] & ~last
    train_mask = ~(last | second)
    rated = torch.zeros(num_users, num_items, dtype=torch.bool)
    rated[torch.from_numpy(u), torch.from_numpy(i)] = True
    generator = torch.Generator().manual_seed(seed)

    def candidates(mask: np.ndarray) -> RankingCandidates:
        uu, ii = torch.from_numpy(u[mask]), torch.from_numpy(i[mask])
        negs = torch.stack([sample_unrated(rated, uu, generator) for _ in range(eval_negatives)], dim=1)
        items_ = torch.cat([ii.unsqueeze(1), negs], dim=1)
        return RankingCandidates(torch.stack([uu.unsqueeze(1).expand_as(items_), items_], dim=2))

    valid, test = candidates(second), candidates(last)
    pairs = torch.from_numpy(np.stack([u[train_mask], i[train_mask]], axis=1))
    return DatasetSplits(
        train=NegativeSamplingPairs(pairs, rated, num_negatives),
        valid=valid,
        test=test,
        input_shape=(2,),
        num_classes=1,
        name="movielens",
        info={"test_split": "leave-one-out (latest item per user)", "users": num_users, "items": num_items, "train": len(pairs),
              "valid": len(valid), "test": len(test), "dropped_users": dropped, "eval_negatives": eval_negatives},
        task=ImplicitFeedbackTask(num_users, num_items),
        model_options={"num_users": num_users, "num_items": num_items},
    )


# -- ratings ----------------------------------------------------------------------------------------
class RatingPairs(Dataset):
    """``(user, item)`` pairs and their ratings (float)."""

    def __init__(self, pairs: torch.Tensor, ratings: torch.Tensor) -> None:
        self.pairs, self.ratings = pairs, ratings.float()

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pairs[index], self.ratings[index]

    def batch(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pairs[indices], self.ratings[indices]

    def subset(self, indices: torch.Tensor | Sequence[int]) -> RatingPairs:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return RatingPairs(self.pairs[idx], self.ratings[idx])


class RatingTask(Task):
    """Mean squared error on ratings; RMSE with predictions clipped to the rating scale."""

    name = "rating"
    metric_names = ("rmse",)
    primary = "rmse"
    primary_direction = "min"

    def __init__(self, num_users: int = 1, num_items: int = 1, low: float = 1.0, high: float = 5.0) -> None:
        self.num_users, self.num_items, self.low, self.high = int(num_users), int(num_items), float(low), float(high)

    def loss(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(output.reshape(-1), target.float())

    @torch.no_grad()
    def evaluate(self, model: nn.Module, data: Any, batch_size: int = 512) -> dict[str, float]:
        device = model_device(model)
        was_training = model.training
        model.eval()
        sq = 0.0
        n = 0
        try:
            for x, y in iterate_batches(data, batch_size):
                pred = model(x.to(device)).reshape(-1).float().clamp(self.low, self.high)
                sq += float(((pred - y.to(device).float()) ** 2).sum())
                n += len(y)
        finally:
            model.train(was_training)
        if n == 0:
            raise ValueError("cannot evaluate on an empty dataset")
        return {"loss": sq / n, "rmse": math.sqrt(sq / n)}

    def example_input(self, input_shape: Sequence[int], batch_size: int = 1) -> torch.Tensor:
        return _pair_example(self.num_users, self.num_items, batch_size)


def load_movielens_ratings(
    root: str | os.PathLike[str] | None = None,
    base_file: str = "u1.base",
    test_file: str = "u1.test",
    valid_fraction: float = 0.1,
    seed: int = 0,
) -> DatasetSplits:
    """MovieLens ratings for regression: ``base_file`` (train + seeded validation share) and ``test_file``."""
    folder = data_path(root, "ml-100k")
    base, test = read_ratings(folder / base_file), read_ratings(folder / test_file)
    users, items = _index(np.r_[base[:, 0], test[:, 0]]), _index(np.r_[base[:, 1], test[:, 1]])

    def pairs(d: np.ndarray) -> torch.Tensor:
        return torch.tensor([[users[int(a)], items[int(b)]] for a, b in d[:, :2]], dtype=torch.long)

    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(base))
    n_valid = max(1, round(check_fraction("valid_fraction", valid_fraction) * len(base)))
    valid_idx, train_idx = perm[:n_valid], perm[n_valid:]
    x, r = pairs(base), torch.from_numpy(base[:, 2]).float()
    mean = float(r[train_idx].mean())
    return DatasetSplits(
        train=RatingPairs(x[train_idx], r[train_idx]),
        valid=RatingPairs(x[valid_idx], r[valid_idx]),
        test=RatingPairs(pairs(test), torch.from_numpy(test[:, 2]).float()),
        input_shape=(2,),
        num_classes=1,
        name="movielens_ratings",
        info={"test_split": test_file, "users": len(users), "items": len(items), "train": len(train_idx), "valid": n_valid, "test": len(test), "mean_rating": mean},
        task=RatingTask(len(users), len(items)),
        model_options={"num_users": len(users), "num_items": len(items), "output_offset": mean},
    )


load_movielens.task = ImplicitFeedbackTask  # type: ignore[attr-defined]
load_movielens_ratings.task = RatingTask  # type: ignore[attr-defined]


# -- the space ------------------------------------------------------------------------------------
INTERACTIONS = ("gmf", "mlp", "neumf")


def ncf_space(
    interactions: Sequence[str] = INTERACTIONS,
    embedding_dims: Sequence[int] = (8, 16, 32, 64),
    max_mlp_layers: int = 3,
    mlp_widths: Sequence[int] = (32, 64, 128, 256),
    dropouts: Sequence[float] = (0.0, 0.1, 0.3),
) -> SearchSpace:
    """NCF-style recommenders (He et al. 2017).

    Choices: ``interaction`` (``gmf``, ``mlp``, ``neumf``), ``embedding_dim`` (per branch),
    ``mlp_layers`` (1..``max_mlp_layers``) and ``mlp_width`` (first tower layer; each next layer
    halves it, at least 4) when the interaction has an MLP tower, ``dropout`` in the tower.
    """
    inter = choice_values("interactions", interactions, str, lambda v: v in INTERACTIONS)
    dims = sorted(choice_values("embedding_dims", embedding_dims, int, lambda v: v >= 1))
    if isinstance(max_mlp_layers, bool) or not isinstance(max_mlp_layers, int) or not 1 <= max_mlp_layers <= 6:
        raise ConfigError("space.options.max_mlp_layers", f"must be an integer from 1 to 6, got {max_mlp_layers!r}")
    widths = sorted(choice_values("mlp_widths", mlp_widths, int, lambda v: v >= 4))
    drops = sorted(float(d) for d in choice_values("dropouts", dropouts, (int, float), lambda v: 0 <= v < 1))
    tower = [v for v in inter if v != "gmf"]
    choices: list[dict[str, Any]] = [
        {"name": "interaction", "values": inter},
        {"name": "embedding_dim", "values": dims, "ordered": True},
    ]
    if tower:
        choices += [
            {"name": "mlp_layers", "type": "int", "low": 1, "high": max_mlp_layers, "when": {"interaction": tower}},
            {"name": "mlp_width", "values": widths, "ordered": True, "when": {"interaction": tower}},
            {"name": "dropout", "values": drops, "ordered": True, "when": {"interaction": tower}},
        ]
    return SearchSpace.from_config(choices, name="ncf")


class NCF(nn.Module):
    """GMF, MLP or NeuMF over user and item embeddings; input ``(N, 2)`` ids, output ``(N,)`` scores."""

    def __init__(self, num_users: int, num_items: int, interaction: str, embedding_dim: int, mlp_layers: int = 1, mlp_width: int = 64,
                 dropout: float = 0.0, output_offset: float = 0.0) -> None:
        super().__init__()
        if interaction not in INTERACTIONS:
            raise SpaceError(f"unknown interaction {interaction!r}; choose from {list(INTERACTIONS)}")
        self.interaction = interaction
        features = 0
        if interaction in ("gmf", "neumf"):
            self.gmf_user = nn.Embedding(num_users, embedding_dim)
            self.gmf_item = nn.Embedding(num_items, embedding_dim)
            features += embedding_dim
        if interaction in ("mlp", "neumf"):
            self.mlp_user = nn.Embedding(num_users, embedding_dim)
            self.mlp_item = nn.Embedding(num_items, embedding_dim)
            layers: list[nn.Module] = []
            width, previous = int(mlp_width), 2 * embedding_dim
            for _ in range(int(mlp_layers)):
                layers += [nn.Linear(previous, width), nn.ReLU()]
                if dropout > 0:
                    layers.append(nn.Dropout(float(dropout)))
                previous, width = width, max(4, width // 2)
            self.tower = nn.Sequential(*layers)
            features += previous
        self.predict = nn.Linear(features, 1)
        # per-user and per-item biases (popularity for implicit feedback, rating offsets for ratings)
        self.user_bias = nn.Embedding(num_users, 1)
        self.item_bias = nn.Embedding(num_items, 1)
        self.output_offset = float(output_offset)
        for module in self.modules():
            if isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=0.01)
        nn.init.zeros_(self.user_bias.weight)
        nn.init.zeros_(self.item_bias.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        user, item = x[:, 0], x[:, 1]
        parts = []
        if self.interaction in ("gmf", "neumf"):
            parts.append(self.gmf_user(user) * self.gmf_item(item))
        if self.interaction in ("mlp", "neumf"):
            parts.append(self.tower(torch.cat([self.mlp_user(user), self.mlp_item(item)], dim=1)))
        h = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        return (self.predict(h) + self.user_bias(user) + self.item_bias(item)).squeeze(1) + self.output_offset


def build_ncf(arch: Mapping[str, Any], input_shape: Sequence[int] = (2,), num_classes: int = 1, num_users: int | None = None,
              num_items: int | None = None, output_offset: float = 0.0) -> nn.Module:
    """Build the :class:`NCF` model of an ``ncf`` architecture (user and item counts come from the dataset)."""
    if not num_users or not num_items:
        raise ConfigError("evaluator.options.dataset", "the 'ncf' model needs a recommendation dataset (movielens, movielens_ratings) that gives num_users and num_items")
    try:
        return NCF(int(num_users), int(num_items), str(arch["interaction"]), int(arch["embedding_dim"]), int(arch.get("mlp_layers", 1)),
                   int(arch.get("mlp_width", 64)), float(arch.get("dropout", 0.0)), float(output_offset))
    except KeyError as exc:
        raise SpaceError(f"architecture for the 'ncf' builder lacks {exc.args[0]!r}; it needs the choices of the 'ncf' space, got {dict(arch)}") from None


DATASETS = {"movielens": load_movielens, "movielens_ratings": load_movielens_ratings}
