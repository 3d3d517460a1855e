"""``nasforge export`` and ``nasforge bench``: the export stage from the command line.

``nasforge export`` builds a model from a factory (``module:function``, e.g.
``torchvision.models:resnet18``), loads an optional checkpoint, exports float32 ONNX and, on
request, int8 and fp16 variants, each with a model card. ``nasforge bench`` measures an ``.onnx``
file with :class:`~nasforge.export.benchmark.OnnxRuntimeBenchmark`.
"""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasforge.core.errors import UserError
from nasforge.export.parity import ParityError

EXIT_PARITY_FAILED = 1
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp"}


# -- building the model ---------------------------------------------------------------------------
def load_factory(spec: str):
    """Import ``package.module:callable`` (the callable builds the model)."""
    if not isinstance(spec, str) or ":" not in spec:
        raise UserError(f"--model-factory must look like 'package.module:function' (e.g. torchvision.models:resnet18), got {spec!r}")
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(f"--model-factory: cannot import module {module_name!r}: {exc}") from None
    fn = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise UserError(f"--model-factory: module {module_name!r} has no attribute {attr!r}")
    if not callable(fn):
        raise UserError(f"--model-factory: {spec!r} is not callable")
    return fn


def build_model(spec: str, kwargs: dict[str, Any] | None = None) -> torch.nn.Module:
    """Call the factory with ``kwargs`` and check that it returned a torch module."""
    fn = load_factory(spec)
    try:
        model = fn(**(kwargs or {}))
    except TypeError as exc:
        raise UserError(f"--model-factory {spec} rejected the arguments {kwargs or {}}: {exc}") from None
    if not isinstance(model, torch.nn.Module):
        raise UserError(f"--model-factory {spec} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def load_checkpoint(model: torch.nn.Module, path: str | Path) -> dict[str, Any]:
    """Load a state dict (raw, or under 'state_dict'/'model'/'model_state_dict'), stripping 'module.' prefixes.

    Returns facts for the model card (path, keys found, extra scalar entries like 'best_prec1').
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise UserError(f"--checkpoint {path} could not be read as a torch checkpoint: {type(exc).__name__}: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(f"--checkpoint {path} holds a {type(data).__name__}; expected a state dict or a dict with 'state_dict'")
    state = data
    for key in ("state_dict", "model_state_dict", "model"):
        if isinstance(data.get(key), dict):
            state = data[key]
            break
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"--checkpoint {path}: no state dict found (top-level keys: {sorted(data)[:10]})")
    state = {(k[len("module.") :] if k.startswith("module.") else k): v for k, v in state.items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise UserError(
            f"--checkpoint {path} does not fit the model from the factory: {' '.join(first[:3])[:600]}; "
            "check --model-factory and --model-kwargs (e.g. num_classes)"
        ) from None
    extras = {k: (v.item() if isinstance(v, torch.Tensor) and v.numel() == 1 else v) for k, v in data.items() if k not in ("state_dict", "model_state_dict", "model", "optimizer")}
    return {"checkpoint": str(path), **{k: v for k, v in extras.items() if isinstance(v, (int, float, str, bool))}}


def parse_shape(text: str) -> tuple[int, ...]:
    """'3,32,32' -> (3, 32, 32)."""
    try:
        shape = tuple(int(p) for p in text.replace("x", ",").split(",") if p.strip())
    except ValueError:
        raise UserError(f"--input-shape must be comma-separated integers like 3,32,32, got {text!r}") from None
    if not shape or any(d < 1 for d in shape):
        raise UserError(f"--input-shape must be positive integers like 3,32,32, got {text!r}")
    return shape


# -- data -----------------------------------------------------------------------------------------
def load_samples(
    path: str | Path,
    input_shape: Sequence[int],
    limit: int | None = None,
    seed: int = 0,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    what: str = "--calibration-data",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Real samples for calibration/evaluation: ``x`` shaped (N, *input_shape) and labels or None.

    Accepts a ``.npy`` array, a ``.npz`` with ``x`` (and optionally ``y``), or a folder of images
    laid out as ``<folder>/<class>/<image>`` (labels are the sorted class folder indices; pixels
    scaled to [0, 1], resized to the input size, then normalised with ``mean``/``std`` if given).
    ``limit`` keeps a seeded random subset.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"{what} {path} does not exist")
    y = None
    if path.is_dir():
        x, y = _load_image_folder(path, input_shape, what, limit, seed)
    elif path.suffix == ".npy":
        x = np.load(path)
    elif path.suffix == ".npz":
        with np.load(path) as archive:
            if "x" not in archive:
                raise UserError(f"{what} {path} has arrays {sorted(archive.files)}; it needs 'x' (and optionally 'y')")
            x = archive["x"]
            y = archive["y"] if "y" in archive else None
    else:
        raise UserError(f"{what} {path}: expected a .npy/.npz file or a folder of class sub-folders of images")
    x = np.asarray(x, dtype=np.float32)
    if tuple(x.shape[1:]) != tuple(input_shape):
        raise UserError(f"{what} samples have shape {tuple(x.shape[1:])} but --input-shape is {tuple(input_shape)}")
    if mean is not None or std is not None:
        channels = input_shape[0]
        m = np.asarray(mean if mean is not None else [0.0] * channels, dtype=np.float32).reshape(-1, *([1] * (len(input_shape) - 1)))
        s = np.asarray(std if std is not None else [1.0] * channels, dtype=np.float32).reshape(-1, *([1] * (len(input_shape) - 1)))
        x = (x - m) / s
    if limit is not None and limit < len(x):
        idx = np.sort(np.random.default_rng(seed).choice(len(x), size=limit, replace=False))
        x = x[idx]
        y = y[idx] if y is not None else None
    return np.ascontiguousarray(x), (None if y is None else np.asarray(y).astype(np.int64))


def _load_image_folder(root: Path, input_shape: Sequence[int], what: str, limit: int | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    try:
        from PIL import Image
    except ImportError:
        raise UserError(f"{what}: reading image folders needs Pillow (pip install pillow), or pass a .npz with x and y") from None
    if len(input_shape) != 3 or input_shape[0] not in (1, 3):
        raise UserError(f"{what}: image folders need --input-shape C,H,W with C 1 or 3, got {tuple(input_shape)}")
    channels, height, width = input_shape
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise UserError(f"{what} {root} has no class sub-folders; expected {root}/<class>/<image>")
    files = [(file, label) for label, cls in enumerate(classes) for file in sorted((root / cls).iterdir()) if file.suffix.lower() in IMAGE_SUFFIXES]
    if limit is not None and limit < len(files):  # decode only the subset (a train split has tens of thousands)
        files = [files[i] for i in np.sort(np.random.default_rng(seed).choice(len(files), size=limit, replace=False))]
    xs, ys = [], []
    for file, label in files:
        with Image.open(file) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            if img.size != (width, height):
                img = img.resize((width, height))
            arr = np.asarray(img, dtype=np.float32) / 255.0
        xs.append(arr[None] if channels == 1 else arr.transpose(2, 0, 1))
        ys.append(label)
    if not xs:
        raise UserError(f"{what} {root} contains no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return np.stack(xs), np.asarray(ys, dtype=np.int64)


def _floats(text: str | None, what: str) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise UserError(f"{what} must be comma-separated numbers like 0.49,0.48,0.45, got {text!r}") from None


# -- commands -------------------------------------------------------------------------------------
class ExportCommand:
    """Export a PyTorch model to ONNX (float32, optionally int8 and fp16) with model cards."""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add the export arguments."""
        parser.add_argument("--model-factory", required=True, help="'module:function' building the model, e.g. torchvision.models:resnet18")
        parser.add_argument("--model-kwargs", default="{}", help='JSON keyword arguments for the factory, e.g. \'{"num_classes": 10}\'')
        parser.add_argument("--checkpoint", help="state dict file (or a dict with 'state_dict'); 'module.' prefixes are stripped")
        parser.add_argument("--input-shape", required=True, help="per-sample input shape without the batch, e.g. 3,32,32")
        parser.add_argument("--out", required=True, help="output folder")
        parser.add_argument("--name", help="file stem (default: the factory's function name)")
        parser.add_argument("--int8", action="store_true", help="also write a static int8 model (needs --calibration-data)")
        parser.add_argument("--fp16", action="store_true", help="also write a float16 model")
        parser.add_argument("--calibration-data", help=".npy/.npz (x[, y]) or an image folder <dir>/<class>/<img>: real inputs for calibration and parity")
        parser.add_argument("--calibration-samples", type=int, default=256, help="random subset size of the calibration data (default 256)")
        parser.add_argument("--eval-data", help=".npz with x and y, or an image folder: held-out samples to report accuracy in the cards")
        parser.add_argument("--eval-samples", type=int, default=None, help="random subset size of the evaluation data (default all)")
        parser.add_argument("--mean", help="per-channel mean subtracted from image data, e.g. 0.4914,0.4822,0.4465")
        parser.add_argument("--std", help="per-channel std dividing image data, e.g. 0.247,0.243,0.261")
        parser.add_argument("--exclude-last-layer", action="store_true", help="int8: keep the final Gemm/MatMul in float")
        parser.add_argument("--exclude-first-layer", action="store_true", help="int8: keep the first Conv/Gemm in float")
        parser.add_argument("--quant-format", choices=["qdq", "qoperator"], default="qdq", help="int8 graph format (default qdq)")
        parser.add_argument("--calibrate-method", choices=["minmax", "entropy", "percentile"], default="minmax", help="int8 range calibration")
        parser.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's recommendation)")
        parser.add_argument("--static-batch", action="store_true", help="keep the batch dimension fixed at 1")
        parser.add_argument("--exporter", choices=["dynamo", "torchscript"], default="dynamo", help="torch ONNX exporter (default dynamo)")
        parser.add_argument("--bench", action="store_true", help="benchmark each file and put the summary in its card")
        parser.add_argument("--seed", type=int, default=0, help="seed for sample subsets and random sample inputs")

    def run(self, args: argparse.Namespace) -> int:
        """Build, load, export; print one line per written file. Exit 1 when a parity check fails."""
        from nasforge.core.plugins import get_plugin_manager

        try:
            kwargs = json.loads(args.model_kwargs)
        except json.JSONDecodeError as exc:
            raise UserError(f"--model-kwargs is not valid JSON ({exc.msg}): {args.model_kwargs!r}") from None
        if not isinstance(kwargs, dict):
            raise UserError(f"--model-kwargs must be a JSON object like '{{\"num_classes\": 10}}', got {args.model_kwargs!r}")
        shape = parse_shape(args.input_shape)
        if args.int8 and not args.calibration_data:
            raise UserError("--int8 needs --calibration-data (real input samples to calibrate activation ranges)")
        mean, std = _floats(args.mean, "--mean"), _floats(args.std, "--std")
        model = build_model(args.model_factory, kwargs)
        source: dict[str, Any] = {"model_factory": args.model_factory, "model_kwargs": kwargs, "input_shape": list(shape)}
        if args.checkpoint:
            source.update(load_checkpoint(model, args.checkpoint))
        calibration = None
        if args.calibration_data:
            calibration, _ = load_samples(args.calibration_data, shape, args.calibration_samples, args.seed, mean, std, "--calibration-data")
            source["calibration_data"] = str(args.calibration_data)
        evaluation = None
        if args.eval_data:
            x, y = load_samples(args.eval_data, shape, args.eval_samples, args.seed, mean, std, "--eval-data")
            if y is None:
                raise UserError(f"--eval-data {args.eval_data} has no labels; use a .npz with x and y or an image folder")
            evaluation = (x, y)
            source["eval_data"] = str(args.eval_data)
        sample = torch.from_numpy(calibration[:1]) if calibration is not None else torch.randn((1, *shape), generator=torch.Generator().manual_seed(args.seed))
        name = args.name or args.model_factory.rpartition(":")[2].split(".")[-1]
        formats = ["onnx"] + (["onnx-int8"] if args.int8 else []) + (["onnx-fp16"] if args.fp16 else [])
        common = {"opset": args.opset, "dynamic_batch": not args.static_batch, "exporter": args.exporter, "benchmark": args.bench}
        pm = get_plugin_manager()
        failed = False
        from rich.console import Console

        console = Console()
        for fmt in formats:
            cls = pm.get("exporter", fmt)
            options = dict(common)
            if fmt == "onnx-int8":
                options.update(
                    exclude_last_layer=args.exclude_last_layer,
                    exclude_first_layer=args.exclude_first_layer,
                    quant_format=args.quant_format,
                    calibrate_method=args.calibrate_method,
                )
            exporter = cls(**options)
            try:
                result = exporter.export(model, sample, args.out, name, calibration, evaluation=evaluation, source=source)
            except ParityError as exc:
                console.print(f"[red]parity failed[/] for {fmt}: {exc}", soft_wrap=True)
                failed = True
                continue
            metrics = result.card.get("metrics") or {}
            acc = f", accuracy {metrics['accuracy']:.4f}" if "accuracy" in metrics else ""
            drop = f" (fp32 {metrics['accuracy_fp32']:.4f})" if "accuracy_fp32" in metrics else ""
            console.print(f"{fmt}: {result.path} ({result.card['size_bytes']:,} bytes){acc}{drop}; {result.parity.summary() if result.parity else ''}; card {result.card_path}", soft_wrap=True)
        return EXIT_PARITY_FAILED if failed else 0


class BenchCommand:
    """Benchmark an .onnx file with onnxruntime (median and p90 latency per provider, batch and threads)."""

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add the benchmark arguments."""
        parser.add_argument("model", help="the .onnx file")
        parser.add_argument("--batch", type=int, nargs="+", default=[1, 64], help="batch sizes (default 1 64)")
        parser.add_argument("--threads", type=int, nargs="+", default=[1], help="intra-op thread counts (default 1)")
        parser.add_argument("--providers", nargs="+", help="execution providers (default: every local one onnxruntime lists)")
        parser.add_argument("--warmup", type=int, default=10, help="untimed runs per configuration (default 10)")
        parser.add_argument("--runs", type=int, default=50, help="timed runs per configuration (default 50)")
        parser.add_argument("--input-shape", help="per-sample shape for inputs whose non-batch dims are symbolic")
        parser.add_argument("--optimization-level", choices=["disable", "basic", "extended", "all"], default="all")
        parser.add_argument("--json", help="write the results as JSON to this file")

    def run(self, args: argparse.Namespace) -> int:
        """Run the benchmark, print the table, write JSON when asked."""
        from rich.console import Console

        from nasforge.export.benchmark import OnnxRuntimeBenchmark

        path = Path(args.model)
        if not path.is_file():
            raise UserError(f"{path} does not exist; pass the .onnx file to benchmark")
        bench = OnnxRuntimeBenchmark(
            path,
            batch_sizes=args.batch,
            threads=args.threads,
            providers=args.providers,
            warmup=args.warmup,
            runs=args.runs,
            input_shape=parse_shape(args.input_shape) if args.input_shape else None,
            optimization_level=args.optimization_level,
        )
        report = bench.run()
        Console().print(report.table())
        if args.json:
            Console().print(f"results: {report.write_json(args.json)}", soft_wrap=True)
        return 0 if report.records else 1
