"""Register a plugin's components from one table, so the plugin module itself imports nothing heavy.

The registry kinds (:data:`KINDS`, each filled by one provider hook) and :class:`ComponentTable`:
a plugin lists its components as rows ``(kind, name, target, description)``, where ``target`` is
usually ``"package.module:attribute"`` (imported the first time a config uses it, so
``nasforge --help`` imports no torch) or the object itself; each provider hook is then one line::

    COMPONENTS = ComponentTable([
        ("evaluator", "trainer", "nasforge.trainer.evaluator:TrainingEvaluator", "Train each architecture"),
        ("dataset", "digits", "nasforge.trainer.data:load_digits", "scikit-learn handwritten digits"),
    ])
    nasforge_register_evaluators = COMPONENTS.hook("evaluator")
    nasforge_register_datasets = COMPONENTS.hook("dataset")

The core's own plugin (:mod:`nasforge.core.builtin`) and nasforge's packages register this way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from nasforge.core.hookspecs import Register, hookimpl

#: Registry kinds and the provider hook that fills each.
KINDS: dict[str, str] = {
    "strategy": "nasforge_register_strategies",
    "evaluator": "nasforge_register_evaluators",
    "space": "nasforge_register_spaces",
    "model_builder": "nasforge_register_model_builders",
    "dataset": "nasforge_register_datasets",
    "compressor": "nasforge_register_compressors",
    "exporter": "nasforge_register_exporters",
    "deploy_adapter": "nasforge_register_deploy_adapters",
    "executor": "nasforge_register_executors",
    "command": "nasforge_register_commands",
}

#: One component: ``(kind, name, target, description)``.
Row = tuple[str, str, Any, str]


class ComponentTable:
    """Components of one plugin as rows ``(kind, name, target, description)``, in listing order."""

    def __init__(self, rows: Iterable[Row]) -> None:
        self.rows: tuple[Row, ...] = tuple(rows)
        for row in self.rows:
            if len(row) != 4 or row[0] not in KINDS:
                raise ValueError(f"a component row is (kind, name, target, description) with kind one of {', '.join(KINDS)}; got {row!r}")

    def register(self, kind: str, register: Register) -> None:
        """Call ``register(name, target, description)`` for every row of ``kind``."""
        for row_kind, name, target, description in self.rows:
            if row_kind == kind:
                register(name, target, description)

    def hook(self, kind: str) -> Callable[[Register], None]:
        """The provider hook implementation (``KINDS[kind]``) that registers this table's rows of ``kind``."""
        if kind not in KINDS:
            raise ValueError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")

        def provider(register: Register) -> None:
            self.register(kind, register)

        provider.__name__ = provider.__qualname__ = KINDS[kind]
        provider.__doc__ = f"Register the {kind.replace('_', ' ')} components of this plugin's table."
        return hookimpl(provider)
