"""The trainer's plugin module (entry point ``trainer`` in group ``nasforge``).

Registers the ``trainer`` evaluator, the ``digits``/``cifar10``/``imagefolder`` datasets, the
``mlp``/``cnn`` spaces with their model builders, the tasks of :mod:`nasforge.trainer.tasks`
(text, speech and recommendation datasets, the ``text``/``crnn``/``ncf`` spaces), and
TensorBoard lifecycle hooks. Components that need torch are registered by reference
(``"module:attribute"``) and imported on first use, so loading this plugin (``nasforge --help``)
imports no torch.
"""

from __future__ import annotations

import sys
from typing import Any

from nasforge.core.hookspecs import hookimpl
from nasforge.core.registration import ComponentTable
from nasforge.trainer.spaces import cnn_space, mlp_space

#: Everything the trainer registers; torch-backed components by reference (imported on first use).
COMPONENTS = ComponentTable([
    ("evaluator", "trainer", "nasforge.trainer.evaluator:TrainingEvaluator", "Train each architecture with PyTorch; report accuracy, params, FLOPs, memory, latency"),
    ("dataset", "digits", "nasforge.trainer.data:load_digits", "scikit-learn handwritten digits, 1x8x8, 10 classes (embedded, no download)"),
    ("dataset", "cifar10", "nasforge.trainer.data:load_cifar10", "CIFAR-10 via torchvision, 3x32x32, 10 classes (downloads unless download: false)"),
    ("dataset", "imagefolder", "nasforge.trainer.data:load_imagefolder", "Images in class folders (root/train, root/test or root/<class>)"),
    ("dataset", "text_csv", "nasforge.trainer.tasks.text:load_text_csv", "Texts and labels from any CSV (columns and splits configurable); vocabulary from the training split"),
    ("dataset", "sst2", "nasforge.trainer.tasks.text:load_sst2", "SST-2 sentences, 2 classes, official train/dev/test (root: folder of sst2_sentences.csv)"),
    ("dataset", "trec", "nasforge.trainer.tasks.text:load_trec", "TREC question type, 6 classes, official train/test (root: folder of trec_train.csv, trec_test.csv)"),
    ("dataset", "ag_news", "nasforge.trainer.tasks.text:load_ag_news", "AG News, 4 classes (path: CSV label,title,description; seeded stratified test split)"),
    ("dataset", "fsdd", "nasforge.trainer.tasks.speech:load_fsdd", "Free Spoken Digit Dataset as log-mel spectrograms (official or speaker-disjoint split)"),
    ("dataset", "movielens", "nasforge.trainer.tasks.recsys:load_movielens", "MovieLens implicit feedback, NCF leave-one-out protocol (HR@10, NDCG@10 against 99 sampled negatives)"),
    ("dataset", "movielens_ratings", "nasforge.trainer.tasks.recsys:load_movielens_ratings", "MovieLens ratings on a base/test split such as u1 (RMSE)"),
    ("space", "mlp", mlp_space, "MLP: depth, per-layer widths, activation, dropout"),
    ("space", "cnn", cnn_space, "CNN: stages, per-stage channels, blocks per stage, kernel size, activation, residual"),
    ("space", "crnn", "nasforge.trainer.tasks.speech:crnn_space", "CNN / CRNN over spectrograms: stages, channels, kernel, pooling, recurrent head"),
    ("space", "ncf", "nasforge.trainer.tasks.recsys:ncf_space", "NCF recommender: GMF / MLP / NeuMF interaction, embedding size, MLP tower depth and width, dropout"),
    ("space", "text", "nasforge.trainer.tasks.text:text_space", "Text classifier: embedding, encoder (Kim CNN, LSTM, GRU, Transformer), layers, hidden, pooling, dropout"),
    ("model_builder", "mlp", "nasforge.trainer.models:build_mlp", "Build the MLP of an 'mlp' architecture"),
    ("model_builder", "cnn", "nasforge.trainer.models:build_cnn", "Build the CNN of a 'cnn' architecture"),
    ("model_builder", "crnn", "nasforge.trainer.tasks.speech:build_crnn", "Build the CRNN of a 'crnn' architecture"),
    ("model_builder", "ncf", "nasforge.trainer.tasks.recsys:build_ncf", "Build the NCF model of an 'ncf' architecture ((user, item) ids in, scores out)"),
    ("model_builder", "text", "nasforge.trainer.tasks.text:build_text", "Build the text classifier of a 'text' architecture (token ids in, logits out)"),
    ("deploy_adapter", "trainer", "nasforge.trainer.deploy:TrainerDeployment", "Reload trainer checkpoints (model.pt/model.json) with the search's data split for compression and export"),
])
nasforge_register_evaluators = COMPONENTS.hook("evaluator")
nasforge_register_datasets = COMPONENTS.hook("dataset")
nasforge_register_spaces = COMPONENTS.hook("space")
nasforge_register_model_builders = COMPONENTS.hook("model_builder")
nasforge_register_deploy_adapters = COMPONENTS.hook("deploy_adapter")

#: Columns of the run/status tables, when the trials report them (after the objectives).
SUMMARY_METRICS = ["accuracy", "test_accuracy", "params", "flops", "latency_ms", "peak_memory_mb"]


@hookimpl
def nasforge_summary_metrics(config: Any) -> list[str]:
    return SUMMARY_METRICS


@hookimpl
def nasforge_experiment_links(experiment: Any) -> list[str]:
    directory = experiment.directory  # the experiment-wide view and every trial's curves
    if (directory / "tensorboard").is_dir() or any((directory / "trials").glob("*/tensorboard")):
        return [f"tensorboard --logdir {directory}"]
    return []


@hookimpl
def nasforge_after_trial(experiment: Any, trial: Any) -> None:
    from nasforge.trainer import tensorboard

    tensorboard.log_trial(experiment, trial)


@hookimpl
def nasforge_after_experiment(experiment: Any, result: Any) -> None:
    if "nasforge.trainer.tensorboard" not in sys.modules:
        return  # no trial was logged in this process, so there is nothing to close
    from nasforge.trainer import tensorboard

    tensorboard.close_experiment(experiment)
