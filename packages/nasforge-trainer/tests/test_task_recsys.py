"""Recommendation task: MovieLens reading, the NCF leave-one-out protocol, HR@10/NDCG@10, RMSE, the ncf space."""

from __future__ import annotations

import math

import pytest
import torch
from nasforge_trainer_testing import SHARED_DATA, require_shared

from nasforge.core.errors import UserError
from nasforge.trainer.data import load_dataset
from nasforge.trainer.models import build_model
from nasforge.trainer.tasks.recsys import ImplicitFeedbackTask, RankingCandidates, load_movielens, load_movielens_ratings, ncf_space
from nasforge.trainer.training import TrainConfig, fit

ML100K = SHARED_DATA / "movielens" / "ml-100k"


def _write_ratings(folder, rows, name="u.data"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text("".join("\t".join(str(v) for v in r) + "\n" for r in rows))
    return folder


def test_leave_one_out_holds_out_each_users_latest_items(tmp_path):
    # user 7 rates items 1..5 at times 10..50 (item 5 latest), user 9 rates 3 items, user 4 only 2 (dropped)
    rows = [(7, i, 4, 10 * i) for i in (3, 1, 5, 2, 4)] + [(9, 6, 3, 5), (9, 2, 3, 1), (9, 1, 5, 9), (4, 1, 1, 1), (4, 2, 1, 2)]
    folder = _write_ratings(tmp_path / "ml", rows)
    splits = load_movielens(folder, min_user_ratings=3, eval_negatives=1, seed=0)
    assert splits.info["dropped_users"] == 1 and splits.info["users"] == 2 and splits.info["items"] == 6
    item_ids = sorted({r[1] for r in rows if r[0] != 4})
    def original(index):
        return item_ids[index]
    test = {int(c[0, 0]): original(int(c[0, 1])) for c in splits.test.candidates}
    valid = {int(c[0, 0]): original(int(c[0, 1])) for c in splits.valid.candidates}
    assert test == {0: 5, 1: 1} and valid == {0: 4, 1: 6}  # users 7, 9 -> 0, 1
    # negatives are items the user never rated
    rated = {0: {1, 2, 3, 4, 5}, 1: {1, 2, 6}}
    for c in splits.test.candidates:
        u = int(c[0, 0])
        assert all(original(int(i)) not in rated[u] for i in c[1:, 1])
    # training pairs exclude held-out items; each batch adds sampled unrated negatives
    x, y = splits.train.batch(torch.arange(len(splits.train)), torch.Generator().manual_seed(0))
    assert int(y.sum()) == len(splits.train) == 3 + 1 and len(y) == 5 * len(splits.train)
    for (u, i), label in zip(x.tolist(), y.tolist()):
        assert (original(i) in rated[u]) == (label == 1.0)


def test_hr_and_ndcg_follow_the_rank_of_the_held_out_item():
    task = ImplicitFeedbackTask(k=2)

    class Fixed(torch.nn.Module):  # scores an item by its id
        def forward(self, x):
            return x[:, 1].float()

    # user 0: held-out item 9 outranks 1, 2 (rank 0); user 1: held-out 1 below 5 and 9 (rank 2 -> miss)
    cands = torch.tensor([[[0, 9], [0, 1], [0, 2]], [[1, 1], [1, 5], [1, 9]]])
    scores = task.evaluate(Fixed(), RankingCandidates(cands))
    assert scores["hr_at_10"] == 0.5 and scores["ndcg_at_10"] == pytest.approx(0.5)
    # ties count against the held-out item: a constant model scores 0
    class Constant(torch.nn.Module):
        def forward(self, x):
            return torch.zeros(len(x))
    assert task.evaluate(Constant(), RankingCandidates(cands))["hr_at_10"] == 0.0
    # rank 1 -> ndcg 1/log2(3)
    cands = torch.tensor([[[0, 5], [0, 9], [0, 1]]])
    assert task.evaluate(Fixed(), RankingCandidates(cands))["ndcg_at_10"] == pytest.approx(1 / math.log2(3))


def test_wrong_ratings_format_is_a_user_error(tmp_path):
    (tmp_path / "u.data").write_text("user,item,rating,timestamp\n1,2,3,4\n")
    with pytest.raises(UserError, match=r"u.data:1: expected 4 tab-separated integers"):
        load_movielens(tmp_path)
    with pytest.raises(UserError, match="not found"):
        load_movielens(tmp_path / "missing")


def test_ncf_space_and_models_learn_movielens_better_than_chance():
    require_shared(ML100K / "u.data")
    splits = load_dataset("movielens", root=str(ML100K), max_users=150, seed=0)
    assert splits.info["users"] == 150 and splits.task.metric_names == ("hr_at_10", "ndcg_at_10")
    space = ncf_space()
    kinds = {dict(space.sample(__import__("numpy").random.default_rng(i)))["interaction"] for i in range(30)}
    assert kinds == {"gmf", "mlp", "neumf"}
    torch.manual_seed(0)
    model = build_model("ncf", {"interaction": "neumf", "embedding_dim": 8, "mlp_layers": 1, "mlp_width": 16, "dropout": 0.0},
                        splits.input_shape, splits.num_classes, **splits.model_options)
    fit(model, splits, TrainConfig(epochs=2, lr=0.005, batch_size=256))
    scores = splits.task.evaluate(model, splits.test)
    assert scores["hr_at_10"] > 0.25  # random ranking among 100 candidates: 0.10


def test_ratings_task_reports_rmse_below_the_mean_predictor(tmp_path):
    require_shared(ML100K / "u1.base")
    splits = load_movielens_ratings(ML100K, valid_fraction=0.1, seed=0)
    assert splits.info["test"] == 20000 and splits.task.primary == "rmse"
    torch.manual_seed(0)
    model = build_model("ncf", {"interaction": "gmf", "embedding_dim": 8}, splits.input_shape, 1, **splits.model_options)
    untrained = splits.task.evaluate(model, splits.test)["rmse"]  # about the mean predictor's RMSE
    fit(model, splits, TrainConfig(epochs=1, lr=0.01, batch_size=512))
    trained = splits.task.evaluate(model, splits.test)["rmse"]
    assert trained < untrained and trained < 1.1
