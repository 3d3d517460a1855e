"""Hugging Face transformers for nasforge: shrink a pretrained encoder or decoder for a text task.

A third-party plugin distribution: it registers its components through the ``nasforge``
entry-point group (:mod:`nasforge_transformers.plugin`). Importing it does not import torch or
transformers; the functions below import them when called.

Foundation API (each module's docstring has the details):

* :mod:`~nasforge_transformers.models` — ``load_model(source, task="classification",
  num_labels=None, label_names=None) -> LoadedModel(model, tokenizer, source, path, family,
  max_length)``; ``source`` is a local Hugging Face folder, a hub id, or ``"minilm"`` (the
  embedded all-MiniLM-L6-v2, ``[minilm]`` extra, offline); ``load_tokenizer(source)``,
  ``family_of(config)`` (``encoder``/``decoder``/``other``), ``model_max_length(config, tokenizer)``.
* :mod:`~nasforge_transformers.data` — ``load_text_classification("sst2" | "trec" | csv_path,
  root=..., text_column=, label_column=, split_column=, test_path=, labels=, valid_fraction=,
  max_train=, max_eval=, seed=) -> TextClassificationData(train, valid, test, label_names)``;
  ``encode(tokenizer, split, max_seq_length, model_max_length) -> EncodedTexts`` whose
  ``batches(batch_size, shuffle=, seed=, epoch=, bucket=)`` pads each batch to its longest
  sequence and carries each example's ``index``; ``stratified_sample(labels, n, seed)``;
  ``selection_split(labels, n, seed)`` (a held-out slice of train for choosing models).
* :mod:`~nasforge_transformers.training` — ``FinetuneOptions`` (epochs or max_steps, batch size,
  AdamW lr/weight decay, linear warm-up ratio, distillation temperature/alpha, bucketing, seed),
  ``finetune(model, train, options, teacher_logits=, progress=, checkpoint=)`` (resumable),
  ``evaluate(model, data) -> {"accuracy", "loss", "examples"}``, ``predict_logits``,
  ``teacher_logits(teacher, data, cache=path)`` (cached on disk), ``distillation_loss``,
  ``make_optimizer``, ``linear_warmup``, ``forward_logits``, ``perplexity(model, tokenizer, text)``.
* :mod:`~nasforge_transformers.testing` — ``tiny_model(family, task, num_labels, **sizes)``,
  ``save_tiny_model(folder, ...)``, ``tiny_tokenizer(family)``: tiny random BERT / GPT-2 models
  built in-process for tests.
"""

from importlib.metadata import version as _version

from nasforge_transformers.data import (
    EncodedTexts,
    TextClassificationData,
    TextSplit,
    check_max_seq_length,
    encode,
    load_text_classification,
    selection_split,
    stratified_sample,
)
from nasforge_transformers.models import MINILM, LoadedModel, family_of, load_model, load_tokenizer, minilm_path, model_max_length
from nasforge_transformers.training import (
    FinetuneOptions,
    FinetuneResult,
    distillation_loss,
    evaluate,
    finetune,
    forward_logits,
    linear_warmup,
    make_optimizer,
    perplexity,
    predict_logits,
    teacher_logits,
)

__version__ = _version("nasforge-transformers")  # the one version source is pyproject.toml

__all__ = [
    "MINILM",
    "EncodedTexts",
    "FinetuneOptions",
    "FinetuneResult",
    "LoadedModel",
    "TextClassificationData",
    "TextSplit",
    "check_max_seq_length",
    "distillation_loss",
    "encode",
    "evaluate",
    "family_of",
    "finetune",
    "forward_logits",
    "linear_warmup",
    "load_model",
    "load_text_classification",
    "load_tokenizer",
    "make_optimizer",
    "minilm_path",
    "model_max_length",
    "perplexity",
    "predict_logits",
    "selection_split",
    "stratified_sample",
    "teacher_logits",
]
