"""Save a trained model next to its trial, and rebuild it later (for compression and export).

A trial directory written by the ``trainer`` evaluator holds:

* ``model.pt`` — the trained ``state_dict`` (``torch.save``; load with ``weights_only=True``);
* ``model.json`` — ``{"builder", "space", "architecture", "input_shape", "num_classes",
  "class_names", "dataset", "dataset_options", "mean", "std"}``: what is needed to rebuild the
  module and to feed it data normalised the same way.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nasforge.core.errors import UserError
from nasforge.core.records import Architecture
from nasforge.trainer.data import DatasetSplits
from nasforge.trainer.models import build_model

WEIGHTS_FILE = "model.pt"
SPEC_FILE = "model.json"


@dataclass(frozen=True)
class SavedModelSpec:
    """The contents of ``model.json``: how a trained model was built, and the data it was trained on.

    Not :class:`nasforge.compression.ModelSpec`, which only says how to rebuild a model from a
    model builder (the deploy pipeline makes one from this)."""

    builder: str
    architecture: Architecture
    input_shape: tuple[int, ...]
    num_classes: int
    space: str | None = None
    class_names: tuple[str, ...] = ()
    dataset: str | None = None
    dataset_options: Mapping[str, Any] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    #: extra builder arguments of the data (``vocab_size``, ``num_users`` ...); see ``DatasetSplits.model_options``
    model_options: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON-compatible form written to ``model.json``."""
        return {
            "builder": self.builder,
            "space": self.space,
            "architecture": self.architecture.to_dict(),
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "dataset": self.dataset,
            "dataset_options": dict(self.dataset_options or {}),
            "mean": list(self.mean) if self.mean is not None else None,
            "std": list(self.std) if self.std is not None else None,
            "model_options": dict(self.model_options or {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SavedModelSpec:
        """Read the form :meth:`to_dict` wrote."""
        return cls(
            builder=str(data["builder"]),
            architecture=Architecture(data["architecture"]),
            input_shape=tuple(int(s) for s in data["input_shape"]),  # type: ignore[arg-type]
            num_classes=int(data["num_classes"]),
            space=data.get("space"),
            class_names=tuple(data.get("class_names") or ()),
            dataset=data.get("dataset"),
            dataset_options=dict(data.get("dataset_options") or {}),
            mean=tuple(data["mean"]) if data.get("mean") is not None else None,
            std=tuple(data["std"]) if data.get("std") is not None else None,
            model_options=dict(data.get("model_options") or {}),
        )

    def build(self) -> nn.Module:
        """A freshly initialised (untrained) model of this spec."""
        return build_model(self.builder, self.architecture, self.input_shape, self.num_classes, **dict(self.model_options or {}))


def save_trained_model(
    directory: Path,
    model: nn.Module,
    architecture: Mapping[str, Any],
    builder: str,
    splits: DatasetSplits,
    space: str | None = None,
    dataset: str | None = None,
    dataset_options: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """Write ``model.pt`` and ``model.json`` into ``directory``; return ``{"model": ..., "model_spec": ...}`` paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    mean = splits.info.get("mean")
    std = splits.info.get("std")
    spec = SavedModelSpec(
        builder=builder,
        architecture=Architecture(dict(architecture)),
        input_shape=tuple(splits.input_shape),  # type: ignore[arg-type]
        num_classes=int(splits.num_classes),
        space=space,
        class_names=tuple(splits.class_names),
        dataset=dataset,
        dataset_options=_jsonable(dataset_options or {}),
        mean=tuple(float(m) for m in mean) if mean is not None else None,
        std=tuple(float(s) for s in std) if std is not None else None,
        model_options=_jsonable(splits.model_options),
    )
    weights = directory / WEIGHTS_FILE
    spec_path = directory / SPEC_FILE
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, weights)
    spec_path.write_text(json.dumps(spec.to_dict(), indent=2, sort_keys=True) + "\n")
    return {"model": str(weights), "model_spec": str(spec_path)}


def _jsonable(options: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in options.items():
        try:
            json.dumps(v)
            out[str(k)] = v
        except TypeError:
            out[str(k)] = str(v)
    return out


def load_model_spec(directory: str | Path) -> SavedModelSpec:
    """Read ``model.json`` of a trial directory."""
    path = Path(directory) / SPEC_FILE
    if not path.is_file():
        raise UserError(f"{path} not found: {directory} is not a trial directory written by the trainer evaluator with save_model: true")
    return SavedModelSpec.from_dict(json.loads(path.read_text()))


def load_trained_model(directory: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, SavedModelSpec]:
    """Rebuild the model of a trial directory and load its trained weights; returns ``(model, spec)``.

    The model is returned in ``eval()`` mode.
    """
    spec = load_model_spec(directory)
    weights = Path(directory) / WEIGHTS_FILE
    if not weights.is_file():
        raise UserError(f"{weights} not found: the trial saved no weights")
    model = spec.build()
    model.load_state_dict(torch.load(weights, map_location=map_location, weights_only=True))
    model.eval()
    return model, spec
