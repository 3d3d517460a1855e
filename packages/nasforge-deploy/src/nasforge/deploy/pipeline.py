"""After the search: retrain, compress, fine-tune, export, check and benchmark the winner(s).

The deploy stage (distribution nasforge-deploy, plugin ``deploy``). When an experiment's config
has a ``compress:`` or ``export:`` section, :func:`deploy_experiment` (called from the
``nasforge_after_experiment`` hook) takes the best trial (or every trial of the Pareto front) and,
for each:

1. loads its trained model from the trial folder, or retrains it at full fidelity when the
   trial ran at a reduced fidelity or saved no model (``retrain``);
2. applies each compression variant (one registered compressor with its options, fine-tuning and
   distillation included) to a copy of that model;
3. exports the uncompressed model and every variant in each format (``onnx``, ``onnx-int8``,
   ``onnx-fp16`` or a plugin's exporter), checking numeric parity on real samples;
4. measures test accuracy (of the exported file), parameters, FLOPs, file size and onnxruntime
   CPU latency at batch 1 with a fixed thread count;

Everything that depends on the evaluator (how a trained model is saved and rebuilt, its example
inputs, its data and its score) comes from the deploy adapter registered for the evaluator's
name (:mod:`nasforge.core.deployment`, hook ``nasforge_register_deploy_adapters``).

and writes ``deploy/summary.json`` plus a table that ``nasforge run`` prints after the search.

Config (both sections optional)::

    compress:
      targets: best              # or: pareto
      retrain: auto              # auto | always | never
      variants:
        - name: channel          # a registered compressor
          options: {ratio: 0.5, finetune: {epochs: 3, distill: true}}
    export:
      formats: [onnx, onnx-int8]
      calibration_samples: 256   # real training samples for int8 calibration and parity
      latency_threads: 1
      latency_runs: 50
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from rich.table import Table

from nasforge.core.deployment import DeployableModel, DeployAdapter
from nasforge.core.errors import ConfigError, UserError
from nasforge.core.evaluator import TrialContext


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Variant(_Strict):
    """One compressed variant: a registered compressor and its options."""

    name: str
    label: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class CompressSection(_Strict):
    targets: Literal["best", "pareto"] = "best"
    retrain: Literal["auto", "always", "never"] = "auto"
    variants: list[Variant] = Field(default_factory=list)

    @field_validator("variants")
    @classmethod
    def _unique_labels(cls, v: list[Variant]) -> list[Variant]:
        labels = [x.label or x.name for x in v]
        if len(set(labels)) != len(labels):
            raise ValueError(f"variants need distinct labels (give 'label' to repeat a compressor), got {labels}")
        return v


class ExportSection(_Strict):
    formats: list[str] = Field(default_factory=lambda: ["onnx"], min_length=1)
    calibration_samples: int = Field(default=256, ge=1)
    latency_threads: int = Field(default=1, ge=1)
    latency_runs: int = Field(default=50, ge=1)


class DeploySpec(_Strict):
    compress: CompressSection = CompressSection()
    export: ExportSection | None = None


def parse_sections(compress: Any, export: Any) -> DeploySpec | None:
    """Validate the ``compress``/``export`` config sections; ``None`` when both are absent."""
    if compress is None and export is None:
        return None
    if isinstance(compress, list):  # shorthand: a list of variants
        compress = {"variants": compress}
    data: dict[str, Any] = {}
    if compress is not None:
        data["compress"] = compress
    if export is not None:
        data["export"] = {"formats": export} if isinstance(export, list) else export
    try:
        return DeploySpec.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        raise ConfigError(field, message) from None


def _log(message: str) -> None:
    print(f"deploy: {message}", file=sys.stderr, flush=True)


def _check_components(experiment: Any, spec: DeploySpec) -> None:
    pm = experiment.pm
    for i, variant in enumerate(spec.compress.variants):
        try:
            pm.get("compressor", variant.name)
        except UserError as exc:
            raise ConfigError(f"compress.variants[{i}].name", str(exc)) from None
    for i, fmt in enumerate(spec.export.formats if spec.export else []):
        try:
            pm.get("exporter", fmt)
        except UserError as exc:
            raise ConfigError(f"export.formats[{i}]", str(exc)) from None
    name = experiment.config.evaluator.name
    if name not in pm.components("deploy_adapter"):
        available = ", ".join(sorted(pm.components("deploy_adapter"))) or "none"
        raise ConfigError(
            "compress" if experiment.config.compress is not None else "export",
            f"evaluator {name!r} registered no deploy adapter, so its trained models cannot be compressed or exported after the search "
            f"(evaluators with one: {available}); use 'nasforge compress'/'nasforge export' on a model of your own",
        )


def adapter_for(experiment: Any) -> DeployAdapter:
    """The deploy adapter registered for the experiment's evaluator, built on its evaluator instance."""
    factory = experiment.pm.get("deploy_adapter", experiment.config.evaluator.name)
    return factory(experiment.evaluator)


