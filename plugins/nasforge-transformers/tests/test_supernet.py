"""The one-shot super-network and the multi-trial evaluator, end to end on a tiny random BERT."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from nasforge.core.errors import ConfigError, UserError
from nasforge.core.evaluator import TrialContext
from nasforge_transformers.data import encode, load_text_classification
from nasforge_transformers.importance import encoder_shape
from nasforge_transformers.subnet_space import subnetwork_plan, transformer_subnet_space
from nasforge_transformers.supernet import MultiTrialEvaluator, OneShotEvaluator, SupernetOptions, train_supernet
from nasforge_transformers.testing import SENTENCES, tiny_model


@pytest.fixture(scope="module")
def sentiment_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "sentiment.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for _ in range(6):
            for j, text in enumerate(SENTENCES):
                writer.writerow([text, "pos" if j < 4 else "neg"])
    return path


def options(csv_path: Path, model_dir: Path, **extra):
    base = dict(
        model=str(model_dir), dataset=str(csv_path), dataset_options={"valid_fraction": 0.25}, max_seq_length=16,
        teacher_finetune={"max_steps": 6, "batch_size": 8, "lr": 1e-3}, importance_batches=2, eval_samples=None,
        latency_backend="torch", latency_runs=2, threads=1,
    )
    base.update(extra)
    return base


def context(tmp_path: Path, number: int = 0) -> TrialContext:
    return TrialContext(number=number, seed=number, directory=tmp_path / "trials" / f"{number:05d}")


def test_oneshot_trains_once_then_scores_subnetworks_in_seconds(tmp_path, sentiment_csv, tiny_bert_dir):
    space = transformer_subnet_space(num_layers=2)
    evaluator = OneShotEvaluator(space, supernet={"max_steps": 4, "batch_size": 8, "lr": 1e-3}, **options(sentiment_csv, tiny_bert_dir))
    evaluator.setup(tmp_path)
    folder = tmp_path / "transformer"
    for name in ("teacher/config.json", "teacher_logits.pt", "importance.json", "supernet.pt", "progress.json", "teacher_eval.json"):
        assert (folder / name).is_file(), name
    assert not (folder / "supernet.ckpt").exists()
    big = {"layers": 2, "heads_1": 1.0, "ffn_1": 1.0, "heads_2": 1.0, "ffn_2": 1.0}
    small = {"layers": 1, "heads_1": 0.25, "ffn_1": 0.25}
    r_big = evaluator.evaluate(big, context(tmp_path, 0))
    r_small = evaluator.evaluate(small, context(tmp_path, 1))
    for r in (r_big, r_small):
        assert set(OneShotEvaluator.metrics) <= set(r.metrics)
        assert 0.0 <= r.metrics["accuracy"] <= 1.0 and r.metrics["latency_ms"] > 0
    assert r_small.metrics["params"] < r_big.metrics["params"]
    assert r_small.metrics["layers"] == 1
    assert (tmp_path / "trials" / "00001" / "subnet.json").is_file()
    # the full sub-network's params equal the teacher's
    teacher = torch.nn.Module()
    from transformers import AutoModelForSequenceClassification

    teacher = AutoModelForSequenceClassification.from_pretrained(folder / "teacher")
    assert r_big.metrics["params"] == sum(p.numel() for p in teacher.parameters())
    evaluator.teardown()
    # a second set-up (resume, or a worker process) reuses every stage instead of training again
    stamp = (folder / "supernet.pt").stat().st_mtime_ns
    again = OneShotEvaluator(space, supernet={"max_steps": 4, "batch_size": 8, "lr": 1e-3}, **options(sentiment_csv, tiny_bert_dir))
    again.setup(tmp_path)
    assert (folder / "supernet.pt").stat().st_mtime_ns == stamp
    assert again.evaluate(small, context(tmp_path, 2)).metrics["accuracy"] == r_small.metrics["accuracy"]
    again.teardown()


def test_supernet_training_resumes_after_a_crash_to_the_same_weights(tmp_path, sentiment_csv):
    model, tokenizer = tiny_model("encoder", seed=4)
    data = load_text_classification(str(sentiment_csv), valid_fraction=0.25)
    train = encode(tokenizer, data.train, 16)
    teacher = torch.randn(len(train), 2)
    space = transformer_subnet_space(num_layers=2)
    shape = encoder_shape(model)
    def plan_of(arch):
        return subnetwork_plan(arch, shape)

    opts = SupernetOptions(max_steps=6, batch_size=8, lr=1e-3, checkpoint_every=2, log_every=2)
    reference = tiny_model("encoder", seed=4)[0]
    info = train_supernet(reference, space, plan_of, train, teacher, opts, tmp_path / "ref.ckpt")
    assert info["steps"] == 6 and info["stop"] == "max_steps"

    calls = {"n": 0}

    def crashing(arch):
        calls["n"] += 1
        if calls["n"] > 4 * 5:  # 4 sub-networks per step: dies during step 6, after the step-4 checkpoint
            raise KeyboardInterrupt("kill")
        return plan_of(arch)

    with pytest.raises(KeyboardInterrupt):
        train_supernet(model, space, crashing, train, teacher, opts, tmp_path / "run.ckpt")
    assert (tmp_path / "run.ckpt").is_file()
    fresh = tiny_model("encoder", seed=99)[0]  # the checkpoint, not this init, must decide the result
    info = train_supernet(fresh, space, plan_of, train, teacher, opts, tmp_path / "run.ckpt")
    assert info["steps"] == 6
    for (name, a), b in zip(reference.state_dict().items(), fresh.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name
    # other options (not just another time budget) refuse the checkpoint
    with pytest.raises(UserError):
        train_supernet(fresh, space, plan_of, train, teacher, SupernetOptions(max_steps=6, batch_size=4), tmp_path / "run.ckpt")


def test_supernet_time_budget_stops_and_saves(tmp_path, sentiment_csv):
    model, tokenizer = tiny_model("encoder", seed=4)
    train = encode(tokenizer, load_text_classification(str(sentiment_csv), valid_fraction=0.25).train, 16)
    shape = encoder_shape(model)
    info = train_supernet(model, transformer_subnet_space(num_layers=2), lambda a: subnetwork_plan(a, shape), train, None,
                          SupernetOptions(max_steps=10_000, max_seconds=0.5, batch_size=8), tmp_path / "s.ckpt")
    assert info["stop"] == "max_seconds" and 0 < info["steps"] < 10_000
    assert (tmp_path / "s.ckpt").is_file()


def test_multitrial_finetunes_each_subnetwork(tmp_path, sentiment_csv, tiny_bert_dir):
    space = transformer_subnet_space(num_layers=2)
    evaluator = MultiTrialEvaluator(space, finetune_steps=3, finetune={"batch_size": 8, "lr": 1e-3}, save_model=True, **options(sentiment_csv, tiny_bert_dir))
    evaluator.setup(tmp_path)
    ctx = context(tmp_path, 3)
    result = evaluator.evaluate({"layers": 1, "heads_1": 0.5, "ffn_1": 0.25}, ctx)
    assert result.metrics["layers"] == 1 and 0 <= result.metrics["accuracy"] <= 1
    assert [step for step, _ in ctx.reports] == [3]
    state = torch.load(ctx.directory / "model.pt", weights_only=True)
    assert state["bert.encoder.layer.0.intermediate.dense.weight"].shape[0] == 16
    assert not (ctx.directory / "finetune.ckpt").exists()


def test_bad_options_are_config_errors(sentiment_csv, tiny_bert_dir):
    space = transformer_subnet_space(num_layers=2)
    for bad in ({"latency_backend": "tensorrt"}, {"supernet": {"max_step": 3}}, {"eval_samples": 0}, {"max_seq_length": 1}, {"teacher_finetune": {"epoch": 1}},
                {"latency_fusion": True}, {"latency_backend": "onnxruntime", "latency_fusion": "yes"}):
        with pytest.raises(ConfigError):
            OneShotEvaluator(space, **{**options(sentiment_csv, tiny_bert_dir), **bad})


def test_space_deeper_than_the_model_is_refused(tmp_path, sentiment_csv, tiny_bert_dir):
    evaluator = MultiTrialEvaluator(transformer_subnet_space(num_layers=4), **options(sentiment_csv, tiny_bert_dir))
    with pytest.raises(ConfigError, match="num_layers"):
        evaluator.setup(tmp_path)


def test_a_strategy_drives_the_oneshot_search_through_the_experiment_loop(tmp_path, sentiment_csv, tiny_bert_dir):
    from nasforge.core.config import validate_config
    from nasforge.core.experiment import Experiment

    config = validate_config({
        "name": "tiny-oneshot", "space": {"name": "transformer_subnet", "options": {"model": str(tiny_bert_dir)}},
        "strategy": {"name": "evolution"},
        "evaluator": {"name": "transformer_oneshot", "options": options(sentiment_csv, tiny_bert_dir, supernet={"max_steps": 2, "batch_size": 8})},
        "objectives": ["accuracy", "latency_ms:min"], "budget": {"trials": 4},
    })
    experiment = Experiment.create(config, directory=tmp_path / "run")
    try:
        result = experiment.run()
    finally:
        experiment.close()
    assert [t.state.value for t in result.trials] == ["complete"] * 4
    assert result.pareto and all("latency_ms" in t.metrics for t in result.pareto)
    assert (tmp_path / "run" / "transformer" / "supernet.pt").is_file()


def test_oneshot_trials_time_the_fused_graph_the_exporter_ships(tmp_path, sentiment_csv, tiny_bert_dir, monkeypatch):
    import nasforge_transformers.export as export
    import nasforge_transformers.latency as latency

    fused_calls = []
    real_optimize = export.optimize_transformer
    monkeypatch.setattr(export, "optimize_transformer", lambda src, dst: fused_calls.append(dst) or real_optimize(src, dst))
    space = transformer_subnet_space(num_layers=2)
    arch = {"layers": 1, "heads_1": 0.5, "ffn_1": 0.5}
    evaluator = OneShotEvaluator(space, supernet={"max_steps": 2, "batch_size": 8}, **options(sentiment_csv, tiny_bert_dir, latency_backend="onnxruntime"))
    assert evaluator.latency_fusion is True
    evaluator.setup(tmp_path)
    assert (tmp_path / "transformer" / "latency_reference.fused.onnx").is_file() and len(fused_calls) == 1  # the full model, fused once
    metrics = evaluator.evaluate(arch, context(tmp_path, 0)).metrics
    assert metrics["latency_ms"] > 0 and metrics["latency_ratio"] == pytest.approx(metrics["latency_ms"] / metrics["reference_latency_ms"])
    assert len(fused_calls) == 2
    plain = OneShotEvaluator(space, supernet={"max_steps": 2, "batch_size": 8},
                             **options(sentiment_csv, tiny_bert_dir, latency_backend="onnxruntime", latency_fusion=False))
    plain.setup(tmp_path)
    assert (tmp_path / "transformer" / "latency_reference.onnx").is_file()
    assert plain.evaluate(arch, context(tmp_path, 1)).metrics["latency_ms"] > 0
    assert len(fused_calls) == 2
    with pytest.raises(UserError, match="onnxruntime"):
        latency.measure_latency(tiny_model("encoder", seed=1)[0], "torch", fused=True)


def test_relative_latency_alternates_model_and_reference_in_rounds():
    from nasforge_transformers.latency import interleaved_medians, measure_relative_latency

    order = []
    medians = interleaved_medians({"a": lambda: order.append("a"), "b": lambda: order.append("b")}, runs=6, warmup=1, rounds=3)
    assert "".join(order) == "ab" + "aabb" * 3 and set(medians) == {"a", "b"}
    model = tiny_model("encoder", seed=1)[0]
    reference = tiny_model("encoder", seed=2)[0]
    calls = []
    for m, name in ((model, "m"), (reference, "r")):
        m.register_forward_pre_hook(lambda *_, n=name: calls.append(n))
    ms, reference_ms = measure_relative_latency(model, reference, "torch", seq_len=16, runs=10, warmup=1)
    assert ms > 0 and reference_ms > 0
    assert "".join(calls) == "mr" + "mmmmmrrrrr" * 2  # by default rounds of 5 calls each
    assert measure_relative_latency(model, None, "torch", seq_len=16, runs=2, warmup=1)[1] is None
    with pytest.raises(UserError, match="onnxruntime"):
        measure_relative_latency(model, "reference.onnx", "torch")


def test_latency_backends_time_a_classifier():
    from nasforge_transformers.latency import measure_latency

    model = tiny_model("encoder", seed=1)[0]
    for backend in ("onnxruntime", "torch"):
        assert measure_latency(model, backend, seq_len=16, runs=2, warmup=1) > 0
    with pytest.raises(UserError):
        measure_latency(model, "tensorrt")


def test_deploy_fine_tunes_the_extracted_winner_with_distillation_once(tmp_path, sentiment_csv, tiny_bert_dir, capsys):
    from nasforge_transformers.deploy import TransformerDeployment

    space = transformer_subnet_space(num_layers=2)
    small = {"layers": 1, "heads_1": 0.5, "ffn_1": 0.5}
    plain = OneShotEvaluator(space, supernet={"max_steps": 2, "batch_size": 8, "lr": 1e-3}, final_finetune_steps=0, **options(sentiment_csv, tiny_bert_dir, eval_split="train", eval_samples=8))
    plain.setup(tmp_path)
    trial = context(tmp_path, 0)
    plain.evaluate(small, trial)
    untuned = TransformerDeployment(plain).load(trial.directory).model.model
    assert not (trial.directory / "final_finetune.pt").exists()
    plain.teardown()
    tuned_eval = OneShotEvaluator(space, supernet={"max_steps": 2, "batch_size": 8, "lr": 1e-3}, final_finetune_steps=3, final_finetune={"batch_size": 8, "lr": 1e-3},
                                  **options(sentiment_csv, tiny_bert_dir, eval_split="train", eval_samples=8))
    tuned_eval.setup(tmp_path)                              # reuses the trained super-network
    capsys.readouterr()
    deployment = TransformerDeployment(tuned_eval)
    tuned = deployment.load(trial.directory).model.model
    # the whole training split, the slice the trials were scored on included: the winner is chosen
    whole = len(deployment._encoded("train"))
    assert whole > len(tuned_eval._state["train"])
    assert f"steps on {whole} sentences" in capsys.readouterr().err
    done = trial.directory / "final_finetune.pt"
    assert done.is_file() and not (trial.directory / "final_finetune.ckpt").exists()
    assert [p.shape for p in tuned.parameters()] == [p.shape for p in untuned.parameters()]     # the same extracted shape ...
    assert any(not torch.equal(a, b) for a, b in zip(tuned.state_dict().values(), untuned.state_dict().values()))  # ... trained further
    stamp = done.stat().st_mtime_ns
    again = TransformerDeployment(tuned_eval).load(trial.directory).model.model     # a resumed deploy stage does not train again
    assert done.stat().st_mtime_ns == stamp
    for a, b in zip(again.state_dict().values(), tuned.state_dict().values()):
        assert torch.equal(a, b)
    tuned_eval.teardown()
    for bad in ({"final_finetune_steps": -1}, {"final_finetune": {"lr": 0}}, {"eval_split": "dev"}):
        with pytest.raises(ConfigError):
            OneShotEvaluator(space, **options(sentiment_csv, tiny_bert_dir, **bad))
