"""The shared torch helpers: counts, example inputs, batching and accuracy."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from nasforge.core.errors import UserError
from nasforge.torchutils import (
    BatchLoader,
    classification_scores,
    count_flops,
    count_macs,
    count_params,
    eval_mode,
    evaluate_accuracy,
    example_batch,
    iterate_batches,
    model_device,
    parse_device,
)


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 3)
        self.b = nn.Linear(5, 3)

    def forward(self, x, y):
        return self.a(x) + self.b(y)


def test_count_params_counts_shared_parameters_once():
    shared = nn.Linear(3, 3)  # 12 elements
    model = nn.Sequential(shared, nn.ReLU(), shared, nn.BatchNorm1d(3))  # + 6 (running stats are buffers)
    assert count_params(model) == 18
    shared.weight.requires_grad_(False)
    assert count_params(model) == 18 and count_params(model, trainable_only=True) == 18 - 9


def test_flops_from_a_shape_are_two_per_multiply_accumulate_and_scale_with_batch():
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    assert count_flops(model, (1, 8, 8)) == 2 * 64 * 10
    assert count_flops(model, (1, 8, 8), batch_size=4) == 4 * 2 * 64 * 10
    assert count_macs(model, (1, 8, 8)) == 64 * 10


def test_macs_count_one_sample_of_real_inputs_of_any_batch_and_several_inputs():
    model = TwoInputs()
    x, y = torch.randn(7, 4), torch.randn(7, 5)
    assert count_macs(model, (x, y)) == 4 * 3 + 5 * 3
    assert count_flops(model, (x, y), batch_size=2) == 2 * 2 * (4 * 3 + 5 * 3)


def test_integer_inputs_are_repeated_not_replaced_by_random_floats():
    model = nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(12, 2))
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    (batch,) = example_batch(model, ids, batch_size=3)
    assert batch.dtype == torch.long and batch.tolist() == [[1, 2, 3]] * 3
    assert count_flops(model, ids) == 2 * 12 * 2


def test_example_inputs_refuse_what_is_neither_a_shape_nor_tensors():
    with pytest.raises(UserError, match="example inputs"):
        example_batch(nn.Linear(2, 2), "3,32,32")
    with pytest.raises(UserError):
        example_batch(nn.Linear(2, 2), [torch.randn(2, 2), 3])


def test_counting_leaves_every_submodule_mode_as_it_was():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5), nn.Linear(4, 2))
    model.train()
    model[1].eval()
    count_flops(model, (4,))
    evaluate_accuracy(model, [(torch.randn(3, 4), torch.tensor([0, 1, 0]))])
    assert [m.training for m in model] == [True, False, True]
    with eval_mode(model):
        assert not any(m.training for m in model.modules())
    assert model.training and not model[1].training


def test_model_device_reads_parameters_then_buffers():
    assert model_device(nn.Linear(2, 2)) == torch.device("cpu")
    bn = nn.BatchNorm1d(2, affine=False)  # buffers only
    assert model_device(bn) == torch.device("cpu")
    assert model_device(nn.ReLU()) == torch.device("cpu")


class Threshold(nn.Module):
    """Predicts class 1 when the input is positive: accuracy is known exactly."""

    def forward(self, x):
        return torch.cat([-x, x], dim=1)


def test_accuracy_on_a_dataset_equals_accuracy_on_its_batches():
    x = torch.tensor([[1.0], [-1.0], [2.0], [-3.0], [0.5]])
    y = torch.tensor([1, 0, 0, 0, 1])  # the third is wrong: 4 of 5
    dataset = TensorDataset(x, y)
    assert evaluate_accuracy(Threshold(), dataset, batch_size=2) == pytest.approx(0.8)
    assert evaluate_accuracy(Threshold(), [(x[:3], y[:3]), (x[3:], y[3:])]) == pytest.approx(0.8)
    assert evaluate_accuracy(Threshold(), [(x[:3], y[:3]), (x[3:], y[3:])], max_batches=1) == pytest.approx(2 / 3)
    scores = classification_scores(Threshold(), dataset)
    assert scores["accuracy"] == pytest.approx(0.8) and scores["loss"] > 0


def test_accuracy_on_no_data_is_a_user_error():
    with pytest.raises(UserError, match="no batches"):
        evaluate_accuracy(Threshold(), [])


class FastDataset(torch.utils.data.Dataset):
    def __init__(self, n: int) -> None:
        self.x = torch.arange(n, dtype=torch.float32).unsqueeze(1)
        self.calls = 0

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        raise AssertionError("the fast batch path should be used")

    def batch(self, indices, generator):
        self.calls += 1
        return self.x[indices], torch.zeros(len(indices), dtype=torch.long)


def test_batch_loader_uses_the_fast_path_and_shuffles_reproducibly():
    data = FastDataset(10)
    plain = [x.squeeze(1).tolist() for x, _ in BatchLoader(data, 4)]
    assert plain == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] and data.calls == 3
    first = [x.squeeze(1).tolist() for x, _ in BatchLoader(data, 4, shuffle=True, seed=3)]
    again = [x.squeeze(1).tolist() for x, _ in BatchLoader(data, 4, shuffle=True, seed=3)]
    assert first == again and sorted(v for batch in first for v in batch) == list(range(10)) and first != plain
    assert len(BatchLoader(data, 4)) == 3
    batches = [(torch.zeros(1, 1), torch.zeros(1))]
    assert iterate_batches(batches, 8) is batches


class BucketedDataset(FastDataset):
    """Its bucket() sorts the shuffled order, as a length-bucketing text dataset would group it."""

    def bucket(self, order, batch_size, generator):
        return torch.sort(order).values


def test_a_dataset_may_bucket_the_shuffled_order_but_not_the_plain_one():
    data = BucketedDataset(6)
    assert [x.squeeze(1).tolist() for x, _ in BatchLoader(data, 4, shuffle=True, seed=1)] == [[0, 1, 2, 3], [4, 5]]
    plain = FastDataset(6)
    assert [x.squeeze(1).tolist() for x, _ in BatchLoader(plain, 4, shuffle=True, seed=1)] != [[0, 1, 2, 3], [4, 5]]


def test_parse_device_names_the_gpu_count_for_an_index_past_the_last(monkeypatch):
    assert parse_device("CPU") == torch.device("cpu") and parse_device(None) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert parse_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(UserError, match=r"has 2 CUDA device\(s\), cuda:0 to cuda:1"):
        parse_device("cuda:2")
    for bad in ("cpu:0", "cuda:x", "tpu"):
        with pytest.raises(UserError, match="must be cpu, cuda or cuda:N"):
            parse_device(bad)
