"""Compatibility fixes that let NNI 3.0 run on current PyTorch (2.3 and later); the only patches to NNI.

NNI is archived: its last release (3.0, 2023) predates torch 2.3. Each fix below is one function,
applied when this module is imported (every NNI component of this plugin imports it first), and
each has a ``revert`` so a test can show the failure it prevents. Every fix is checked against
NNI 3.0 and refuses to touch anything else.

``fix_moduleless_leaf_functions``
    NNI's fx tracer (``nni/common/concrete_trace_utils/concrete_tracer.py``, used by
    ``ModelSpeedup``) pre-wraps ~1,800 torch functions. torch 2.3 renamed ``torch._C._TensorBase``
    to ``TensorBase``, so a few class-level builtins (``Tensor._make_subclass``,
    ``Tensor._make_wrapper_subclass``, ``Tensor._dtensor__new__``) no longer match NNI's
    ``'_TensorBase'`` test and reach a branch that reads ``func.__module__``, which is ``None`` for
    them: ``AttributeError: 'NoneType' object has no attribute 'startswith'``. They are tensor
    *constructors* for subclasses, never operations in a model's forward, so the fix removes them
    from NNI's table of functions to wrap.

``fix_node_is_impure``
    The tracer replaces ``torch.fx.Node.is_impure`` during tracing with a wrapper taking only
    ``node``; torch 2.5+ calls ``node.is_impure(impure_random)`` (an extra argument) while
    eliminating dead code: ``TypeError: node_is_impure_wrapper() takes 1 positional argument but
    2 were given``. The fix makes the wrapper accept (and ignore) the extra arguments, keeping
    NNI's own purity rules, which treat random ops as pure.
"""

from __future__ import annotations

import functools
import importlib.metadata as md
from typing import Any

from ._imports import quiet_import

_applied: dict[str, Any] = {}


def _tracer() -> Any:
    if md.version("nni") != "3.0":  # these patches know NNI 3.0's internals and nothing else
        raise ImportError(f"nasforge_nni.compat patches NNI 3.0 only; NNI {md.version('nni')} is installed")
    return quiet_import("nni.common.concrete_trace_utils.concrete_tracer")


# -- fix 1 -----------------------------------------------------------------------------------------
def _is_moduleless_plain_function(func: Any) -> bool:
    from types import MethodDescriptorType, MethodWrapperType

    if getattr(func, "__module__", "") is not None:
        return False
    qualname = getattr(func, "__qualname__", "")
    # These two kinds are handled by NNI before it looks at __module__.
    return not qualname.startswith(("_VariableFunctionsClass", "_TensorBase")) and not isinstance(func, (MethodDescriptorType, MethodWrapperType))


def fix_moduleless_leaf_functions() -> None:
    """Remove the torch builtins without ``__module__`` from NNI's tracer table (see the module docstring)."""
    if "moduleless" in _applied:
        return
    table = _tracer().ConcreteTracer.default_autowrap_leaf_function
    removed = {func: table.pop(func) for func in [f for f in table if _is_moduleless_plain_function(f)]}
    _applied["moduleless"] = removed


def revert_moduleless_leaf_functions() -> None:
    """Undo :func:`fix_moduleless_leaf_functions` (for tests)."""
    removed = _applied.pop("moduleless", None)
    if removed:
        _tracer().ConcreteTracer.default_autowrap_leaf_function.update(removed)


# -- fix 2 -----------------------------------------------------------------------------------------
def fix_node_is_impure() -> None:
    """Let NNI's ``Node.is_impure`` replacement accept the arguments torch >= 2.5 passes (see the module docstring)."""
    if "is_impure" in _applied:
        return
    tracer = _tracer()
    original = tracer.node_is_impure_wrapper

    @functools.wraps(original)
    def node_is_impure_wrapper(node: Any, *args: Any, **kwargs: Any) -> bool:
        # NNI's wrapper re-implements the purity test for its traced graphs; keep its answer and
        # ignore the extra arguments (torch's ``impure_random`` flag: NNI treats random ops as pure).
        return original(node)

    tracer.node_is_impure_wrapper = node_is_impure_wrapper
    _applied["is_impure"] = original


def revert_node_is_impure() -> None:
    """Undo :func:`fix_node_is_impure` (for tests)."""
    original = _applied.pop("is_impure", None)
    if original is not None:
        _tracer().node_is_impure_wrapper = original


FIXES = {"moduleless_leaf_functions": (fix_moduleless_leaf_functions, revert_moduleless_leaf_functions), "node_is_impure": (fix_node_is_impure, revert_node_is_impure)}


def apply() -> None:
    """Apply every fix (idempotent)."""
    for fix, _ in FIXES.values():
        fix()


apply()
