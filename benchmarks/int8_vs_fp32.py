"""onnxruntime static int8 vs onnxruntime fp32: speed and accuracy of ResNet-56 on real CIFAR-10 images.

The float32 ONNX export of the CIFAR-10 ResNet-56 (akamaster checkpoint) is quantized with
``nasforge.export.quantize_int8`` (onnxruntime static quantization, calibrated on training images)
in several configurations. For each: top-1 accuracy of fp32 and int8 on the same test images, file
sizes, and latency at each batch size with fp32 and int8 sessions called alternately in one run
(``measure_interleaved``), threads fixed (onnxruntime ``intra_op_num_threads``, printed with every
figure). Target: int8 >= 1.8x faster than fp32 with <= 0.5 point accuracy drop.

    python benchmarks/int8_vs_fp32.py --test-per-class 200 --calib-per-class 32 --threads 1 --runs 40

Data: ``$NASFORGE_SHARED_DATA`` (default ``<repo>/../shared/data``); the CIFAR-10 JPEG test split
(JPEG re-encodings: the checkpoint scores lower on them than its reported 93.6 %, so only the
fp32-vs-int8 difference on the same images is meaningful).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ort_vs_eager import load_cifar, load_resnet56  # same folder: shared data loading and model

#: name -> quantize_int8 options. "default" is QuantizationOptions() as shipped.
CONFIGS: dict[str, dict] = {
    "default": {},  # QDQ, per-channel, U8S8 (uint8 activations, int8 weights), MinMax
    "s8s8": {"activation_type": "int8"},
    "per-tensor": {"per_channel": False},
    "qoperator": {"quant_format": "qoperator"},
    "keep-last-float": {"exclude_last_layer": True},
    "keep-first-last-float": {"exclude_first_layer": True, "exclude_last_layer": True},
    "reduce-range": {"reduce_range": True},
    "percentile": {"calibrate_method": "percentile"},
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["default", "s8s8", "qoperator", "keep-last-float"], choices=sorted(CONFIGS))
    parser.add_argument("--test-per-class", type=int, default=200, help="test images per class (default 200 = 2,000)")
    parser.add_argument("--calib-per-class", type=int, default=32, help="training images per class for calibration")
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--small-batch-runs", type=int, default=300, help="timed runs for batches <= 8 (short calls need more samples on a shared machine)")
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--fp16", action="store_true", help="also compare an fp16 conversion (onnxruntime.transformers.float16) with fp32")
    parser.add_argument("--json", help="write the rows as JSON here")
    args = parser.parse_args(argv)

    import onnxruntime

    from nasforge.export import convert_fp16, evaluate_onnx_accuracy, export_onnx, measure_interleaved, quantize_int8
    from nasforge.export.benchmark import describe_cpu
    from nasforge.export.runtime import make_session

    torch.set_num_threads(max(args.threads))
    print(f"cpu: {describe_cpu()}")
    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, cpu_count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; "
          f"onnxruntime intra_op_num_threads {args.threads} (inter_op 1); runs {args.runs} (batch <= 8: {args.small_batch_runs}), warmup {args.warmup}")
    start = time.perf_counter()
    x_test, y_test = load_cifar("test", args.test_per_class, seed=0)
    x_cal, _ = load_cifar("train", args.calib_per_class, seed=1)
    print(f"data: {len(x_test)} test images, {len(x_cal)} calibration (train) images, loaded in {time.perf_counter() - start:.1f}s")
    rows = []
    with tempfile.TemporaryDirectory(prefix="nasforge-int8-") as tmp:
        model = load_resnet56()
        fp32 = export_onnx(model, torch.from_numpy(x_test[:1]), Path(tmp) / "resnet56.onnx").path
        acc32 = evaluate_onnx_accuracy(fp32, x_test, y_test, threads=max(args.threads))
        print(f"fp32: {fp32.stat().st_size:,} bytes, accuracy {acc32 * 100:.2f} % on {len(y_test)} test images")
        for name in args.configs + (["fp16"] if args.fp16 else []):
            t0 = time.perf_counter()
            if name == "fp16":  # not int8: the float16 conversion, reported in the same table for comparison
                q_path = convert_fp16(fp32, Path(tmp) / "resnet56.fp16.onnx")
                excluded: list[str] = []
            else:
                q = quantize_int8(fp32, Path(tmp) / f"resnet56.{name}.onnx", x_cal, **CONFIGS[name])
                q_path, excluded = q.path, list(q.excluded_nodes)
            q_bytes = q_path.stat().st_size
            acc8 = evaluate_onnx_accuracy(q_path, x_test, y_test, threads=max(args.threads))
            print(f"[{name}] converted in {time.perf_counter() - t0:.1f}s: {q_bytes:,} bytes, accuracy {acc8 * 100:.2f} % "
                  f"(fp32 {acc32 * 100:.2f} %, drop {(acc32 - acc8) * 100:+.2f} points), excluded {excluded}", flush=True)
            for t in args.threads:
                s32 = make_session(fp32, intra_op_threads=t)
                s8 = make_session(q_path, intra_op_threads=t)
                for b in args.batches:
                    x = x_test[:b]
                    stats = measure_interleaved(
                        {"fp32": lambda: s32.run(None, {"input": x}), "int8": lambda: s8.run(None, {"input": x})},
                        warmup=args.warmup, runs=args.small_batch_runs if b <= 8 else args.runs,
                    )
                    row = {
                        "config": name, "options": CONFIGS.get(name, {"float16": True}), "threads": t, "batch": b,
                        "fp32_median_ms": stats["fp32"].median_ms, "fp32_p90_ms": stats["fp32"].p90_ms,
                        "int8_median_ms": stats["int8"].median_ms, "int8_p90_ms": stats["int8"].p90_ms,
                        "speedup": stats["fp32"].median_ms / stats["int8"].median_ms,
                        "acc_fp32": acc32, "acc_int8": acc8, "drop_points": (acc32 - acc8) * 100,
                        "fp32_bytes": fp32.stat().st_size, "int8_bytes": q_bytes, "test_images": len(y_test), "runs": args.small_batch_runs if b <= 8 else args.runs,
                    }
                    rows.append(row)
                    print(f"  [{name}] batch {b:3d} threads {t}: fp32 {row['fp32_median_ms']:8.3f} ms (p90 {row['fp32_p90_ms']:8.3f})  "
                          f"int8 {row['int8_median_ms']:8.3f} ms (p90 {row['int8_p90_ms']:8.3f})  speedup x{row['speedup']:.2f}", flush=True)
    load = os.getloadavg()
    print(f"\nload average at the end (1/5/15 min): {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores "
          "(other processes share the machine; ratios come from alternating calls, absolute times do not transfer)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    print("\n| config | batch | threads | fp32 median ms (p90) | int8 (or fp16) median ms (p90) | speedup | fp32 acc % | int8 acc % | drop (points) | size int8/fp32 | target met |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        met = "n/a" if r["config"] == "fp16" else ("yes" if r["speedup"] >= 1.8 and r["drop_points"] <= 0.5 else "no")
        print(f"| {r['config']} | {r['batch']} | {r['threads']} | {r['fp32_median_ms']:.3f} ({r['fp32_p90_ms']:.3f}) | {r['int8_median_ms']:.3f} ({r['int8_p90_ms']:.3f}) | "
              f"x{r['speedup']:.2f} | {r['acc_fp32'] * 100:.2f} | {r['acc_int8'] * 100:.2f} | {r['drop_points']:+.2f} | {r['int8_bytes'] / r['fp32_bytes']:.2f} | {met} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
