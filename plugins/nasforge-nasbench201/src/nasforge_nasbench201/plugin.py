"""nasforge plugin entry point (group ``nasforge``): the NAS-Bench-201 space, model builder and tabular evaluator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from nasforge.core.hookspecs import hookimpl
from nasforge_nasbench201.evaluator import NASBench201Evaluator
from nasforge_nasbench201.space import SPACE_NAME, nasbench201_space


def build_model(architecture: Mapping[str, Any] | str, input_shape: Sequence[int] = (3, 32, 32), num_classes: int = 10, **options: Any) -> Any:
    """Build the NAS-Bench-201 torch network for ``architecture`` (imports torch only now)."""
    from nasforge_nasbench201.model import build_nasbench201

    return build_nasbench201(architecture, input_shape=input_shape, num_classes=num_classes, **options)


@hookimpl
def nasforge_register_spaces(register):
    register(SPACE_NAME, nasbench201_space, "NAS-Bench-201 cell: 6 edges x 5 operations (15,625 cells)")


@hookimpl
def nasforge_register_model_builders(register):
    register(SPACE_NAME, build_model, "NAS-Bench-201 CIFAR network (16/32/64 channels, 3x5 cells); needs torch")


@hookimpl
def nasforge_register_evaluators(register):
    register(SPACE_NAME, NASBench201Evaluator, "Tabular NAS-Bench-201 CIFAR-10 lookup (12/200 epochs, params, FLOPs, latencies)")
