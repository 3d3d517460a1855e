"""Text task: CSV loading and splits, vocabulary, the text space's four encoders, corruptions, ONNX with dynamic axes."""

from __future__ import annotations

import csv
from pathlib import Path

import onnx
import pytest
import torch
from nasforge_trainer_testing import SHARED_DATA, require_shared

from nasforge.core.errors import ConfigError, UserError
from nasforge.trainer.data import load_dataset
from nasforge.trainer.models import build_model
from nasforge.trainer.tasks.text import PAD, UNK, Vocabulary, load_text_csv, text_space, tokenize
from nasforge.trainer.training import TrainConfig, fit

TEXT = SHARED_DATA / "text"


def _write(path: Path, rows: list[dict], columns: list[str]) -> Path:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture
def toy_csv(tmp_path) -> Path:
    # class "pos" texts say good things, "neg" bad ones: learnable in a few steps
    rows = []
    for i in range(60):
        rows.append({"review": f"a good great film number {i} , loved it", "stars": "pos"})
        rows.append({"review": f"a bad awful film number {i} , hated it", "stars": "neg"})
    return _write(tmp_path / "toy.csv", rows, ["review", "stars"])


def test_tokenize_and_vocabulary_from_training_texts():
    assert tokenize("It's a GREAT film, isn't it?") == ["it's", "a", "great", "film", ",", "isn't", "it", "?"]
    vocab = Vocabulary.build(["b a a", "a c"], min_freq=1)
    assert vocab.itos[:3] == ["<pad>", "<unk>", "a"]  # most frequent first
    assert vocab.encode("a zzz", 8) == [vocab.stoi["a"], UNK]
    assert vocab.encode("", 8) == [UNK]
    ids = vocab.encode_all(["a b c a", "c"], 3)
    assert ids.shape == (2, 3) and ids[1, 1] == PAD


def test_text_csv_configurable_columns_split_and_vocabulary_from_train_only(toy_csv):
    splits = load_text_csv(toy_csv, text_columns="review", label_column="stars", valid_fraction=0.2, test_fraction=0.25, seed=3, max_length=12)
    assert splits.class_names == ("neg", "pos")
    assert splits.info["train"] + splits.info["valid"] + splits.info["test"] == 120
    # stratified: both classes in every split, equally
    for part in (splits.train, splits.valid, splits.test):
        counts = torch.bincount(part.labels, minlength=2)
        assert counts[0] == counts[1]
    # the vocabulary holds training tokens only: a number seen only in the test texts is unknown
    test_numbers = {t for text in splits.test.texts for t in tokenize(text) if t.isdigit()}
    train_numbers = {t for text in splits.train.texts for t in tokenize(text) if t.isdigit()}
    only_test = test_numbers - train_numbers
    assert only_test and not any(t in splits.train.vocab.stoi for t in only_test)
    # batches are cut to their longest sequence
    x, _ = splits.train.batch(torch.arange(4))
    assert x.dtype == torch.long and x.shape[1] == int(splits.train.lengths[:4].max()) <= 12
    # the same seed gives the same split, another seed another
    again = load_text_csv(toy_csv, text_columns="review", label_column="stars", valid_fraction=0.2, test_fraction=0.25, seed=3, max_length=12)
    other = load_text_csv(toy_csv, text_columns="review", label_column="stars", valid_fraction=0.2, test_fraction=0.25, seed=4, max_length=12)
    assert again.test.texts == splits.test.texts and other.test.texts != splits.test.texts


def test_missing_column_and_empty_class_are_user_errors(toy_csv, tmp_path):
    with pytest.raises(UserError, match=r"no column\(s\) \['text', 'label'\]"):
        load_text_csv(toy_csv)
    train = _write(tmp_path / "train.csv", [{"text": "x y", "label": "a"}, {"text": "y z", "label": "b"}] * 10, ["text", "label"])
    test = _write(tmp_path / "test.csv", [{"text": "x", "label": "c"}], ["text", "label"])
    with pytest.raises(UserError, match="empty class"):
        load_text_csv(train, test_path=test)
    # a class with too few rows to appear in every split
    few = _write(tmp_path / "few.csv", [{"text": "x", "label": "a"}] * 20 + [{"text": "y", "label": "b"}], ["text", "label"])
    with pytest.raises(UserError, match="empty class"):
        load_text_csv(few)
    with pytest.raises(UserError, match="not found"):
        load_text_csv(tmp_path / "nope.csv")


