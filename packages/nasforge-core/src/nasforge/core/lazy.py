"""Lazy package attributes (PEP 562), so importing a plugin module does not import torch.

A package ``__init__`` that re-exports its public API from heavy modules writes::

    from nasforge.core.lazy import lazy_exports

    __getattr__, __dir__ = lazy_exports(__name__, {"export_onnx": "nasforge.export.onnx", ...})

and ``from nasforge.export import export_onnx`` imports ``nasforge.export.onnx`` only then.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package`` that import ``exports[name]`` on first access."""

    def __getattr__(name: str) -> Any:
        module_name = exports.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module_name), name)
        setattr(sys.modules[package], name, value)  # cache: the next access is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__
