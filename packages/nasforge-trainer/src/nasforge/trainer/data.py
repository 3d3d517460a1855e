"""Datasets: loading by name, train/valid/test splits, normalisation and fast in-memory batching.

:func:`load_dataset` is the entry point::

    splits = load_dataset("digits", valid_fraction=0.2, seed=0)
    splits.train, splits.valid, splits.test     # ImageTensorDataset objects
    splits.input_shape, splits.num_classes      # (1, 8, 8), 10

A dataset *loader* (registered with ``nasforge_register_datasets``) is called as
``loader(**options)`` with the dataset's own options and returns either

* a :class:`LabelledImages` (all images as one tensor, plus an official test split if the data
  has one) — :func:`load_dataset` then splits, normalises and slices it; or
* a finished :class:`DatasetSplits`, which is used as it is.

Images are held in memory (``uint8`` where the source is 8-bit) and normalised batch by batch,
which keeps small-data training fast: no per-sample Python work, no worker processes.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from nasforge.core.errors import ConfigError, UnknownComponentError, UserError
from nasforge.torchutils import BatchLoader
from nasforge.trainer.task import CLASSIFICATION, Task

#: Where downloadable datasets go when no ``root`` is given (override with NASFORGE_DATA_DIR).
DEFAULT_DATA_DIR = Path(os.environ.get("NASFORGE_DATA_DIR", Path.home() / ".cache" / "nasforge" / "data"))

CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


@dataclass
class LabelledImages:
    """Raw labelled images as a dataset loader returns them, before splitting.

    ``images`` is ``(N, C, H, W)``: ``uint8`` or float; ``scale`` maps stored values to ``[0, 1]``
    (``1/255`` for 8-bit images). ``test_images``/``test_labels`` hold an official test split
    when the data has one. ``mean``/``std`` are per-channel statistics in ``[0, 1]`` units; when
    ``None`` they are computed on the training split.
    """

    images: torch.Tensor
    labels: torch.Tensor
    test_images: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None
    class_names: tuple[str, ...] = ()
    scale: float = 1.0 / 255.0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None


class ImageTensorDataset(Dataset):
    """Images and labels held as tensors, normalised (and optionally augmented) per batch.

    ``batch(indices, generator)`` returns a normalised ``(x, y)`` batch in one tensor operation;
    ``__getitem__`` returns single samples so the object also works with a plain ``DataLoader``.
    Augmentation (``augment=True``, training split only) is a random horizontal flip and a random
    crop after 4-pixel zero padding, the standard CIFAR recipe; do not use it for digits.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        mean: Sequence[float],
        std: Sequence[float],
        scale: float = 1.0 / 255.0,
        augment: bool = False,
    ) -> None:
        if images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images
        self.labels = labels.long()
        self.scale = float(scale)
        channels = images.shape[1]
        self.mean = torch.as_tensor(mean, dtype=torch.float32).reshape(1, channels, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).reshape(1, channels, 1, 1)
        self.augment = bool(augment)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.batch(torch.tensor([index]))
        return x[0], y[0]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.images.shape[1:])  # type: ignore[return-value]

    def batch(self, indices: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The normalised images and labels at ``indices`` (augmented when enabled)."""
        x = self.images[indices].to(torch.float32) * self.scale
        if self.augment:
            x = _flip_and_crop(x, generator)
        return (x - self.mean) / self.std, self.labels[indices]

    #: corruptions :meth:`corrupted` applies (see :mod:`nasforge.trainer.robustness`)
    corruptions: tuple[str, ...] = ("gaussian_noise", "gaussian_blur", "jpeg", "contrast")

    def corrupted(self, name: str, severity: int, seed: int = 0) -> ImageTensorDataset:
        """A copy with corruption ``name`` at ``severity`` (1..5) applied to the pixels (no augmentation)."""
        from nasforge.trainer.robustness import corrupt_image_dataset

        return corrupt_image_dataset(self, name, severity, seed)

    def subset(self, indices: torch.Tensor | Sequence[int], augment: bool | None = None) -> ImageTensorDataset:
        """A new dataset with the samples at ``indices`` (same normalisation)."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return ImageTensorDataset(
            self.images[idx], self.labels[idx], self.mean.flatten().tolist(), self.std.flatten().tolist(), self.scale,
            self.augment if augment is None else augment,
        )


