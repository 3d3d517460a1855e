"""robust_accuracy: image corruptions at CIFAR-10-C severities, text corruptions, the evaluator option."""

from __future__ import annotations

import json

import pytest
import torch

from nasforge.core.errors import ConfigError, UserError
from nasforge.core.evaluator import TrialContext
from nasforge.core.space import SearchSpace
from nasforge.trainer.data import ImageTensorDataset
from nasforge.trainer.evaluator import TrainingEvaluator
from nasforge.trainer.robustness import IMAGE_SEVERITIES, CorruptionAugment, RobustnessSpec, corrupt_images
from nasforge.trainer.spaces import mlp_space
from nasforge.trainer.tasks.text import TokenDataset, Vocabulary


def _images():
    g = torch.Generator().manual_seed(0)
    return torch.rand(4, 3, 16, 16, generator=g)


@pytest.mark.parametrize("name", list(IMAGE_SEVERITIES))
def test_each_image_corruption_grows_with_severity(name):
    x = _images()
    errors = [float((corrupt_images(x, name, s, torch.Generator().manual_seed(1)) - x).abs().mean()) for s in (1, 3, 5)]
    assert errors[0] > 0 and errors[0] <= errors[1] <= errors[2], errors
    out = corrupt_images(x, name, 3, torch.Generator().manual_seed(1))
    assert out.shape == x.shape and float(out.min()) >= 0 and float(out.max()) <= 1


def test_contrast_and_noise_match_their_definitions():
    x = _images()
    c = corrupt_images(x, "contrast", 2, torch.Generator())  # factor 0.5 around each image's mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(c, ((x - mean) * 0.5 + mean).clamp(0, 1))
    n = corrupt_images(torch.full((64, 3, 16, 16), 0.5), "gaussian_noise", 5, torch.Generator().manual_seed(0))
    assert abs(float((n - 0.5).std()) - 0.10) < 0.005


def test_text_corruptions_drop_tokens_and_add_typos():
    vocab = Vocabulary.build(["the cat sat on the mat today"] * 2)
    data = TokenDataset(["the cat sat on the mat today"] * 50, torch.zeros(50, dtype=torch.long), vocab, 10)
    dropped = data.corrupted("token_dropout", 5, seed=0)  # p = 0.3
    kept = float(dropped.lengths.float().mean()) / 7
    assert 0.6 < kept < 0.8 and bool((dropped.lengths >= 1).all())
    typos = data.corrupted("char_typo", 5, seed=0)  # 40 % of words edited -> unknown tokens
    unk = float((typos.ids == 1).sum()) / float((typos.ids != 0).sum())
    assert 0.2 < unk < 0.6
    with pytest.raises(UserError, match="severity"):
        data.corrupted("char_typo", 6)


def test_robustness_option_is_validated():
    assert RobustnessSpec.parse(None, "x") is None
    spec = RobustnessSpec.parse({"corruptions": ["jpeg"], "severities": 2}, "x")
    assert spec.severities == (2,)
    with pytest.raises(ConfigError, match="unknown corruption 'fog'"):
        RobustnessSpec.parse({"corruptions": ["fog"]}, "x")
    with pytest.raises(ConfigError, match="severities"):
        RobustnessSpec.parse({"corruptions": ["jpeg"], "severities": [0]}, "x")
    with pytest.raises(UserError, match="cannot apply"):
        spec = RobustnessSpec.parse({"corruptions": ["noise"]}, "x")
        spec.check(ImageTensorDataset(_images(), torch.zeros(4), [0.5] * 3, [0.2] * 3, scale=1.0))


def test_evaluator_reports_robust_accuracy_as_a_metric(tmp_path):
    evaluator = TrainingEvaluator(mlp_space(max_depth=1, widths=[16]), dataset="digits", epochs=2, measure_latency=False, tensorboard=False,
                                  save_model=False, robustness={"corruptions": ["gaussian_noise", "contrast"], "severities": [5], "samples": 100})
    assert "robust_accuracy" in evaluator.metrics and "test_robust_accuracy" in evaluator.metrics
    evaluator.setup(tmp_path)
    result = evaluator.evaluate({"depth": 1, "width_1": 16, "activation": "relu", "dropout": 0.0}, TrialContext(number=0, seed=0, directory=None))
    values = result.metrics
    assert 0.0 <= values["robust_accuracy"] < values["accuracy"]
    with pytest.raises(ConfigError):
        TrainingEvaluator(mlp_space(), dataset="digits", robustness={"corruptions": "jpeg"})


# -- training on corrupted inputs (corruption_augment) ------------------------------------------------
def _train_images(augment=False):
    return ImageTensorDataset((_images().repeat(8, 1, 1, 1) * 255).to(torch.uint8), torch.arange(32) % 4, [0.5] * 3, [0.25] * 3, augment=augment)


