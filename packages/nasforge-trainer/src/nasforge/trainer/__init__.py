"""nasforge.trainer: train and measure PyTorch models for nasforge searches.

Public API (stable; the compression and export packages build on it):

* :func:`build_model` (``nasforge.trainer.models``) — a model from a space name and an architecture.
* :func:`load_dataset`, :class:`DatasetSplits`, :func:`make_loader` (``nasforge.trainer.data``).
* :func:`fit`, :class:`TrainConfig`, :func:`evaluate_accuracy`, :func:`evaluate`
  (``nasforge.trainer.training``).
* :func:`count_params`, :func:`count_flops`, :func:`peak_memory`, :func:`measure_latency`
  (``nasforge.trainer.metrics``).
* :func:`load_trained_model`, :func:`save_trained_model` (``nasforge.trainer.artifacts``).
* :class:`TrainingEvaluator` — the ``trainer`` evaluator; :func:`mlp_space`, :func:`cnn_space`.
"""

from nasforge.trainer.artifacts import ModelSpec, load_model_spec, load_trained_model, save_trained_model
from nasforge.trainer.data import DatasetSplits, ImageTensorDataset, LabelledImages, load_dataset, make_loader
from nasforge.trainer.evaluator import TrainingEvaluator
from nasforge.trainer.metrics import count_flops, count_params, measure_latency, peak_memory
from nasforge.trainer.models import build_model, get_model_builder
from nasforge.trainer.spaces import cnn_space, mlp_space
from nasforge.trainer.training import FitResult, TrainConfig, evaluate, evaluate_accuracy, fit

__all__ = [
    "DatasetSplits",
    "FitResult",
    "ImageTensorDataset",
    "LabelledImages",
    "ModelSpec",
    "TrainConfig",
    "TrainingEvaluator",
    "build_model",
    "cnn_space",
    "count_flops",
    "count_params",
    "evaluate",
    "evaluate_accuracy",
    "fit",
    "get_model_builder",
    "load_dataset",
    "load_model_spec",
    "load_trained_model",
    "make_loader",
    "measure_latency",
    "mlp_space",
    "peak_memory",
    "save_trained_model",
]
