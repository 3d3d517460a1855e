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
import os
import shutil
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


def check_config(config: Any, pm: Any) -> None:
    """The ``compress:``/``export:`` sections and the names they use, before any folder exists."""
    from types import SimpleNamespace

    spec = parse_sections(config.compress, config.export)
    if spec is not None:
        _check_components(SimpleNamespace(pm=pm, config=config), spec)


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
    state = DeployState(experiment.directory / "deploy", {"spec": spec.model_dump(mode="json"), "targets": [t.number for t in targets]})
    rows = []
    for trial in targets:
        rows.extend(deploy_trial(experiment, trial, spec, adapter, state))
    out = experiment.directory / "deploy" / "summary.json"
    _write_atomically(out, json.dumps(rows, indent=2))
    experiment.summaries.append(summary_table(rows))
    experiment.summaries.append(f"deployable models and model cards: {out.parent}")


def _write_atomically(path: Path, text: str) -> None:
    """Write a whole file or nothing: a kill leaves the previous version, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class DeployState:
    """``deploy/state.json``: which steps of the deploy stage are done, saved after each one.

    A step is one compression variant of one trial (its model saved as ``{state_dict, spec}``) or
    one exported (variant, format) file. A deploy stage that was killed or failed skips the steps
    recorded here when the experiment is resumed. A change of the ``compress``/``export`` sections
    or of the trials to deploy starts the record afresh.
    """

    def __init__(self, directory: Path, fingerprint: Any) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "state.json"
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))
        data: dict[str, Any] = {}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {}
        if data.get("fingerprint") != self.fingerprint:
            data = {}
        self.compressed: dict[str, Any] = dict(data.get("compressed", {}))
        self.exported: dict[str, Any] = dict(data.get("exported", {}))

    def save(self) -> None:
        _write_atomically(self.path, json.dumps({"fingerprint": self.fingerprint, "compressed": self.compressed, "exported": self.exported}, indent=2))


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


def deploy_trial(experiment: Any, trial: Any, spec: DeploySpec, adapter: DeployAdapter | None = None, state: DeployState | None = None) -> list[dict[str, Any]]:
    """Compress and export one trial's model; one summary row per (variant, format).

    Steps recorded in ``state`` are not done again. An exported file whose parity check fails is
    removed: only files that passed stay in ``deploy/``.
    """
    from nasforge.compression.base import ModelSpec as CompressionSpec
    from nasforge.deploy.compress_cli import load_compressed, save_compressed
    from nasforge.export.parity import ParityError
    from nasforge.torchutils import count_flops, count_params

    adapter = adapter if adapter is not None else adapter_for(experiment)
    workdir = experiment.directory / "deploy" / f"trial-{trial.number:05d}"
    workdir.mkdir(parents=True, exist_ok=True)
    state = state if state is not None else DeployState(experiment.directory / "deploy", {"trial": trial.number, "spec": spec.model_dump(mode="json")})
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
        key = f"{trial.number}/{label}"
        saved_file = workdir / f"{label}.pt"
        done = state.compressed.get(key)
        if done is not None and done.get("reloadable") and saved_file.is_file():
            _log(f"trial {trial.number}: {label} was compressed before; reusing {saved_file.name}")
            models.append((label, load_compressed(saved_file).eval(), dict(done.get("report", {}))))
            continue
        _log(f"trial {trial.number}: compressing with {label}")
        compressor = experiment.pm.create("compressor", variant.name, variant.options, field=f"compress.variants[{label}].options")
        cspec = None
        if trained.builder is not None and trained.architecture is not None and trained.input_shape is not None and trained.num_classes is not None:
            cspec = CompressionSpec(space=trained.builder, architecture=dict(trained.architecture), input_shape=tuple(trained.input_shape), num_classes=trained.num_classes)
        result = compressor.compress(model, example, data=train_loader, spec=cspec)
        report = result.report.to_dict()
        models.append((label, result.model.eval(), report))
        # Weights and the architecture that rebuilds them, never a pickled module: loading runs no code.
        if result.spec is not None:
            save_compressed(result.model, result.spec, saved_file)
        else:  # no builder to rebuild the compressed shapes from: weights only, compressed again on resume
            tmp = saved_file.with_name(saved_file.name + ".tmp")
            torch.save({"state_dict": result.model.state_dict()}, tmp)
            os.replace(tmp, saved_file)
        state.compressed[key] = {"reloadable": result.spec is not None, "report": json.loads(json.dumps(report, default=str))}
        state.save()

    rows: list[dict[str, Any]] = []
    for label, m, report in models:
        base = {
            "trial": trial.number,
            "variant": label,
            "params": float(count_params(m)),
            "flops": float(count_flops(m, example)),  # one sample, as the trainer's flops column
            "torch_test_accuracy": float(adapter.score(m)),
            "metric": str(getattr(adapter, "metric", "accuracy")),
        }
        if report:
            base["compression"] = {k: report[k] for k in ("params_ratio", "macs_ratio", "sparsity", "removed_blocks", "skipped", "notes") if k in report}
        if spec.export is None:
            rows.append(base)
            continue
        for fmt in spec.export.formats:
            key = f"{trial.number}/{label}/{fmt}"
            done = state.exported.get(key)
            if done is not None and ("parity_error" in done or Path(done.get("file", "")).is_file()):
                _log(f"trial {trial.number}: {label} as {fmt} was exported before; kept")
                rows.append(done)
                continue
            _log(f"trial {trial.number}: exporting {label} as {fmt}")
            exporter = experiment.pm.get("exporter", fmt)()
            # Export into a staging folder: files reach deploy/ only once their parity check passed.
            staging = workdir / f".staging-{label}-{fmt}"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            try:
                exported = exporter.export(m, example, staging, label, calibration=calib_x, evaluation=evaluation,
                                           source={"experiment": str(experiment.directory), "trial": trial.number, "architecture": trial.architecture.to_dict(), "variant": label})
            except ParityError as exc:
                # Loud, and kept out of the deployable set (the file is removed); the search and the other variants stand.
                shutil.rmtree(staging, ignore_errors=True)
                _log(f"PARITY FAILED for {label} as {fmt}: {exc}; the file was removed from {workdir}")
                row = {**base, "format": fmt, "parity_error": str(exc)}
                rows.append(row)
                state.exported[key] = row
                state.save()
                continue
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            for produced in sorted(staging.iterdir()):
                os.replace(produced, workdir / produced.name)
            shutil.rmtree(staging, ignore_errors=True)
            path = workdir / exported.path.name
            card_accuracy = exported.card.get("metrics", {}).get("accuracy")
            if evaluation is None:
                card_accuracy = adapter.score(OnnxRuntimeModule(path))
            row = {
                **base,
                "format": fmt,
                "file": str(path),
                "file_kb": path.stat().st_size / 1024,
                "accuracy": float(card_accuracy) if card_accuracy is not None else base["torch_test_accuracy"],
                "ort_threads": spec.export.latency_threads,
                "parity_max_abs_diff": getattr(exported.parity, "max_abs_diff", None),
            }
            rows.append(row)
            state.exported[key] = json.loads(json.dumps(row, default=str))
            state.save()
    files = {i: Path(r["file"]) for i, r in enumerate(rows) if r.get("file")}
    if files:
        _log(f"trial {trial.number}: timing {len(files)} files with onnxruntime, interleaved")
        from nasforge.export.benchmark import interleaved_latency

        timed = interleaved_latency(files, example, spec.export.latency_threads, spec.export.latency_runs)
        for i, (median, spread) in timed.items():
            rows[i]["ort_latency_ms"], rows[i]["latency_spread_ms"] = median, spread
    reference = next((r for r in rows if r["variant"] == "uncompressed" and r.get("format") in (None, "onnx")), rows[0])
    for r in rows:
        if r.get("ort_latency_ms") and reference.get("ort_latency_ms"):
            r["speedup"] = reference["ort_latency_ms"] / r["ort_latency_ms"]
        if r.get("file_kb") and reference.get("file_kb"):
            r["size_ratio"] = reference["file_kb"] / r["file_kb"]
    mark_dominated(rows)
    return rows


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


def _clearly_faster(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """``a`` is faster than ``b`` by more than the measurement spread of either."""
    margin = max(a.get("latency_spread_ms", 0.0), b.get("latency_spread_ms", 0.0))
    return a["ort_latency_ms"] + margin < b["ort_latency_ms"]


def mark_dominated(rows: list[dict[str, Any]], accuracy_tolerance: float = 0.0) -> None:
    """Mark each exported file another one beats: no less accurate, no larger, no slower (beyond
    the measured spread), and better on one of them. Then recommend one file and say why: the
    fastest undominated file within one accuracy point of the most accurate (ties: the smaller).
    """
    files = [r for r in rows if r.get("file") and math.isfinite(r.get("ort_latency_ms", math.nan))]
    for r in files:
        r.pop("dominated", None), r.pop("dominated_by", None), r.pop("recommended", None), r.pop("recommendation", None)
        for other in files:
            if other is r:
                continue
            acc_ok = other["accuracy"] >= r["accuracy"] - accuracy_tolerance
            size_ok = other["file_kb"] <= r["file_kb"]
            speed_ok = not _clearly_faster(r, other)
            better = other["accuracy"] > r["accuracy"] + accuracy_tolerance or other["file_kb"] < r["file_kb"] * 0.98 or _clearly_faster(other, r)
            if acc_ok and size_ok and speed_ok and better:
                r["dominated"] = True
                r["dominated_by"] = _name(other)
                break
    candidates = [r for r in files if not r.get("dominated")]
    if not candidates:
        return
    best_acc = max(r["accuracy"] for r in candidates)
    close = [r for r in candidates if r["accuracy"] >= best_acc - 0.01]
    pick = min(close, key=lambda r: (r["ort_latency_ms"], r["file_kb"]))
    pick["recommended"] = True
    reference = next((r for r in files if r["variant"] == "uncompressed" and r.get("format") == "onnx"), None)
    why = [f"{_name(pick)}: the fastest file within 1 accuracy point of the most accurate undominated one ({best_acc * 100:.2f}%)"]
    if reference is not None and reference is not pick:
        why.append(f"{reference['ort_latency_ms'] / pick['ort_latency_ms']:.2f}x the speed and {reference['file_kb'] / pick['file_kb']:.2f}x smaller than the uncompressed fp32 file, "
                   f"accuracy {pick['accuracy'] * 100:.2f}% vs {reference['accuracy'] * 100:.2f}%")
    pick["recommendation"] = "; ".join(why)


def _name(row: dict[str, Any]) -> str:
    fmt = row.get("format")
    return row["variant"] if fmt is None else f"{row['variant']} {fmt.removeprefix('onnx-') if fmt != 'onnx' else 'fp32'}"


def summary_table(rows: list[dict[str, Any]]) -> Any:
    """One row per exported file (uncompressed first), dominated files marked, the recommended one named.

    It fits an 80-column terminal or CI log: the numbers never wrap, the model names may, and what
    needs a sentence (which file dominates, why a parity check failed, why one is recommended) is
    printed under the table instead of in a cell that would squeeze every other column away.
    """
    from rich.console import Group
    from rich.text import Text

    from nasforge.core.formatting import human

    several = len({r["trial"] for r in rows}) > 1
    table = Table(title="Deployable models: test accuracy, onnxruntime CPU latency at batch 1", title_justify="left",
                  box=None, padding=(0, 1), pad_edge=False, header_style="bold underline")
    metric = rows[0].get("metric", "accuracy") if rows else "accuracy"
    if several:
        table.add_column("trial", justify="right", no_wrap=True)
    words = [w for r in rows for w in _name(r).split()]
    table.add_column("model", min_width=max([5, *map(len, words)]))  # wraps between words, never inside one
    for col in ("acc %" if metric == "accuracy" else metric, "params", "FLOPs", "KB", "ort ms", "speedup"):
        table.add_column(col, justify="right", no_wrap=True)
    table.add_column("", min_width=len("recommended"))
    notes = []
    for r in rows:
        name = _name(r)
        lead = [str(r["trial"])] if several else []
        where = f" (trial {r['trial']})" if several else ""
        if "parity_error" in r:
            table.add_row(*lead, name, *["-"] * 6, "parity failed", style="dim")
            notes.append(f"{name}{where}: not exported, the ONNX file failed its parity check: {r['parity_error']}")
            continue
        if r.get("dominated"):
            notes.append(f"{name}{where} is dominated by {r['dominated_by']}: "
                         "that file is no less accurate, no larger and no slower, and better on one of them")
        latency = human(r.get("ort_latency_ms"))
        if r.get("latency_spread_ms") is not None and r.get("ort_latency_ms"):
            latency += f" ±{100 * r['latency_spread_ms'] / r['ort_latency_ms']:.0f}%"
        table.add_row(
            *lead,
            name,
            human(r.get("accuracy", r["torch_test_accuracy"]), metric),
            human(r["params"]),
            human(r["flops"]),
            human(r.get("file_kb")),
            latency,
            f"{human(r['speedup'])}x" if "speedup" in r else "-",
            "recommended" if r.get("recommended") else ("dominated" if r.get("dominated") else ""),
            style="dim" if r.get("dominated") else ("bold" if r.get("recommended") else None),
        )
    how = (f"ort ms: onnxruntime, intra_op_num_threads={rows[0].get('ort_threads', '-') if rows else '-'}, every file timed in one interleaved loop; "
           "± is the range of the round medians; speedup vs the uncompressed fp32 ONNX file")
    reason = next((r["recommendation"] for r in rows if r.get("recommendation")), None)
    lines = [Text(line) for line in [how, *notes] + ([f"recommended: {reason}"] if reason else [])]
    return Group(table, *lines)
