"""Import NNI's heavy modules once, quietly.

``import nni.nas`` pulls in torch, PyTorch Lightning and (for RL) gym, and on current torch NNI
warns about every torch class it does not recognise; none of that is actionable for a nasforge
user, so the imports here silence those warnings. Every module of this plugin imports NNI
through these functions, so the cost is paid once per process and only when an NNI component is
actually used.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import warnings
from types import ModuleType


def quiet_import(name: str) -> ModuleType:
    """``importlib.import_module(name)`` with NNI's and gym's import-time warnings and banners suppressed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # gym 0.26 prints an "unmaintained" banner to stderr when imported (by NNI's RL strategy).
        with contextlib.redirect_stderr(io.StringIO()):
            return importlib.import_module(name)


def nni_strategies() -> ModuleType:
    """``nni.nas.strategy`` (imports torch and Lightning; a few seconds)."""
    return quiet_import("nni.nas.strategy")


def nni_rl() -> ModuleType:
    """NNI's RL implementation, or an ImportError saying which extra to install."""
    try:
        quiet_import("tianshou")
    except ImportError as exc:
        raise ImportError(
            f"NNI's PolicyBasedRL needs tianshou 0.5.0 and gym ({exc}); install them with: pip install 'nasforge-nni[rl]'"
        ) from None
    module = quiet_import("nni.nas.strategy._rl_impl")
    if not getattr(module, "has_tianshou", True):
        raise ImportError("NNI could not import tianshou; NNI's PolicyBasedRL needs tianshou 0.5.0 (or 0.4.11): pip install 'nasforge-nni[rl]'")
    return module
