"""The trainer's deploy adapter: how the deploy stage gets back what the ``trainer`` evaluator trained.

Registered for the evaluator name ``trainer`` with ``nasforge_register_deploy_adapters`` (see
:mod:`nasforge.core.deployment` for the contract). It reads ``model.pt``/``model.json`` of a
trial folder (:mod:`nasforge.trainer.artifacts`), and takes data from the evaluator instance
itself, so the split, subset and seed are the ones the search used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from nasforge.core.deployment import DeployableModel, DeployData
from nasforge.trainer.artifacts import SPEC_FILE, WEIGHTS_FILE, load_trained_model
from nasforge.trainer.data import make_loader
from nasforge.trainer.evaluator import TrainingEvaluator

#: Mini-batch size of the fine-tuning batches handed to compressors.
FINETUNE_BATCH_SIZE = 64


class TrainerDeployment:
    """Deploy adapter of the ``trainer`` evaluator; the score is the data's task metric on the test split.

    Classification data (images, text, speech) is scored by test accuracy and hands the stacked
    test split to exporters; other tasks (recommendation: HR@10, RMSE) are scored by their own
    evaluation, which the deploy stage also runs on each exported file through onnxruntime.
    """

    def __init__(self, evaluator: TrainingEvaluator) -> None:
        self.evaluator = evaluator

    @property
    def metric(self) -> str:
        """The task's primary metric (``accuracy``, ``hr_at_10``, ``rmse`` ...)."""
        return str(self.evaluator.splits.task.primary)

    def load(self, directory: Path) -> DeployableModel | None:
        """The trained model of a trial folder; ``None`` when the trial saved no weights."""
        directory = Path(directory)
        if not ((directory / WEIGHTS_FILE).is_file() and (directory / SPEC_FILE).is_file()):
            return None
        model, spec = load_trained_model(directory)
        return DeployableModel(
            model=model,
            example_inputs=self.evaluator.splits.example_input(1),  # token / user-item ids for text and recommendation models
            builder=spec.builder,
            architecture=spec.architecture.to_dict(),
            input_shape=tuple(spec.input_shape),
            num_classes=spec.num_classes,
        )

    def data(self, calibration_samples: int, seed: int) -> DeployData:
        """Shuffled training batches, the first ``calibration_samples`` training inputs (the
        training split is already a seeded random permutation) and the stacked test split."""
        splits = self.evaluator.splits
        calibration, _ = _stack(splits.train, limit=calibration_samples)
        return DeployData(
            train=make_loader(splits.train, batch_size=FINETUNE_BATCH_SIZE, shuffle=True, seed=seed),
            calibration=calibration,
            evaluation=_stack(splits.test) if splits.task.primary == "accuracy" else None,
        )

    def score(self, model: Any) -> float:
        """The task's primary metric on the evaluator's test split (accuracy for classification)."""
        splits = self.evaluator.splits
        return float(splits.task.evaluate(model, splits.test, self.evaluator.train_config.eval_batch_size)[splits.task.primary])


def _stack(dataset: Any, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    n = len(dataset) if limit is None else min(limit, len(dataset))
    xs, ys = zip(*(dataset[i] for i in range(n)), strict=True)
    return torch.stack(list(xs)), torch.as_tensor(ys)
