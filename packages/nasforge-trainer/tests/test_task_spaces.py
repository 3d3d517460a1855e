"""The task spaces (text, crnn, ncf): sampled architectures build with their data's options and give finite outputs of the right shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasforge.core.errors import ConfigError
from nasforge.trainer.models import build_model
from nasforge.trainer.task import TokenClassificationTask
from nasforge.trainer.tasks.recsys import ImplicitFeedbackTask, ncf_space
from nasforge.trainer.tasks.speech import crnn_space
from nasforge.trainer.tasks.text import text_space

CASES = {
    # space factory, input shape, classes, builder options, example input, expected output shape
    "text": (text_space, (12,), 5, {"vocab_size": 40}, TokenClassificationTask(40).example_input((12,), 3), (3, 5)),
    "crnn": (crnn_space, (1, 40, 101), 10, {}, torch.randn(3, 1, 40, 101), (3, 10)),
    "ncf": (ncf_space, (2,), 1, {"num_users": 7, "num_items": 11}, ImplicitFeedbackTask(7, 11).example_input((2,), 3), (3,)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_sampled_task_architectures_build_and_run(name):
    factory, shape, classes, options, x, out_shape = CASES[name]
    space = factory()
    assert space.name == name
    rng = np.random.default_rng(0)
    for _ in range(6):
        model = build_model(name, space.sample(rng), shape, classes, **options).eval()
        out = model(x)
        assert out.shape == out_shape and bool(torch.isfinite(out).all())


def test_task_builders_say_which_dataset_they_need():
    arch = text_space().sample(np.random.default_rng(0))
    with pytest.raises(ConfigError, match="text dataset"):
        build_model("text", arch, (12,), 2)  # no vocab_size: not a text dataset
    with pytest.raises(ConfigError, match="recommendation dataset"):
        build_model("ncf", {"interaction": "gmf", "embedding_dim": 8}, (2,), 1)
