"""NAS-Bench-201 for nasforge: the cell space, the benchmark's network and a tabular evaluator.

A third-party plugin distribution: it registers its components through the ``nasforge``
entry-point group (see :mod:`nasforge_nasbench201.plugin`). The model builder needs the
``torch`` extra; the space and the tabular evaluator need only nasforge-core.
"""

from nasforge_nasbench201.evaluator import NASBench201Evaluator, accuracy_fraction, epochs_for_fidelity
from nasforge_nasbench201.space import (
    EDGE_NAMES,
    EDGES,
    OPERATIONS,
    architecture_from_index,
    architecture_index,
    from_arch_str,
    nasbench201_space,
    to_arch_str,
)
from nasforge_nasbench201.table import NASBench201Table, load_table

__version__ = "0.1.0"

__all__ = [
    "EDGES",
    "EDGE_NAMES",
    "NASBench201Evaluator",
    "NASBench201Table",
    "OPERATIONS",
    "accuracy_fraction",
    "architecture_from_index",
    "architecture_index",
    "epochs_for_fidelity",
    "from_arch_str",
    "load_table",
    "nasbench201_space",
    "to_arch_str",
]