def check_experiment(experiment: Any) -> None:
    """Validate the sections before any trial runs, so a typo costs no search time."""
    spec = parse_sections(experiment.config.compress, experiment.config.export)
    if spec is not None:
        _check_components(experiment, spec)


def deploy_experiment(experiment: Any, result: Any) -> None:
    """Compress and export the experiment's winner(s) when its config asks for it."""
    spec = parse_sections(experiment.config.compress, experiment.config.export)
    if spec is None or result.stop_reason == "interrupted":
        return
    targets = result.pareto if spec.compress.targets == "pareto" and result.pareto else ([result.best] if result.best else [])
    if not targets:
        _log("no trial completed, nothing to compress or export")
        return
    adapter = adapter_for(experiment)
    rows = []
    for trial in targets:
        rows.extend(deploy_trial(experiment, trial, spec, adapter))
    out = experiment.directory / "deploy" / "summary.json"
    out.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    experiment.summaries.append(summary_table(rows))
    experiment.summaries.append(f"deployable models and model cards: {out.parent}")


def _trained_model(experiment: Any, trial: Any, spec: DeploySpec, workdir: Path, adapter: DeployAdapter) -> DeployableModel:
    trial_dir = experiment.trial_directory(trial.number)
    reduced = trial.fidelity is not None
    skip_saved = spec.compress.retrain == "always" or (spec.compress.retrain == "auto" and reduced)
    saved = None if skip_saved else adapter.load(trial_dir)
    retrain = skip_saved or (spec.compress.retrain == "auto" and saved is None)
    if not retrain:
        if saved is None:
            raise UserError(f"trial {trial.number} saved no trained model and compress.retrain is 'never'")
        return saved
    _log(f"retraining trial {trial.number} at full fidelity")
    directory = workdir / "retrained"
    directory.mkdir(parents=True, exist_ok=True)
    context = TrialContext(number=trial.number, seed=experiment.trial_seed(trial.number), directory=directory)
    experiment.evaluator.evaluate(trial.architecture, context)
    retrained = adapter.load(directory)
    if retrained is None:
        raise UserError(
            f"retraining trial {trial.number} saved no model in {directory}; the evaluator must save its trained model "
            "(for the trainer: save_model: true) for compress/export to work"
        )
    return retrained


def deploy_trial(experiment: Any, trial: Any, spec: DeploySpec, adapter: DeployAdapter | None = None) -> list[dict[str, Any]]:
    """Compress and export one trial's model; one summary row per (variant, format)."""
    from nasforge.compression._utils import count_macs, count_params
    from nasforge.compression.base import ModelSpec as CompressionSpec
    from nasforge.export.benchmark import OnnxRuntimeBenchmark
    from nasforge.export.parity import ParityError

    adapter = adapter if adapter is not None else adapter_for(experiment)
    workdir = experiment.directory / "deploy" / f"trial-{trial.number:05d}"
    workdir.mkdir(parents=True, exist_ok=True)
    trained = _trained_model(experiment, trial, spec, workdir, adapter)
    model = trained.model
    model.eval()
    example = trained.example_inputs
    data = adapter.data(spec.export.calibration_samples if spec.export else 256, experiment.config.seed)
    train_loader, calib_x = data.train, data.calibration
    # no stacked evaluation set (a task not scored by arg-max accuracy, e.g. recommendation):
    # exported files are scored by the adapter itself, through onnxruntime
    evaluation = data.evaluation

    models: list[tuple[str, torch.nn.Module, dict[str, Any]]] = [("uncompressed", model, {})]
    for variant in spec.compress.variants:
        label = variant.label or variant.name
        _log(f"trial {trial.number}: compressing with {label}")
        compressor = _instantiate(experiment.pm.get("compressor", variant.name), variant, label)
        cspec = None
        if trained.builder is not None and trained.architecture is not None and trained.input_shape is not None and trained.num_classes is not None:
            cspec = CompressionSpec(space=trained.builder, architecture=dict(trained.architecture), input_shape=tuple(trained.input_shape), num_classes=trained.num_classes)
        result = compressor.compress(model, example, data=train_loader, spec=cspec)
        models.append((label, result.model.eval(), result.report.to_dict()))
        torch.save(result.model, workdir / f"{label}.pt")

    rows: list[dict[str, Any]] = []
    for label, m, report in models:
        base = {
            "trial": trial.number,
            "variant": label,
            "params": float(count_params(m)),
            "flops": float(2 * count_macs(m, example)),  # FlopCounterMode counts 2 FLOPs per multiply-accumulate
            "torch_test_accuracy": float(adapter.score(m)),
            "metric": str(getattr(adapter, "metric", "accuracy")),
        }
        if report:
            base["compression"] = {k: report[k] for k in ("params_ratio", "macs_ratio", "sparsity", "removed_blocks", "skipped", "notes") if k in report}
        if spec.export is None:
            rows.append(base)
            continue
        for fmt in spec.export.formats:
            _log(f"trial {trial.number}: exporting {label} as {fmt}")
            exporter = experiment.pm.get("exporter", fmt)()
            try:
                exported = exporter.export(m, example, workdir, label, calibration=calib_x, evaluation=evaluation,
                                           source={"experiment": str(experiment.directory), "trial": trial.number, "architecture": trial.architecture.to_dict(), "variant": label})
            except ParityError as exc:
                # Loud, and kept out of the deployable set; the search and the other variants stand.
                _log(f"PARITY FAILED for {label} as {fmt}: {exc}")
                rows.append({**base, "format": fmt, "parity_error": str(exc)})
                continue
            # input_shape: the example's own per-sample shape fills symbolic axes such as a text model's sequence length
            bench = OnnxRuntimeBenchmark(exported.path, batch_sizes=(1,), threads=(spec.export.latency_threads,), providers=["CPUExecutionProvider"],
                                         runs=spec.export.latency_runs, input_shape=_sample_shape(example)).run()
            latency = next((r.median_ms for r in bench.records if r.batch_size == 1), math.nan)
            card_accuracy = exported.card.get("metrics", {}).get("accuracy")
            if evaluation is None:
                card_accuracy = adapter.score(OnnxRuntimeModule(exported.path))
            rows.append({
                **base,
                "format": fmt,
                "file": str(exported.path),
                "file_kb": exported.path.stat().st_size / 1024,
                "accuracy": float(card_accuracy) if card_accuracy is not None else base["torch_test_accuracy"],
                "ort_latency_ms": latency,
                "ort_threads": spec.export.latency_threads,
                "parity_max_abs_diff": getattr(exported.parity, "max_abs_diff", None),
            })
    reference = next((r for r in rows if r["variant"] == "uncompressed" and r.get("format") in (None, "onnx")), rows[0])
    for r in rows:
        if r.get("ort_latency_ms") and reference.get("ort_latency_ms"):
            r["speedup"] = reference["ort_latency_ms"] / r["ort_latency_ms"]
        if r.get("file_kb") and reference.get("file_kb"):
            r["size_ratio"] = reference["file_kb"] / r["file_kb"]
    return rows


