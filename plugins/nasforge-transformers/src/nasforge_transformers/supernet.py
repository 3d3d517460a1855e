"""One-shot weight-sharing search over a pretrained transformer's sub-networks, and its multi-trial twin.

Two evaluators share one preparation, done once per experiment in ``setup`` and kept in the
experiment folder under ``transformer/`` (every stage is skipped when its file is already there,
so ``nasforge resume`` after a crash or ``kill -9`` picks up where it stopped):

1. the **teacher**: the ``teacher`` folder when given (a model already fine-tuned on the task),
   else ``model`` fine-tuned on the training data (``teacher_finetune`` options; resumable from
   ``teacher.ckpt``; saved to ``teacher/``);
2. the teacher's **logits** on the training data, computed once (``teacher_logits.pt``);
3. **importance** of every head, FFN neuron and layer (gradient of the loss on a seeded sample of
   ``importance_batches`` training batches, ``importance.json``) and **rewiring**: the most
   important heads and neurons move first, so every sub-network inherits them;
4. ``transformer_oneshot`` only: the **elastic super-network**, trained once (``supernet.pt``;
   checkpoints in ``supernet.ckpt``; progress lines and ``progress.json``). Each step runs the
   sandwich rule on one batch padded to its longest sentence: the largest sub-network, the
   smallest and ``random_subnets`` random ones, each distilled from the teacher's cached logits
   (``alpha * T^2 * KL + (1 - alpha) * cross-entropy``); gradients are summed, then one AdamW
   step. Training stops at ``max_steps`` or after ``max_seconds`` (summed over resumes).

A trial of ``transformer_oneshot`` switches the super-network to its sub-network with gates
(no training: seconds per trial) and measures it; a trial of ``transformer_multitrial`` cuts its
sub-network out of the rewired teacher and fine-tunes it with distillation for ``finetune_steps``
(resumable from the trial's ``finetune.ckpt``). Both report ``accuracy`` and ``loss`` on a
seeded, stratified sample of ``eval_samples`` dev sentences, ``params`` (of the physically
extracted sub-network), ``latency_ms`` (the extracted sub-network, ``latency_backend`` on the CPU
with ``latency_threads`` threads, batch ``latency_batch``, ``latency_seq_len`` tokens; with
onnxruntime the graph after transformer fusion, as exported, unless ``latency_fusion: false``),
``latency_ratio`` (that latency over the full model's, ``reference_latency_ms``, timed in the same
interleaved loop: a constraint such as ``latency_ratio <= 0.5`` holds on a machine whose speed
drifts during the search, where one in milliseconds would move with it),
``latency_threads``, ``layers`` and ``eval_seconds``; each trial writes ``subnet.json`` (the
architecture and its index plan) to its folder.

Config example (the defaults)::

    space: {name: transformer_subnet}
    evaluator:
      name: transformer_oneshot
      options:
        model: minilm
        dataset: sst2
        dataset_options: {root: ../shared/data/text}
        max_seq_length: 64
        teacher_finetune: {epochs: 1, batch_size: 32, lr: 5e-5}
        supernet: {max_steps: 600, max_seconds: null, batch_size: 32, lr: 3e-5, random_subnets: 2}
        eval_samples: 872
        latency_backend: onnxruntime
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nasforge.core.errors import ConfigError, UserError
from nasforge.core.evaluator import Evaluator, TrialContext
from nasforge.core.records import Architecture, EvaluationResult
from nasforge.core.space import SearchSpace
from nasforge_transformers.subnet_space import ModelShape, SubnetPlan, extreme_architecture, subnetwork_plan
from nasforge_transformers.training import TrainingLoop, TrainingOptions, atomic_save

OPTION = "evaluator.options"
FOLDER = "transformer"


@dataclass
class SupernetOptions(TrainingOptions):
    """How the elastic super-network is trained; every field is an option of ``supernet`` (the
    shared ones are :class:`~nasforge_transformers.training.TrainingOptions`')."""

    max_steps: int = 600
    max_seconds: float | None = None
    lr: float = 3e-5
    warmup_ratio: float = 0.05
    random_subnets: int = 2
    alpha: float = 0.9
    checkpoint_every: int = 20
    log_every: int = 10

    section: ClassVar[str] = f"{OPTION}.supernet"

    def checks(self) -> list[tuple[str, bool, str]]:
        return [
            ("max_steps", self.max_steps >= 1, ">= 1"), ("random_subnets", self.random_subnets >= 0, ">= 0"), ("log_every", self.log_every >= 1, ">= 1"),
            ("max_seconds", self.max_seconds is None or self.max_seconds > 0, "> 0 or null"), *super().checks(),
        ]

    @classmethod
    def error(cls, name: str | None, message: str, where: str | None = None) -> UserError:
        return ConfigError(f"{where or cls.section}{'.' + name if name else ''}", message)


def _log(message: str) -> None:
    print(f"[nasforge-transformers] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    import torch

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _atomic_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def train_supernet(
    model: Any,
    space: SearchSpace,
    plan_of: Any,
    train: Any,
    teacher_logits: Any,
    options: SupernetOptions,
    checkpoint: Path,
    progress_file: Path | None = None,
) -> dict[str, Any]:
    """Train ``model`` (rewired) as an elastic super-network in place; see the module docstring.

    ``plan_of(architecture)`` gives a sub-network's :class:`SubnetPlan`. ``checkpoint`` is written
    every ``checkpoint_every`` steps and when the time budget ends; if it exists when called,
    training continues from it (data order and sub-network samples depend only on the seed and
    the step, so a resumed run makes the same steps). Returns ``{"steps", "seconds", "stop", "losses"}``.
    """
    import torch

    from nasforge_transformers.importance import ElasticEncoder
    from nasforge_transformers.training import distillation_loss, forward_logits

    if teacher_logits is not None and int(teacher_logits.shape[0]) != len(train):
        raise UserError(f"teacher logits cover {teacher_logits.shape[0]} examples, the training data has {len(train)}")
    total = options.max_steps
    device = next(model.parameters()).device
    # a resumed run may change its time budget and how often it logs or saves, nothing else
    loop = TrainingLoop(model, options, total, checkpoint, len(train), what="super-network training", ignore=("max_seconds", "checkpoint_every", "log_every"))
    step, elapsed, losses = 0, 0.0, []
    state = loop.resume()
    if state is not None:
        step, elapsed, losses = int(state["step"]), float(state["seconds"]), list(state["losses"])
        _log(f"super-network: resuming at step {step}/{total} ({elapsed:.0f} s done)")

    def save() -> None:
        loop.save(step=step, seconds=elapsed, losses=losses)

    largest, smallest = extreme_architecture(space, largest=True), extreme_architecture(space, largest=False)
    batches_per_epoch = math.ceil(len(train) / options.batch_size)
    stop = "max_steps"
    started = time.perf_counter() - elapsed
    window: list[float] = []
    model.train()
    with ElasticEncoder(model) as elastic:
        while step < total:
            if options.max_seconds is not None and time.perf_counter() - started >= options.max_seconds:
                stop = "max_seconds"
                break
            epoch, offset = divmod(step, batches_per_epoch)
            indices = train.order(options.batch_size, shuffle=True, seed=options.seed, epoch=epoch, bucket=True)[offset]
            batch = {k: v.to(device) for k, v in train.collate(indices).items()}
            teacher = teacher_logits[batch["index"].cpu()].to(device) if teacher_logits is not None else None
            rng = np.random.default_rng([options.seed, step])
            archs = [largest, smallest] + [space.sample(rng) for _ in range(options.random_subnets)]
            loop.seed_step(step)
            loop.optimizer.zero_grad(set_to_none=True)
            step_loss = 0.0
            for arch in archs:
                elastic.apply(plan_of(arch))
                loss = distillation_loss(forward_logits(model, batch), batch["labels"], teacher, options.temperature, options.alpha)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"super-network training diverged at step {step + 1}: loss is {float(loss)} (lower supernet.lr?)")
                (loss / len(archs)).backward()
                step_loss += float(loss.detach()) / len(archs)
            loop.update()
            step += 1
            elapsed = time.perf_counter() - started
            window.append(step_loss)
            if step % options.log_every == 0 or step == total:
                losses.append(sum(window) / len(window))
                window = []
                eta = elapsed / step * (total - step) if step else 0.0
                if options.max_seconds is not None:
                    eta = min(eta, max(0.0, options.max_seconds - elapsed))
                _log(f"super-network step {step}/{total}  loss {losses[-1]:.4f}  {elapsed:.0f} s  eta {eta:.0f} s")
                if progress_file is not None:
                    _atomic_json(progress_file, {"stage": "supernet", "step": step, "total": total, "loss": losses[-1], "seconds": elapsed, "eta_seconds": eta})
            if step % options.checkpoint_every == 0 and step < total:
                save()
        elastic.apply(None)
    elapsed = time.perf_counter() - started
    if stop == "max_seconds":
        save()  # a later run with a larger budget continues from here
    model.eval()
    return {"steps": step, "seconds": elapsed, "stop": stop, "losses": losses}


class _TransformerSubnetEvaluator(Evaluator):
    """Shared options and preparation of the one-shot and multi-trial evaluators (see the module docstring).

    :param model: the pretrained model: ``minilm`` (embedded), a Hugging Face folder or hub id.
    :param teacher: a folder holding ``model`` already fine-tuned on the task (skips the teacher fine-tune).
    :param dataset: ``sst2``, ``trec`` or a CSV path; ``dataset_options`` go to
        :func:`~nasforge_transformers.data.load_text_classification` (``root``, ``text_column`` ...).
    :param max_seq_length: longest tokenised sentence (longer ones are truncated).
    :param teacher_finetune: :class:`~nasforge_transformers.training.FinetuneOptions` of the teacher.
    :param importance_batches: training batches (a seeded sample) the importance is measured on.
    :param eval_split: what a trial is scored on: ``train`` (default) a seeded stratified slice of
        ``eval_samples`` training sentences held out from the search's training after the teacher
        (super-network, trial fine-tunes), so the dev set stays unseen by the search (the deploy
        stage's final fine-tune of the chosen winner trains on it too); ``valid``: a seeded
        stratified sample of ``eval_samples`` dev sentences.
    :param eval_samples: sentences a trial is scored on (``null``: all dev sentences with
        ``eval_split: valid``, a tenth of the training data with ``train``); a held-out train slice
        is capped at a fifth of the training data.
    :param latency_backend: ``onnxruntime`` or ``torch``; ``latency_threads``, ``latency_batch``,
        ``latency_seq_len``, ``latency_runs``: how latency is measured.
    :param latency_fusion: time the graph after onnxruntime's transformer fusion, the graph the
        ``transformer-onnx`` exporter ships (``null``, the default: true with ``onnxruntime``;
        ``false`` times the plain export; true needs ``onnxruntime``).
    :param final_finetune_steps: after the search, the deploy stage's distillation fine-tune of the
        physically extracted winner (steps; ``0``: none); ``final_finetune`` holds its other
        :class:`~nasforge_transformers.training.FinetuneOptions` (distillation ``alpha`` 0.9 by default).
    :param threads: ``torch.set_num_threads`` while preparing and evaluating (``null``: leave it).
    :param device: ``cpu``, ``cuda`` or ``auto`` for training; latency is always measured on the CPU.
    """

    metrics: ClassVar[tuple[str, ...]] = ("accuracy", "loss", "params", "latency_ms", "latency_ratio", "reference_latency_ms", "latency_threads", "layers", "eval_seconds")

    def __init__(
        self,
        space: SearchSpace,
        model: str = "minilm",
        teacher: str | None = None,
        dataset: str = "sst2",
        dataset_options: Mapping[str, Any] | None = None,
        max_seq_length: int = 64,
        teacher_finetune: Mapping[str, Any] | None = None,
        importance_batches: int = 8,
        eval_samples: int | None = 872,
        eval_split: str = "train",
        eval_batch_size: int = 64,
        final_finetune_steps: int = 300,
        final_finetune: Mapping[str, Any] | None = None,
        latency_backend: str = "onnxruntime",
        latency_threads: int = 1,
        latency_batch: int = 1,
        latency_seq_len: int = 64,
        latency_runs: int = 20,
        latency_fusion: bool | None = None,
        threads: int | None = None,
        device: str = "cpu",
        seed: int = 0,
    ) -> None:
        super().__init__(space)
        from nasforge_transformers.training import FinetuneOptions

        for name in ("layers", "heads_1", "ffn_1"):
            try:
                space[name]
            except KeyError:
                raise ConfigError("space", f"evaluator needs the 'transformer_subnet' space (it has no choice {name!r})") from None
        if dataset_options is not None and not isinstance(dataset_options, Mapping):
            raise ConfigError(f"{OPTION}.dataset_options", f"must be a mapping, got {dataset_options!r}")
        for name, value, low in (("max_seq_length", max_seq_length, 2), ("importance_batches", importance_batches, 1), ("eval_batch_size", eval_batch_size, 1),
                                 ("latency_threads", latency_threads, 1), ("latency_batch", latency_batch, 1), ("latency_seq_len", latency_seq_len, 1),
                                 ("latency_runs", latency_runs, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{OPTION}.{name}", f"must be an integer of at least {low}, got {value!r}")
        if eval_samples is not None and (isinstance(eval_samples, bool) or not isinstance(eval_samples, int) or eval_samples < 1):
            raise ConfigError(f"{OPTION}.eval_samples", f"must be a positive integer or null, got {eval_samples!r}")
        if eval_split not in ("train", "valid"):
            raise ConfigError(f"{OPTION}.eval_split", f"must be train (a held-out slice of the training data) or valid, got {eval_split!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ConfigError(f"{OPTION}.threads", f"must be a positive integer or null, got {threads!r}")
        from nasforge_transformers.latency import BACKENDS

        if latency_backend not in BACKENDS:
            raise ConfigError(f"{OPTION}.latency_backend", f"must be one of {', '.join(BACKENDS)}, got {latency_backend!r}")
        if latency_fusion is not None and not isinstance(latency_fusion, bool):
            raise ConfigError(f"{OPTION}.latency_fusion", f"must be true, false or null, got {latency_fusion!r}")
        if latency_fusion and latency_backend != "onnxruntime":
            raise ConfigError(f"{OPTION}.latency_fusion", f"fusion is onnxruntime's: it needs latency_backend onnxruntime, got {latency_backend!r}")
        if device not in ("cpu", "cuda", "auto") and not str(device).startswith("cuda:"):
            raise ConfigError(f"{OPTION}.device", f"must be cpu, cuda, cuda:N or auto, got {device!r}")
        try:
            self.teacher_options = FinetuneOptions.from_options(dict(teacher_finetune or {}), f"{OPTION}.teacher_finetune")
        except UserError as exc:
            raise ConfigError(f"{OPTION}.teacher_finetune", str(exc)) from None
        if isinstance(final_finetune_steps, bool) or not isinstance(final_finetune_steps, int) or final_finetune_steps < 0:
            raise ConfigError(f"{OPTION}.final_finetune_steps", f"must be a whole number >= 0 (0: no final fine-tune), got {final_finetune_steps!r}")
        if final_finetune is not None and not isinstance(final_finetune, Mapping):
            raise ConfigError(f"{OPTION}.final_finetune", f"must be a mapping of fine-tune options, got {final_finetune!r}")
        try:
            self.final_options = (FinetuneOptions.from_options({"alpha": 0.9, **dict(final_finetune or {}), "max_steps": final_finetune_steps}, f"{OPTION}.final_finetune")
                                  if final_finetune_steps else None)
        except UserError as exc:
            raise ConfigError(f"{OPTION}.final_finetune", str(exc)) from None
        self.model_source, self.teacher_source = model, teacher
        self.dataset, self.dataset_options = dataset, dict(dataset_options or {})
        self.max_seq_length, self.importance_batches = max_seq_length, importance_batches
        self.eval_samples, self.eval_split, self.eval_batch_size = eval_samples, eval_split, eval_batch_size
        self.latency_backend, self.latency_threads, self.latency_batch = latency_backend, latency_threads, latency_batch
        self.latency_seq_len, self.latency_runs = latency_seq_len, latency_runs
        self.latency_fusion = latency_backend == "onnxruntime" if latency_fusion is None else latency_fusion
        self.threads, self.device_name, self.seed = threads, device, seed
        self.layer_selection = getattr(space, "layer_selection", "spread")
        self._state: dict[str, Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_state"] = None  # workers prepare from the files in the experiment folder
        return state

    def teardown(self) -> None:
        self._state = None

    # -- preparation -------------------------------------------------------------------------
    def _device(self) -> Any:
        import torch

        if self.device_name == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device_name.startswith("cuda") and not torch.cuda.is_available():
            raise UserError(f"{OPTION}.device is {self.device_name!r} but torch sees no CUDA device")
        return torch.device(self.device_name)

    def prepare(self, workdir: Path) -> dict[str, Any]:
        """Stages 1-3 of the module docstring; returns what the trials need."""
        import torch

        from nasforge_transformers.data import encode, load_text_classification, selection_split, stratified_sample
        from nasforge_transformers.importance import compute_importance, encoder_shape, rewire
        from nasforge_transformers.models import load_model
        from nasforge_transformers.training import evaluate, finetune, teacher_logits

        folder = Path(workdir) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        device = self._device()
        data = load_text_classification(self.dataset, seed=self.seed, **self.dataset_options)
        teacher_dir = Path(self.teacher_source) if self.teacher_source else folder / "teacher"
        if self.teacher_source is None and not (teacher_dir / "config.json").is_file():
            loaded = load_model(self.model_source, "classification", data.num_labels, label_names=list(data.label_names))
            train = encode(loaded.tokenizer, data.train, self.max_seq_length, loaded.max_length)
            model = loaded.model.to(device)
            _log(f"fine-tuning the teacher ({self.model_source}) on {len(train)} sentences")
            finetune(model, train, self.teacher_options, checkpoint=folder / "teacher.ckpt",
                     progress=lambda s, t, loss: _log(f"teacher step {s}/{t}  loss {loss:.4f}") if s % 20 == 0 or s == t else None)
            tmp = folder / "teacher.tmp"
            model.save_pretrained(tmp)
            loaded.tokenizer.save_pretrained(tmp)
            if teacher_dir.exists():
                shutil.rmtree(teacher_dir)
            os.replace(tmp, teacher_dir)
        loaded = load_model(str(teacher_dir), "classification", data.num_labels, label_names=list(data.label_names))
        teacher = loaded.model.to(device).eval()
        shape = encoder_shape(teacher)
        self._check_space(shape)
        train = encode(loaded.tokenizer, data.train, self.max_seq_length, loaded.max_length)
        logits = teacher_logits(teacher, train, cache=folder / "teacher_logits.pt")
        if self.eval_split == "train":
            fit, held = selection_split(train.labels, self.eval_samples, self.seed)
            train, valid, logits = train.subset(fit), train.subset(held), logits[fit]
        else:
            valid = encode(loaded.tokenizer, data.valid, self.max_seq_length, loaded.max_length)
            if self.eval_samples is not None:
                valid = valid.subset(stratified_sample(valid.labels, self.eval_samples, self.seed))
        scores_file = folder / "importance.json"
        if scores_file.is_file():
            from nasforge_transformers.importance import Importance

            importance = Importance.from_dict(json.loads(scores_file.read_text(encoding="utf-8")))
        else:
            order = train.order(self.teacher_options.batch_size, shuffle=True, seed=self.seed + 1, epoch=0)[: self.importance_batches]
            batches = ({k: v.to(device) for k, v in train.collate(ix).items()} for ix in order)
            importance = compute_importance(teacher, batches, lambda out, b: torch.nn.functional.cross_entropy(out, b["labels"]))
            _atomic_json(scores_file, importance.to_dict())
        head_order, neuron_order = rewire(teacher, importance)
        teacher_eval = folder / "teacher_eval.json"
        if teacher_eval.is_file():
            teacher_metrics = json.loads(teacher_eval.read_text(encoding="utf-8"))
        else:
            teacher_metrics = evaluate(teacher, valid, self.eval_batch_size)
            _atomic_json(teacher_eval, teacher_metrics)
            _log(f"teacher accuracy {teacher_metrics['accuracy']:.4f} on the {len(valid)} {'held-out training' if self.eval_split == 'train' else 'dev'} sentences trials are scored on")
        layer_params = sum(p.numel() for p in _layers(teacher)[0].parameters())
        return {"latency_reference": self._latency_reference(teacher, folder),
            "folder": folder, "device": device, "data": data, "tokenizer": loaded.tokenizer, "train": train, "valid": valid,
            "teacher": teacher, "teacher_logits": logits, "importance": importance, "shape": shape, "teacher_metrics": teacher_metrics,
            "orders": {"heads": head_order, "neurons": neuron_order, "layers": importance.layer_order()},
            "total_params": sum(p.numel() for p in teacher.parameters()), "layer_params": layer_params,
            "hidden_size": int(teacher.config.hidden_size),
        }

    def _latency_reference(self, teacher: Any, folder: Path) -> Any:
        """What ``latency_ratio`` divides by: the full model, as an ONNX file in the experiment
        folder (exported once, fused like the trials' graphs) or, with ``torch``, a CPU copy."""
        import copy

        if self.latency_backend == "torch":
            return copy.deepcopy(teacher).cpu().eval()
        from nasforge_transformers.latency import export_latency_graph

        path = folder / ("latency_reference.fused.onnx" if self.latency_fusion else "latency_reference.onnx")
        if not path.is_file():
            export_latency_graph(copy.deepcopy(teacher).cpu().eval(), folder / "latency_reference.tmp.onnx", self.latency_fusion)
            os.replace(folder / "latency_reference.tmp.onnx", path)
        return path

    def _check_space(self, shape: ModelShape) -> None:
        deepest = max(self.space["layers"].domain)  # type: ignore[type-var]
        if deepest != shape.num_layers:
            raise ConfigError("space.options.num_layers", f"the space has up to {deepest} layers but the model has {shape.num_layers}; set num_layers (or model) to match")

    def plan(self, architecture: Mapping[str, Any]) -> SubnetPlan:
        state = self._require()
        return subnetwork_plan(architecture, state["shape"], self.layer_selection, state["orders"]["layers"])

    def _require(self) -> dict[str, Any]:
        if self._state is None:
            raise UserError("the evaluator is not set up: call setup(workdir) first")
        return self._state

    # -- measuring one sub-network -------------------------------------------------------------
    def measure(self, model: Any, plan: SubnetPlan, context: TrialContext | None, elastic: Any = None) -> dict[str, float]:
        """Accuracy/loss of ``model`` (gated by ``elastic`` when given) and the extracted sub-network's size and latency."""
        from nasforge_transformers.importance import slice_subnetwork, subnet_params
        from nasforge_transformers.latency import measure_relative_latency
        from nasforge_transformers.training import evaluate

        state = self._require()
        started = time.perf_counter()
        if elastic is not None:
            elastic.apply(plan)
        try:
            scores = evaluate(model, state["valid"], self.eval_batch_size)
        finally:
            if elastic is not None:
                elastic.apply(None)
        if context is not None:
            context.check()
        values = {"accuracy": scores["accuracy"], "loss": scores["loss"], "layers": float(len(plan.layers)), "latency_threads": float(self.latency_threads)}
        values["params"] = float(subnet_params(plan.shape, plan, state["total_params"], state["hidden_size"], state["layer_params"]))
        if elastic is not None:
            with elastic.suspended():
                small = slice_subnetwork(model, plan).cpu()
        else:
            small = model.cpu()
        ms, reference_ms = measure_relative_latency(small, state["latency_reference"], self.latency_backend, self.latency_batch, self.latency_seq_len,
                                                    self.latency_threads, self.latency_runs, warmup=3, fused=self.latency_fusion)
        assert reference_ms is not None  # a reference was given
        values.update(latency_ms=ms, reference_latency_ms=reference_ms, latency_ratio=ms / reference_ms)
        values["eval_seconds"] = time.perf_counter() - started
        return values

    def _write_plan(self, context: TrialContext, architecture: Mapping[str, Any], plan: SubnetPlan, extra: Mapping[str, Any]) -> dict[str, str]:
        directory = Path(context.directory)
        directory.mkdir(parents=True, exist_ok=True)
        _atomic_json(directory / "subnet.json", {"architecture": dict(architecture), "plan": plan.to_dict(), "layer_selection": self.layer_selection, **extra})
        return {"subnet": "subnet.json"}


def _layers(model: Any) -> Any:
    from nasforge_transformers.importance import encoder_layers

    return encoder_layers(model)


class OneShotEvaluator(_TransformerSubnetEvaluator):
    """``transformer_oneshot``: train the elastic super-network once, then score sub-networks in seconds.

    Takes every option of the shared evaluator plus ``supernet`` (:class:`SupernetOptions`).
    """

    def __init__(self, space: SearchSpace, supernet: Mapping[str, Any] | None = None, **options: Any) -> None:
        super().__init__(space, **options)
        if supernet is not None and not isinstance(supernet, Mapping):
            raise ConfigError(f"{OPTION}.supernet", f"must be a mapping of super-network options, got {supernet!r}")
        self.supernet_options = SupernetOptions.from_options(supernet)

    def setup(self, workdir: Path) -> None:
        """Prepare the teacher, importance and the trained super-network (resumable)."""
        import torch

        from nasforge_transformers.importance import ElasticEncoder

        with torch_threads(self.threads):
            state = self.prepare(workdir)
            folder: Path = state["folder"]
            final = folder / "supernet.pt"
            supernet = state["teacher"]  # rewired; trained in place from here
            state["teacher"] = None
            if final.is_file():
                stored = torch.load(final, map_location="cpu", weights_only=False)
                supernet.load_state_dict(stored["model"])
                state["supernet_info"] = stored["info"]
            else:
                _log(f"training the super-network: up to {self.supernet_options.max_steps} steps"
                     + (f" or {self.supernet_options.max_seconds:g} s" if self.supernet_options.max_seconds else ""))
                info = train_supernet(supernet, self.space, lambda a: self.plan_for_state(state, a), state["train"], state["teacher_logits"],
                                      self.supernet_options, folder / "supernet.ckpt", folder / "progress.json")
                info["options"] = asdict(self.supernet_options)
                atomic_save({"model": supernet.state_dict(), "info": info}, final)
                (folder / "supernet.ckpt").unlink(missing_ok=True)
                state["supernet_info"] = info
                _log(f"super-network trained: {info['steps']} steps in {info['seconds']:.0f} s ({info['stop']})")
            supernet.eval()
            state["supernet"] = supernet
            state["elastic"] = ElasticEncoder(supernet)
            self._state = state

    def plan_for_state(self, state: Mapping[str, Any], architecture: Mapping[str, Any]) -> SubnetPlan:
        return subnetwork_plan(architecture, state["shape"], self.layer_selection, state["orders"]["layers"])

    def teardown(self) -> None:
        if self._state is not None and self._state.get("elastic") is not None:
            self._state["elastic"].close()
        self._state = None

    def evaluate(self, architecture: Architecture, context: TrialContext) -> EvaluationResult:
        state = self._require()
        plan = self.plan(architecture)
        with torch_threads(self.threads):
            values = self.measure(state["supernet"], plan, context, elastic=state["elastic"])
        artifacts = self._write_plan(context, architecture, plan, {"supernet": str(state["folder"] / "supernet.pt")})
        return EvaluationResult(values, artifacts)


class MultiTrialEvaluator(_TransformerSubnetEvaluator):
    """``transformer_multitrial``: each trial extracts its sub-network from the rewired teacher and
    fine-tunes it with distillation for ``finetune_steps`` (options of ``finetune``:
    :class:`~nasforge_transformers.training.FinetuneOptions`; ``save_model`` keeps the weights)."""

    def __init__(self, space: SearchSpace, finetune_steps: int = 300, finetune: Mapping[str, Any] | None = None, save_model: bool = False, **options: Any) -> None:
        super().__init__(space, **options)
        from nasforge_transformers.training import FinetuneOptions

        if isinstance(finetune_steps, bool) or not isinstance(finetune_steps, int) or finetune_steps < 1:
            raise ConfigError(f"{OPTION}.finetune_steps", f"must be a positive integer, got {finetune_steps!r}")
        if not isinstance(save_model, bool):
            raise ConfigError(f"{OPTION}.save_model", f"must be true or false, got {save_model!r}")
        try:
            self.finetune_options = FinetuneOptions.from_options({"alpha": 0.9, **dict(finetune or {}), "max_steps": finetune_steps}, f"{OPTION}.finetune")
        except UserError as exc:
            raise ConfigError(f"{OPTION}.finetune", str(exc)) from None
        self.save_model = save_model

    def setup(self, workdir: Path) -> None:
        """Prepare the teacher, its logits and the importance ranking (resumable)."""
        with torch_threads(self.threads):
            self._state = self.prepare(workdir)

    def evaluate(self, architecture: Architecture, context: TrialContext) -> EvaluationResult:
        from dataclasses import replace

        from nasforge_transformers.importance import slice_subnetwork
        from nasforge_transformers.training import finetune

        state = self._require()
        plan = self.plan(architecture)
        directory = Path(context.directory)
        options = replace(self.finetune_options, seed=int(context.seed))
        with torch_threads(self.threads):
            student = slice_subnetwork(state["teacher"], plan).to(state["device"])
            finetune(student, state["train"], options, teacher_logits=state["teacher_logits"], checkpoint=directory / "finetune.ckpt",
                     progress=lambda step, total, loss: context.report(step, loss=loss) if step % 25 == 0 or step == total else None)
            values = self.measure(student.eval(), plan, context)
        artifacts = self._write_plan(context, architecture, plan, {"finetune_steps": options.max_steps})
        if self.save_model:
            import torch

            torch.save(student.state_dict(), directory / "model.pt")
            artifacts["model"] = "model.pt"
        return EvaluationResult(values, artifacts)
