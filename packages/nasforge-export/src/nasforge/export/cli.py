"""``nasforge export`` and ``nasforge bench``: the export stage from the command line.

``nasforge export`` builds a model from a factory (``module:function``, e.g.
``torchvision.models:resnet18``), loads an optional checkpoint, exports float32 ONNX and, on
request, int8 and fp16 variants, each with a model card. ``nasforge bench`` measures an ``.onnx``
file with :class:`~nasforge.export.benchmark.OnnxRuntimeBenchmark`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nasforge.core.errors import UserError

# torch, onnx and onnxruntime are imported when a command runs, not when its arguments are
# configured: ``nasforge --help`` configures every command.

EXIT_PARITY_FAILED = 1


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
        parser.add_argument("--model-factory", help="'module:function' building the model, e.g. torchvision.models:resnet18")
        parser.add_argument("--model", help="a model file instead of a factory: what 'nasforge compress --out FILE' or the deploy step writes "
                                             "({state_dict, spec} loads without running code; a whole pickled module needs --trust-pickle)")
        parser.add_argument("--trust-pickle", action="store_true",
                            help="allow --model to load a pickled module, which can run code stored in the file: only for files you made or trust")
        parser.add_argument("--device", default="cpu", help="where PyTorch runs the model for the export trace and the parity check: cpu, cuda or cuda:N (default cpu)")
        parser.add_argument("--model-kwargs", "--factory-kwargs", dest="model_kwargs", default="{}", metavar="JSON", help='JSON keyword arguments for the factory, e.g. \'{"num_classes": 10}\'')
        parser.add_argument("--checkpoint", help="state dict file (or a dict with 'state_dict'); 'module.' prefixes are stripped")
        parser.add_argument("--input-shape", required=True, help="per-sample input shape without the batch, e.g. 3,32,32")
        parser.add_argument("--out", "--output", dest="out", required=True, help="output folder")
        parser.add_argument("--name", help="file stem (default: the factory's function name)")
        parser.add_argument("--int8", action="store_true", help="also write a static int8 model (needs --calibration-data)")
        parser.add_argument("--fp16", action="store_true", help="also write a float16 model")
        parser.add_argument("--calibration-data", help=".npy/.npz (x[, y]) or an image folder <dir>/<class>/<img>: real inputs for calibration and parity")
        parser.add_argument("--calibration-samples", type=int, default=256, help="seeded sample of the calibration data, stratified by class when labelled (default 256)")
        parser.add_argument("--eval-data", help=".npz with x and y, or an image folder: held-out samples to report accuracy in the cards")
        parser.add_argument("--eval-samples", type=int, default=None, help="seeded sample of the evaluation data, stratified by class (default all)")
        parser.add_argument("--mean", help="per-channel mean subtracted from image data, e.g. 0.4914,0.4822,0.4465")
        parser.add_argument("--std", help="per-channel std dividing image data, e.g. 0.247,0.243,0.261")
        parser.add_argument("--exclude-last-layer", action="store_true", help="int8: keep the final Gemm/MatMul in float")
        parser.add_argument("--exclude-first-layer", action="store_true", help="int8: keep the first Conv/Gemm in float")
        parser.add_argument("--quant-format", choices=["qdq", "qoperator"], default="qdq", help="int8 graph format (default qdq)")
        parser.add_argument("--calibrate-method", choices=["minmax", "entropy", "percentile"], default="minmax", help="int8 range calibration")
        parser.add_argument("--opset", type=int, help="ONNX opset (default: the exporter's recommendation)")
        parser.add_argument("--static-batch", action="store_true", help="keep the batch dimension fixed at 1")
        parser.add_argument("--exporter", choices=["dynamo", "torchscript"], default="dynamo", help="torch ONNX exporter (default dynamo)")
        parser.add_argument("--bench", action="store_true", help="benchmark every written file with onnxruntime, interleaved in one loop, print the comparison and put each summary in its card")
        parser.add_argument("--bench-threads", "--latency-threads", dest="bench_threads", type=int, default=1,
                            help="onnxruntime intra-op threads for --bench's comparison (default 1; same as 'nasforge compress --latency-threads')")
        parser.add_argument("--bench-runs", "--latency-runs", dest="bench_runs", type=int, default=50,
                            help="timed calls of each file per round, 3 rounds (default 50; same as 'nasforge compress --latency-runs')")
        parser.add_argument("--seed", type=int, default=0, help="seed for sample subsets and random sample inputs")

    def run(self, args: argparse.Namespace) -> int:
        """Build, load, export; print one line per written file. Exit 1 when a parity check fails."""
        import torch

        from nasforge.core.parsing import parse_json_option, parse_shape
        from nasforge.core.plugins import get_plugin_manager
        from nasforge.export.loading import build_model, load_checkpoint, load_model_file, load_samples
        from nasforge.export.parity import ParityError
        from nasforge.torchutils import parse_device

        kwargs = parse_json_option(args.model_kwargs, "--model-kwargs")
        shape = parse_shape(args.input_shape)
        device = parse_device(args.device)
        if args.bench_runs < 1:
            raise UserError(f"--bench-runs must be at least 1, got {args.bench_runs}")
        if args.int8 and not args.calibration_data:
            raise UserError("--int8 needs --calibration-data (real input samples to calibrate activation ranges)")
        mean, std = _floats(args.mean, "--mean"), _floats(args.std, "--std")
        if bool(args.model) == bool(args.model_factory):
            raise UserError("say which model to export: --model-factory module:function, or --model FILE.pt (a saved module, e.g. from 'nasforge compress')")
        if args.model:
            model = load_model_file(args.model, trust_pickle=args.trust_pickle)
            source: dict[str, Any] = {"model": str(args.model), "input_shape": list(shape)}
        else:
            model = build_model(args.model_factory, kwargs)
            source = {"model_factory": args.model_factory, "model_kwargs": kwargs, "input_shape": list(shape)}
        if args.checkpoint:
            source.update(load_checkpoint(model, args.checkpoint))
        model = model.to(device)
        source["device"] = str(device)
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
        name = args.name or (Path(args.model).stem if args.model else args.model_factory.rpartition(":")[2].split(".")[-1])
        formats = ["onnx"] + (["onnx-int8"] if args.int8 else []) + (["onnx-fp16"] if args.fp16 else [])
        common = {"opset": args.opset, "dynamic_batch": not args.static_batch, "exporter": args.exporter, "benchmark": args.bench}
        pm = get_plugin_manager()
        failed = False
        written: dict[str, Path] = {}
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
            written[fmt] = result.path
        if args.bench and written:
            console.print(bench_comparison(written, sample, args.bench_threads, args.bench_runs))
        return EXIT_PARITY_FAILED if failed else 0


def bench_comparison(files: dict[str, Path], sample: Any, threads: int = 1, runs: int = 50) -> Any:
    """A table of every written file's onnxruntime latency at batch 1, timed interleaved."""
    from rich.table import Table

    from nasforge.core.formatting import human
    from nasforge.export.benchmark import interleaved_latency

    timed = interleaved_latency(files, sample[:1], threads, runs)
    reference = timed.get("onnx", next(iter(timed.values())))[0]
    table = Table(title=f"onnxruntime CPU latency at batch 1, files timed interleaved (3 rounds of {runs}; intra_op_num_threads={threads})", title_justify="left")
    for col in ("file", "median ms", "± ms", "speedup vs fp32", "KB"):
        table.add_column(col, justify="left" if col == "file" else "right", no_wrap=True)
    for fmt, (median, spread) in timed.items():
        table.add_row(files[fmt].name, human(median), human(spread), f"{reference / median:.2f}x", human(files[fmt].stat().st_size / 1024))
    table.caption = "± is the range of the round medians: differences smaller than it are noise"
    return table


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

        from nasforge.core.parsing import parse_shape
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