def _sample_shape(example: Any) -> tuple[int, ...] | None:
    first = example[0] if isinstance(example, (tuple, list)) else example
    return tuple(int(d) for d in first.shape[1:]) if isinstance(first, torch.Tensor) else None


class OnnxRuntimeModule(torch.nn.Module):
    """An ``.onnx`` file run by onnxruntime behind a ``torch.nn.Module`` face (one input, first output),
    so an adapter's ``score`` measures the exported file exactly as it measures the PyTorch model."""

    def __init__(self, path: Any) -> None:
        super().__init__()
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(self.session.run(None, {self.input_name: x.detach().cpu().numpy()})[0])


def _instantiate(cls: Any, variant: Variant, label: str) -> Any:
    from nasforge.core.experiment import instantiate

    return instantiate(cls, (), dict(variant.options), f"compress.variants[{label}].options", f"compressor {variant.name!r}")


def summary_table(rows: list[dict[str, Any]]) -> Table:
    """One row per exported file: the uncompressed model first, then each variant."""
    several = len({r["trial"] for r in rows}) > 1
    table = Table(title="Deployable models: test accuracy, onnxruntime CPU latency at batch 1", title_justify="left")
    metric = rows[0].get("metric", "accuracy") if rows else "accuracy"
    columns = (["trial"] if several else []) + ["model", "acc" if metric == "accuracy" else metric, "params", "FLOPs", "KB", "ms", "speedup"]
    for col in columns:
        table.add_column(col, justify="left" if col == "model" else "right", no_wrap=True)
    for r in rows:
        fmt = r.get("format")
        name = r["variant"] if fmt is None else f"{r['variant']} {fmt.removeprefix('onnx-') if fmt != 'onnx' else 'fp32'}"
        if "parity_error" in r:
            table.add_row(*([str(r["trial"])] if several else []), name, "parity check failed: not exported", *[""] * 5)
            continue
        cells = [
            name,
            f"{r.get('accuracy', r['torch_test_accuracy']):.4f}",
            f"{r['params'] / 1e3:.1f}k",
            f"{r['flops'] / 1e6:.2f}M",
            f"{r['file_kb']:.0f}" if "file_kb" in r else "-",
            f"{r['ort_latency_ms']:.3f}" if "ort_latency_ms" in r else "-",
            f"{r['speedup']:.2f}x" if "speedup" in r else "-",
        ]
        table.add_row(*([str(r["trial"])] if several else []), *cells)
    table.caption = f"speedup vs the uncompressed fp32 ONNX model; onnxruntime intra_op_num_threads={rows[0].get('ort_threads', '-')}"
    return table
