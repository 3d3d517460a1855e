"""Robustness as a metric: accuracy under input corruptions.

The ``trainer`` evaluator's ``robustness`` option adds ``robust_accuracy`` (validation split) and
``test_robust_accuracy`` (test split): the accuracy on corrupted copies of the data, averaged
over every listed corruption and severity. Like any metric it can be an objective
(``robust_accuracy:max``) or a constraint (``"robust_accuracy >= 0.6"``)::

    evaluator:
      name: trainer
      options:
        dataset: cifar10
        robustness:
          corruptions: [gaussian_noise, gaussian_blur, jpeg, contrast]
          severities: [3]          # 1 (mild) .. 5 (severe), CIFAR-10-C's scale
          samples: 2000            # a seeded random subset of each split (null: all of it)

Corruptions by modality (a dataset declares the ones it supports in ``dataset.corruptions`` and
applies them with ``dataset.corrupted(name, severity, seed)``):

* images (:data:`IMAGE_CORRUPTIONS`, applied to pixels in ``[0, 1]`` before normalisation, with
  the severity parameters of Hendrycks & Dietterich's CIFAR-10-C): ``gaussian_noise`` (sigma),
  ``gaussian_blur`` (sigma in pixels), ``jpeg`` (quality, re-encoded with Pillow), ``contrast``
  (pixels pulled towards the image mean);
* text (:mod:`nasforge.trainer.tasks.text`): ``token_dropout`` (each token removed with a
  probability), ``char_typo`` (each word gets one random character edit with a probability);
* speech (:mod:`nasforge.trainer.tasks.speech`): ``noise`` (white noise at an SNR).

The corruption draws are seeded (``data_seed`` of the evaluator), so every trial is scored on
the same corrupted samples.

Training on corrupted inputs: the evaluator's ``corruption_augment`` (a probability, also a
search-space choice of that name through ``space.extra_choices``) wraps the training split in
:class:`CorruptedTraining`, which replaces that share of each batch's samples by copies corrupted
with a corruption and severity drawn from :class:`CorruptionAugment` (``augment_corruptions``;
default: the ``robustness`` corruptions at every severity). Validation and test data stay clean.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from nasforge.core.errors import ConfigError, UserError

#: CIFAR-10-C severity parameters (severity 1..5) of each image corruption.
IMAGE_SEVERITIES: dict[str, tuple[float, ...]] = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
    "jpeg": (80, 65, 58, 50, 40),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
}
IMAGE_CORRUPTIONS = tuple(IMAGE_SEVERITIES)
#: Token dropout probability and per-word typo probability by severity.
TEXT_SEVERITIES: dict[str, tuple[float, ...]] = {
    "token_dropout": (0.05, 0.1, 0.15, 0.2, 0.3),
    "char_typo": (0.05, 0.1, 0.2, 0.3, 0.4),
}
#: Signal-to-noise ratio (dB) of additive white noise by severity.
SPEECH_SEVERITIES: dict[str, tuple[float, ...]] = {"noise": (30.0, 20.0, 10.0, 5.0, 0.0)}
#: Every corruption name known to the trainer.
ALL_CORRUPTIONS = (*IMAGE_SEVERITIES, *TEXT_SEVERITIES, *SPEECH_SEVERITIES)


def severity_value(table: Mapping[str, Sequence[float]], name: str, severity: int) -> float:
    """The parameter of corruption ``name`` at ``severity`` (1..5)."""
    if name not in table:
        raise UserError(f"unknown corruption {name!r} for this data; it supports {', '.join(table)}")
    if isinstance(severity, bool) or not isinstance(severity, int) or not 1 <= severity <= len(table[name]):
        raise UserError(f"severity of {name!r} must be an integer from 1 to {len(table[name])}, got {severity!r}")
    return float(table[name][severity - 1])


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, round(3 * sigma))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-(x**2) / (2 * sigma**2))
    return k / k.sum()


def _jpeg(images: torch.Tensor, quality: int) -> torch.Tensor:
    from PIL import Image

    out = torch.empty_like(images)
    for i, img in enumerate(images):
        array = (img.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        pil = Image.fromarray(array[..., 0] if array.shape[2] == 1 else array)
        buffer = io.BytesIO()
        pil.save(buffer, format="JPEG", quality=int(quality))
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            back = np.asarray(decoded.convert("L" if array.shape[2] == 1 else "RGB"), dtype=np.float32) / 255.0
        out[i] = torch.from_numpy(back.reshape(array.shape)).permute(2, 0, 1)
    return out


def corrupt_images(images: torch.Tensor, name: str, severity: int, generator: torch.Generator) -> torch.Tensor:
    """A corrupted copy of ``(N, C, H, W)`` images with values in ``[0, 1]``."""
    value = severity_value(IMAGE_SEVERITIES, name, severity)
    x = images.to(torch.float32)
    if name == "gaussian_noise":
        x = x + value * torch.randn(x.shape, generator=generator)
    elif name == "gaussian_blur":
        k = _gaussian_kernel(value)
        c = x.shape[1]
        pad = len(k) // 2
        x = nn.functional.conv2d(nn.functional.pad(x, (pad, pad, 0, 0), mode="reflect"), k.reshape(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
        x = nn.functional.conv2d(nn.functional.pad(x, (0, 0, pad, pad), mode="reflect"), k.reshape(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    elif name == "jpeg":
        x = _jpeg(x, int(value))
    elif name == "contrast":
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * value + mean
    return x.clamp(0.0, 1.0)


def corrupt_image_dataset(dataset: Any, name: str, severity: int, seed: int) -> Any:
    """A corrupted copy of an :class:`~nasforge.trainer.data.ImageTensorDataset` (same normalisation and augmentation setting)."""
    from nasforge.trainer.data import ImageTensorDataset

    generator = torch.Generator().manual_seed(int(seed))
    pixels = dataset.images.to(torch.float32) * dataset.scale
    corrupted = corrupt_images(pixels, name, severity, generator)
    return ImageTensorDataset(corrupted, dataset.labels, dataset.mean.flatten().tolist(), dataset.std.flatten().tolist(), scale=1.0, augment=dataset.augment)


def _subset(dataset: Any, samples: int | None, seed: int) -> Any:
    n = len(dataset)
    if samples is None or samples >= n:
        return dataset
    if not hasattr(dataset, "subset"):
        raise UserError(f"robustness.samples needs a dataset with a subset() method; {type(dataset).__name__} has none (set samples: null)")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed)))[:samples]
    return dataset.subset(order.sort().values)


def parse_corruptions(value: Any, where: str) -> tuple[str, ...]:
    """A non-empty list of known corruption names, or a :class:`ConfigError` naming ``where``."""
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ConfigError(where, f"must be a non-empty list of corruption names ({', '.join(ALL_CORRUPTIONS)}), got {value!r}")
    for c in value:
        if c not in ALL_CORRUPTIONS:
            raise ConfigError(where, f"unknown corruption {c!r}; choose from {', '.join(ALL_CORRUPTIONS)}")
    return tuple(value)


def parse_severities(value: Any, where: str) -> tuple[int, ...]:
    """An integer or a non-empty list of integers from 1 to 5, or a :class:`ConfigError` naming ``where``."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, Sequence) or not value or any(isinstance(s, bool) or not isinstance(s, int) or not 1 <= s <= 5 for s in value):
        raise ConfigError(where, f"must be a list of integers from 1 to 5, got {value!r}")
    return tuple(int(s) for s in value)


