from __future__ import annotations

from collections import Counter

import pytest

from nasforge.core.errors import UserError
from nasforge_transformers import encode, load_model, load_text_classification, stratified_sample
from nasforge_transformers.data import TextSplit
from nasforge_transformers.testing import tiny_tokenizer


def test_sst2_has_its_official_splits(text_root):
    data = load_text_classification("sst2", root=text_root)
    assert (len(data.train), len(data.valid), len(data.test)) == (6920, 872, 1821)
    assert data.label_names == ("0", "1")
    assert set(data.train.labels) == {0, 1}


def test_trec_carves_a_stratified_valid_split_from_train(text_root):
    data = load_text_classification("trec", root=text_root, valid_fraction=0.1, seed=3)
    assert data.num_labels == 6
    assert len(data.train) + len(data.valid) == 5452 and len(data.test) == 500
    assert len(data.valid) == 545
    train_share = Counter(data.train.labels)
    valid_share = Counter(data.valid.labels)
    for label in range(6):
        assert abs(valid_share[label] / len(data.valid) - train_share[label] / len(data.train)) < 0.01
    other = load_text_classification("trec", root=text_root, valid_fraction=0.1, seed=4)
    assert other.valid.texts != data.valid.texts


def test_samples_are_seeded_and_stratified_not_the_first_rows(text_root):
    data = load_text_classification("sst2", root=text_root, max_train=100, max_eval=50, seed=1)
    full = load_text_classification("sst2", root=text_root)
    assert len(data.train) == 100 and len(data.valid) == 50 and len(data.test) == 50
    assert data.train.texts != full.train.texts[:100]
    assert abs(sum(data.train.labels) - 100 * sum(full.train.labels) / len(full.train)) <= 1
    assert load_text_classification("sst2", root=text_root, max_train=100, seed=1).train == data.train


def test_stratified_sample_keeps_shares():
    labels = [0] * 90 + [1] * 10
    picked = stratified_sample(labels, 20, seed=0)
    assert len(picked) == 20 and sum(labels[i] for i in picked) == 2
    assert stratified_sample(labels, 500) == list(range(100))


def write(path, text):
    path.write_text(text)
    return path


def test_user_csv_with_named_columns_and_string_labels(tmp_path):
    csv = write(tmp_path / "reviews.csv", "sentence,stars,part\ngreat fun,good,train\nawful,bad,train\nfine,good,train\nmeh,bad,dev\nsuper,good,test\n")
    data = load_text_classification(csv, text_column="sentence", label_column="stars", split_column="part")
    assert data.name == "reviews"
    assert data.label_names == ("bad", "good")
    assert data.train == TextSplit(("great fun", "awful", "fine"), (1, 0, 1))
    assert data.valid == TextSplit(("meh",), (0,))
    assert data.test == TextSplit(("super",), (1,))