def _flip_and_crop(x: torch.Tensor, generator: torch.Generator | None, pad: int = 4) -> torch.Tensor:
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=generator) < 0.5
    x = torch.where(flip.reshape(n, 1, 1, 1), x.flip(-1), x)
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=generator).tolist()
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=generator).tolist()
    return torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])


@dataclass
class DatasetSplits:
    """A dataset split three ways, with the shape of one input and the number of classes.

    ``valid`` is what searches select on; ``test`` is held out for final reporting only.
    ``input_shape`` is one sample's shape (``(C, H, W)`` for images, ``(length,)`` for token
    sequences). ``task`` says how to train and score (:mod:`nasforge.trainer.task`; default
    classification). ``model_options`` are extra keyword arguments every model builder of this
    data needs (e.g. ``vocab_size`` for text, ``num_users``/``num_items`` for recommendation).
    """

    train: Dataset
    valid: Dataset
    test: Dataset
    input_shape: tuple[int, ...]
    num_classes: int
    class_names: tuple[str, ...] = ()
    name: str = ""
    info: dict[str, Any] = field(default_factory=dict)
    task: Task = CLASSIFICATION
    model_options: dict[str, Any] = field(default_factory=dict)

    def example_input(self, batch_size: int = 1) -> torch.Tensor:
        """A valid random input batch (for cost measurement and export), from the task."""
        return self.task.example_input(self.input_shape, batch_size)


def make_loader(dataset: Dataset, batch_size: int = 256, shuffle: bool = False, seed: int | None = None) -> BatchLoader:
    """A :class:`~nasforge.torchutils.BatchLoader` over ``dataset`` (the loader the trainer itself uses)."""
    return BatchLoader(dataset, batch_size, shuffle=shuffle, seed=seed)


# -- splitting -----------------------------------------------------------------------------------
def stratified_split(labels: torch.Tensor, fractions: Sequence[float], seed: int) -> list[torch.Tensor]:
    """Split sample indices into ``len(fractions) + 1`` shuffled parts, class by class.

    Part ``i`` gets about ``fractions[i]`` of every class; the last part gets the rest.
    """
    rng = np.random.default_rng(seed)
    y = labels.numpy()
    parts: list[list[int]] = [[] for _ in range(len(fractions) + 1)]
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        rng.shuffle(idx)
        start = 0
        for i, fraction in enumerate(fractions):
            count = int(round(fraction * len(idx)))
            parts[i].extend(idx[start : start + count].tolist())
            start += count
        parts[-1].extend(idx[start:].tolist())
    out = []
    for part in parts:
        arr = np.asarray(part, dtype=np.int64)
        rng.shuffle(arr)
        out.append(torch.from_numpy(arr))
    return out


