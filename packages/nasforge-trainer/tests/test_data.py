"""Datasets: digits splits, image folders on real CIFAR-10 JPEGs, the CIFAR-10 loader without network."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from nasforge.core.errors import ConfigError, UnknownComponentError, UserError
from nasforge.trainer import TrainConfig, build_model, fit, load_dataset, make_loader
from nasforge.trainer.data import load_cifar10


def _indices_of(dataset):
    # identify samples by their raw bytes so overlaps between splits can be found
    return {bytes(dataset.images[i].numpy().tobytes()) + bytes([int(dataset.labels[i])]) for i in range(len(dataset))}


def test_digits_splits_are_disjoint_stratified_and_normalised(digits_splits):
    s = digits_splits
    assert s.input_shape == (1, 8, 8) and s.num_classes == 10
    assert len(s.train) + len(s.valid) + len(s.test) == 1797
    assert abs(len(s.valid) - 0.2 * 1797) <= 10 and abs(len(s.test) - 0.2 * 1797) <= 10
    for part in (s.valid, s.test):
        counts = torch.bincount(part.labels, minlength=10)
        assert counts.min() >= 30  # every class present in about its share (≈36)
    train, valid, test = (_indices_of(p) for p in (s.train, s.valid, s.test))
    # digits has a few duplicate images; splits must not share more than those
    assert len(train & valid) <= 3 and len(train & test) <= 3
    x, _ = next(iter(make_loader(s.train, batch_size=len(s.train))))
    assert abs(float(x.mean())) < 0.05 and abs(float(x.std()) - 1.0) < 0.05  # normalised with train statistics


def test_split_depends_on_seed_only(digits_splits):
    again = load_dataset("digits")
    assert torch.equal(again.valid.images, digits_splits.valid.images)
    other = load_dataset("digits", seed=1)
    assert not torch.equal(other.valid.images, digits_splits.valid.images)


def test_max_train_samples_and_fractions():
    s = load_dataset("digits", max_train_samples=100, valid_fraction=0.1, test_fraction=0.3)
    assert len(s.train) == 100
    assert abs(len(s.valid) - 180) <= 10 and abs(len(s.test) - 539) <= 10


def test_loader_shuffles_reproducibly(digits_splits):
    a = [y.tolist() for _, y in make_loader(digits_splits.train, 64, shuffle=True, seed=5)]
    b = [y.tolist() for _, y in make_loader(digits_splits.train, 64, shuffle=True, seed=5)]
    c = [y.tolist() for _, y in make_loader(digits_splits.train, 64, shuffle=True, seed=6)]
    assert a == b and a != c
    assert sum(len(batch) for batch in a) == len(digits_splits.train)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"valid_fraction": 0}, "evaluator.options.valid_fraction"),
        ({"valid_fraction": 0.6, "test_fraction": 0.5}, "evaluator.options.valid_fraction"),
        ({"test_fraction": 1.0}, "evaluator.options.test_fraction"),
        ({"max_train_samples": 0}, "evaluator.options.max_train_samples"),
        ({"root": "/tmp"}, "evaluator.options.dataset_options"),
    ],
)
def test_bad_dataset_options_name_the_option(kwargs, field):
    with pytest.raises(ConfigError) as info:
        load_dataset("digits", **kwargs)
    assert info.value.field == field


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(UnknownComponentError, match="digits"):
        load_dataset("mnistt")


# -- imagefolder on real CIFAR-10 JPEGs -------------------------------------------------------------
def test_imagefolder_with_train_and_test_folders(cifar_jpeg_root: Path):
    s = load_dataset("imagefolder", root=str(cifar_jpeg_root))
    assert s.input_shape == (3, 32, 32) and s.num_classes == 10
    assert s.class_names[0] == "airplane" and s.class_names[-1] == "truck"
    assert len(s.test) == 50  # the official test folder, 5 per class
    assert len(s.train) + len(s.valid) == 200
    assert s.info["test_split"] == "official test split"
    model = build_model("cnn", {"stages": 1, "channels_1": 8, "blocks": 1, "kernel_size": 3, "activation": "relu", "residual": True}, s.input_shape, s.num_classes)
    result = fit(model, s, TrainConfig(epochs=1, batch_size=32))
    assert 0.0 <= result.valid_accuracy <= 1.0 and np.isfinite(result.train_loss)


def test_imagefolder_single_folder_resize_limit_and_augment(cifar_jpeg_root: Path):
    s = load_dataset("imagefolder", root=str(cifar_jpeg_root / "train"), image_size=16, limit_per_class=10, grayscale=True, augment=True)
    assert s.input_shape == (1, 16, 16)
    assert len(s.train) + len(s.valid) + len(s.test) == 100
    assert s.info["test_split"] == "0.2 of the data"
    g = torch.Generator().manual_seed(0)
    idx = torch.arange(8)
    augmented, _ = s.train.batch(idx, g)
    plain, _ = s.train.subset(range(len(s.train)), augment=False).batch(idx)
    assert augmented.shape == plain.shape and not torch.equal(augmented, plain)


def test_imagefolder_errors(tmp_path: Path):
    with pytest.raises(UserError, match="does not exist"):
        load_dataset("imagefolder", root=str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no usable images"):
        load_dataset("imagefolder", root=str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="needs option"):
        load_dataset("imagefolder")
    with pytest.raises(ConfigError, match="image_size"):
        load_dataset("imagefolder", root=str(tmp_path), image_size=0)


def _png(path: Path, size: tuple[int, int], value: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, value, value)).save(path)


def test_imagefolder_mixed_sizes_need_image_size(tmp_path: Path):
    for i in range(4):
        _png(tmp_path / "a" / f"{i}.png", (10, 10), 10 * i)
        _png(tmp_path / "b" / f"{i}.png", (12, 8), 200 - 10 * i)
    with pytest.raises(UserError, match="image_size"):
        load_dataset("imagefolder", root=str(tmp_path), valid_fraction=0.25, test_fraction=0.25)
    s = load_dataset("imagefolder", root=str(tmp_path), image_size=6, valid_fraction=0.25, test_fraction=0.25)
    assert s.input_shape == (3, 6, 6) and s.class_names == ("a", "b")
    assert sorted(torch.cat([s.train.labels, s.valid.labels, s.test.labels]).tolist()) == [0] * 4 + [1] * 4


@pytest.mark.parametrize("damage", ["truncated", "not-an-image"])
def test_a_corrupt_image_is_named_in_one_user_error(tmp_path: Path, damage: str):
    from PIL import Image

    for cls in ("a", "b"):
        for i in range(3):
            path = tmp_path / cls / f"{i}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (16, 16), (40 * i, 20, 90)).save(path, quality=90)
    bad = tmp_path / "b" / "1.jpg"
    bad.write_bytes(bad.read_bytes()[: len(bad.read_bytes()) // 2] if damage == "truncated" else b"this is no JPEG")
    with pytest.raises(UserError, match="cannot read image .*1.jpg"):
        load_dataset("imagefolder", root=str(tmp_path), valid_fraction=0.25, test_fraction=0.25)


def test_imagefolder_test_classes_must_match(tmp_path: Path):
    for cls in ("a", "b"):
        for i in range(3):
            _png(tmp_path / "train" / cls / f"{i}.png", (8, 8), 50)
    _png(tmp_path / "test" / "a" / "0.png", (8, 8), 50)
    _png(tmp_path / "test" / "c" / "0.png", (8, 8), 50)
    with pytest.raises(UserError, match="differ from the training classes"):
        load_dataset("imagefolder", root=str(tmp_path))


# -- CIFAR-10 without network ------------------------------------------------------------------------
def _fake_cifar(root: Path, per_batch: int = 20) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)

    def batch(name: str, n: int) -> None:
        labels = [i % 10 for i in range(n)]
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels}, f)

    for i in range(1, 6):
        batch(f"data_batch_{i}", per_batch)
    batch("test_batch", per_batch)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]}, f)


def test_cifar10_reads_the_python_pickle_layout(tmp_path: Path, monkeypatch):
    import torchvision.datasets.cifar as tv_cifar

    _fake_cifar(tmp_path)
    # our fake files have other checksums than the real archive; everything else is torchvision's real code
    monkeypatch.setattr(tv_cifar.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tv_cifar, "check_integrity", lambda *args, **kwargs: True)
    raw = load_cifar10(root=tmp_path, download=False)
    assert raw.images.shape == (100, 3, 32, 32) and raw.images.dtype == torch.uint8
    assert raw.test_images.shape == (20, 3, 32, 32)
    s = load_dataset("cifar10", root=str(tmp_path), download=False, limit_per_class=5)
    assert len(s.train) + len(s.valid) == 50 and len(s.test) == 20
    assert s.class_names[3] == "cat"
    assert s.info["mean"] == pytest.approx((0.4914, 0.4822, 0.4465))


def test_cifar10_missing_without_download_is_a_clear_error(tmp_path: Path):
    with pytest.raises(UserError, match="download: true"):
        load_dataset("cifar10", root=str(tmp_path / "none"), download=False)
