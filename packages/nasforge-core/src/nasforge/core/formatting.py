"""Human number formats shared by every table and report, so one metric always reads the same way.

* accuracies (metrics whose name ends in ``accuracy``, stored as fractions 0-1) are shown as
  percentages with two decimals: ``97.78%``;
* every other number has three significant digits, with ``k``/``M``/``G`` from a thousand up:
  ``0.0902``, ``1.52``, ``998``, ``9.98k``, ``46.2k``, ``1.23M``;
* a missing or non-finite value is ``-``.

:func:`metric_label` names a column, including what a latency measured (PyTorch eager or
onnxruntime), which the metric name alone does not say.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

#: Short column headers, so a summary fits an 80-column terminal.
HEADERS = {"accuracy": "acc", "test_accuracy": "test acc", "latency_ms": "lat ms", "peak_memory_mb": "mem MB", "flops": "FLOPs"}

#: What ``latency_ms`` measured, by the trainer's ``latency_backend`` option.
LATENCY_BACKENDS = {"torch": "torch eager", "onnxruntime": "onnxruntime"}


def is_accuracy(metric: str) -> bool:
    """Accuracy-like metrics are fractions (0-1) shown as percentages."""
    return metric.endswith(("accuracy", "_acc")) or metric == "acc"


def human(value: Any, metric: str = "") -> str:
    """One number as a person reads it (see the module docstring); strings pass through."""
    if isinstance(value, bool) or value is None:
        return "-" if value is None else str(value)
    if not isinstance(value, (int, float)):
        return str(value)
    value = float(value)
    if not math.isfinite(value):
        return "-"
    if metric and is_accuracy(metric) and -1.0 <= value <= 1.0:
        return f"{value * 100:.2f}%"
    magnitude = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit * 0.9995:  # 999.6 rounds to 1.00k, not 1e+03
            scaled = value / limit
            text = f"{scaled:#.3g}".rstrip(".") if abs(scaled) < 999.5 else f"{scaled:.0f}"
            return text + suffix
    if value == int(value):
        return str(int(value))
    return f"{value:.3g}"


def latency_source(evaluator_name: str, evaluator_options: Mapping[str, Any]) -> str:
    """What the search's ``latency_ms`` measured, for a column header or caption."""
    if evaluator_name == "trainer":
        backend = str(evaluator_options.get("latency_backend", "torch"))
        return LATENCY_BACKENDS.get(backend, backend)
    return f"as reported by evaluator {evaluator_name!r}"


def metric_label(metric: str, latency: str = "") -> str:
    """A column header: the short name, and for a latency what measured it (``lat ms (torch eager)``)."""
    label = HEADERS.get(metric, metric)
    if metric == "latency_ms" and latency and not latency.startswith("as reported"):
        label = f"{label} ({latency})"
    if is_accuracy(metric):
        label = f"{label} %"
    return label
