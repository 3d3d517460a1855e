"""``nasforge compress``: compress any PyTorch model from the command line.

Examples::

    # a CIFAR ResNet-56 checkpoint, half the MACs, fine-tuned with distillation on CIFAR-10
    nasforge compress channel --model-factory nasforge.compression.models.cifar_resnet:resnet56 \\
        --checkpoint resnet56.th --input-shape 3,32,32 -o macs_reduction=2 -o importance=l2 \\
        --dataset cifar10 --max-train-samples 5000 --finetune-epochs 2 --distill \\
        --output resnet56-pruned.pt --report report.json

    # a model of the trainer's cnn space
    nasforge compress depth --space cnn --arch '{"stages": 2, "channels_1": 16, ...}' \\
        --input-shape 1,8,8 --num-classes 10 -o num_blocks=1 --output small.pt

The model comes from ``--model-factory module:function`` (called with ``--factory-kwargs``) and
optionally ``--checkpoint`` (a state dict or ``{'state_dict': ...}``; ``module.`` prefixes are
stripped), or from ``--space``/``--arch`` (built with the trainer's builder). Compressor options
are ``-o key=value`` (values parsed as YAML, so ``-o ignore=[fc]`` is a list) or a YAML/JSON file
with ``--config``. The output is, for ``--space`` models, ``{'state_dict', 'spec'}`` (``--save state_dict``, the
default for them: loading it runs no code), rebuilt with :func:`load_compressed`; for other models
``torch.save`` of the whole module (``--save module``), a pickle that only
``load_compressed(path, trust_pickle=True)`` or ``torch.load(path, weights_only=False)`` reads,
because loading a pickle can run code.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasforge.core.errors import UserError

if TYPE_CHECKING:  # torch and the compressors are imported when the command runs (nasforge --help stays fast)
    from torch import nn

    from nasforge.compression.base import Compressor, ModelSpec


def make_compressor(name: str, options: dict[str, Any]) -> Compressor:
    """Construct the compressor registered as ``name`` with ``options`` (unknown options are a ConfigError).

    The same option check as a config's strategy, evaluator and executor options.
    """
    from nasforge.core.plugins import get_plugin_manager

    return get_plugin_manager().create("compressor", name, options, field=f"compressor.{name}")


def load_model(factory: str, kwargs: dict[str, Any] | None = None, checkpoint: str | Path | None = None) -> nn.Module:
    """Call ``module:function`` with ``kwargs`` and load ``checkpoint`` into the model (strict).

    The same loader as ``nasforge export`` (:mod:`nasforge.export.loading`): a raw state dict or one
    under ``state_dict``/``model_state_dict``/``model``, with ``module.`` prefixes stripped.
    """
    from nasforge.export.loading import build_model, load_checkpoint

    model = build_model(factory, kwargs)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    return model


def load_compressed(path: str | Path, trust_pickle: bool = False) -> nn.Module:
    """Load what ``nasforge compress`` or the deploy step wrote (:func:`nasforge.export.loading.load_model_file`).

    A ``{'state_dict', 'spec'}`` file (``--save state_dict``, and every ``deploy/*.pt``) is read
    with ``torch.load(weights_only=True)``: tensors and plain values only, no code runs. A whole
    pickled module (``--save module``) can run arbitrary code while it loads, so it is refused
    unless ``trust_pickle=True`` says you made the file or trust whoever did.
    """
    from nasforge.export.loading import load_model_file

    return load_model_file(path, trust_pickle=trust_pickle, flag="model file")


def save_compressed(model: nn.Module, spec: ModelSpec, path: str | Path) -> None:
    """Write ``{'state_dict', 'spec'}`` atomically (a kill leaves the old file or none, never half of one)."""
    import os

    import torch

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"state_dict": model.state_dict(), "spec": spec.to_dict()}, tmp)
    os.replace(tmp, path)


def _parse_pairs(pairs: list[str], flag: str) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"{flag} takes key=value, got {pair!r}")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as exc:
            raise UserError(f"{flag} {key}: cannot parse {value!r}: {exc}") from None
    return out


def _installed_compressors() -> str:
    from nasforge.core.plugins import get_plugin_manager

    try:
        return ", ".join(sorted(get_plugin_manager().components("compressor"))) or "none installed"
    except Exception:
        return "see `nasforge plugins`"


class CompressCommand:
    """Compress a PyTorch model (prune, distil, fine-tune) and report params, MACs and accuracy."""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("method", help=f"compressor name, one of: {_installed_compressors()} (`nasforge plugins --kind compressor`)")
        src = parser.add_argument_group("model")
        src.add_argument("--model-factory", help="'package.module:function' returning the torch.nn.Module")
        src.add_argument("--model", help="a model file instead: what 'nasforge compress --out FILE' or the deploy step wrote, to compress it further "
                                         "(same flag as 'nasforge export'; a pickled module needs --trust-pickle)")
        src.add_argument("--trust-pickle", action="store_true", help="allow --model to load a pickled module, which can run code stored in the file")
        src.add_argument("--model-kwargs", "--factory-kwargs", dest="factory_kwargs", default="{}", metavar="JSON", help="JSON keyword arguments for the factory (same flag as 'nasforge export')")
        src.add_argument("--checkpoint", help="state dict to load into the model ('module.' prefixes are stripped)")
        src.add_argument("--space", help="build the model from this nasforge space's builder instead (cnn, mlp, ...)")
        src.add_argument("--arch", help="the architecture for --space, as JSON")
        src.add_argument("--num-classes", type=int, default=10, help="classes of a --space model (default 10)")
        src.add_argument("--input-shape", required=True, help="shape of one input without the batch, e.g. 3,32,32")
        cfg = parser.add_argument_group("compressor")
        cfg.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE", help="compressor option (repeatable; YAML value)")
        cfg.add_argument("--config", help="YAML or JSON file with the compressor options")
        data = parser.add_argument_group("fine-tuning data (optional)")
        data.add_argument("--dataset", help="digits, cifar10, imagefolder or a plugin's dataset")
        data.add_argument("--dataset-option", action="append", default=[], metavar="KEY=VALUE", help="dataset option, e.g. root=/data/cifar (repeatable)")
        data.add_argument("--max-train-samples", type=int, help="fine-tune on a random subset of this many training images")
        data.add_argument("--eval-samples", type=int, help="evaluate on a seeded sample of N test images, stratified by class (--seed)")
        data.add_argument("--batch-size", type=int, default=128)
        data.add_argument("--augment", action="store_true", help="random flip + crop while fine-tuning (natural images)")
        data.add_argument("--finetune-epochs", type=int, default=0)
        data.add_argument("--lr", type=float, default=0.01)
        data.add_argument("--distill", action="store_true", help="distil from the uncompressed model while fine-tuning")
        data.add_argument("--temperature", type=float, default=4.0)
        data.add_argument("--alpha", type=float, default=0.9)
        data.add_argument("--seed", type=int, default=0)
        out = parser.add_argument_group("output")
        out.add_argument("--out", "--output", dest="output", required=True, help="where to write the compressed model (export it next with 'nasforge export --model FILE --trust-pickle')")
        out.add_argument("--save", choices=("module", "state_dict"), default=None,
                         help="state dict + architecture (default for --space models; loads without running code) or the whole module as a pickle (default otherwise)")
        out.add_argument("--report", help="write the report as JSON here")
        out.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the run")
        out.add_argument("--device", default="cpu", help="where PyTorch runs the model (compression, fine-tuning, evaluation): cpu, cuda or cuda:N (default cpu); "
                                                        "the file is saved for the CPU")
        out.add_argument("--latency", action="store_true", help="time the model before and after with onnxruntime on the CPU (batch 1), interleaved in one loop, "
                                                              "and report the median and spread; implied by -o latency_ms=...")
        out.add_argument("--latency-threads", "--bench-threads", dest="latency_threads", type=int, default=1,
                         help="onnxruntime intra-op threads for --latency (default 1; same as 'nasforge export --bench-threads')")
        out.add_argument("--latency-runs", "--bench-runs", dest="latency_runs", type=int, default=50,
                         help="timed calls of each model per round, 3 rounds (default 50; same as 'nasforge export --bench-runs')")

    def run(self, args: argparse.Namespace) -> int:
        import torch

        from nasforge.core.parsing import parse_shape
        from nasforge.torchutils import parse_device

        device = parse_device(args.device)
        if args.latency_runs < 1:
            raise UserError(f"--latency-runs must be at least 1, got {args.latency_runs}")
        if args.threads:
            torch.set_num_threads(args.threads)
        torch.manual_seed(args.seed)
        shape = parse_shape(args.input_shape)
        model, spec = self._model(args, shape)
        model = model.to(device)
        options = self._options(args)
        if args.finetune_epochs:
            ft = dict(options.get("finetune") or {})
            ft.update(epochs=args.finetune_epochs, lr=args.lr, distill=args.distill, temperature=args.temperature, alpha=args.alpha)
            options["finetune"] = ft
        compressor = make_compressor(args.method, options)
        train, test = self._data(args, shape)
        example = torch.randn(2, *shape).to(device)
        eval_fn = None
        if test is not None:
            from nasforge.torchutils import evaluate_accuracy

            eval_fn = lambda m: evaluate_accuracy(m, test)  # noqa: E731
        timer = None
        if args.latency or "latency_ms" in options:
            from nasforge.export.latency import OnnxRuntimeLatency

            timer = OnnxRuntimeLatency(example[:1], threads=args.latency_threads, runs=args.latency_runs)
        # A latency target needs timing while compressing; the before/after figures are measured
        # afterwards, both models in one interleaved loop, so machine load cannot favour either.
        latency_fn = timer if "latency_ms" in options else None
        result = compressor.compress(model, example, data=train, eval_fn=eval_fn, latency_fn=latency_fn, spec=spec)
        if timer is not None:
            print(f"timing before and after with onnxruntime, interleaved ({timer.rounds} rounds of {timer.runs} calls each)", flush=True)
            timed = timer.compare({"before": model, "after": result.model})
            for key, metrics in (("before", result.report.metrics_before), ("after", result.report.metrics_after)):
                metrics["latency_ms"], metrics["latency_spread_ms"] = timed[key]
        print(result.report.table())
        threads = f"device: {device}; threads: torch {torch.get_num_threads()}"
        if timer is not None:
            threads += (f", onnxruntime intra-op {args.latency_threads} (latency on the CPU at batch 1, before and after timed interleaved, "
                        f"median of {timer.rounds} round medians; ± is their range: differences smaller than it are noise)")
        print(threads)
        result.model.to("cpu")  # saved for the CPU: loads on any machine
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        save = args.save or ("state_dict" if result.spec is not None else "module")
        if save == "state_dict":
            if result.spec is None:
                raise UserError("--save state_dict needs a model built from --space (its architecture says how to rebuild it); use --save module")
            save_compressed(result.model, result.spec, out)
        else:
            torch.save(result.model, out)
            print("note: this file is a pickled module; load it with load_compressed(path, trust_pickle=True) only where you trust it")
        print(f"wrote {out}")
        if args.report:
            Path(args.report).write_text(json.dumps(result.report.to_dict(), indent=2, default=str))
            print(f"wrote {args.report}")
        return 0

    def _model(self, args: argparse.Namespace, shape: tuple[int, ...]) -> tuple[nn.Module, ModelSpec | None]:
        from nasforge.compression.base import ModelSpec
        from nasforge.core.parsing import parse_json_option
        from nasforge.export.loading import load_checkpoint

        sources = [flag for flag, given in (("--model-factory", args.model_factory), ("--model", args.model), ("--space", args.space)) if given]
        if len(sources) > 1:
            raise UserError(f"give one model source, not {' and '.join(sources)}: --model-factory, --model or --space/--arch")
        if args.model:
            from nasforge.export.loading import read_model_file

            model, saved = read_model_file(args.model, trust_pickle=args.trust_pickle)
            if args.checkpoint:
                load_checkpoint(model, args.checkpoint)
            # a spec travels on, so a structural compressor can rebuild the model again and --save state_dict works
            return model.train(), (ModelSpec(saved["space"], saved["architecture"], shape, int(saved["num_classes"])) if saved else None)
        if args.space:
            if not args.arch:
                raise UserError("--space needs --arch, the architecture as JSON")
            spec = ModelSpec(args.space, parse_json_option(args.arch, "--arch"), shape, args.num_classes)
            model = spec.build()
            if args.checkpoint:
                load_checkpoint(model, args.checkpoint)
            return model, spec
        if not args.model_factory:
            raise UserError("say which model to compress: --model-factory package.module:function, --model FILE, or --space and --arch")
        return load_model(args.model_factory, parse_json_option(args.factory_kwargs, "--model-kwargs"), args.checkpoint), None

    def _options(self, args: argparse.Namespace) -> dict[str, Any]:
        import yaml

        options: dict[str, Any] = {}
        if args.config:
            path = Path(args.config)
            if not path.is_file():
                raise UserError(f"--config file not found: {path}")
            loaded = yaml.safe_load(path.read_text()) or {}
            if not isinstance(loaded, dict):
                raise UserError(f"--config {path} must hold a mapping of compressor options")
            options.update(loaded)
        options.update(_parse_pairs(args.option, "--option"))
        return options

    def _data(self, args: argparse.Namespace, shape: tuple[int, ...]) -> tuple[Any, Any]:
        if not args.dataset:
            if args.finetune_epochs:
                raise UserError("--finetune-epochs needs --dataset")
            return None, None
        import torch

        from nasforge.trainer.data import load_dataset, make_loader

        splits = load_dataset(args.dataset, max_train_samples=args.max_train_samples, seed=args.seed, augment=args.augment, **_parse_pairs(args.dataset_option, "--dataset-option"))
        if tuple(splits.input_shape) != tuple(shape):
            raise UserError(f"dataset {args.dataset!r} has inputs of shape {splits.input_shape}, but --input-shape is {shape}")
        test = splits.test
        if args.eval_samples:
            from nasforge.core.sampling import sample_indices

            labels = getattr(test, "labels", None)
            labels = [int(test[i][1]) for i in range(len(test))] if labels is None else torch.as_tensor(labels).numpy()
            test = test.subset(torch.as_tensor(sample_indices(len(test), args.eval_samples, args.seed, labels)))
        return make_loader(splits.train, args.batch_size, shuffle=True, seed=args.seed), make_loader(test, 512)
