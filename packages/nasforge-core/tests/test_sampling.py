import numpy as np

from nasforge.core.sampling import sample_indices


def test_a_stratified_sample_keeps_class_shares_and_is_seeded():
    labels = np.repeat([0, 1, 2, 3], [500, 300, 150, 50])  # sorted by class, as image folders are
    idx = sample_indices(len(labels), 100, seed=1, labels=labels)
    assert list(np.bincount(labels[idx])) == [50, 30, 15, 5]
    assert list(idx) == sorted(set(idx.tolist())) and np.array_equal(idx, sample_indices(len(labels), 100, seed=1, labels=labels))
    assert not np.array_equal(idx, sample_indices(len(labels), 100, seed=2, labels=labels))
    assert sample_indices(1000, 7, seed=0, labels=labels).size == 7  # largest remainders fill the places
    assert list(sample_indices(5, None)) == [0, 1, 2, 3, 4] and list(sample_indices(5, 10)) == [0, 1, 2, 3, 4]


def test_without_labels_a_seeded_random_sample():
    idx = sample_indices(10_000, 50, seed=0)
    assert len(set(idx.tolist())) == 50 and idx.max() > 5_000
