"""robust_accuracy: image corruptions at CIFAR-10-C severities, text corruptions, the evaluator option."""

from __future__ import annotations

import pytest
import torch

from nasforge.core.errors import ConfigError, UserError
from nasforge.core.evaluator import TrialContext
from nasforge.trainer.data import ImageTensorDataset
from nasforge.trainer.evaluator import TrainingEvaluator
from nasforge.trainer.robustness import IMAGE_SEVERITIES, RobustnessSpec, corrupt_images
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
