"""fit/evaluate: learning, determinism, NaN and timeout handling, option validation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch
from torch import nn

from nasforge.core.errors import ConfigError, TrialFailed, TrialTimeout
from nasforge.core.evaluator import TrialContext
from nasforge.core.records import Architecture
from nasforge.trainer import TrainConfig, build_model, evaluate_accuracy, fit, make_loader

SMALL_CNN = Architecture(stages=2, channels_1=16, channels_2=32, blocks=1, kernel_size=3, activation="relu", residual=True)


def _model(splits, seed=0, arch=SMALL_CNN, space="cnn"):
    torch.manual_seed(seed)
    return build_model(space, arch, splits.input_shape, splits.num_classes)


def test_two_epochs_on_digits_learn_well_above_chance(digits_splits):
    model = _model(digits_splits)
    before = evaluate_accuracy(model, digits_splits.valid)
    result = fit(model, digits_splits, TrainConfig(epochs=2))
    # ten balanced classes: chance is 0.1; this two-stage CNN gets past 0.8 (about 0.93) in two epochs
    assert result.valid_accuracy > 0.8
    assert result.valid_accuracy > before + 0.4
    assert evaluate_accuracy(model, digits_splits.test) > 0.8
    assert [h["epoch"] for h in result.history] == [1.0, 2.0]
    assert result.history[1]["train_loss"] < result.history[0]["train_loss"]


def test_same_seed_gives_the_same_result_and_another_seed_differs(digits_splits):
    def run(seed):
        model = _model(digits_splits, seed)
        result = fit(model, digits_splits, TrainConfig(epochs=1, seed=seed))
        return result.train_loss, result.valid_accuracy, [p.detach().clone() for p in model.parameters()]

    a, b, c = run(3), run(3), run(4)
    assert a[:2] == b[:2]
    assert all(torch.equal(x, y) for x, y in zip(a[2], b[2]))
    assert a[0] != c[0]


def test_sgd_and_constant_schedule_train_too(digits_splits):
    model = _model(digits_splits)
    result = fit(model, digits_splits, TrainConfig(epochs=2, optimizer="sgd", lr=0.05, schedule="none"))
    assert result.valid_accuracy > 0.5


@pytest.mark.parametrize("keep_best", [True, False])
def test_keep_best_restores_the_best_validation_epoch(digits_splits, keep_best):
    model = _model(digits_splits)

    def wreck_after_epoch_two(epoch, values):  # random frozen weights: the third epoch scores far lower
        if epoch == 2:
            params = list(model.parameters())
            with torch.no_grad():
                for p in params:
                    p.normal_(0.0, 3.0)
            for p in params[:-1]:  # the classifier's bias still trains, so the loss has a gradient
                p.requires_grad_(False)

    result = fit(model, digits_splits, TrainConfig(epochs=3, keep_best=keep_best, schedule="none"), on_epoch=wreck_after_epoch_two)
    scores = [h["accuracy"] for h in result.history]
    assert scores[2] < max(scores[:2]) - 0.2
    now = evaluate_accuracy(model, digits_splits.valid)
    if keep_best:
        assert result.best_epoch == 1 + scores.index(max(scores)) and result.valid_accuracy == max(scores)
        assert now == pytest.approx(max(scores))  # the model holds the best epoch's weights
    else:
        assert result.best_epoch == 3 and result.valid_accuracy == scores[2] and now == pytest.approx(scores[2])


def test_exploding_loss_fails_the_trial_with_where_it_happened(digits_splits):
    with pytest.raises(TrialFailed, match=r"loss became NaN at epoch 1 step \d+"):
        fit(_model(digits_splits), digits_splits, TrainConfig(epochs=2, optimizer="sgd", lr=1e30))


class _NanAfter(nn.Module):
    """Wraps a model and makes its output NaN from the ``n``-th training call on."""

    def __init__(self, inner: nn.Module, n: int) -> None:
        super().__init__()
        self.inner, self.n, self.calls = inner, n, 0

    def forward(self, x):
        out = self.inner(x)
        if self.training:
            self.calls += 1
            if self.calls > self.n:
                out = out * float("nan")
        return out


def test_injected_nan_is_reported_at_its_epoch_and_step(digits_splits):
    steps_per_epoch = len(make_loader(digits_splits.train, 64))
    model = _NanAfter(_model(digits_splits), steps_per_epoch + 2)
    with pytest.raises(TrialFailed, match="loss became NaN at epoch 2 step 2"):
        fit(model, digits_splits, TrainConfig(epochs=3, batch_size=64))


def test_deadline_stops_training_mid_epoch(digits_splits, tmp_path: Path):
    context = TrialContext(number=0, seed=0, directory=tmp_path, deadline=time.time() + 0.5)
    start = time.perf_counter()
    with pytest.raises(TrialTimeout):
        fit(_model(digits_splits), digits_splits, TrainConfig(epochs=1000), context=context)
    assert time.perf_counter() - start < 10


def test_context_gets_one_report_per_epoch(digits_splits, tmp_path: Path):
    seen = []
    context = TrialContext(number=0, seed=0, directory=tmp_path, reporter=lambda step, values: seen.append((step, sorted(values))))
    fit(_model(digits_splits), digits_splits, TrainConfig(epochs=2), context=context)
    assert seen == [(1, ["accuracy", "train_loss"]), (2, ["accuracy", "train_loss"])]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"epochs": 0}, "evaluator.options.epochs"),
        ({"epochs": 1.5}, "evaluator.options.epochs"),
        ({"batch_size": 1}, "evaluator.options.batch_size"),
        ({"lr": 0}, "evaluator.options.lr"),
        ({"lr": float("nan")}, "evaluator.options.lr"),
        ({"weight_decay": -1}, "evaluator.options.weight_decay"),
        ({"momentum": 1.0}, "evaluator.options.momentum"),
        ({"optimizer": "lbfgs"}, "evaluator.options.optimizer"),
        ({"schedule": "step"}, "evaluator.options.schedule"),
        ({"device": "tpu"}, "evaluator.options.device"),
        ({"keep_best": "yes"}, "evaluator.options.keep_best"),
    ],
)
def test_bad_training_options_name_the_option(changes, field):
    with pytest.raises(ConfigError) as info:
        TrainConfig(**changes).validate()
    assert info.value.field == field


def test_cuda_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match="no CUDA device"):
        TrainConfig(device="cuda").validate()