def test_user_csv_with_a_separate_test_file_and_declared_labels(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\n" + "".join(f"t{i},{i % 3}\n" for i in range(30)))
    test = write(tmp_path / "test.csv", "text,label\nx,2\ny,0\n")
    data = load_text_classification(train, test_path=test, labels=[2, 1, 0], valid_fraction=0.2)
    assert data.label_names == ("2", "1", "0")
    assert data.test.labels == (0, 2)
    assert len(data.valid) == 6 and Counter(data.valid.labels) == {0: 2, 1: 2, 2: 2}


@pytest.mark.parametrize("content, options, message", [
    ("sentence,label\na,0\n", {}, r"has no column 'text' \(columns: sentence, label\)"),
    ("text,label\na,0\n", {"label_column": "y"}, r"has no column 'y'"),
    ("text,label,split\na,0,train\nb,1,holdout\n", {"split_column": "split"}, r"value 'holdout'"),
    ("text,label\na,0\nb,1\nc,\n", {}, r":4: empty 'label'"),
    ("text,label\na,0\nb,0\n", {}, r"has 1 label\(s\)"),
    ("text,label\na,0\nb,1\nc,7\n", {"labels": [0, 1]}, r"labels \['7'\] that are not among the declared labels"),
    ("text,label,s\na,0,train\nb,1,train\nc,2,test\n", {"split_column": "s"}, r"test split has labels \['2'\] that never occur in training"),
    ("text,label\n", {}, "has no data rows"),
])
def test_csv_mistakes_are_user_errors(tmp_path, content, options, message):
    with pytest.raises(UserError, match=message):
        load_text_classification(write(tmp_path / "d.csv", content), **options)


def test_missing_builtin_file_says_where_to_put_it(tmp_path):
    with pytest.raises(UserError, match=r"sst2_sentences.csv not found in .*'root' option"):
        load_text_classification("sst2", root=tmp_path)
    with pytest.raises(UserError, match="neither a built-in"):
        load_text_classification(tmp_path / "nope.csv")


def test_batches_pad_to_their_longest_sequence():
    tokenizer = tiny_tokenizer("encoder")
    split = TextSplit(("a", "a b c d e f g h", "a b", "a b c"), (0, 1, 0, 1))
    encoded = encode(tokenizer, split, max_seq_length=6)
    assert encoded.lengths == [3, 6, 4, 5]   # [CLS] ... [SEP], the long one truncated
    batches = list(encoded.batches(2))
    assert [tuple(b["input_ids"].shape) for b in batches] == [(2, 6), (2, 5)]
    first = batches[0]
    assert first["attention_mask"].tolist() == [[1, 1, 1, 0, 0, 0], [1] * 6]
    assert first["input_ids"][0, 3:].tolist() == [tokenizer.pad_token_id] * 3
    assert first["labels"].tolist() == [0, 1] and first["index"].tolist() == [0, 1]


def test_bucketing_groups_similar_lengths_and_is_deterministic():
    tokenizer = tiny_tokenizer("encoder")
    texts = tuple(" ".join(["a"] * n) for n in [1, 9, 2, 8, 3, 7, 4, 6, 5, 10] * 4)
    encoded = encode(tokenizer, TextSplit(texts, (0, 1) * 20), max_seq_length=32)
    plain = sum(b["input_ids"].numel() for b in encoded.batches(4, shuffle=True, seed=0))
    bucketed = sum(b["input_ids"].numel() for b in encoded.batches(4, shuffle=True, seed=0, bucket=True))
    assert bucketed < 0.8 * plain
    order = encoded.order(4, shuffle=True, seed=0, epoch=1, bucket=True)
    assert order == encoded.order(4, shuffle=True, seed=0, epoch=1, bucket=True)
    assert order != encoded.order(4, shuffle=True, seed=0, epoch=2, bucket=True)
    assert sorted(i for b in order for i in b) == list(range(40))
    longest_first = encoded.order(4, bucket=True)
    assert encoded.lengths[longest_first[0][0]] == max(encoded.lengths)


def test_max_seq_length_above_the_models_maximum_is_refused(tiny_gpt2_dir):
    loaded = load_model(tiny_gpt2_dir, task="classification", num_labels=2)
    split = TextSplit(("a",), (0,))
    with pytest.raises(UserError, match="max_seq_length 256 is above the model's maximum of 128 tokens"):
        encode(loaded.tokenizer, split, 256, loaded.max_length)
    assert len(encode(loaded.tokenizer, split, 128, loaded.max_length)) == 1


def test_selection_split_holds_out_a_seeded_stratified_capped_slice():
    from nasforge_transformers.data import selection_split

    labels = [0] * 60 + [1] * 40
    fit, held = selection_split(labels, 20, seed=3)
    assert len(held) == 20 and sorted(fit + held) == list(range(100)) and not set(fit) & set(held)
    assert sum(labels[i] for i in held) == 8                      # the 40 % share of label 1
    assert selection_split(labels, 20, seed=3) == (fit, held) and selection_split(labels, 20, seed=4)[1] != held
    assert len(selection_split(labels, 500, seed=0)[1]) == 20     # capped at a fifth: most rows stay for training
    assert len(selection_split(labels, None, seed=0)[1]) == 10
