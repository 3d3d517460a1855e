"""The tabular NAS-Bench-201 evaluator: answers from the benchmark's table instead of training.

What the search sees and what is reported (all floats):

============================  =====================================================================
``accuracy``                  CIFAR-10 validation accuracy after 200 epochs, or after 12 epochs
                              when the trial asks for a low fidelity (the search signal)
``test_accuracy``             CIFAR-10 test accuracy at the same number of epochs (report only)
``epochs``                    12 or 200: which columns answered
``params`` / ``params_m``     parameters (count / millions), 10-way classifier included
``flops`` / ``flops_m``       FLOPs (count / millions) of one 32x32 forward pass
``latency_<device>``          measured latency in ms on each device the table lists (HW-NAS-Bench, HELP)
``latency_ms``                the latency of the configured ``latency_device`` (default ``pixel3``)
============================  =====================================================================

Accuracies are fractions (0-1), nasforge's one convention for every evaluator (the trainer's
too); tables and reports show them as percentages. The table itself stores the published
percentages; :func:`accuracy_fraction` converts.

Fidelity is a number of training epochs. The table knows 12 and 200 epochs, so a trial gets the
largest known epoch count not above what it asked for: ``fidelity < 200`` -> 12-epoch columns,
``fidelity >= 200`` or no fidelity -> 200-epoch columns. (A fidelity below 12 still gets the
12-epoch columns, the cheapest there are.) Budgets are counted in queries: :attr:`queries` is the
number of distinct architectures asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from nasforge.core.errors import ConfigError, UserError
from nasforge.core.evaluator import Evaluator, TrialContext
from nasforge.core.records import Architecture, EvaluationResult
from nasforge.core.space import SearchSpace
from nasforge_nasbench201.space import EDGE_NAMES, SPACE_NAME
from nasforge_nasbench201.table import NASBench201Table, load_table

#: Epoch counts the table has columns for.
EPOCHS_AVAILABLE: tuple[int, ...] = (12, 200)
FULL_EPOCHS = 200
DEFAULT_LATENCY_DEVICE = "pixel3"


def accuracy_fraction(percent: Any) -> Any:
    """The table's published percentage (``94.37``) as the fraction nasforge stores (``0.9437``); also for numpy arrays."""
    return percent / 100.0


def epochs_for_fidelity(fidelity: float | None) -> int:
    """The epoch count whose columns answer a trial at ``fidelity`` (see the module docstring)."""
    if fidelity is None:
        return FULL_EPOCHS
    fidelity = float(fidelity)
    known = [e for e in EPOCHS_AVAILABLE if e <= fidelity]
    return max(known) if known else min(EPOCHS_AVAILABLE)


class NASBench201Evaluator(Evaluator):
    """Looks up an architecture of the ``nasbench201`` space in the NAS-Bench-201 CIFAR-10 table.

    Options: ``path`` (required) to the CSV or CSV.gz table; ``latency_device`` (default
    ``pixel3``) whose latency is reported as ``latency_ms``.
    """

    metrics: ClassVar[tuple[str, ...]] = (
        "accuracy",
        "test_accuracy",
        "epochs",
        "params",
        "params_m",
        "flops",
        "flops_m",
        "latency_ms",
    )

    def __init__(self, space: SearchSpace, path: str | Path | None = None, latency_device: str = DEFAULT_LATENCY_DEVICE) -> None:
        super().__init__(space)
        names = tuple(c.name for c in space.choices)
        if sorted(names) != sorted(EDGE_NAMES):
            raise ConfigError(
                "evaluator.name",
                f"the nasbench201 evaluator only answers for the {SPACE_NAME!r} space (choices {list(EDGE_NAMES)}), "
                f"but the space {space.name!r} has choices {list(names)}; use `space: {{name: {SPACE_NAME}}}`",
            )
        if path is None or str(path).strip() == "":
            raise ConfigError(
                "evaluator.options.path",
                "the nasbench201 evaluator needs the path to the NAS-Bench-201 table (nb201_cifar10.csv.gz); "
                "nasforge does not ship it, see docs/nasbench201.md",
            )
        if not isinstance(latency_device, str) or not latency_device:
            raise ConfigError("evaluator.options.latency_device", f"expected a device name like 'pixel3', got {latency_device!r}")
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise ConfigError("evaluator.options.path", f"no NAS-Bench-201 table at {str(self.path)!r}; point it at your copy of nb201_cifar10.csv.gz")
        self.latency_device = latency_device
        self._table: NASBench201Table | None = None
        self._queried: set[Architecture] = set()

    @property
    def table(self) -> NASBench201Table:
        """The loaded table (read on first use; checks that ``latency_device`` is in it)."""
        if self._table is None:
            table = load_table(self.path)
            try:
                table.latency_column(self.latency_device)
            except UserError as exc:
                raise ConfigError("evaluator.options.latency_device", str(exc)) from None
            self._table = table
        return self._table

    @property
    def queries(self) -> int:
        """How many distinct architectures this evaluator has answered for."""
        return len(self._queried)

    def setup(self, workdir: Path) -> None:
        """Load the table once, before the first trial."""
        _ = self.table

    def lookup(self, architecture: Mapping[str, Any], fidelity: float | None = None) -> dict[str, float]:
        """The metrics of one architecture at ``fidelity`` epochs (no trial context needed)."""
        table = self.table
        row = table.row(architecture)
        epochs = epochs_for_fidelity(fidelity)
        suffix = "" if epochs == FULL_EPOCHS else f"_{epochs}ep"
        metrics = {
            "accuracy": float(accuracy_fraction(row["cifar10_valid_acc" + suffix])),
            "test_accuracy": float(accuracy_fraction(row["cifar10_test_acc" + suffix])),
            "epochs": float(epochs),
            "params_m": row["params_m"],
            "params": round(row["params_m"] * 1e6),
            "flops_m": row["flops_m"],
            "flops": row["flops_m"] * 1e6,
        }
        for device in table.devices:
            metrics[f"latency_{device}"] = row[f"lat_{device}_ms"]
        metrics["latency_ms"] = row[table.latency_column(self.latency_device)]
        return metrics

    def evaluate(self, architecture: Architecture, context: TrialContext) -> EvaluationResult:
        """Answer one trial from the table; ``context.fidelity`` picks 12 or 200 epochs."""
        context.check()
        metrics = self.lookup(architecture, context.fidelity)
        self._queried.add(Architecture(architecture))
        return EvaluationResult(metrics)