def test_official_datasets_load_with_their_splits():
    require_shared(TEXT / "sst2_sentences.csv")
    sst2 = load_dataset("sst2", root=str(TEXT), max_train_samples=500)
    assert (sst2.info["train"], sst2.info["valid"], sst2.info["test"]) == (500, 872, 1821)
    assert sst2.num_classes == 2 and sst2.model_options["vocab_size"] == len(sst2.train.vocab)
    trec = load_dataset("trec", root=str(TEXT), valid_fraction=0.1)
    assert trec.num_classes == 6 and trec.info["test"] == 500 and trec.info["train"] + trec.info["valid"] == 5452
    ag = load_dataset("ag_news", path=str(TEXT / "ag_news_test7600.csv"), valid_fraction=0.1)
    assert ag.num_classes == 4 and len(ag.class_names) == 4  # the labels as the file spells them (0-3 in the shared copy)
    assert torch.bincount(ag.test.labels).tolist() == [380] * 4  # seeded stratified 20 %



def test_named_datasets_take_lowercase():
    """sst2/trec/ag_news pass ``lowercase`` through like text_csv (TREC's capitals carry names and places)."""
    require_shared(TEXT / "trec_train.csv")
    kept = load_dataset("trec", root=str(TEXT), lowercase=False, max_train_samples=300)
    folded = load_dataset("trec", root=str(TEXT), max_train_samples=300)
    assert any(t != t.lower() for t in kept.train.vocab.itos) and all(t == t.lower() for t in folded.train.vocab.itos)
    for name, opts in (("sst2", {"root": str(TEXT)}), ("ag_news", {"path": str(TEXT / "ag_news_test7600.csv")})):
        assert not load_dataset(name, **opts, lowercase=False, max_train_samples=200).train.vocab.lowercase

ARCHS = [
    {"embedding_dim": 16, "encoder": "cnn", "hidden": 8, "pooling": "max", "dropout": 0.1, "kernel_set": "2,3,4"},
    {"embedding_dim": 16, "encoder": "lstm", "hidden": 8, "pooling": "mean", "dropout": 0.1, "layers": 2, "bidirectional": True},
    {"embedding_dim": 16, "encoder": "gru", "hidden": 8, "pooling": "max", "dropout": 0.1, "layers": 1, "bidirectional": False},
    {"embedding_dim": 16, "encoder": "transformer", "hidden": 16, "pooling": "max", "dropout": 0.1, "layers": 1, "heads": 2},
]


def test_text_space_conditions():
    space = text_space()
    for arch in space.enumerate() if space.size() < 5000 else [space.sample(__import__("numpy").random.default_rng(i)) for i in range(50)]:
        arch = dict(arch)
        assert ("kernel_set" in arch) == (arch["encoder"] == "cnn")
        assert ("bidirectional" in arch) == (arch["encoder"] in ("lstm", "gru"))
        assert ("heads" in arch) == (arch["encoder"] == "transformer")
    with pytest.raises(ConfigError, match="space.options.encoders"):
        text_space(encoders=["rnn"])


@pytest.mark.parametrize("arch", ARCHS, ids=lambda a: a["encoder"])
def test_every_encoder_learns_the_toy_task_ignores_padding_and_exports_fp32_and_int8(arch, toy_csv, tmp_path):
    from nasforge.export.exporters import OnnxExporter, OnnxInt8Exporter
    from nasforge.export.parity import check_parity

    splits = load_text_csv(toy_csv, text_columns="review", label_column="stars", valid_fraction=0.2, test_fraction=0.2, seed=0, max_length=16)
    torch.manual_seed(0)
    model = build_model("text", arch, splits.input_shape, splits.num_classes, **splits.model_options)
    result = fit(model, splits, TrainConfig(epochs=4, lr=0.01, batch_size=16))
    assert result.valid_accuracy >= 0.9
    model.eval()
    x, _ = splits.test.batch(torch.arange(3))
    padded = torch.cat([x, torch.zeros(3, 5, dtype=torch.long)], dim=1)
    assert torch.allclose(model(x), model(padded), atol=1e-5)  # padding changes nothing

    # the pipeline's exporters, one after the other as the deploy stage runs them: both files keep
    # a dynamic batch and sequence axis and pass parity (fp32 to 1e-4, int8 on arg-max agreement)
    calibration, evaluation = splits.train.ids[:48], (splits.test.ids, splits.test.labels)
    for exporter in (OnnxExporter(), OnnxInt8Exporter()):
        written = exporter.export(model, splits.example_input(1), tmp_path, "m", calibration=calibration, evaluation=evaluation)
        assert written.parity.passed, written.parity.summary()
        shape = onnx.load(str(written.path)).graph.input[0].type.tensor_type.shape.dim
        assert [d.dim_param for d in shape] == ["batch", "sequence"], (exporter.name, shape)
        assert written.card["metrics"]["accuracy"] >= 0.9
        for rows, length in [(1, 3), (4, 12), (2, 30)]:  # other batches and lengths than the sample's
            tokens = torch.randint(2, splits.model_options["vocab_size"], (rows, length))
            report = check_parity(model, written.path, tokens, atol=exporter.atol, rtol=exporter.rtol, min_argmax_agreement=0.0, raise_on_failure=False)
            assert report.passed, (exporter.name, rows, length, report.summary())