@dataclass(frozen=True)
class RobustnessSpec:
    """The evaluator's ``robustness`` option, validated."""

    corruptions: tuple[str, ...]
    severities: tuple[int, ...] = (3,)
    samples: int | None = None

    @classmethod
    def parse(cls, value: Any, where: str) -> RobustnessSpec | None:
        """``None`` when the option is absent; a :class:`ConfigError` naming the bad field otherwise."""
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise ConfigError(where, f"must be a mapping such as {{corruptions: [gaussian_noise], severities: [3]}}, got {value!r}")
        unknown = sorted(set(value) - {"corruptions", "severities", "samples"})
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}", "unknown key; robustness takes corruptions, severities, samples")
        corruptions = parse_corruptions(value.get("corruptions"), f"{where}.corruptions")
        severities = parse_severities(value.get("severities", [3]), f"{where}.severities")
        samples = value.get("samples")
        if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int) or samples < 1):
            raise ConfigError(f"{where}.samples", f"must be a positive integer or null, got {samples!r}")
        return cls(corruptions, severities, samples)

    def check(self, dataset: Any) -> None:
        """Raise :class:`UserError` when ``dataset`` cannot apply every listed corruption."""
        supported = tuple(getattr(dataset, "corruptions", ()))
        missing = [c for c in self.corruptions if c not in supported]
        if missing:
            raise UserError(
                f"robustness: the {type(dataset).__name__} data cannot apply {missing}; it supports {', '.join(supported) or 'no corruptions'}"
            )

    def robust_accuracy(self, model: nn.Module, dataset: Any, task: Any, batch_size: int, seed: int) -> float:
        """Mean accuracy of ``model`` over every (corruption, severity) copy of ``dataset``."""
        self.check(dataset)
        data = _subset(dataset, self.samples, seed)
        scores = []
        for i, name in enumerate(self.corruptions):
            for severity in self.severities:
                corrupted = data.corrupted(name, severity, seed=seed * 1009 + i * 17 + severity)
                scores.append(task.evaluate(model, corrupted, batch_size)["accuracy"])
        return float(np.mean(scores))

    def measure(self, model: nn.Module, splits: Any, batch_size: int, seed: int = 0) -> dict[str, float]:
        """``robust_accuracy`` (validation) and ``test_robust_accuracy`` (test)."""
        return {
            "robust_accuracy": self.robust_accuracy(model, splits.valid, splits.task, batch_size, seed),
            "test_robust_accuracy": self.robust_accuracy(model, splits.test, splits.task, batch_size, seed + 1),
        }


