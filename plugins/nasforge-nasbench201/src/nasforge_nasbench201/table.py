"""Reading the NAS-Bench-201 table (a CSV, optionally gzip-compressed) into memory.

The table has one row per cell, keyed by ``arch_str``. The columns nasforge needs are listed in
:data:`REQUIRED_COLUMNS`; latency columns are every ``lat_<device>_ms``. The product does not
ship the table: users point the evaluator at their copy.
"""

from __future__ import annotations

import csv
import gzip
import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nasforge.core.errors import UserError
from nasforge_nasbench201.space import architecture_index, from_arch_str, to_arch_str

#: Columns without which the evaluator cannot answer.
REQUIRED_COLUMNS: tuple[str, ...] = (
    "arch_str",
    "cifar10_valid_acc",
    "cifar10_test_acc",
    "cifar10_valid_acc_12ep",
    "cifar10_test_acc_12ep",
    "params_m",
    "flops_m",
)
NUM_CELLS = 15625


@dataclass(frozen=True)
class NASBench201Table:
    """The table as dense arrays indexed by :func:`~nasforge_nasbench201.space.architecture_index`.

    ``columns`` maps every numeric column name to a float array of length 15,625 (``nan`` for a
    cell the file does not list); ``devices`` names the devices with a ``lat_<device>_ms`` column.
    """

    path: Path
    columns: Mapping[str, np.ndarray]
    devices: tuple[str, ...]
    present: np.ndarray  # bool mask: the file has a row for this cell

    def row(self, arch: Mapping[str, object] | str) -> dict[str, float]:
        """Every numeric column of one cell; :class:`UserError` when the file has no row for it."""
        arch_map = from_arch_str(arch) if isinstance(arch, str) else arch
        i = architecture_index(arch_map)
        if not self.present[i]:
            raise UserError(f"the NAS-Bench-201 table {self.path} has no row for {to_arch_str(arch_map)}; is it the complete 15,625-row table?")
        return {name: float(values[i]) for name, values in self.columns.items()}

    def latency_column(self, device: str) -> str:
        """The column name holding ``device``'s latency, or a :class:`UserError` listing the devices."""
        if device not in self.devices:
            raise UserError(f"the NAS-Bench-201 table {self.path} has no latency for device {device!r}; devices: {', '.join(self.devices)}")
        return f"lat_{device}_ms"


_CACHE: dict[tuple[str, float, int], NASBench201Table] = {}
_LOCK = threading.Lock()


def load_table(path: str | Path) -> NASBench201Table:
    """Read the table at ``path`` (``.csv`` or ``.csv.gz``), cached per file and modification time.

    Raises :class:`UserError` when the file is missing, is not a CSV with the
    :data:`REQUIRED_COLUMNS`, or holds a malformed value (naming the line).
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(
            f"NAS-Bench-201 table not found at {str(p)!r}; set evaluator.options.path to your copy of the "
            "CSV (e.g. nb201_cifar10.csv.gz, see docs/nasbench201.md) — nasforge does not ship it"
        )
    stat = p.stat()
    key = (str(p.resolve()), stat.st_mtime, stat.st_size)
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            cached = _read(p)
            _CACHE[key] = cached
    return cached


def _read(path: Path) -> NASBench201Table:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", newline="") as fh:  # type: ignore[operator]
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise UserError(
                    f"{path} is not a NAS-Bench-201 table: it lacks column(s) {missing}; it needs {list(REQUIRED_COLUMNS)} "
                    f"(found {header[:8]}{' ...' if len(header) > 8 else ''})"
                )
            numeric = [c for c in header if c != "arch_str"]
            devices = tuple(c[len("lat_") : -len("_ms")] for c in header if c.startswith("lat_") and c.endswith("_ms"))
            data = {c: np.full(NUM_CELLS, math.nan) for c in numeric}
            present = np.zeros(NUM_CELLS, dtype=bool)
            for line, record in enumerate(reader, start=2):
                try:
                    i = architecture_index(from_arch_str(record["arch_str"]))
                except UserError as exc:
                    raise UserError(f"{path}, line {line}: {exc}") from None
                for c in numeric:
                    text = record.get(c)
                    if text is None or text == "":
                        continue
                    try:
                        data[c][i] = float(text)
                    except ValueError:
                        raise UserError(f"{path}, line {line}: column {c!r} holds {text!r}, which is not a number") from None
                present[i] = True
    except (OSError, EOFError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"cannot read the NAS-Bench-201 table {path}: {type(exc).__name__}: {exc}") from None
    if not present.any():
        raise UserError(f"the NAS-Bench-201 table {path} has a header but no rows")
    for c in data.values():
        c.setflags(write=False)
    present.setflags(write=False)
    return NASBench201Table(path=path, columns=data, devices=devices, present=present)
