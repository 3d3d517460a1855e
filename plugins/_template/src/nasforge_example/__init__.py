"""nasforge-example: a template nasforge plugin (a hill-climbing strategy and a synthetic evaluator)."""

from importlib.metadata import version as _version

from nasforge_example.evaluator import ExampleScore
from nasforge_example.strategy import ExampleWalk

__version__ = _version("nasforge-example")  # the one version source is pyproject.toml
__all__ = ["ExampleScore", "ExampleWalk"]
