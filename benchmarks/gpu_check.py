"""GPU check: nasforge on a CUDA machine (run it where a GPU is; CI never does).

Measures, in one run:
1. the trainer evaluator with ``device: cuda`` versus ``device: cpu`` on the same digits
   architectures (accuracy must agree closely; time per trial is reported);
2. PyTorch eager latency on CUDA versus onnxruntime on the CPU (fixed intra-op threads) for the
   digits CNN and the CIFAR ResNet-56 (random weights: latency does not depend on them), at
   batch 1 and batch 64;
3. which onnxruntime execution providers exist, and that asking for a missing CUDA provider is
   reported by the benchmark instead of crashing it;
4. a small search end to end with the trainer on CUDA.

    python benchmarks/gpu_check.py --json gpu.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

GPU = "cuda"


def cuda_latency(model: torch.nn.Module, shape: tuple[int, ...], batch: int, runs: int = 50, warmup: int = 10) -> float:
    if GPU == "cpu":
        from nasforge.export import benchmark_torch_eager  # noqa: F401  (dry run: time on the CPU)

        x = torch.randn(batch, *shape)
        with torch.inference_mode():
            start = time.perf_counter()
            for _ in range(5):
                model.eval()(x)
        return (time.perf_counter() - start) / 5 * 1e3
    model = model.eval().cuda()
    x = torch.randn(batch, *shape, device="cuda")
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            model(x)
            end.record()
            torch.cuda.synchronize()
            if i >= warmup:
                times.append(start.elapsed_time(end))
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json", default=None)
    parser.add_argument("--ort-threads", type=int, default=4)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--dry-run", action="store_true", help="check the script on a CPU-only machine (cuda replaced by cpu)")
    args = parser.parse_args()
    out: dict = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.cuda.is_available()}
    global GPU
    if args.dry_run:
        GPU = "cpu"
    elif not torch.cuda.is_available():
        print("no CUDA device: this check needs a GPU", file=sys.stderr)
        return 1
    out["gpu"] = torch.cuda.get_device_name(0) if GPU == "cuda" else "none (dry run)"
    import onnxruntime as ort

    from nasforge.compression.models.cifar_resnet import resnet56
    from nasforge.core.evaluator import TrialContext
    from nasforge.export import OnnxRuntimeBenchmark, export_onnx
    from nasforge.trainer import TrainingEvaluator, build_model, cnn_space

    out["onnxruntime"] = ort.__version__
    out["ort_providers"] = ort.get_available_providers()
    torch.set_num_threads(args.ort_threads)

    # 1. the trainer on CUDA vs CPU
    space = cnn_space()
    archs = [
        {"stages": 1, "channels_1": 32, "blocks": 1, "kernel_size": 3, "activation": "relu", "residual": False},
        {"stages": 2, "channels_1": 32, "channels_2": 48, "blocks": 2, "kernel_size": 3, "activation": "silu", "residual": True},
        {"stages": 3, "channels_1": 48, "channels_2": 48, "channels_3": 48, "blocks": 2, "kernel_size": 5, "activation": "relu", "residual": True},
    ]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, a in enumerate(archs):
            arch = space.validate(a)
            row = {"arch": i}
            for device in ("cpu", GPU):
                ev = TrainingEvaluator(space, device=device, threads=args.ort_threads, tensorboard=False, save_model=False)
                ev.setup(Path(tmp))
                start = time.perf_counter()
                res = ev.evaluate(arch, TrialContext(number=i, seed=i, directory=Path(tmp) / f"{device}{i}"))
                row[f"{device}_seconds"] = time.perf_counter() - start
                row[f"{device}_accuracy"] = res.metrics["accuracy"]
                row[f"{device}_peak_memory_mb"] = res.metrics["peak_memory_mb"]
            rows.append(row)
            print(f"trainer arch {i}: cpu {row['cpu_seconds']:.2f} s acc {row['cpu_accuracy']:.4f} | cuda {row[f'{GPU}_seconds']:.2f} s acc {row[f'{GPU}_accuracy']:.4f}", flush=True)
    out["trainer"] = rows

    # 2. CUDA eager vs onnxruntime CPU
    digits_cnn = build_model("cnn", space.validate(archs[2]), (1, 8, 8), 10)
    models = {"digits-cnn": (digits_cnn, (1, 8, 8)), "resnet56": (resnet56(), (3, 32, 32))}
    latency = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (model, shape) in models.items():
            path = export_onnx(model.eval(), torch.randn(1, *shape), Path(tmp) / f"{name}.onnx").path
            providers = ["CPUExecutionProvider", "CUDAExecutionProvider"]
            report = OnnxRuntimeBenchmark(path, batch_sizes=(1, 64), threads=(args.ort_threads,), providers=providers, runs=30).run()
            for batch in (1, 64):
                cpu = next(r.median_ms for r in report.records if r.provider == "CPUExecutionProvider" and r.batch_size == batch)
                gpu = cuda_latency(model, shape, batch)
                latency.append({"model": name, "batch": batch, "ort_cpu_ms": cpu, "ort_threads": args.ort_threads, "torch_cuda_ms": gpu, "cuda_speedup": cpu / gpu})
                print(f"{name} batch {batch}: onnxruntime CPU ({args.ort_threads} threads) {cpu:.3f} ms | torch CUDA eager {gpu:.3f} ms | {cpu / gpu:.1f}x", flush=True)
            out.setdefault("ort_failures", {}).update({f"{name}:{k}": v for k, v in report.failures.items()})
    out["latency"] = latency
    print(f"onnxruntime providers: {out['ort_providers']}; failures reported: {out['ort_failures']}", flush=True)

    # 4. a small search on CUDA, end to end
    from nasforge.core.config import validate_config
    from nasforge.core.experiment import Experiment

    with tempfile.TemporaryDirectory() as tmp:
        config = validate_config({
            "name": "gpu-search", "seed": 0, "space": {"name": "cnn"}, "strategy": {"name": "evolution"},
            "evaluator": {"name": "trainer", "options": {"device": GPU, "tensorboard": False}},
            "budget": {"trials": args.trials}, "output": tmp,
        })
        start = time.perf_counter()
        result = Experiment.create(config).run()
        out["search"] = {"trials": len(result.trials), "complete": sum(t.state.value == "complete" for t in result.trials),
                         "best_accuracy": result.best.metrics["accuracy"] if result.best else None, "seconds": time.perf_counter() - start,
                         "errors": [t.error for t in result.trials if t.error]}
        print(f"search on cuda: {out['search']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
