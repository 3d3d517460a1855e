"""The deploy stage works for any evaluator that registers a deploy adapter, and only for those."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from nasforge_deploy_testing import listed_strategy, register_plugin
from torch import nn

from nasforge.core import Evaluator
from nasforge.core.config import validate_config
from nasforge.core.deployment import DeployableModel, DeployAdapter, DeployData
from nasforge.core.errors import ConfigError
from nasforge.core.experiment import Experiment
from nasforge.core.plugins import get_plugin_manager

FEATURES = 6


def _data(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(96, FEATURES, generator=g)
    return x, (x[:, 0] > 0).long()


class LinearEvaluator(Evaluator):
    """Fits a linear classifier of a width chosen by the search; saves its weights unless told not to."""

    metrics = ("score",)

    def __init__(self, space, save: bool = True):
        super().__init__(space)
        self.save = save
        self.seeds: list[int] = []

    def evaluate(self, architecture, context):
        self.seeds.append(context.seed)
        torch.manual_seed(context.seed)
        model = nn.Sequential(nn.Linear(FEATURES, int(architecture["width"])), nn.ReLU(), nn.Linear(int(architecture["width"]), 2))
        x, y = _data(0)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(30):
            optimizer.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        if self.save:
            torch.save({"width": int(architecture["width"]), "state": model.state_dict()}, Path(context.directory) / "linear.pt")
        return {"score": float((model(x).argmax(1) == y).float().mean())}


class LinearDeployment:
    metric = "accuracy"

    def __init__(self, evaluator):
        self.evaluator = evaluator
        self.loaded: list[Path] = []

    def load(self, directory):
        path = Path(directory) / "linear.pt"
        if not path.is_file():
            return None
        saved = torch.load(path, weights_only=True)
        model = nn.Sequential(nn.Linear(FEATURES, saved["width"]), nn.ReLU(), nn.Linear(saved["width"], 2))
        model.load_state_dict(saved["state"])
        self.loaded.append(Path(directory))
        return DeployableModel(model=model.eval(), example_inputs=torch.zeros(1, FEATURES))

    def data(self, calibration_samples, seed):
        x, y = _data(1)
        return DeployData(train=[(x[i : i + 32], y[i : i + 32]) for i in range(0, len(x), 32)], calibration=x[:calibration_samples], evaluation=(x, y))

    def score(self, model):
        x, y = _data(1)
        with torch.no_grad():
            return float((model(x).argmax(1) == y).float().mean())


ADAPTERS: list[LinearDeployment] = []


def _adapter(evaluator):
    ADAPTERS.append(LinearDeployment(evaluator))
    return ADAPTERS[-1]


@pytest.fixture
def pm():
    listed = listed_strategy([{"width": 4}, {"width": 8}])
    return register_plugin(
        get_plugin_manager(fresh=True),
        "linear_plugin",
        nasforge_register_strategies=lambda register: register("listed", listed),
        nasforge_register_evaluators=lambda register: register("linear", LinearEvaluator),
        nasforge_register_deploy_adapters=lambda register: register("linear", _adapter),
    )


def config(tmp_path, evaluator="linear", options=None, **sections):
    return validate_config({
        "name": "contract",
        "space": {"choices": [{"name": "width", "values": [4, 8]}]},
        "strategy": {"name": "listed"},
        "evaluator": {"name": evaluator, "options": options or {}},
        "objectives": [{"metric": "score", "direction": "maximize"}] if evaluator == "linear" else [{"metric": "y", "direction": "maximize"}],
        "budget": {"trials": 2},
        "seed": 3,
        "output": str(tmp_path),
        **sections,
    })


def test_the_adapter_is_a_deploy_adapter():
    assert isinstance(LinearDeployment(None), DeployAdapter)


def test_a_plugin_evaluator_with_an_adapter_is_compressed_and_exported(tmp_path, pm):
    ADAPTERS.clear()
    cfg = config(tmp_path, compress=[{"name": "magnitude", "options": {"sparsity": 0.5}}], export={"formats": ["onnx"], "calibration_samples": 16, "latency_runs": 3})
    experiment = Experiment.create(cfg, plugin_manager=pm)
    result = experiment.run()
    rows = json.loads((experiment.directory / "deploy" / "summary.json").read_text())
    assert [(r["variant"], r["format"]) for r in rows] == [("uncompressed", "onnx"), ("magnitude", "onnx")]
    assert ADAPTERS[-1].loaded == [experiment.trial_directory(result.best.number)]  # the saved model, no retraining
    for r in rows:
        assert (experiment.directory / "deploy" / r["file"]).is_file()
        assert 0.0 <= r["torch_test_accuracy"] <= 1.0 and r["ort_latency_ms"] > 0
    width = result.best.architecture["width"]
    assert rows[0]["params"] == FEATURES * width + width + 2 * width + 2


def test_a_trial_without_a_saved_model_is_retrained_with_its_own_seed(tmp_path, pm):
    ADAPTERS.clear()
    cfg = config(tmp_path, options={"save": False}, export={"formats": ["onnx"], "calibration_samples": 16, "latency_runs": 3})
    experiment = Experiment.create(cfg, plugin_manager=pm)
    with pytest.raises(Exception, match="saved no model"):
        experiment.run()  # retrained, but this evaluator never saves: said loudly
    best = experiment.result().best
    assert experiment.evaluator.seeds[-1] == experiment.trial_seed(best.number)


def test_an_evaluator_without_an_adapter_fails_before_the_experiment_exists(tmp_path, pm):
    cfg = validate_config({
        "name": "no-adapter",
        "space": {"choices": [{"name": "x", "values": [1, 2]}]},
        "strategy": {"name": "listed"},
        "evaluator": {"name": "function", "options": {"function": "math:fabs"}},
        "objectives": [{"metric": "y", "direction": "maximize"}],
        "budget": {"trials": 1},
        "output": str(tmp_path),
        "export": ["onnx"],
    })
    # checked by nasforge_check_config when the experiment is created: no folder, no trial
    with pytest.raises(ConfigError, match="evaluator 'function' registered no deploy adapter.*linear, trainer"):
        Experiment.create(cfg, plugin_manager=pm)
    assert list(tmp_path.iterdir()) == []


class _Flaky:
    """Exporter test double around the real ONNX exporter: counts calls, can be told to fail."""

    calls: list[str] = []
    interrupt_on: str | None = None  # a variant label: stop the process there, like a kill
    bad_parity = False

    @classmethod
    def make(cls):
        from nasforge.export.exporters import OnnxExporter
        from nasforge.export.parity import ParityError

        class Flaky(OnnxExporter):
            name = "flaky"

            def export(self, model, sample_inputs, out_dir, name, **kwargs):
                cls.calls.append(name)
                if name == cls.interrupt_on:
                    raise KeyboardInterrupt
                result = super().export(model, sample_inputs, out_dir, name, **kwargs)
                if cls.bad_parity:
                    raise ParityError(f"{result.path} does not match (test double)", result.parity)
                return result

        return Flaky


@pytest.fixture
def flaky_pm(pm):
    _Flaky.calls, _Flaky.interrupt_on, _Flaky.bad_parity = [], None, False
    return register_plugin(pm, "flaky_exporter", nasforge_register_exporters=lambda register: register("flaky", _Flaky.make()))


def test_a_deploy_step_cut_short_resumes_where_it_stopped_and_the_status_waits_for_it(tmp_path, flaky_pm):
    from nasforge.core.store import Store

    cfg = config(tmp_path, compress=[{"name": "magnitude", "options": {"sparsity": 0.5}}], export={"formats": ["flaky"], "calibration_samples": 16, "latency_runs": 3})
    experiment = Experiment.create(cfg, plugin_manager=flaky_pm)
    _Flaky.interrupt_on = "magnitude"  # the uncompressed model is exported, then the process "dies"
    with pytest.raises(KeyboardInterrupt):
        experiment.run()
    experiment.close()
    with Store(experiment.directory, read_only=True) as store:
        assert store.get_meta("status") == "interrupted", "a search whose deploy step did not finish is not 'finished'"
    assert not (experiment.directory / "deploy" / "summary.json").exists()
    assert _Flaky.calls == ["uncompressed", "magnitude"]
    _Flaky.interrupt_on = None
    resumed = Experiment.resume(experiment.directory, plugin_manager=flaky_pm)
    resumed.run()
    resumed.close()
    assert _Flaky.calls == ["uncompressed", "magnitude", "magnitude"], "the finished export was not done again"
    rows = json.loads((experiment.directory / "deploy" / "summary.json").read_text())
    assert [(r["variant"], r["format"]) for r in rows] == [("uncompressed", "flaky"), ("magnitude", "flaky")]
    assert all(Path(r["file"]).is_file() for r in rows)
    with Store(experiment.directory, read_only=True) as store:
        assert store.get_meta("status") == "finished"
    saved = torch.load(next((experiment.directory / "deploy").glob("trial-*/magnitude.pt")), weights_only=True)
    assert set(saved) == {"state_dict"}, "deploy/*.pt hold weights, never a pickled module"


def test_a_file_that_fails_its_parity_check_is_removed_from_deploy(tmp_path, flaky_pm):
    _Flaky.bad_parity = True
    cfg = config(tmp_path, export={"formats": ["flaky"], "calibration_samples": 16, "latency_runs": 3})
    experiment = Experiment.create(cfg, plugin_manager=flaky_pm)
    experiment.run()
    rows = json.loads((experiment.directory / "deploy" / "summary.json").read_text())
    assert len(rows) == 1 and "does not match" in rows[0]["parity_error"]
    left = sorted(p.name for p in (experiment.directory / "deploy").rglob("*") if p.is_file())
    assert not any(name.endswith(".onnx") or "card" in name for name in left), left
