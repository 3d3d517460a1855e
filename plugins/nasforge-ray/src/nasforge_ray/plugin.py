"""The nasforge plugin module of nasforge-ray (entry point ``ray`` in group ``nasforge``)."""

from __future__ import annotations

from nasforge.core.hookspecs import hookimpl


@hookimpl
def nasforge_register_executors(register):
    """Register the ``ray`` executor (Ray itself is imported only when one is built)."""
    from nasforge_ray.executor import RayExecutor

    register("ray", RayExecutor, "Run trials in reusable Ray actors, locally or on a Ray cluster")
