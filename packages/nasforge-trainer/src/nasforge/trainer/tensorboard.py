"""TensorBoard logging: per-trial training curves and an experiment-wide view of all trials.

* The ``trainer`` evaluator writes each trial's per-epoch ``train_loss`` and ``accuracy``
  (validation) to ``<trial directory>/tensorboard/`` (:class:`TrialLogger`).
* The trainer plugin's ``nasforge_after_trial`` hook writes every finished trial to
  ``<experiment directory>/tensorboard/`` (:class:`ExperimentLogger`): each metric as a scalar
  ``trial/<metric>`` with the trial number as x, and the architecture's choices as hparams with
  the metrics (``hparam/<metric>``) for TensorBoard's HParams tab.

View them with ``tensorboard --logdir <experiment directory>/tensorboard`` (or point
``--logdir`` at the experiment directory to see the per-trial curves too). Set the environment
variable ``NASFORGE_TENSORBOARD=0`` to switch the experiment-wide writer off.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_SWITCH = "NASFORGE_TENSORBOARD"


def _summary_writer(logdir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # tensorboard is a declared dependency; say so if it is gone
        raise ImportError(f"TensorBoard logging needs the 'tensorboard' package ({exc}); pip install tensorboard") from exc
    logdir.mkdir(parents=True, exist_ok=True)
    return SummaryWriter(log_dir=str(logdir))


def enabled() -> bool:
    """False when ``NASFORGE_TENSORBOARD`` is set to ``0``, ``false``, ``no`` or ``off``."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in ("0", "false", "no", "off")


class TrialLogger:
    """Writes one trial's per-epoch scalars to ``<trial directory>/tensorboard``; opened lazily."""

    def __init__(self, directory: Path) -> None:
        self.logdir = Path(directory) / "tensorboard"
        self._writer: Any = None

    def log_epoch(self, epoch: int, values: Mapping[str, float]) -> None:
        """Write ``values`` as scalars at step ``epoch``."""
        if self._writer is None:
            self._writer = _summary_writer(self.logdir)
        for name, value in values.items():
            self._writer.add_scalar(name, float(value), epoch)

    def close(self) -> None:
        """Flush and close the event file (safe to call twice)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class ExperimentLogger:
    """Writes every finished trial of one experiment to ``<experiment directory>/tensorboard``."""

    def __init__(self, directory: Path, space: Any = None) -> None:
        self.logdir = Path(directory) / "tensorboard"
        self.space = space
        self._writer: Any = None

    def _domains(self, keys: list[str]) -> dict[str, list[Any]]:
        if self.space is None:
            return {}
        out = {}
        for key in keys:
            try:
                domain = list(self.space[key].domain)
            except (KeyError, AttributeError, TypeError):
                continue
            # the HParams plugin lists discrete domains; it takes strings, numbers or booleans only
            if all(isinstance(v, (bool, int, float, str)) for v in domain):
                out[key] = domain
        return out

    def log_trial(self, trial: Any) -> None:
        """Write one finished trial (a :class:`~nasforge.core.records.Trial`)."""
        if self._writer is None:
            self._writer = _summary_writer(self.logdir)
        number = int(trial.number)
        state = getattr(getattr(trial, "state", None), "value", str(getattr(trial, "state", "")))
        metrics = {k: float(v) for k, v in dict(getattr(trial, "metrics", {}) or {}).items()}
        if state != "complete":
            self._writer.add_scalar("trial/failed", 1.0, number)
            self._writer.flush()
            return
        for name, value in metrics.items():
            self._writer.add_scalar(f"trial/{name}", value, number)
        arch = dict(trial.architecture)
        hparams: dict[str, Any] = dict(arch)
        if getattr(trial, "fidelity", None) is not None:
            hparams["fidelity"] = float(trial.fidelity)
        self._writer.add_hparams(
            hparams,
            {f"hparam/{k}": v for k, v in metrics.items()},
            hparam_domain_discrete=self._domains(list(arch)) or None,
            run_name=f"trial-{number:05d}",
            global_step=number,
        )
        self._writer.flush()

    def close(self) -> None:
        """Flush and close the event file (safe to call twice)."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


_LOGGERS: dict[str, ExperimentLogger] = {}
_BROKEN: set[str] = set()


def _experiment_key(experiment: Any) -> str | None:
    directory = getattr(experiment, "directory", None)
    if directory is None:
        return None
    return str(Path(directory).resolve())


def log_trial(experiment: Any, trial: Any) -> None:
    """Hook body of ``nasforge_after_trial``: log ``trial`` into its experiment's writer."""
    if not enabled():
        return
    key = _experiment_key(experiment)
    if key is None:  # an experiment without a directory has nowhere to write
        return
    if key in _BROKEN:
        return
    logger = _LOGGERS.get(key)
    if logger is None:
        logger = _LOGGERS[key] = ExperimentLogger(Path(key), getattr(experiment, "space", None))
    try:
        logger.log_trial(trial)
    except OSError as exc:  # a full disk or an unwritable folder must not stop the search; say so once
        _BROKEN.add(key)
        _LOGGERS.pop(key, None)
        warnings.warn(f"TensorBoard logging to {logger.logdir} stopped: {exc}; the search goes on without it", RuntimeWarning, stacklevel=2)


def close_experiment(experiment: Any) -> None:
    """Hook body of ``nasforge_after_experiment``: close the experiment's writer."""
    key = _experiment_key(experiment)
    logger = _LOGGERS.pop(key, None) if key is not None else None
    if logger is not None:
        logger.close()
