"""NNI 3.0's one-shot NAS (DARTS, GumbelDARTS, RandomOneShot, Proxyless) as a nasforge search mode.

A one-shot search trains one *supernet* holding every candidate operation and derives the
architecture from it, instead of training one model per trial. :func:`search_oneshot` builds
the supernet from a nasforge space whose choices are all categorical over operation names (one
NNI ``LayerChoice`` per choice, a small CNN for ``1x8x8`` digits or any ``CxHxW`` input), trains
it with NNI's strategy through NNI's in-process ``SequentialExecutionEngine`` (never the ``ts``
engine, which starts NNI's Node daemon on a port) and a PyTorch Lightning ``Classification``
evaluator, and returns the derived architecture as a nasforge
:class:`~nasforge.core.records.Architecture`, validated against the space.

ENAS is refused: under Lightning >= 2.1 its training step fails (``too many values to unpack``
in ``nni/nas/evaluator/pytorch/lightning.py``) because Lightning no longer passes the dataloader
index NNI's code unpacks.

The command ``nasforge nni-oneshot`` runs it on scikit-learn's digits.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from nasforge.core.errors import UserError
from nasforge.core.records import Architecture
from nasforge.core.space import Categorical, SearchSpace

from ._imports import quiet_import

#: Operation names a one-shot space may use, each a shape-preserving layer of ``channels`` channels.
OPERATIONS = ("conv3x3", "conv5x5", "sepconv3x3", "maxpool3x3", "avgpool3x3", "skip")

#: Algorithm name -> NNI strategy class name.
ALGORITHMS = {"darts": "DARTS", "gumbel_darts": "GumbelDARTS", "random_one_shot": "RandomOneShot", "proxyless": "Proxyless"}

#: Refused algorithms and why.
REFUSED = {
    "enas": (
        "NNI 3.0's ENAS fails under PyTorch Lightning >= 2.1 ('too many values to unpack' in nni/nas/evaluator/pytorch/lightning.py: "
        "Lightning no longer passes the dataloader index NNI's training step unpacks); use darts, gumbel_darts, random_one_shot or proxyless"
    )
}


def make_op(name: str, channels: int) -> nn.Module:
    """A shape-preserving candidate operation by name (see :data:`OPERATIONS`)."""
    if name == "conv3x3":
        return nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())
    if name == "conv5x5":
        return nn.Sequential(nn.Conv2d(channels, channels, 5, padding=2, bias=False), nn.BatchNorm2d(channels), nn.ReLU())
    if name == "sepconv3x3":
        return nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False), nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU()
        )
    if name == "maxpool3x3":
        return nn.MaxPool2d(3, stride=1, padding=1)
    if name == "avgpool3x3":
        return nn.AvgPool2d(3, stride=1, padding=1)
    if name == "skip":
        return nn.Identity()
    raise UserError(f"unknown one-shot operation {name!r}; use one of {list(OPERATIONS)}")


def check_oneshot_space(space: SearchSpace) -> None:
    """Raise :class:`UserError` unless every choice is an unconditional categorical over :data:`OPERATIONS`.

    One-shot strategies search NNI ``LayerChoice`` modules only (a supernet holds every candidate
    at once), so conditional or numeric choices cannot be expressed.
    """
    for choice in space.choices:
        if not isinstance(choice, Categorical) or choice.condition:
            raise UserError(
                f"one-shot search needs every choice to be an unconditional categorical over operations; {choice.name!r} is "
                f"{'conditional' if choice.condition else 'a ' + choice.kind + ' choice'} (one-shot supernets hold LayerChoice modules only)"
            )
        bad = [v for v in choice.domain if v not in OPERATIONS]
        if bad:
            raise UserError(f"choice {choice.name!r}: {bad} are not one-shot operations; use {list(OPERATIONS)}")


def default_space(layers: int = 3, operations: tuple[str, ...] = OPERATIONS) -> SearchSpace:
    """``layers`` choices ``op_1 .. op_n`` over ``operations``: the space the command searches by default."""
    return SearchSpace([Categorical(f"op_{i}", list(operations)) for i in range(1, layers + 1)], name="nni-oneshot")


def build_supernet(space: SearchSpace, input_shape: tuple[int, int, int], num_classes: int, channels: int = 16) -> nn.Module:
    """An NNI ``ModelSpace``: a stem conv, one ``LayerChoice`` per choice of ``space``, global pooling and a linear head."""
    check_oneshot_space(space)
    nas_nn = quiet_import("nni.nas.nn.pytorch")

    class OneShotSpace(nas_nn.ModelSpace):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(input_shape[0], channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels), nn.ReLU())
            self.cells = nn.ModuleList(
                nas_nn.LayerChoice({op: make_op(op, channels) for op in choice.domain}, label=choice.name) for choice in space.choices
            )
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.stem(x)
            for cell in self.cells:
                x = cell(x)
            return self.head(x)

    return OneShotSpace()


@dataclass
class OneShotResult:
    """What a one-shot search found: the architecture and how the search ran."""

    algorithm: str
    architecture: Architecture
    epochs: int
    train_samples: int
    notes: list[str] = field(default_factory=list)


def search_oneshot(
    space: SearchSpace,
    train: tuple[torch.Tensor, torch.Tensor],
    valid: tuple[torch.Tensor, torch.Tensor],
    algorithm: str = "darts",
    epochs: int = 1,
    batch_size: int = 64,
    learning_rate: float = 0.01,
    channels: int = 16,
    seed: int = 0,
    num_classes: int | None = None,
) -> OneShotResult:
    """Train a supernet of ``space`` with NNI's one-shot ``algorithm`` and return the derived architecture.

    :param train: ``(images, labels)`` tensors, images shaped ``(N, C, H, W)``.
    :param valid: the same for validation (DARTS trains its architecture weights on it).
    :param algorithm: one of :data:`ALGORITHMS` (``enas`` is refused, see :data:`REFUSED`).
    """
    key = algorithm.lower()
    if key in REFUSED:
        raise UserError(f"one-shot algorithm {algorithm!r} is refused: {REFUSED[key]}")
    if key not in ALGORITHMS:
        raise UserError(f"unknown one-shot algorithm {algorithm!r}; use one of {sorted(ALGORITHMS)}")
    if epochs < 1:
        raise UserError(f"epochs must be at least 1, got {epochs}")
    check_oneshot_space(space)
    import logging

    loggers = [logging.getLogger(name) for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning")]
    levels = [logger.level for logger in loggers]
    try:
        for logger in loggers:  # Lightning's banners ("GPU available ...") are noise inside nasforge
            logger.setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _run(space, train, valid, key, epochs, batch_size, learning_rate, channels, seed, num_classes)
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _run(space: SearchSpace, train: Any, valid: Any, key: str, epochs: int, batch_size: int, lr: float, channels: int, seed: int, num_classes: int | None) -> OneShotResult:
    import pytorch_lightning as pl

    evaluators = quiet_import("nni.nas.evaluator.pytorch")
    strategies = quiet_import("nni.nas.strategy")
    execution = quiet_import("nni.nas.execution")
    nas_space = quiet_import("nni.nas.space")
    pl.seed_everything(seed, verbose=False)
    x_train, y_train = train
    classes = int(num_classes if num_classes is not None else int(y_train.max()) + 1)
    supernet = build_supernet(space, tuple(x_train.shape[1:]), classes, channels)
    train_loader = evaluators.DataLoader(torch.utils.data.TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True)
    valid_loader = evaluators.DataLoader(torch.utils.data.TensorDataset(*valid), batch_size=batch_size)
    with tempfile.TemporaryDirectory(prefix="nasforge-nni-oneshot-") as root:
        evaluator = evaluators.Classification(
            train_dataloaders=train_loader,
            val_dataloaders=valid_loader,
            learning_rate=lr,
            num_classes=classes,
            max_epochs=epochs,
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=root,
        )
        strategy = getattr(strategies, ALGORITHMS[key])()
        model_space = nas_space.RawFormatModelSpace.from_model(supernet, evaluator)
        strategy(model_space, execution.SequentialExecutionEngine())
        sample = next(strategy.list_models()).sample
    arch = space.validate({name: sample[name] for name in (c.name for c in space.choices)})
    return OneShotResult(algorithm=key, architecture=arch, epochs=epochs, train_samples=len(x_train))


def digits_split(limit: int | None = None, seed: int = 0) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """scikit-learn's bundled digits as ``1x8x8`` tensors in [0, 1], split 80/20 (``limit`` caps the training set)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(bunch.target, dtype=torch.long)
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    cut = int(0.8 * len(order))
    train_idx, valid_idx = order[:cut], order[cut:]
    if limit is not None:
        train_idx = train_idx[:limit]
    return (images[train_idx], labels[train_idx]), (images[valid_idx], labels[valid_idx])
