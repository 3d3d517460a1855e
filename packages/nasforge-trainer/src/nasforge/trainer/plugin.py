"""The trainer's plugin module (entry point ``trainer`` in group ``nasforge``).

Registers the ``trainer`` evaluator, the ``digits``/``cifar10``/``imagefolder`` datasets, the
``mlp``/``cnn`` spaces with their model builders, and TensorBoard lifecycle hooks.
"""

from __future__ import annotations

from typing import Any

from nasforge.core.hookspecs import hookimpl
from nasforge.trainer import tensorboard
from nasforge.trainer.data import load_cifar10, load_digits, load_imagefolder
from nasforge.trainer.evaluator import TrainingEvaluator
from nasforge.trainer.models import build_cnn, build_mlp
from nasforge.trainer.spaces import cnn_space, mlp_space


@hookimpl
def nasforge_register_evaluators(register: Any) -> None:
    register("trainer", TrainingEvaluator, "Train each architecture with PyTorch; report accuracy, params, FLOPs, memory, latency")


@hookimpl
def nasforge_register_datasets(register: Any) -> None:
    register("digits", load_digits, "scikit-learn handwritten digits, 1x8x8, 10 classes (embedded, no download)")
    register("cifar10", load_cifar10, "CIFAR-10 via torchvision, 3x32x32, 10 classes (downloads unless download: false)")
    register("imagefolder", load_imagefolder, "Images in class folders (root/train, root/test or root/<class>)")


@hookimpl
def nasforge_register_spaces(register: Any) -> None:
    register("mlp", mlp_space, "MLP: depth, per-layer widths, activation, dropout")
    register("cnn", cnn_space, "CNN: stages, per-stage channels, blocks per stage, kernel size, activation, residual")


@hookimpl
def nasforge_register_model_builders(register: Any) -> None:
    register("mlp", build_mlp, "Build the MLP of an 'mlp' architecture")
    register("cnn", build_cnn, "Build the CNN of a 'cnn' architecture")


@hookimpl
def nasforge_register_deploy_adapters(register: Any) -> None:
    from nasforge.trainer.deploy import TrainerDeployment

    register("trainer", TrainerDeployment, "Reload trainer checkpoints (model.pt/model.json) with the search's data split for compression and export")


@hookimpl
def nasforge_after_trial(experiment: Any, trial: Any) -> None:
    tensorboard.log_trial(experiment, trial)


@hookimpl
def nasforge_after_experiment(experiment: Any, result: Any) -> None:
    tensorboard.close_experiment(experiment)
