"""The trainer's plugin module (entry point ``trainer`` in group ``nasforge``).

Registers the ``trainer`` evaluator, the ``digits``/``cifar10``/``imagefolder`` datasets, the
``mlp``/``cnn`` spaces with their model builders, the tasks of :mod:`nasforge.trainer.tasks`
(text, speech and recommendation datasets, the ``text``/``crnn``/``ncf`` spaces), and
TensorBoard lifecycle hooks.
"""

from __future__ import annotations

from typing import Any

from nasforge.core.hookspecs import hookimpl
from nasforge.trainer import tensorboard
from nasforge.trainer.data import load_cifar10, load_digits, load_imagefolder
from nasforge.trainer.evaluator import TrainingEvaluator
from nasforge.trainer.models import build_cnn, build_mlp
from nasforge.trainer.spaces import cnn_space, mlp_space
from nasforge.trainer.tasks import recsys, speech, text


@hookimpl
def nasforge_register_evaluators(register: Any) -> None:
    register("trainer", TrainingEvaluator, "Train each architecture with PyTorch; report accuracy, params, FLOPs, memory, latency")


@hookimpl
def nasforge_register_datasets(register: Any) -> None:
    register("digits", load_digits, "scikit-learn handwritten digits, 1x8x8, 10 classes (embedded, no download)")
    register("cifar10", load_cifar10, "CIFAR-10 via torchvision, 3x32x32, 10 classes (downloads unless download: false)")
    register("imagefolder", load_imagefolder, "Images in class folders (root/train, root/test or root/<class>)")
    register("text_csv", text.load_text_csv, "Texts and labels from any CSV (columns and splits configurable); vocabulary from the training split")
    register("sst2", text.load_sst2, "SST-2 sentences, 2 classes, official train/dev/test (root: folder of sst2_sentences.csv)")
    register("trec", text.load_trec, "TREC question type, 6 classes, official train/test (root: folder of trec_train.csv, trec_test.csv)")
    register("ag_news", text.load_ag_news, "AG News, 4 classes (path: CSV label,title,description; seeded stratified test split)")
    register("fsdd", speech.load_fsdd, "Free Spoken Digit Dataset as log-mel spectrograms (official or speaker-disjoint split)")
    register("movielens", recsys.load_movielens, "MovieLens implicit feedback, NCF leave-one-out protocol (HR@10, NDCG@10 against 99 sampled negatives)")
    register("movielens_ratings", recsys.load_movielens_ratings, "MovieLens ratings on a base/test split such as u1 (RMSE)")


@hookimpl
def nasforge_register_spaces(register: Any) -> None:
    register("mlp", mlp_space, "MLP: depth, per-layer widths, activation, dropout")
    register("cnn", cnn_space, "CNN: stages, per-stage channels, blocks per stage, kernel size, activation, residual")
    register("crnn", speech.crnn_space, "CNN / CRNN over spectrograms: stages, channels, kernel, pooling, recurrent head")
    register("ncf", recsys.ncf_space, "NCF recommender: GMF / MLP / NeuMF interaction, embedding size, MLP tower depth and width, dropout")
    register("text", text.text_space, "Text classifier: embedding, encoder (Kim CNN, LSTM, GRU, Transformer), layers, hidden, pooling, dropout")


@hookimpl
def nasforge_register_model_builders(register: Any) -> None:
    register("mlp", build_mlp, "Build the MLP of an 'mlp' architecture")
    register("cnn", build_cnn, "Build the CNN of a 'cnn' architecture")
    register("crnn", speech.build_crnn, "Build the CRNN of a 'crnn' architecture")
    register("ncf", recsys.build_ncf, "Build the NCF model of an 'ncf' architecture ((user, item) ids in, scores out)")
    register("text", text.build_text, "Build the text classifier of a 'text' architecture (token ids in, logits out)")


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
