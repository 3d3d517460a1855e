"""The ``trainer`` evaluator: metrics, fidelity, artifacts, option errors, plugin registration, TensorBoard."""

from __future__ import annotations

import pickle
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from nasforge.core.errors import ConfigError, TrialTimeout
from nasforge.core.evaluator import TrialContext
from nasforge.core.records import Architecture, EvaluationResult, Trial, TrialState
from nasforge.core.space import SearchSpace
from nasforge.trainer import TrainingEvaluator, cnn_space, evaluate_accuracy, load_trained_model, mlp_space
from nasforge.trainer.tensorboard import close_experiment, log_trial

ARCH = Architecture(stages=2, channels_1=8, channels_2=16, blocks=1, kernel_size=3, activation="relu", residual=True)
FAST = {"epochs": 2, "max_train_samples": 400, "latency_runs": 3, "latency_warmup": 1, "threads": 1}


def _scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(logdir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One evaluation of ARCH with the fast options, shared by several tests."""
    evaluator = TrainingEvaluator(cnn_space(), **FAST)
    evaluator.setup(tmp_path_factory.mktemp("work"))
    directory = tmp_path_factory.mktemp("trial")
    result = evaluator.evaluate(ARCH, TrialContext(number=0, seed=7, directory=directory))
    return evaluator, directory, result


def test_reports_every_declared_metric(trained):
    evaluator, _, result = trained
    assert isinstance(result, EvaluationResult)
    assert set(TrainingEvaluator.metrics) <= set(result.metrics)
    m = result.metrics
    assert 0.2 < m["accuracy"] <= 1.0 and 0.2 < m["test_accuracy"] <= 1.0  # chance is 0.1; 14 steps of training
    assert m["params"] > 1000 and m["flops"] > m["params"]  # every weight is used at least once per pixel
    assert m["peak_memory_mb"] > m["params"] * 4 / 2**20
    assert m["latency_ms"] > 0 and m["latency_threads"] == 1
    assert m["epochs"] == 2 and m["train_seconds"] > 0


def test_saved_model_rebuilds_with_the_same_accuracy(trained):
    evaluator, directory, result = trained
    assert set(result.artifacts) == {"model", "model_spec"}
    model, spec = load_trained_model(directory)
    assert spec.architecture == ARCH and spec.builder == "cnn" and spec.input_shape == (1, 8, 8)
    assert evaluate_accuracy(model, evaluator.splits.valid) == pytest.approx(result.metrics["accuracy"])


def test_trial_tensorboard_has_one_point_per_epoch(trained):
    _, directory, _ = trained
    scalars = _scalars(directory / "tensorboard")
    assert [step for step, _ in scalars["accuracy"]] == [1, 2]
    assert [step for step, _ in scalars["train_loss"]] == [1, 2]


def test_same_seed_same_metrics_and_fidelity_sets_epochs(tmp_path: Path):
    evaluator = TrainingEvaluator(cnn_space(), **{**FAST, "measure_latency": False, "tensorboard": False, "save_model": False})
    a = evaluator.evaluate(ARCH, TrialContext(number=0, seed=1, directory=tmp_path / "a", fidelity=1))
    b = evaluator.evaluate(ARCH, TrialContext(number=1, seed=1, directory=tmp_path / "b", fidelity=1.2))
    assert a.metrics["epochs"] == 1 == b.metrics["epochs"]
    for key in ("accuracy", "test_accuracy", "train_loss", "params", "flops"):
        assert a.metrics[key] == b.metrics[key]
    assert "latency_ms" not in a.metrics
    assert not (tmp_path / "a").exists()  # neither TensorBoard files nor weights were asked for


def test_timeout_stops_the_trial(tmp_path: Path):
    evaluator = TrainingEvaluator(cnn_space(), epochs=500, threads=1)
    with pytest.raises(TrialTimeout):
        evaluator.evaluate(ARCH, TrialContext(number=0, seed=0, directory=tmp_path, deadline=time.time() + 0.5))


def test_mlp_space_and_custom_space_with_model_option(tmp_path: Path):
    options = {**FAST, "epochs": 1, "measure_latency": False, "tensorboard": False}
    arch = Architecture(depth=1, width_1=32, activation="gelu", dropout=0.1)
    result = TrainingEvaluator(mlp_space(), **options).evaluate(arch, TrialContext(number=0, seed=0, directory=tmp_path))
    assert result.metrics["params"] == 64 * 32 + 32 + 32 * 10 + 10
    custom = SearchSpace.from_config([{"name": "depth", "type": "int", "low": 1, "high": 1}, {"name": "width_1", "values": [16]},
                                      {"name": "activation", "values": ["relu"]}, {"name": "dropout", "values": [0.0]}])
    with pytest.raises(ConfigError, match="evaluator.options.model"):
        TrainingEvaluator(custom)
    result = TrainingEvaluator(custom, model="mlp", **options).evaluate(custom.sample(__import__("numpy").random.default_rng(0)), TrialContext(number=1, seed=0, directory=tmp_path / "c"))
    assert result.metrics["params"] == 64 * 16 + 16 + 16 * 10 + 10


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"epochs": 0}, "evaluator.options.epochs"),
        ({"optimizer": "rmsprop"}, "evaluator.options.optimizer"),
        ({"lr": -1}, "evaluator.options.lr"),
        ({"schedule": "linear"}, "evaluator.options.schedule"),
        ({"valid_fraction": 1.5}, "evaluator.options.valid_fraction"),
        ({"test_fraction": 0}, "evaluator.options.test_fraction"),
        ({"valid_fraction": 0.5, "test_fraction": 0.5}, "evaluator.options.valid_fraction"),
        ({"max_train_samples": -3}, "evaluator.options.max_train_samples"),
        ({"threads": 0}, "evaluator.options.threads"),
        ({"latency_runs": 0}, "evaluator.options.latency_runs"),
        ({"measure_latency": "yes"}, "evaluator.options.measure_latency"),
        ({"dataset": ""}, "evaluator.options.dataset"),
        ({"dataset_options": [1]}, "evaluator.options.dataset_options"),
        ({"dataset_options": {"roots": "/data"}}, "evaluator.options.dataset_options"),
        ({"dataset": "imagefolder"}, "evaluator.options.dataset_options"),
        ({"dataset": "mnistt"}, "evaluator.options.dataset"),
        ({"model": "transformer"}, "evaluator.options.model"),
        ({"device": "cuda:banana"}, "evaluator.options.device"),
    ],
)
def test_bad_options_name_the_option(options, field):
    with pytest.raises(ConfigError) as info:
        TrainingEvaluator(cnn_space(), **options)
    assert info.value.field == field


def test_evaluator_pickles_without_its_data():
    evaluator = TrainingEvaluator(cnn_space(), max_train_samples=50)
    evaluator.setup(Path("."))
    clone = pickle.loads(pickle.dumps(evaluator))
    assert clone._splits is None and len(clone.splits.train) == 50


def test_plugin_registers_every_component(nasforge_plugin_manager):
    pm = nasforge_plugin_manager
    assert pm.get("evaluator", "trainer") is TrainingEvaluator
    assert pm.get("space", "cnn")().name == "cnn" and pm.get("space", "mlp")().name == "mlp"
    assert {"mlp", "cnn"} <= set(pm.components("model_builder"))
    assert {"digits", "cifar10", "imagefolder"} <= set(pm.components("dataset"))
    owner = pm.components("evaluator")["trainer"].plugin
    assert owner.distribution == "nasforge-trainer"


def test_experiment_tensorboard_writes_scalars_and_hparams(tmp_path: Path):
    space = cnn_space()
    experiment = SimpleNamespace(directory=tmp_path, space=space, name="x", config=None)
    for number, acc in enumerate([0.5, 0.75]):
        trial = Trial(number=number, architecture=ARCH, state=TrialState.COMPLETE, metrics={"accuracy": acc, "params": 100.0 + number})
        log_trial(experiment, trial)
    log_trial(experiment, Trial(number=2, architecture=ARCH, state=TrialState.FAILED, error="boom"))
    close_experiment(experiment)
    logdir = tmp_path / "tensorboard"
    scalars = _scalars(logdir)
    assert scalars["trial/accuracy"] == [(0, 0.5), (1, 0.75)]
    assert scalars["trial/failed"] == [(2, 1.0)]
    runs = sorted(p.name for p in logdir.iterdir() if p.is_dir())
    assert runs == ["trial-00000", "trial-00001"]  # one HParams run per complete trial
    assert _scalars(logdir / "trial-00001")["hparam/accuracy"] == [(1, 0.75)]


def test_experiment_tensorboard_failure_warns_once_and_the_search_goes_on(tmp_path: Path):
    (tmp_path / "tensorboard").write_text("a file where the log folder should be")
    experiment = SimpleNamespace(directory=tmp_path)
    trial = Trial(number=0, architecture=ARCH, state=TrialState.COMPLETE, metrics={"accuracy": 1.0})
    with pytest.warns(RuntimeWarning, match="TensorBoard logging"):
        log_trial(experiment, trial)
    log_trial(experiment, trial.evolve(number=1))  # no second warning, no exception
    close_experiment(experiment)


def test_experiment_tensorboard_can_be_switched_off(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("NASFORGE_TENSORBOARD", "0")
    log_trial(SimpleNamespace(directory=tmp_path), Trial(number=0, architecture=ARCH, state=TrialState.COMPLETE, metrics={"accuracy": 1.0}))
    assert not (tmp_path / "tensorboard").exists()


def test_imagefolder_cifar_subset_through_the_evaluator(cifar_jpeg_root: Path, tmp_path: Path):
    evaluator = TrainingEvaluator(
        cnn_space(max_stages=2, channels=[8]),
        dataset="imagefolder",
        dataset_options={"root": str(cifar_jpeg_root)},
        epochs=1,
        batch_size=32,
        augment=True,
        latency_runs=2,
        latency_warmup=1,
    )
    arch = Architecture(stages=2, channels_1=8, channels_2=8, blocks=1, kernel_size=3, activation="relu", residual=True)
    result = evaluator.evaluate(arch, TrialContext(number=0, seed=0, directory=tmp_path))
    assert result.metrics["flops"] > 0 and 0.0 <= result.metrics["test_accuracy"] <= 1.0
    model, spec = load_trained_model(tmp_path)
    assert spec.input_shape == (3, 32, 32) and spec.class_names[:2] == ("airplane", "automobile")
    assert spec.dataset == "imagefolder" and spec.dataset_options == {"root": str(cifar_jpeg_root)}
    assert len(spec.mean) == 3 and all(0.2 < m < 0.7 for m in spec.mean)  # computed on the training images
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
