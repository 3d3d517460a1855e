"""Subsets behind reported numbers: seeded and, when labels are known, stratified.

Every command that evaluates, calibrates or checks on "N samples" uses :func:`sample_indices`, so
a subset is never "the first N" (test sets are often sorted by class: the first 1,000 CIFAR-10
test images of an image folder are all one class).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def sample_indices(total: int, size: int | None, seed: int = 0, labels: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
    """Sorted indices of a seeded sample of ``size`` out of ``total`` (all of them when ``size`` is
    None or not smaller).

    With ``labels``, the sample is stratified: each class gets its share of ``size`` in proportion
    to its frequency (largest remainders get the leftover places), drawn at random within the class.
    """
    if size is None or size >= total:
        return np.arange(total)
    if size < 1:
        raise ValueError(f"a sample needs at least one item, got size {size}")
    rng = np.random.default_rng(seed)
    if labels is None:
        return np.sort(rng.choice(total, size=size, replace=False))
    labels = np.asarray(labels)
    if len(labels) != total:
        raise ValueError(f"{len(labels)} labels for {total} items")
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts / total * size
    quota = np.floor(exact).astype(int)
    leftover = size - quota.sum()
    if leftover:
        order = np.argsort(-(exact - quota), kind="stable")
        quota[order[:leftover]] += 1
    picked = [rng.choice(np.flatnonzero(labels == c), size=q, replace=False) for c, q in zip(classes, quota, strict=True) if q]
    return np.sort(np.concatenate(picked))
