"""Fine-tuning after compression, optionally with knowledge distillation (accuracy: :func:`nasforge.torchutils.evaluate_accuracy`).

:class:`FineTune` is the ``finetune`` option every compressor takes; with ``distill: true`` the
model as it was *before* compression is the teacher (Hinton et al. 2015)::

    loss = alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)) + (1 - alpha) * CE(student, y)

``data`` anywhere in this package is any iterable of ``(inputs, targets)`` batches that can be
iterated more than once (a ``torch.utils.data.DataLoader`` or the trainer's ``make_loader``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nasforge.core.errors import ConfigError, UserError
from nasforge.torchutils import model_device

from ._utils import check_positive

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor | None,
    temperature: float = 4.0,
    alpha: float = 0.9,
) -> torch.Tensor:
    """Knowledge-distillation loss: ``alpha`` of the softened KL term, ``1 - alpha`` of cross-entropy.

    The KL term is multiplied by ``temperature**2`` so its gradients keep their scale as the
    temperature changes. With ``targets=None`` only the KL term is used (unlabelled data).
    """
    t = float(temperature)
    kl = F.kl_div(F.log_softmax(student_logits / t, dim=1), F.log_softmax(teacher_logits / t, dim=1), reduction="batchmean", log_target=True) * (t * t)
    if targets is None or alpha >= 1.0:
        return kl
    return alpha * kl + (1.0 - alpha) * F.cross_entropy(student_logits, targets)


@dataclass(frozen=True)
class FineTune:
    """How to fine-tune a compressed model with the built-in loop (SGD with momentum, cosine schedule).

    :param epochs: passes over ``data`` after compression (0 = no fine-tuning).
    :param lr: initial learning rate.
    :param momentum: SGD momentum.
    :param weight_decay: L2 penalty.
    :param distill: use the uncompressed model as a teacher (see the module docstring).
    :param temperature: softening temperature ``T`` of distillation.
    :param alpha: weight of the distillation term (``1 - alpha`` goes to cross-entropy).
    :param epochs_between_steps: passes over ``data`` after each step of an iterative compressor
        except the last (the last is followed by ``epochs``).
    :param max_batches: stop each epoch after this many batches (``None`` = whole epoch).
    """

    epochs: int = 0
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    distill: bool = False
    temperature: float = 4.0
    alpha: float = 0.9
    epochs_between_steps: int = 0
    max_batches: int | None = None

    @classmethod
    def from_options(cls, options: FineTune | Mapping[str, Any] | None, field: str = "finetune") -> FineTune:
        """Build from a mapping (a config's ``finetune:`` section), checking every value."""
        if options is None:
            return cls()
        if isinstance(options, FineTune):
            return options
        if not isinstance(options, Mapping):
            raise ConfigError(field, f"must be a mapping such as {{epochs: 2, lr: 0.01, distill: true}}, got {options!r}")
        known = set(cls.__dataclass_fields__)
        unknown = set(options) - known
        if unknown:
            raise ConfigError(field, f"unknown key(s) {sorted(unknown)}; known: {sorted(known)}")
        ft = cls(**dict(options))
        check_positive(f"{field}.epochs", ft.epochs, integer=True, strict=False)
        check_positive(f"{field}.epochs_between_steps", ft.epochs_between_steps, integer=True, strict=False)
        check_positive(f"{field}.lr", ft.lr)
        check_positive(f"{field}.momentum", ft.momentum, strict=False)
        check_positive(f"{field}.weight_decay", ft.weight_decay, strict=False)
        check_positive(f"{field}.temperature", ft.temperature)
        if isinstance(ft.alpha, bool) or not isinstance(ft.alpha, (int, float)) or not 0.0 <= ft.alpha <= 1.0:
            raise ConfigError(f"{field}.alpha", f"must be a number in [0, 1], got {ft.alpha!r}")
        if not isinstance(ft.distill, bool):
            raise ConfigError(f"{field}.distill", f"must be true or false, got {ft.distill!r}")
        if ft.max_batches is not None:
            check_positive(f"{field}.max_batches", ft.max_batches, integer=True)
        return ft

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fine_tune(
    model: nn.Module,
    data: Batches,
    *,
    epochs: int,
    lr: float = 0.01,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    teacher: nn.Module | None = None,
    temperature: float = 4.0,
    alpha: float = 0.9,
    max_batches: int | None = None,
) -> list[float]:
    """Train ``model`` in place on ``data`` for ``epochs`` passes and return the mean loss of each.

    With a ``teacher`` the loss is :func:`distillation_loss`; the teacher stays in eval mode and
    gets no gradients. The learning rate follows a cosine schedule from ``lr`` to zero over all
    batches. Batches are moved to the model's device. The model is left in eval mode.
    """
    if epochs <= 0:
        return []
    try:
        steps_per_epoch = len(data)  # type: ignore[arg-type]
    except TypeError:
        steps_per_epoch = max_batches or 100
    if max_batches is not None:
        steps_per_epoch = min(steps_per_epoch, max_batches)
    total = max(1, steps_per_epoch * epochs)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=momentum > 0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 * (1 + torch.cos(torch.tensor(torch.pi * min(step, total) / total)).item()))
    device = model_device(model)
    if teacher is not None:
        teacher.eval().to(device)
    losses = []
    model.train()
    for _ in range(epochs):
        running, seen = 0.0, 0
        for i, (x, y) in enumerate(data):
            if max_batches is not None and i >= max_batches:
                break
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            out = model(x)
            if teacher is not None:
                with torch.no_grad():
                    t_out = teacher(x)
                loss = distillation_loss(out, t_out, y, temperature, alpha)
            else:
                loss = F.cross_entropy(out, y)
            if not torch.isfinite(loss):
                raise UserError(f"fine-tuning diverged (loss {loss.item()}); lower finetune.lr (now {lr})")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item() * len(y)
            seen += len(y)
        losses.append(running / max(seen, 1))
    model.eval()
    return losses


def frozen_copy(model: nn.Module) -> nn.Module:
    """A deep copy of ``model`` in eval mode with gradients switched off (a teacher)."""
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher
