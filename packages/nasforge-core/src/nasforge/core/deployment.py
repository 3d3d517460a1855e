"""The contract between an evaluator's distribution and the deploy stage (nasforge-deploy).

After the search, the deploy stage compresses, exports, checks and benchmarks the winning
architecture. It knows nothing about how a particular evaluator trains, saves or feeds a model;
the distribution that provides the evaluator tells it, by registering a *deploy adapter* for the
evaluator's name with the ``nasforge_register_deploy_adapters`` hook::

    @hookimpl
    def nasforge_register_deploy_adapters(register):
        register("trainer", TrainerDeployment, "rebuild trainer checkpoints; digits/CIFAR data")

The registered factory is called with the experiment's evaluator instance (so it sees the options
as the evaluator validated them, defaults included) and returns an object with the methods of
:class:`DeployAdapter`. This module holds only plain types; it imports neither torch nor any
other nasforge package, so any evaluator plugin can implement the contract.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@dataclass
class DeployableModel:
    """A trained model as the deploy stage gets it back from a trial folder.

    :param model: the trained model (a ``torch.nn.Module``), in eval mode.
    :param example_inputs: one batch of inputs shaped like real ones (a tensor, or a tuple of
        tensors for a model with several inputs); exporters trace with it, compressors check
        the model runs on it, FLOPs are counted on its first sample.
    :param builder: the registered model builder that built ``model`` (``nasforge_register_model_builders``),
        when a compressor may rebuild it from a changed ``architecture`` (channel and depth
        pruning of search-space models); ``None`` for a model that cannot be rebuilt that way.
    :param architecture: the architecture's choices, as the builder takes them.
    :param input_shape: the shape of one input without the batch dimension.
    :param num_classes: the number of outputs the builder was asked for.
    """

    model: Any
    example_inputs: Any
    builder: str | None = None
    architecture: Mapping[str, Any] | None = None
    input_shape: tuple[int, ...] | None = None
    num_classes: int | None = None


@dataclass
class DeployData:
    """The data the deploy stage needs for one experiment.

    :param train: mini-batches ``(inputs, targets)`` to fine-tune (and distil) compressed
        models on; iterable more than once.
    :param calibration: real inputs stacked along dimension 0, for int8 calibration and numeric
        parity checks of exported files.
    :param evaluation: held-out ``(inputs, labels)`` stacked along dimension 0; exported files
        report their accuracy on them in the model card. ``None`` for a model that arg-max
        accuracy does not describe (a recommender, a regressor): the deploy stage then scores
        each exported file with :meth:`DeployAdapter.score` on an onnxruntime-backed module.
    """

    train: Iterable[Any]
    calibration: Any
    evaluation: tuple[Any, Any] | None


@runtime_checkable
class DeployAdapter(Protocol):
    """What an evaluator's distribution provides so its trials can be deployed."""

    #: The name of the metric :meth:`score` returns (shown in the deploy summary).
    metric: str

    def load(self, directory: Path) -> DeployableModel | None:
        """The trained model saved in a trial folder, or ``None`` when the trial saved none
        (the deploy stage then retrains the architecture at full fidelity into a new folder
        with the evaluator and calls ``load`` on that folder)."""

    def data(self, calibration_samples: int, seed: int) -> DeployData:
        """Fine-tuning batches (shuffled with ``seed``), up to ``calibration_samples`` real
        inputs for calibration, and the held-out evaluation set."""

    def score(self, model: Any) -> float:
        """The held-out quality of ``model`` (e.g. test accuracy), higher is better."""
