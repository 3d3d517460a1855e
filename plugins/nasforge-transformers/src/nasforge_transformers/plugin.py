"""nasforge plugin entry point (group ``nasforge``) of nasforge-transformers.

Keep this module light: ``nasforge --help`` imports every plugin module, so nothing here may
import torch or transformers at module level; register classes whose modules import them lazily.
"""

from __future__ import annotations

from nasforge.core.hookspecs import hookimpl  # noqa: F401  (the hooks below use it)