def test_bucketed_batches_cover_every_text_once_with_less_padding():
    texts = [" ".join(["w"] * (1 + (i * 7) % 40)) for i in range(400)]
    from nasforge.trainer.data import make_loader
    from nasforge.trainer.tasks.text import make_text_splits

    splits = make_text_splits(texts, [str(i % 2) for i in range(400)], None, None, max_length=40, test_fraction=0.1, valid_fraction=0.1)
    train = splits.train
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    bucketed = train.bucket(order, 16, torch.Generator().manual_seed(0), pool=10)
    assert sorted(bucketed.tolist()) == list(range(len(train)))  # a permutation: nothing lost or repeated

    def padded_tokens(o):
        return sum(int(train.lengths[b].max()) * len(b) for b in o.split(16))

    assert padded_tokens(bucketed) < 0.7 * padded_tokens(order)
    # the trainer's loader uses it when shuffling, and two epochs differ
    loader = make_loader(train, 16, shuffle=True, seed=0)
    first, second = [x.shape[1] for x, _ in loader], [x.shape[1] for x, _ in loader]
    assert sum(first) < 0.8 * len(first) * 40 and first != second


@pytest.mark.parametrize("max_norm", [3.0, None])
def test_max_norm_caps_the_classifier_rows(max_norm, toy_csv):
    splits = load_text_csv(toy_csv, text_columns="review", label_column="stars", valid_fraction=0.2, test_fraction=0.2, seed=0, max_length=16)
    arch = {**ARCHS[0], "max_norm": max_norm}
    torch.manual_seed(0)
    model = build_model("text", arch, splits.input_shape, splits.num_classes, **splits.model_options)
    fit(model, splits, TrainConfig(epochs=4, lr=1.0, batch_size=16, optimizer="sgd", schedule="none"))
    norms = model.eval().classifier.weight.norm(dim=1)
    if max_norm is None:
        assert norms.max() > 3.5  # the large learning rate grows the rows past the cap
    else:
        assert norms.max() <= 3.0 + 1e-5


def test_cnn_windows_are_wide_as_in_kims_code():
    # Kim's code pads k - 1 zero vectors on each side, so a width-k map has length + k - 1 windows and
    # the first and last words have windows of their own; max pooling runs over exactly those
    from nasforge.trainer.tasks.text import TextClassifier

    torch.manual_seed(0)
    model = TextClassifier(20, 8, "cnn", 4, 1, "max", 0.0, 2, kernels=(2, 5)).eval()
    pooled = {}
    model.classifier.register_forward_hook(lambda _m, args, _out: pooled.update(x=args[0]))
    text = torch.tensor([[5, 6, 7]])
    model(text)
    alone = pooled["x"]
    model(torch.cat([text, torch.zeros(1, 9, dtype=torch.long)], dim=1))
    assert torch.allclose(alone, pooled["x"], atol=1e-6)  # batch padding changes nothing
    widest = model.encoder.convs[1]
    x = model.embedding(text).transpose(1, 2)
    windows = torch.relu(widest(torch.nn.functional.pad(x, (4, 4))))  # 3 + 5 - 1 = 7 windows
    assert windows.shape[2] == 7
    assert torch.allclose(alone[0, 4:], windows[0].amax(dim=1), atol=1e-6)
