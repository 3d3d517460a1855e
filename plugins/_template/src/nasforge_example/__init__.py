"""nasforge-example: a template nasforge plugin (a hill-climbing strategy and a synthetic evaluator)."""

from nasforge_example.evaluator import ExampleScore
from nasforge_example.strategy import ExampleWalk

__version__ = "0.1.0"
__all__ = ["ExampleScore", "ExampleWalk"]
