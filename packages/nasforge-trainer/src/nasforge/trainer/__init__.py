"""nasforge.trainer: train and measure PyTorch models for nasforge searches.

Public API (stable; the compression and export packages build on it):

* :func:`build_model` (``nasforge.trainer.models``) — a model from a space name and an architecture.
* :func:`load_dataset`, :class:`DatasetSplits`, :func:`make_loader` (``nasforge.trainer.data``).
* :func:`fit`, :class:`TrainConfig`, :func:`evaluate` (``nasforge.trainer.training``).
* :func:`peak_memory`, :func:`measure_latency` (``nasforge.trainer.metrics``).
* :func:`count_params`, :func:`count_flops`, :func:`evaluate_accuracy`: re-exported from
  :mod:`nasforge.torchutils`, their one home (shared with compression and deploy).
* :func:`load_trained_model`, :func:`save_trained_model`, :class:`SavedModelSpec` (the contents of
  ``model.json``; ``nasforge.trainer.artifacts``).
* :class:`TrainingEvaluator` — the ``trainer`` evaluator; :func:`mlp_space`, :func:`cnn_space`.
"""

from nasforge.core.lazy import lazy_exports

_EXPORTS = {
    "SavedModelSpec": "nasforge.trainer.artifacts",
    "load_model_spec": "nasforge.trainer.artifacts",
    "load_trained_model": "nasforge.trainer.artifacts",
    "save_trained_model": "nasforge.trainer.artifacts",
    "DatasetSplits": "nasforge.trainer.data",
    "ImageTensorDataset": "nasforge.trainer.data",
    "LabelledImages": "nasforge.trainer.data",
    "load_dataset": "nasforge.trainer.data",
    "make_loader": "nasforge.trainer.data",
    "TrainingEvaluator": "nasforge.trainer.evaluator",
    "count_flops": "nasforge.torchutils",
    "count_params": "nasforge.torchutils",
    "measure_latency": "nasforge.trainer.metrics",
    "peak_memory": "nasforge.trainer.metrics",
    "build_model": "nasforge.trainer.models",
    "get_model_builder": "nasforge.trainer.models",
    "cnn_space": "nasforge.trainer.spaces",
    "mlp_space": "nasforge.trainer.spaces",
    "FitResult": "nasforge.trainer.training",
    "TrainConfig": "nasforge.trainer.training",
    "evaluate": "nasforge.trainer.training",
    "evaluate_accuracy": "nasforge.torchutils",
    "fit": "nasforge.trainer.training",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "DatasetSplits",
    "FitResult",
    "ImageTensorDataset",
    "LabelledImages",
    "SavedModelSpec",
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
