"""Knowledge distillation: the loss, and fine-tuning a small student against a teacher."""

from __future__ import annotations

import copy

import pytest
import torch

from nasforge.compression import ChannelPruner, DistillationCompressor, distillation_loss, evaluate_accuracy


def test_loss_is_zero_when_student_matches_teacher_and_grows_with_distance():
    logits = torch.randn(8, 10)
    assert float(distillation_loss(logits, logits, None, temperature=3.0)) == pytest.approx(0.0, abs=1e-6)
    near = float(distillation_loss(logits + 0.1 * torch.randn(8, 10), logits, None))
    far = float(distillation_loss(torch.randn(8, 10) * 3, logits, None))
    assert 0 < near < far


def test_alpha_mixes_cross_entropy():
    s, t, y = torch.randn(8, 10), torch.randn(8, 10), torch.randint(0, 10, (8,))
    ce = torch.nn.functional.cross_entropy(s, y)
    assert float(distillation_loss(s, t, y, alpha=0.0)) == pytest.approx(float(ce), rel=1e-5)
    kd = distillation_loss(s, t, None, temperature=2.0)
    mixed = distillation_loss(s, t, y, temperature=2.0, alpha=0.25)
    assert float(mixed) == pytest.approx(0.25 * float(kd) + 0.75 * float(ce), rel=1e-5)


def test_distilling_a_pruned_student_from_its_teacher_recovers_accuracy(digits, trained_digits_cnn):
    teacher, acc_teacher = trained_digits_cnn
    train, test, shape = digits
    x = torch.randn(2, *shape)
    student = ChannelPruner(ratio=0.5).compress(teacher, x).model
    acc_pruned = evaluate_accuracy(student, test)
    result = DistillationCompressor(teacher=teacher, epochs=3, lr=0.02).compress(
        student, x, data=train, eval_fn=lambda m: evaluate_accuracy(m, test)
    )
    assert result.report.metrics_before["accuracy"] == pytest.approx(acc_pruned)
    assert result.report.metrics_after["accuracy"] > acc_pruned
    assert result.report.metrics_after["accuracy"] >= acc_teacher - 0.08, result.report.table()
    assert result.report.params_after == result.report.params_before, "distillation alone does not change the architecture"


def test_teacher_is_left_untouched(digits, trained_digits_cnn):
    teacher, _ = trained_digits_cnn
    snapshot = copy.deepcopy(teacher.state_dict())
    student = copy.deepcopy(teacher)
    DistillationCompressor(teacher=teacher, epochs=1, max_batches=3).compress(student, torch.randn(2, 1, 8, 8), data=digits[0])
    assert all(torch.equal(snapshot[k], v) for k, v in teacher.state_dict().items())