def test_corrupted_training_replaces_samples_reproducibly_and_keeps_labels():
    data = _train_images()
    spec = CorruptionAugment(("gaussian_noise", "contrast"), (5,))
    assert spec.wrap(data, 0.0) is data
    idx = torch.arange(32)
    clean, y = data.batch(idx)
    wrapped = spec.wrap(data, 0.5)
    a, ya = wrapped.batch(idx, torch.Generator().manual_seed(3))
    b, _ = wrapped.batch(idx, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and torch.equal(ya, y)  # seeded; labels untouched
    changed = (a - clean).abs().flatten(1).amax(dim=1) > 1e-4
    assert 4 <= int(changed.sum()) <= 28  # about half the samples corrupted, the rest exactly clean
    every, _ = spec.wrap(data, 1.0).batch(idx, torch.Generator().manual_seed(3))
    assert bool(((every - clean).abs().flatten(1).amax(dim=1) > 1e-4).all())


def test_corrupted_training_keeps_flip_and_crop_and_pads_token_batches():
    augmented = _train_images(augment=True)
    x, _ = CorruptionAugment(("jpeg",), (3,)).wrap(augmented, 1.0).batch(torch.arange(32), torch.Generator().manual_seed(0))
    assert x.shape == (32, 3, 16, 16)
    assert float(((x * augmented.std + augmented.mean) < 1e-6).float().mean()) > 0.01  # zero-padded crops: augmentation still applied
    vocab = Vocabulary.build(["a b c d e f g h"])
    texts = TokenDataset(["a b c d e f g h"] * 10 + ["a b"] * 10, torch.zeros(20, dtype=torch.long), vocab, 12)
    wrapped = CorruptionAugment(("token_dropout",), (5,)).wrap(texts, 1.0)
    ids, _ = wrapped.batch(torch.arange(20), torch.Generator().manual_seed(0))
    assert ids.shape == (20, 8) and bool((ids[:10] != 0).sum(dim=1).lt(8).any())


def test_corruption_augment_options_and_space_choice_are_validated():
    robust = {"corruptions": ["gaussian_noise"]}
    space = SearchSpace.from_config([*mlp_space(max_depth=1, widths=[16]).to_config()["choices"], {"name": "corruption_augment", "values": [0.0, 0.5]}], name="mlp")
    evaluator = TrainingEvaluator(space, dataset="digits", robustness=robust)
    assert evaluator.augment_corruptions == CorruptionAugment(("gaussian_noise",), (1, 2, 3, 4, 5))
    bad_space = SearchSpace.from_config([*space.to_config()["choices"][:-1], {"name": "corruption_augment", "values": [0.0, 1.5]}], name="mlp")
    for kwargs, words in [
        ({"space": bad_space, "robustness": robust}, "space.corruption_augment: must be a probability"),
        ({"corruption_augment": -0.1, "robustness": robust}, "corruption_augment: must be a probability"),
        ({"corruption_augment": 0.5}, "needs corruptions to train on"),
        ({"space": space}, "needs corruptions to train on"),
        ({"corruption_augment": 0.5, "augment_corruptions": {"corruptions": ["fog"]}}, "unknown corruption 'fog'"),
        ({"corruption_augment": 0.5, "augment_corruptions": {"corruptions": ["jpeg"], "level": 2}}, "augment_corruptions.level"),
    ]:
        with pytest.raises(ConfigError, match=words.replace(".", r"\.")) as info:
            TrainingEvaluator(kwargs.pop("space", mlp_space()), dataset="digits", **kwargs)
        assert "\n" not in str(info.value)


def test_trial_trains_on_corrupted_inputs_only_when_its_choice_says_so(tmp_path):
    space = SearchSpace.from_config([*mlp_space(max_depth=1, widths=[16]).to_config()["choices"], {"name": "corruption_augment", "values": [0.0, 1.0]}], name="mlp")
    evaluator = TrainingEvaluator(space, dataset="digits", epochs=1, measure_latency=False, tensorboard=False, save_model=True,
                                  augment_corruptions={"corruptions": ["gaussian_noise"], "severities": [5]})
    evaluator.setup(tmp_path)
    arch = {"depth": 1, "width_1": 16, "activation": "relu", "dropout": 0.0}
    runs = {}
    for p in (0.0, 1.0):
        context = TrialContext(number=0, seed=0, directory=tmp_path / str(p))
        runs[p] = evaluator.evaluate({**arch, "corruption_augment": p}, context).metrics
    assert runs[0.0]["train_loss"] != runs[1.0]["train_loss"]  # the batches differ
    assert evaluator.splits.valid.augment is False and not hasattr(evaluator.splits.train, "probability")  # shared splits untouched
    saved = json.loads((tmp_path / "1.0" / "model.json").read_text())
    assert "corruption_augment" not in saved["architecture"]  # a training setting, not part of the model


def test_corrupted_training_works_for_speech_features():
    from nasforge.trainer.tasks.speech import LogMel, SpeechDataset

    waves = torch.randn(8, 800, generator=torch.Generator().manual_seed(0))
    data = SpeechDataset(waves, torch.full((8,), 800), torch.arange(8) % 2, LogMel(), 0.0, 1.0)
    x, _ = CorruptionAugment(("noise",), (5,)).wrap(data, 1.0).batch(torch.arange(8), torch.Generator().manual_seed(0))
    assert x.shape == data.features.shape and not torch.allclose(x, data.features)  # 0 dB SNR noise changes every clip's features
