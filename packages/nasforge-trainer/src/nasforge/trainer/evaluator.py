"""The ``trainer`` evaluator: train each architecture, then measure its accuracy and costs.

Config example (every option is optional; these are the defaults, sized so a ``cnn`` trial on
``digits`` takes a few seconds on two CPU cores)::

    evaluator:
      name: trainer
      options:
        dataset: digits
        epochs: 8
        batch_size: 64
        optimizer: adam
        lr: 0.01
        schedule: cosine

Metrics of every trial: ``accuracy`` (validation, what the search selects on), ``test_accuracy``
(held out; for reporting, never for selection), ``train_loss``, ``valid_loss``, ``params``,
``flops``, ``peak_memory_mb``, ``latency_ms`` with ``latency_threads``, ``train_seconds`` and
``epochs``. Artifacts: ``model`` (``model.pt``, the trained ``state_dict``) and ``model_spec``
(``model.json``: builder, architecture, input shape, classes, normalisation) — enough for
:func:`nasforge.trainer.artifacts.load_trained_model` to rebuild the trained model.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from nasforge.core.errors import ConfigError, UnknownComponentError, UserError
from nasforge.core.evaluator import Evaluator, TrialContext
from nasforge.core.records import Architecture, EvaluationResult
from nasforge.core.space import SearchSpace
from nasforge.torchutils import count_flops, count_params
from nasforge.trainer import metrics as cost
from nasforge.trainer.artifacts import save_trained_model
from nasforge.trainer.data import DatasetSplits, check_dataset_options, get_dataset_loader, load_dataset
from nasforge.trainer.models import get_model_builder
from nasforge.trainer.robustness import CorruptionAugment, RobustnessSpec, parse_probability
from nasforge.trainer.task import task_metric_names, task_scores
from nasforge.trainer.tensorboard import TrialLogger
from nasforge.trainer.training import TrainConfig, fit, resolve_device

OPTION = "evaluator.options"
#: Search-space choices the evaluator reads as training settings of the trial (never passed to the
#: model builder): add them to a space with ``space.extra_choices``.
TRAINING_CHOICES = ("corruption_augment",)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Fix ``torch.set_num_threads(threads)`` inside the block (``None``: leave it) and restore it."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if threads is not None:
            torch.set_num_threads(previous)


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _optional_int(name: str, value: Any, low: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{OPTION}.{name}", f"must be an integer of at least {low} (or null), got {value!r}")
    return value


def _bool(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{OPTION}.{name}", f"must be true or false, got {value!r}")
    return value


class TrainingEvaluator(Evaluator):
    """Trains each architecture with PyTorch and reports accuracy, size, FLOPs, memory and latency.

    :param space: the search space; its name picks the model builder unless ``model`` is given.
    :param dataset: a registered dataset: ``digits`` (default, embedded), ``cifar10``, ``imagefolder``.
    :param dataset_options: the dataset's own options (``root``, ``download``, ``image_size``,
        ``limit_per_class`` ...).
    :param model: the model builder's name (default: the space's name, ``cnn`` or ``mlp``).
    :param epochs: training epochs of a full-fidelity trial. A trial's ``fidelity``, when the
        strategy asks for one, *is* its number of epochs (rounded, at least 1).
    :param batch_size: training mini-batch size.
    :param optimizer: ``adam``, ``adamw`` or ``sgd``.
    :param lr: learning rate; ``weight_decay``; ``momentum`` (SGD only).
    :param schedule: ``cosine`` (decay to 0 over the trial's epochs, per step) or ``none``.
    :param keep_best: end each trial with the weights of its best validation epoch (the task's
        primary metric) and report that epoch's scores; default: the last epoch's.
    :param valid_fraction: share of the training data held out for validation (``accuracy``).
    :param test_fraction: ``null``: the official test split if the dataset has one, else 0.2 of
        the data; a number: always hold out that share.
    :param max_train_samples: train on at most this many samples (fixed random subset).
    :param augment: random flip + crop of training images (CIFAR-style; not for digits).
    :param data_seed: seed of the split and subset, fixed across trials so all see the same data
        (training randomness comes from each trial's own seed).
    :param device: ``cpu`` (default), ``cuda``, ``cuda:N`` or ``auto``.
    :param threads: ``torch.set_num_threads`` while the trial runs; default 1, which suits small
        models and shared machines (``null``: leave torch's setting, usually one per core).
    :param measure_latency: measure CPU latency (``latency_ms``); ``latency_runs`` timed runs after
        ``latency_warmup`` untimed ones, with ``latency_threads`` threads.
    :param latency_backend: what ``latency_ms`` measures: ``torch`` (eager PyTorch on the CPU,
        the default), ``onnxruntime`` (the model exported to ONNX and run by onnxruntime's CPU
        execution provider, what a deployment would see; needs nasforge-export) or
        ``onnxruntime-cuda`` (onnxruntime's CUDA provider; needs onnxruntime-gpu and a GPU).
    :param tensorboard: write per-epoch scalars to ``<trial directory>/tensorboard``.
    :param save_model: save ``model.pt`` and ``model.json`` in the trial directory.
    :param robustness: ``null`` (default) or ``{corruptions: [...], severities: [...], samples: N}``:
        also report ``robust_accuracy`` (validation accuracy under the corruptions, averaged over
        every corruption and severity; an objective or constraint like any metric) and
        ``test_robust_accuracy`` (see :mod:`nasforge.trainer.robustness`).
    :param corruption_augment: probability (0..1, default 0) that a training sample is replaced by
        a corrupted copy (a corruption and severity drawn from ``augment_corruptions``; seeded by the
        trial). A search-space choice of the same name overrides it trial by trial, so a search can
        decide whether training on corrupted inputs pays. Validation and test data stay clean.
    :param augment_corruptions: ``{corruptions: [...], severities: [...]}`` that training draws
        from; default: the ``robustness`` corruptions at every severity 1..5.

    Datasets whose task is not classification (recommendation) report their own metrics too:
    each of the task's metrics on the validation split and as ``test_<name>`` on the test split
    (``hr_at_10``, ``ndcg_at_10``, ``rmse`` ...); ``accuracy``/``test_accuracy`` then alias the
    task's primary metric when higher is better (HR@10), and are absent otherwise (RMSE).
    """

    metrics: ClassVar[tuple[str, ...]] = (
        "accuracy",
        "test_accuracy",
        "train_loss",
        "valid_loss",
        "params",
        "flops",
        "peak_memory_mb",
        "latency_ms",
        "latency_threads",
        "train_seconds",
        "epochs",
    )

    def __init__(
        self,
        space: SearchSpace,
        dataset: str = "digits",
        dataset_options: Mapping[str, Any] | None = None,
        model: str | None = None,
        epochs: int = 8,
        batch_size: int = 64,
        optimizer: str = "adam",
        lr: float = 0.01,
        weight_decay: float = 0.0,
        momentum: float = 0.9,
        schedule: str = "cosine",
        eval_batch_size: int = 512,
        keep_best: bool = False,
        valid_fraction: float = 0.2,
        test_fraction: float | None = None,
        max_train_samples: int | None = None,
        augment: bool = False,
        data_seed: int = 0,
        device: str = "cpu",
        threads: int | None = 1,
        measure_latency: bool = True,
        latency_runs: int = 20,
        latency_warmup: int = 5,
        latency_threads: int = 1,
        latency_backend: str = "torch",
        tensorboard: bool = True,
        save_model: bool = True,
        robustness: Mapping[str, Any] | None = None,
        corruption_augment: float = 0.0,
        augment_corruptions: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(space)
        if not isinstance(dataset, str) or not dataset:
            raise ConfigError(f"{OPTION}.dataset", f"must be a dataset name such as 'digits', got {dataset!r}")
        if dataset_options is None:
            dataset_options = {}
        if not isinstance(dataset_options, Mapping):
            raise ConfigError(f"{OPTION}.dataset_options", f"must be a mapping of option names to values, got {dataset_options!r}")
        self.dataset = dataset
        self.dataset_options = dict(dataset_options)
        shared = sorted(set(self.dataset_options) & {"valid_fraction", "test_fraction", "max_train_samples", "seed", "augment"})
        if shared:  # the evaluator passes these to every dataset itself
            raise ConfigError(f"{OPTION}.dataset_options", f"{shared} are evaluator options: set evaluator.options.{shared[0]} instead of dataset_options.{shared[0]}")
        try:  # cheap checks now, so a typo fails before the experiment starts; the data loads in setup()
            loader = get_dataset_loader(dataset)
            check_dataset_options(loader, dataset, self.dataset_options)
        except UnknownComponentError as exc:
            raise ConfigError(f"{OPTION}.dataset", str(exc)) from None
        self.robustness = RobustnessSpec.parse(robustness, f"{OPTION}.robustness")
        self.corruption_augment = parse_probability(corruption_augment, f"{OPTION}.corruption_augment")
        self.augment_corruptions = CorruptionAugment.parse(augment_corruptions, f"{OPTION}.augment_corruptions", self.robustness)
        self._check_training_choices(space)
        # the metrics of this dataset's task (a loader may declare its task class as ``loader.task``)
        self.metrics = task_metric_names(getattr(loader, "task", None), type(self).metrics, robust=self.robustness is not None)
        self.model_name = model if model is not None else getattr(space, "name", None)
        if not isinstance(self.model_name, str) or not self.model_name:
            raise ConfigError(f"{OPTION}.model", f"must name a model builder such as 'cnn' or 'mlp', got {model!r}")
        try:
            get_model_builder(self.model_name)
        except UserError as exc:
            raise ConfigError(f"{OPTION}.model", str(exc)) from None
        self.train_config = TrainConfig(
            epochs=epochs, batch_size=batch_size, optimizer=optimizer, lr=lr, weight_decay=weight_decay, momentum=momentum,
            schedule=schedule, device=device, eval_batch_size=eval_batch_size, keep_best=keep_best,
        ).validate(OPTION)
        # fractions are validated when the data is split; check their type here to fail early
        for name, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1):
                raise ConfigError(f"{OPTION}.{name}", f"must be a number strictly between 0 and 1, got {value!r}")
        if valid_fraction is None:
            raise ConfigError(f"{OPTION}.valid_fraction", "must be a number strictly between 0 and 1, got null")
        self.valid_fraction = float(valid_fraction)
        self.test_fraction = None if test_fraction is None else float(test_fraction)
        if self.test_fraction is not None and self.valid_fraction + self.test_fraction >= 1.0:
            raise ConfigError(f"{OPTION}.valid_fraction", f"valid_fraction + test_fraction must be below 1, got {self.valid_fraction} + {self.test_fraction}")
        self.max_train_samples = _optional_int("max_train_samples", max_train_samples, 1)
        self.augment = _bool("augment", augment)
        if isinstance(data_seed, bool) or not isinstance(data_seed, int):
            raise ConfigError(f"{OPTION}.data_seed", f"must be an integer, got {data_seed!r}")
        self.data_seed = data_seed
        self.threads = _optional_int("threads", threads, 1)
        self.measure_latency = _bool("measure_latency", measure_latency)
        self.latency_runs = _optional_int("latency_runs", latency_runs, 1) or 1
        self.latency_warmup = _optional_int("latency_warmup", latency_warmup, 0) or 0
        self.latency_threads = _optional_int("latency_threads", latency_threads, 1) or 1
        if latency_backend not in cost.LATENCY_BACKENDS:
            raise ConfigError(f"{OPTION}.latency_backend", f"must be one of {', '.join(cost.LATENCY_BACKENDS)}, got {latency_backend!r}")
        if latency_backend != "torch":
            cost.check_onnxruntime_backend(latency_backend)
        self.latency_backend = latency_backend
        self.tensorboard = _bool("tensorboard", tensorboard)
        self.save_model = _bool("save_model", save_model)
        self._splits: DatasetSplits | None = None

    def _check_training_choices(self, space: SearchSpace) -> None:
        """Fail early on a training choice of the space this evaluator cannot honour."""
        probabilities = [self.corruption_augment]
        if "corruption_augment" in {c.name for c in getattr(space, "choices", ())}:
            for value in space["corruption_augment"].domain:
                probabilities.append(parse_probability(value, "space.corruption_augment"))
        if max(probabilities) > 0:
            self._augment_corruptions()

    def _augment_corruptions(self) -> CorruptionAugment:
        if self.augment_corruptions is None:
            raise ConfigError(
                f"{OPTION}.augment_corruptions",
                "corruption_augment needs corruptions to train on: set evaluator.options.robustness or augment_corruptions: {corruptions: [...]}",
            )
        return self.augment_corruptions

    def training_probability(self, architecture: Architecture) -> float:
        """The trial's ``corruption_augment``: the architecture's choice, else the evaluator option."""
        value = architecture.get("corruption_augment", self.corruption_augment)
        return parse_probability(value, "architecture.corruption_augment")

    # -- lifecycle ------------------------------------------------------------------------------
    def setup(self, workdir: Path) -> None:
        """Load and split the dataset once for the whole experiment."""
        splits = self.splits
        if self.robustness is not None:  # a corruption the data cannot apply fails now, not in every trial
            self.robustness.check(splits.valid)
        if self.augment_corruptions is not None:
            self.augment_corruptions.check(splits.train)

    @property
    def splits(self) -> DatasetSplits:
        """The loaded dataset (loaded on first use)."""
        if self._splits is None:
            self._splits = load_dataset(
                self.dataset,
                valid_fraction=self.valid_fraction,
                test_fraction=self.test_fraction,
                max_train_samples=self.max_train_samples,
                seed=self.data_seed,
                augment=self.augment,
                **self.dataset_options,
            )
        return self._splits

    def teardown(self) -> None:
        """Drop the loaded data."""
        self._splits = None

    def __getstate__(self) -> dict[str, Any]:
        # workers reload the data themselves rather than receive it pickled
        state = dict(self.__dict__)
        state["_splits"] = None
        return state

    # -- one trial -------------------------------------------------------------------------------
    def epochs_for(self, fidelity: float | None) -> int:
        """Epochs of a trial at ``fidelity`` (``None``: the ``epochs`` option)."""
        if fidelity is None:
            return self.train_config.epochs
        return max(1, int(round(float(fidelity))))

    def evaluate(self, architecture: Architecture, context: TrialContext) -> EvaluationResult:
        """Train ``architecture`` under ``context`` and measure it (see the module docstring)."""
        splits = self.splits
        probability = self.training_probability(architecture)
        model_architecture = {k: v for k, v in architecture.items() if k not in TRAINING_CHOICES}
        train_splits = splits
        if probability > 0:  # only the training split: validation and test data stay clean
            train_splits = replace(splits, train=self._augment_corruptions().wrap(splits.train, probability))
        config = replace(self.train_config, epochs=self.epochs_for(context.fidelity), seed=int(context.seed))
        directory = Path(context.directory) if context.directory is not None else None
        logger = TrialLogger(directory) if (self.tensorboard and directory is not None) else None
        with torch_threads(self.threads):
            seed_everything(int(context.seed))
            builder = get_model_builder(self.model_name)
            model = builder(model_architecture, input_shape=splits.input_shape, num_classes=splits.num_classes, **splits.model_options)
            try:
                result = fit(model, train_splits, config, context, on_epoch=logger.log_epoch if logger else None)
            finally:
                if logger is not None:
                    logger.close()
            values: dict[str, float] = {
                "train_loss": result.train_loss,
                "valid_loss": result.valid_loss,
                "train_seconds": result.seconds,
                "epochs": float(config.epochs),
            }
            values.update(task_scores(splits.task, model, splits.valid, splits.test, config.eval_batch_size))
            if self.robustness is not None:
                values.update(self.robustness.measure(model, splits, config.eval_batch_size, seed=self.data_seed))
            example = splits.example_input(1)
            values["params"] = float(count_params(model))
            values["flops"] = float(count_flops(model, example))
            values["peak_memory_mb"] = cost.peak_memory(model, splits.input_shape, example=example)
            context.check()
            model.to("cpu")
            if self.measure_latency:
                if self.latency_backend == "torch":
                    values["latency_ms"] = cost.measure_latency(
                        model, splits.input_shape, runs=self.latency_runs, warmup=self.latency_warmup, threads=self.latency_threads, example=example,
                    )
                else:
                    values["latency_ms"] = cost.measure_onnxruntime_latency(
                        model, splits.input_shape, runs=self.latency_runs, warmup=self.latency_warmup, threads=self.latency_threads,
                        backend=self.latency_backend, example=example,
                    )
                values["latency_threads"] = float(self.latency_threads)
        artifacts: dict[str, str] = {}
        if self.save_model and directory is not None:
            artifacts = save_trained_model(
                directory, model, model_architecture, builder=self.model_name, space=getattr(self.space, "name", None), splits=splits,
                dataset=self.dataset, dataset_options=self.dataset_options,
            )
        return EvaluationResult(values, artifacts)

    @property
    def device(self) -> torch.device:
        """The training device."""
        return resolve_device(self.train_config.device)