# -- training on corrupted inputs --------------------------------------------------------------------
#: Severities training draws from when ``augment_corruptions`` does not list them.
ALL_SEVERITIES = (1, 2, 3, 4, 5)


def parse_probability(value: Any, where: str) -> float:
    """A number in ``[0, 1]``, or a :class:`ConfigError` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ConfigError(where, f"must be a probability, a number from 0 to 1, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class CorruptionAugment:
    """Which corruptions training draws from (the evaluator's ``augment_corruptions`` option, validated)."""

    corruptions: tuple[str, ...]
    severities: tuple[int, ...] = ALL_SEVERITIES

    @classmethod
    def parse(cls, value: Any, where: str, robustness: RobustnessSpec | None) -> CorruptionAugment | None:
        """``value`` (``{corruptions, severities}``) or, when it is ``None``, the ``robustness`` corruptions at every severity."""
        if value is None:
            return None if robustness is None else cls(robustness.corruptions)
        if not isinstance(value, Mapping):
            raise ConfigError(where, f"must be a mapping such as {{corruptions: [gaussian_noise], severities: [1, 2, 3]}}, got {value!r}")
        unknown = sorted(set(value) - {"corruptions", "severities"})
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}", "unknown key; augment_corruptions takes corruptions, severities")
        corruptions = parse_corruptions(value.get("corruptions"), f"{where}.corruptions")
        return cls(corruptions, parse_severities(value.get("severities", list(ALL_SEVERITIES)), f"{where}.severities"))

    def check(self, dataset: Any) -> None:
        """Raise :class:`UserError` when ``dataset`` cannot be trained on these corruptions."""
        RobustnessSpec(self.corruptions).check(dataset)
        missing = [m for m in ("batch", "subset", "corrupted") if not callable(getattr(dataset, m, None))]
        if missing:
            raise UserError(f"corruption_augment: the {type(dataset).__name__} data has no {', '.join(missing)} method(s), which training on corrupted inputs needs")

    def wrap(self, dataset: Any, probability: float) -> Any:
        """``dataset`` itself when ``probability`` is 0, else a :class:`CorruptedTraining` view of it."""
        if probability <= 0.0:
            return dataset
        self.check(dataset)
        return CorruptedTraining(dataset, self, probability)


def _pad_like(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``a`` and ``b`` zero-padded at the end of every non-batch dimension to the same size (token ids: 0 is padding)."""
    if a.shape[1:] == b.shape[1:]:
        return a, b
    size = [max(p, q) for p, q in zip(a.shape[1:], b.shape[1:])]

    def pad(t: torch.Tensor) -> torch.Tensor:
        widths = [w for have, want in reversed(list(zip(t.shape[1:], size))) for w in (0, want - have)]
        return nn.functional.pad(t, widths)

    return pad(a), pad(b)


class CorruptedTraining(torch.utils.data.Dataset):
    """A training split whose batches have some samples replaced by corrupted copies.

    Each sample of a ``batch(indices, generator)`` is, with probability ``probability``, replaced by
    a copy corrupted with a corruption and severity drawn uniformly from ``augment``; every draw
    comes from the loader's seeded ``generator``, so training stays reproducible. Corrupted copies
    are made by the dataset itself (``subset(...).corrupted(name, severity, seed)``), so every
    modality that supports a corruption for the robustness metric can also train on it. Only the
    training split is ever wrapped: validation and test data stay clean.
    """

    def __init__(self, dataset: Any, augment: CorruptionAugment, probability: float) -> None:
        self.dataset = dataset
        self.augment = augment
        self.probability = float(probability)
        bucket = getattr(dataset, "bucket", None)
        if bucket is not None:  # keep the data's own batching order (text: similar lengths together)
            self.bucket = bucket

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.batch(torch.tensor([index]))
        return x[0], y[0]

    @property
    def input_shape(self) -> Any:
        return getattr(self.dataset, "input_shape", None)

    def batch(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The dataset's batch at ``indices``, some samples swapped for corrupted copies."""
        x, y = self.dataset.batch(indices, generator)
        n = len(indices)
        chosen = torch.nonzero(torch.rand(n, generator=generator) < self.probability).flatten()
        if len(chosen) == 0:
            return x, y
        names = torch.randint(len(self.augment.corruptions), (len(chosen),), generator=generator)
        levels = torch.randint(len(self.augment.severities), (len(chosen),), generator=generator)
        x = x.clone()
        for i, name in enumerate(self.augment.corruptions):
            for j, severity in enumerate(self.augment.severities):
                rows = chosen[(names == i) & (levels == j)]
                if len(rows) == 0:
                    continue
                seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
                part = self.dataset.subset(torch.as_tensor(indices)[rows]).corrupted(name, severity, seed=seed)
                corrupted, _ = part.batch(torch.arange(len(rows)), generator)
                x, corrupted = _pad_like(x, corrupted.to(x.dtype))
                x[rows] = corrupted
        return x, y