def _fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) < 1.0:
        raise ConfigError(f"evaluator.options.{name}", f"must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def _channel_stats(images: torch.Tensor, scale: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = images.to(torch.float64) * scale
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return tuple(mean.tolist()), tuple(std.tolist())


def split_images(
    raw: LabelledImages,
    *,
    valid_fraction: float = 0.2,
    test_fraction: float | None = None,
    max_train_samples: int | None = None,
    seed: int = 0,
    augment: bool = False,
    name: str = "",
) -> DatasetSplits:
    """Turn raw labelled images into normalised train/valid/test splits (see :func:`load_dataset`)."""
    valid_fraction = _fraction("valid_fraction", valid_fraction)
    has_official_test = raw.test_images is not None and raw.test_labels is not None
    if test_fraction is not None or not has_official_test:
        test_fraction = _fraction("test_fraction", 0.2 if test_fraction is None else test_fraction)
        if valid_fraction + test_fraction >= 1.0:
            raise ConfigError("evaluator.options.valid_fraction", f"valid_fraction + test_fraction must be below 1, got {valid_fraction} + {test_fraction}")
        valid_idx, test_idx, train_idx = stratified_split(raw.labels, [valid_fraction, test_fraction], seed)
        test_images, test_labels = raw.images[test_idx], raw.labels[test_idx]
        test_source = f"{test_fraction:g} of the data"
    else:
        valid_idx, train_idx = stratified_split(raw.labels, [valid_fraction], seed)
        test_images, test_labels = raw.test_images, raw.test_labels
        test_source = "official test split"
    if max_train_samples is not None:
        if isinstance(max_train_samples, bool) or not isinstance(max_train_samples, int) or max_train_samples < 1:
            raise ConfigError("evaluator.options.max_train_samples", f"must be a positive integer or null, got {max_train_samples!r}")
        train_idx = train_idx[:max_train_samples]
    if len(train_idx) == 0 or len(valid_idx) == 0 or len(test_labels) == 0:  # type: ignore[arg-type]
        raise UserError(
            f"dataset {name!r} is too small to split: {len(train_idx)} train, {len(valid_idx)} valid, {len(test_labels)} test samples; "  # type: ignore[arg-type]
            "use more data or change valid_fraction/test_fraction"
        )
    train_images = raw.images[train_idx]
    if raw.mean is None or raw.std is None:
        mean, std = _channel_stats(train_images, raw.scale)
    else:
        mean, std = tuple(raw.mean), tuple(raw.std)
    num_classes = int(max(int(raw.labels.max()), int(test_labels.max())) + 1)  # type: ignore[union-attr]
    if raw.class_names:
        num_classes = max(num_classes, len(raw.class_names))
    return DatasetSplits(
        train=ImageTensorDataset(train_images, raw.labels[train_idx], mean, std, raw.scale, augment=augment),
        valid=ImageTensorDataset(raw.images[valid_idx], raw.labels[valid_idx], mean, std, raw.scale),
        test=ImageTensorDataset(test_images, test_labels, mean, std, raw.scale),  # type: ignore[arg-type]
        input_shape=tuple(int(s) for s in raw.images.shape[1:]),  # type: ignore[arg-type]
        num_classes=num_classes,
        class_names=tuple(raw.class_names),
        name=name,
        info={"test_split": test_source, "mean": mean, "std": std, "train": len(train_idx), "valid": len(valid_idx), "test": len(test_labels)},  # type: ignore[arg-type]
    )


# -- the registry ----------------------------------------------------------------------------------
def get_dataset_loader(name: str) -> Callable[..., Any]:
    """The loader registered as ``name``: the trainer's own datasets, else any plugin's."""
    if name in DATASETS:
        return DATASETS[name]
    from nasforge.core.plugins import get_plugin_manager

    try:
        return get_plugin_manager().get("dataset", name)
    except UnknownComponentError:
        raise UnknownComponentError(
            f"unknown dataset {name!r}; available: {', '.join(sorted(set(DATASETS) | set(get_plugin_manager().components('dataset'))))}"
        ) from None


def check_dataset_options(loader: Callable[..., Any], name: str, options: dict[str, Any]) -> None:
    """Raise :class:`ConfigError` when ``options`` has names ``loader`` does not take, or lacks required ones."""
    try:
        params = inspect.signature(loader).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [p for p in params if params[p].kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            "evaluator.options.dataset_options",
            f"dataset {name!r} has no option(s) {unknown}; it takes {accepted or 'no options'}",
        )
    missing = [p for p, v in params.items() if v.default is inspect.Parameter.empty and v.kind is not inspect.Parameter.VAR_POSITIONAL and p not in options]
    if missing:
        raise ConfigError("evaluator.options.dataset_options", f"dataset {name!r} needs option(s) {missing}")


def load_dataset(
    name: str,
    *,
    valid_fraction: float = 0.2,
    test_fraction: float | None = None,
    max_train_samples: int | None = None,
    seed: int = 0,
    augment: bool = False,
    **options: Any,
) -> DatasetSplits:
    """Load dataset ``name`` and split it into train, validation and test parts.

    :param name: a registered dataset (``digits``, ``cifar10``, ``imagefolder`` or a plugin's).
    :param valid_fraction: share of the training data held out for validation (what searches
        select on).
    :param test_fraction: ``None`` uses the dataset's official test split when it has one and
        holds out 0.2 of the data otherwise; a number always holds out that share of the data
        (then ``valid_fraction + test_fraction`` must be below 1).
    :param max_train_samples: keep at most this many training samples (a random, fixed subset).
    :param seed: seed of the split (keep it fixed across trials so they see the same data).
    :param augment: random flip + crop on the training split (for natural images, not digits).
    :param options: the dataset's own options (e.g. ``root``, ``download``, ``image_size``).

    A loader that returns finished :class:`DatasetSplits` and has parameters named
    ``valid_fraction``, ``test_fraction``, ``max_train_samples`` or ``seed`` receives these values.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError("evaluator.options.dataset", f"must be a dataset name, got {name!r}")
    loader = get_dataset_loader(name)
    check_dataset_options(loader, name, options)
    # loaders that split the data themselves (text, speech, ratings) receive the split options they name
    shared = {"valid_fraction": valid_fraction, "test_fraction": test_fraction, "max_train_samples": max_train_samples, "seed": seed}
    try:
        accepted = inspect.signature(loader).parameters
    except (TypeError, ValueError):
        accepted = {}
    raw = loader(**options, **{k: v for k, v in shared.items() if k in accepted and k not in options})
    if isinstance(raw, DatasetSplits):
        return raw
    if not isinstance(raw, LabelledImages):
        raise TypeError(f"dataset loader {name!r} returned {type(raw).__name__}; expected LabelledImages or DatasetSplits")
    return split_images(
        raw, valid_fraction=valid_fraction, test_fraction=test_fraction, max_train_samples=max_train_samples, seed=seed, augment=augment, name=name
    )


# -- built-in datasets -----------------------------------------------------------------------------
def load_digits() -> LabelledImages:
    """scikit-learn's 1,797 handwritten digits, ``1x8x8`` images with 17 grey levels; no download."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1)
    labels = torch.as_tensor(bunch.target, dtype=torch.long)
    return LabelledImages(images, labels, class_names=tuple(str(i) for i in range(10)), scale=1.0 / 16.0)


def _limit(labels: np.ndarray, limit_per_class: int | None) -> np.ndarray:
    if limit_per_class is None:
        return np.arange(len(labels))
    keep = []
    for cls in np.unique(labels):
        keep.extend(np.flatnonzero(labels == cls)[:limit_per_class].tolist())
    return np.asarray(sorted(keep), dtype=np.int64)


def _check_limit(limit_per_class: Any) -> int | None:
    if limit_per_class is not None and (isinstance(limit_per_class, bool) or not isinstance(limit_per_class, int) or limit_per_class < 1):
        raise ConfigError("evaluator.options.dataset_options.limit_per_class", f"must be a positive integer or null, got {limit_per_class!r}")
    return limit_per_class


def load_cifar10(root: str | os.PathLike[str] | None = None, download: bool = True, limit_per_class: int | None = None) -> LabelledImages:
    """CIFAR-10 through ``torchvision.datasets.CIFAR10``: 50,000 train + 10,000 official test images, ``3x32x32``.

    :param root: folder holding (or receiving) ``cifar-10-batches-py``; defaults to
        ``$NASFORGE_DATA_DIR/cifar10`` (``~/.cache/nasforge/data/cifar10``).
    :param download: fetch the archive when it is not under ``root`` (needs internet).
    :param limit_per_class: keep only the first N images of each class of each split.
    """
    from torchvision.datasets import CIFAR10

    limit_per_class = _check_limit(limit_per_class)
    folder = Path(root).expanduser() if root is not None else DEFAULT_DATA_DIR / "cifar10"
    try:
        train = CIFAR10(str(folder), train=True, download=bool(download))
        test = CIFAR10(str(folder), train=False, download=bool(download))
    except RuntimeError as exc:
        hint = "set dataset_options.download: true to fetch it" if not download else "check the download or the folder's contents"
        raise UserError(f"CIFAR-10 not found or corrupted under {folder} ({exc}); {hint}, or point dataset_options.root at a folder holding cifar-10-batches-py") from None
    except OSError as exc:
        raise UserError(f"could not download CIFAR-10 into {folder}: {exc}; download it elsewhere and set dataset_options.root") from None

    def convert(ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
        labels = np.asarray(ds.targets, dtype=np.int64)
        keep = _limit(labels, limit_per_class)
        images = torch.from_numpy(np.ascontiguousarray(ds.data[keep])).permute(0, 3, 1, 2).contiguous()
        return images, torch.from_numpy(labels[keep])

    x, y = convert(train)
    tx, ty = convert(test)
    return LabelledImages(x, y, tx, ty, class_names=tuple(train.classes), scale=1.0 / 255.0, mean=CIFAR10_MEAN, std=CIFAR10_STD)


def _read_folder(folder: Path, image_size: int | None, limit_per_class: int | None, grayscale: bool, classes: list[str] | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    from PIL import Image
    from torchvision.datasets import ImageFolder
    from torchvision.transforms.functional import pil_to_tensor

    try:
        index = ImageFolder(str(folder))
    except (FileNotFoundError, RuntimeError) as exc:
        raise UserError(f"image folder {folder} has no usable images ({exc}); it needs one sub-folder per class holding image files") from None
    if classes is not None and index.classes != classes:
        raise UserError(f"class folders of {folder} {index.classes} differ from the training classes {classes}")
    labels = np.asarray(index.targets, dtype=np.int64)
    keep = _limit(labels, limit_per_class)
    tensors = []
    for i in keep:
        path = index.samples[int(i)][0]
        try:
            with Image.open(path) as img:
                img = img.convert("L" if grayscale else "RGB")
                if image_size is not None:
                    img = img.resize((image_size, image_size), Image.BILINEAR)
                tensors.append(pil_to_tensor(img))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:  # corrupt, truncated or not an image
            raise UserError(f"cannot read image {path}: {type(exc).__name__}: {exc}; replace or remove the file") from None
    shapes = {tuple(t.shape) for t in tensors}
    if len(shapes) > 1:
        raise UserError(f"images under {folder} have different sizes {sorted(shapes)[:3]}...; set dataset_options.image_size to resize them")
    return torch.stack(tensors), torch.from_numpy(labels[keep]), list(index.classes)


def load_imagefolder(
    root: str | os.PathLike[str],
    image_size: int | None = None,
    limit_per_class: int | None = None,
    grayscale: bool = False,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> LabelledImages:
    """Images in class folders, read with ``torchvision.datasets.ImageFolder`` and held in memory.

    :param root: either ``root/train/<class>/*`` with an optional ``root/test/<class>/*``
        (the official test split), or ``root/<class>/*`` (test data is then held out).
    :param image_size: resize every image to ``image_size x image_size`` (required when sizes differ).
    :param limit_per_class: read only the first N images (sorted by name) of each class and split.
    :param grayscale: read images as one channel instead of RGB.
    :param mean: per-channel means in ``[0, 1]`` units; with ``std``, defaults to the training split's.
    """
    if root is None or (isinstance(root, str) and not root):
        raise ConfigError("evaluator.options.dataset_options.root", "the imagefolder dataset needs 'root', the folder holding the images")
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise UserError(f"imagefolder root {folder} does not exist or is not a folder; set dataset_options.root to a folder of class sub-folders")
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise ConfigError("evaluator.options.dataset_options.image_size", f"must be a positive integer or null, got {image_size!r}")
    limit_per_class = _check_limit(limit_per_class)
    if (mean is None) != (std is None):
        raise ConfigError("evaluator.options.dataset_options.mean", "give both mean and std, or neither")
    train_dir = folder / "train"
    if train_dir.is_dir():
        x, y, classes = _read_folder(train_dir, image_size, limit_per_class, grayscale)
        tx = ty = None
        if (folder / "test").is_dir():
            tx, ty, _ = _read_folder(folder / "test", image_size, limit_per_class, grayscale, classes)
            if tx.shape[1:] != x.shape[1:]:
                raise UserError(f"test images are {tuple(tx.shape[1:])} but training images {tuple(x.shape[1:])}; set dataset_options.image_size")
    else:
        x, y, classes = _read_folder(folder, image_size, limit_per_class, grayscale)
        tx = ty = None
    if mean is not None and (len(mean) != x.shape[1] or len(std) != x.shape[1]):  # type: ignore[arg-type]
        raise ConfigError("evaluator.options.dataset_options.mean", f"mean and std need one value per channel ({x.shape[1]})")
    return LabelledImages(
        x, y, tx, ty, class_names=tuple(classes), scale=1.0 / 255.0,
        mean=tuple(mean) if mean is not None else None, std=tuple(std) if std is not None else None,
    )


#: The trainer's own dataset loaders (also registered through the plugin hook).
DATASETS: dict[str, Callable[..., Any]] = {"digits": load_digits, "cifar10": load_cifar10, "imagefolder": load_imagefolder}
