"""The hook module named by the ``nasforge`` entry point in pyproject.toml.

nasforge calls each ``nasforge_register_*`` hook with a ``register`` callback; every call adds one
named component. Names are global: prefix them with your plugin's name to avoid clashes (a name
another plugin already took is an error naming both plugins).
"""

from __future__ import annotations

from nasforge.core.hookspecs import hookimpl
from nasforge_example.evaluator import ExampleScore
from nasforge_example.strategy import ExampleWalk


@hookimpl
def nasforge_register_strategies(register):
    """Register the example strategy."""
    register("example_walk", ExampleWalk, "Hill climbing: mutate the best architecture so far (example plugin)")


@hookimpl
def nasforge_register_evaluators(register):
    """Register the example evaluator."""
    register("example_score", ExampleScore, "A synthetic, instant score for any space (example plugin)")
