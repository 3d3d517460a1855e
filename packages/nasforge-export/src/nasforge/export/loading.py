"""Build a model from a factory, load a checkpoint into it, read real input samples.

The library behind ``nasforge export`` (and ``nasforge compress``): a factory is
``package.module:callable`` (e.g. ``torchvision.models:resnet18``, imported by
:func:`nasforge.core.parsing.load_reference`); a checkpoint is a state dict,
raw or under ``state_dict``/``model_state_dict``/``model``; samples are ``.npy``/``.npz`` files
or image folders.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasforge.core.errors import UserError
from nasforge.core.parsing import load_reference
from nasforge.core.sampling import sample_indices

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


# -- building the model ---------------------------------------------------------------------------
def build_model(spec: str, kwargs: dict[str, Any] | None = None) -> torch.nn.Module:
    """Call the factory with ``kwargs`` and check that it returned a torch module."""
    fn = load_reference(spec, "--model-factory")
    try:
        model = fn(**(kwargs or {}))
    except TypeError as exc:
        raise UserError(f"--model-factory {spec} rejected the arguments {kwargs or {}}: {exc}") from None
    except Exception as exc:  # the factory is the user's code: name it and what it said, no traceback
        raise UserError(f"--model-factory {spec} raised {type(exc).__name__} with the arguments {kwargs or {}}: {exc}") from None
    if not isinstance(model, torch.nn.Module):
        raise UserError(f"--model-factory {spec} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def load_checkpoint(model: torch.nn.Module, path: str | Path) -> dict[str, Any]:
    """Load a state dict (raw, or under 'state_dict'/'model'/'model_state_dict'), stripping 'module.' prefixes.

    Returns facts for the model card (path, keys found, extra scalar entries like 'best_prec1').
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(f"--checkpoint {path} could not be read as a torch checkpoint: {type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"--checkpoint {path} holds a {type(data).__name__}; expected a state dict or a dict with 'state_dict'")
    state = data
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(data.get(key), dict):
            state = data[key]
            break
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"--checkpoint {path}: no state dict found (top-level keys: {sorted(data)[:10]})")
    state = {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise UserError(
            f"--checkpoint {path} does not fit the model from the factory: {' '.join(first[:3])[:600]}; "
            "check --model-factory and --model-kwargs (e.g. num_classes)"
        ) from None
    extras = {k: (v.item() if isinstance(v, torch.Tensor) and v.numel() == 1 else v) for k, v in data.items() if k not in ("state_dict", "model_state_dict", "model", "optimizer")}
    return {"checkpoint": str(path), **{k: v for k, v in extras.items() if isinstance(v, (int, float, str, bool))}}


def build_from_spec(spec: dict[str, Any]) -> torch.nn.Module:
    """Build the model a ``{'space', 'architecture', 'input_shape', 'num_classes'}`` spec names, with
    the model builder registered for ``space`` (the trainer registers ``cnn`` and ``mlp``)."""
    from nasforge.core.plugins import get_plugin_manager

    builder = get_plugin_manager().get("model_builder", spec["space"])
    model = builder(dict(spec["architecture"]), input_shape=tuple(spec["input_shape"]), num_classes=int(spec["num_classes"]))
    if not isinstance(model, torch.nn.Module):
        raise UserError(f"model builder {spec['space']!r} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def load_model_file(path: str | Path, trust_pickle: bool = False, flag: str = "--model") -> torch.nn.Module:
    """A model file as ``nasforge compress`` and the deploy step write it, in eval mode, on the CPU
    (:func:`read_model_file` without the spec)."""
    return read_model_file(path, trust_pickle, flag)[0]


def read_model_file(path: str | Path, trust_pickle: bool = False, flag: str = "--model") -> tuple[torch.nn.Module, dict[str, Any] | None]:
    """The model in a file as ``nasforge compress`` and the deploy step write it (eval mode, CPU), and its spec if it has one.

    * ``{'state_dict', 'spec'}`` (``compress --save state_dict``, the default for ``--space`` models,
      and every ``deploy/*.pt``): read with ``torch.load(weights_only=True)``, so no code runs, and
      rebuilt with the space's model builder (:func:`build_from_spec`);
    * a whole pickled module (``compress --save module``): loading a pickle can run code stored in
      the file, so it is refused unless ``trust_pickle`` says the user made the file or trusts
      whoever did (``--trust-pickle``).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{flag} {path} does not exist")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if not trust_pickle:
            raise UserError(f"{flag} {path} holds a pickled module ({type(exc).__name__}), and loading it would run code stored in the file; "
                            "add --trust-pickle (trust_pickle=True in Python) only if you made the file or trust whoever did, "
                            "or write a safe file with 'nasforge compress --save state_dict'") from None
        obj = torch.load(path, map_location="cpu", weights_only=False)
    if isinstance(obj, torch.nn.Module):
        return obj.eval(), None
    if isinstance(obj, dict) and "spec" in obj and "state_dict" in obj:
        model = build_from_spec(obj["spec"])
        try:
            model.load_state_dict(obj["state_dict"])
        except RuntimeError as exc:
            raise UserError(f"{flag} {path}: its weights do not fit the model its spec describes: {str(exc).splitlines()[0]}") from None
        return model.eval(), dict(obj["spec"])
    raise UserError(f"{flag} {path} holds a {type(obj).__name__}, neither a saved module nor a nasforge {{state_dict, spec}} file; "
                    "pass the model's factory with --model-factory and the weights with --checkpoint")


# -- data -----------------------------------------------------------------------------------------
def load_samples(
    path: str | Path,
    input_shape: Sequence[int],
    limit: int | None = None,
    seed: int = 0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    what: str = "--calibration-data",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Real samples for calibration/evaluation: ``x`` shaped (N, *input_shape) and labels or None.

    Accepts a ``.npy`` array, a ``.npz`` with ``x`` (and optionally ``y``), or a folder of images
    laid out as ``<folder>/<class>/<image>`` (labels are the sorted class folder indices; pixels
    scaled to [0, 1], resized to the input size, then normalised with ``mean``/``std`` if given).
    ``limit`` keeps a seeded sample, stratified by class when labels are known.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} {path} does not exist")
    y = None
    if path.is_dir():
        x, y = _load_image_folder(path, input_shape, what, limit, seed)
    elif path.suffix == ".npy":
        x = np.load(path)
    elif path.suffix == ".npz":
        with np.load(path) as archive:
            if "x" not in archive:
                raise UserError(f"{what} {path} has arrays {sorted(archive.files)}; it needs 'x' (and optionally 'y')")
            x = archive["x"]
            y = archive.get("y")
    else:
        raise UserError(f"{what} {path}: expected a .npy/.npz file or a folder of class sub-folders of images")
    x = np.asarray(x, dtype=np.float32)
    if tuple(x.shape[1:]) != tuple(input_shape):
        raise UserError(f"{what} samples have shape {tuple(x.shape[1:])} but --input-shape is {tuple(input_shape)}")
    if mean is not None or std is not None:
        channels = input_shape[0]
        m = np.asarray(mean if mean is not None else [0.0] * channels, dtype=np.float32).reshape(-1, *([1] * (len(input_shape) - 1)))
        s = np.asarray(std if std is not None else [1.0] * channels, dtype=np.float32).reshape(-1, *([1] * (len(input_shape) - 1)))
        x = (x - m) / s
    if limit is not None and limit < len(x):
        idx = sample_indices(len(x), limit, seed, y)
        x = x[idx]
        y = y[idx] if y is not None else None
    return np.ascontiguousarray(x), (None if y is None else np.asarray(y).astype(np.int64))


def _load_image_folder(root: Path, input_shape: Sequence[int], what: str, limit: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    try:
        from PIL import Image
    except ImportError:
        raise UserError(f"{what}: reading image folders needs Pillow (pip install pillow), or pass a .npz with x and y") from None
    if len(input_shape) != 3 or input_shape[0] not in (1, 3):
        raise UserError(f"{what}: image folders need --input-shape C,H,W with C 1 or 3, got {tuple(input_shape)}")
    channels, height, width = input_shape
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise UserError(f"{what} {root} has no class sub-folders; expected {root}/<class>/<image>")
    files = [(file, label) for label, cls in enumerate(classes) for file in sorted((root / cls).iterdir()) if file.suffix.lower() in IMAGE_SUFFIXES]
    if limit is not None and limit < len(files):  # decode only the subset (a train split has tens of thousands)
        files = [files[i] for i in sample_indices(len(files), limit, seed, [label for _, label in files])]
    xs, ys = [], []
    for file, label in files:
        with Image.open(file) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            if img.size != (width, height):
                img = img.resize((width, height))
            arr = np.asarray(img, dtype=np.float32) / 255.0
        xs.append(arr[None] if channels == 1 else arr.transpose(2, 0, 1))
        ys.append(label)
    if not xs:
        raise UserError(f"{what} {root} contains no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return np.stack(xs), np.asarray(ys, dtype=np.int64)
