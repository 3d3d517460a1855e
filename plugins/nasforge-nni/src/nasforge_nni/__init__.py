"""nasforge-nni: Microsoft NNI 3.0's NAS strategies and compression algorithms as nasforge components.

Importing this package checks that the installed NNI is exactly 3.0 (the last release, the one
this plugin is tested against) without importing NNI itself, which is slow; NNI is imported
lazily by the components that need it.
"""

from __future__ import annotations

import importlib.metadata as _md

__version__ = _md.version("nasforge-nni")  # the one version source is pyproject.toml

#: The one NNI release this plugin supports.
NNI_VERSION = "3.0"


def check_nni_version() -> str:
    """Return the installed NNI version, or raise ImportError naming what is wrong and how to fix it."""
    try:
        found = _md.version("nni")
    except _md.PackageNotFoundError:
        raise ImportError(f"nasforge-nni needs NNI {NNI_VERSION}, which is not installed: pip install 'nni=={NNI_VERSION}'") from None
    if found != NNI_VERSION:
        raise ImportError(
            f"nasforge-nni is written for NNI {NNI_VERSION} (NNI's last release) but NNI {found} is installed; "
            f"its internals differ, so install exactly that version: pip install 'nni=={NNI_VERSION}'"
        )
    return found


check_nni_version()
