"""The small text forms users type in configs and on command lines, read in one place (no torch).

* :func:`load_reference` — ``package.module:attribute``: a model factory (``nasforge export
  --model-factory``), a scoring function (the ``function`` evaluator), and, through
  :func:`import_reference`, every component a plugin registers by reference;
* :func:`parse_shape` — the shape of one input without the batch, ``3,32,32`` (or ``3x32x32``);
* :func:`parse_json_option` — a flag whose value is a JSON object (``--model-kwargs``, ``--arch``).

Mistakes raise a :class:`~nasforge.core.errors.ConfigError` naming the field or flag, which the
CLI prints as one line with exit code 2.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from nasforge.core.errors import ConfigError


def _import_module(module_name: str, search_cwd: bool) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        cwd = os.getcwd()
        if not search_cwd or exc.name not in (module_name.split(".")[0], module_name) or cwd in sys.path:
            raise
        sys.path.append(cwd)  # appended: never shadows an installed package
        importlib.invalidate_caches()
        return importlib.import_module(module_name)


def import_reference(reference: str, *, search_cwd: bool = False) -> Any:
    """Import ``package.module:attribute`` (the attribute may be dotted, ``module:Class.method``).

    With ``search_cwd`` a module that is not importable from ``sys.path`` is looked for in the
    current folder too, as ``python -m`` would find it. Raises :class:`ValueError` for a malformed
    reference and what Python raises (``ImportError``, ``AttributeError``, or the module's own
    error) otherwise; :func:`load_reference` turns those into one-line user errors.
    """
    module_name, sep, attr = reference.partition(":") if isinstance(reference, str) else ("", "", "")
    if not sep or not module_name or not attr:
        raise ValueError(f"expected 'package.module:attribute', got {reference!r}")
    obj: Any = _import_module(module_name, search_cwd)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def load_reference(reference: str, field: str, *, search_cwd: bool = True, require_callable: bool = True) -> Any:
    """:func:`import_reference`, with every failure a :class:`ConfigError` for ``field`` saying what to fix.

    ``search_cwd`` (default on) also finds ``toy.py`` in the current folder as ``toy:score``.
    """
    module_name, sep, attr = reference.partition(":") if isinstance(reference, str) else ("", "", "")
    if not sep or not module_name or not attr:
        raise ConfigError(field, f"expected 'package.module:function' (e.g. torchvision.models:resnet18), got {reference!r}")
    try:
        obj: Any = _import_module(module_name, search_cwd)
    except Exception as exc:  # not found, or the module itself fails while importing: name it, no traceback
        where = f" (looked in the installed packages and in {os.getcwd()})" if search_cwd and isinstance(exc, ImportError) else ""
        raise ConfigError(field, f"cannot import module {module_name!r}{where}: {type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ConfigError(field, f"module {module_name!r} has no attribute {attr!r}")
    if require_callable and not callable(obj):
        raise ConfigError(field, f"{reference!r} is not callable")
    return obj


def parse_shape(text: str | Sequence[int], field: str = "--input-shape") -> tuple[int, ...]:
    """``"3,32,32"`` (or ``"3x32x32"``, or a sequence of ints) -> ``(3, 32, 32)``; every dimension positive."""
    try:
        parts = text.replace("x", ",").split(",") if isinstance(text, str) else list(text)
        shape = tuple(int(p) for p in parts if not isinstance(p, str) or p.strip())
    except (TypeError, ValueError):
        raise ConfigError(field, f"must be comma-separated integers like 3,32,32, got {text!r}") from None
    if not shape or any(d < 1 for d in shape):
        raise ConfigError(field, f"must be positive integers like 3,32,32, got {text!r}")
    return shape


def parse_json_option(text: str, flag: str) -> dict[str, Any]:
    """The JSON object given to ``flag`` (e.g. ``--model-kwargs '{"num_classes": 10}'``)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(flag, f"is not valid JSON ({exc.msg}): {text!r}") from None
    if not isinstance(value, dict):
        raise ConfigError(flag, f"must be a JSON object like '{{\"key\": 1}}', got {text!r}")
    return value
