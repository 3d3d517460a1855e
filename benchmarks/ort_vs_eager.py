"""onnxruntime (fp32) vs PyTorch eager latency on the same models, measured alternately in one run.

Models: the CIFAR-10 ResNet-56 (option A) with the akamaster checkpoint from the shared data
folder, and a small CNN trained for a few seconds on sklearn digits. Each model is exported with
``nasforge.export.export_onnx`` and checked for parity on real samples first; then for every
thread count and batch size the eager model and the onnxruntime session are called alternately
(``measure_interleaved``) so that background load on the shared machine hits both alike. Thread
counts are fixed (``torch.set_num_threads`` = onnxruntime ``intra_op_num_threads``) and printed
next to every figure.

    python benchmarks/ort_vs_eager.py --threads 1 2 --batches 1 64 --runs 100

Data: ``$NASFORGE_SHARED_DATA`` (default ``<repo>/../shared/data``): ``weights/resnet56-4bfd9763.th``
and ``cifar10/cifar10-jpeg.tar.gz`` (read in memory; nothing is extracted next to it).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NASFORGE_SHARED_DATA", REPO.parent / "shared" / "data"))
RESNET56_CHECKPOINT = SHARED / "weights" / "resnet56-4bfd9763.th"
CIFAR_ARCHIVE = SHARED / "cifar10" / "cifar10-jpeg.tar.gz"
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
# the normalisation the akamaster checkpoints were trained with
CIFAR_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
CIFAR_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)


def require(path: Path, what: str) -> Path:
    """Fail loudly when shared data is missing."""
    if not path.exists():
        sys.exit(f"error: {what} not found at {path}; set NASFORGE_SHARED_DATA to the shared data folder")
    return path


# -- models ---------------------------------------------------------------------------------------
def cifar_resnet56() -> nn.Module:
    """ResNet-56 option A from nasforge-compression (the project's one definition of it)."""
    try:
        from nasforge.compression.models.cifar_resnet import resnet56
    except ImportError:
        sys.exit("error: this benchmark needs nasforge-compression for the CIFAR ResNet definition: pip install -e packages/nasforge-compression --no-deps")
    return resnet56()


def load_resnet56() -> nn.Module:
    """ResNet-56 with the akamaster CIFAR-10 weights ('module.' prefixes stripped), in eval mode."""
    model = cifar_resnet56()
    data = torch.load(require(RESNET56_CHECKPOINT, "ResNet-56 checkpoint"), map_location="cpu", weights_only=True)
    state = {k.removeprefix("module."): v for k, v in data["state_dict"].items()}
    model.load_state_dict(state)
    return model.eval()


class DigitsCNN(nn.Module):
    """A small CNN for 8x8 sklearn digits (the embedded demo dataset)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1, stride=2), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.classifier = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body(x))


def train_digits_cnn(epochs: int = 8, seed: int = 0):
    """Train DigitsCNN on 1,300 digits; returns (model, x_test, y_test) with the 497 held-out digits."""
    from sklearn.datasets import load_digits

    torch.manual_seed(seed)
    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    tr, te = perm[:1300], perm[1300:]
    model = DigitsCNN()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        order = tr[torch.randperm(len(tr))]
        for i in range(0, len(order), 64):
            idx = order[i : i + 64]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval(), x[te], y[te]


# -- CIFAR-10 JPEGs -------------------------------------------------------------------------------
def load_cifar(split: str, per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` seeded-random images of each class from the JPEG archive, normalised; (x, y).

    The archive is gzip-compressed, so members are read in one sequential pass (random access
    would re-decompress from the start for every image).
    """
    from PIL import Image

    rng = np.random.default_rng(seed)
    archive = require(CIFAR_ARCHIVE, "CIFAR-10 JPEG archive")
    with tarfile.open(archive) as tar:
        names = sorted(n for n in tar.getnames() if n.startswith(f"{split}/") and n.endswith(".jpg"))
    chosen: dict[str, int] = {}
    for label, cls in enumerate(CIFAR_CLASSES):
        files = [n for n in names if n.split("/")[1] == cls]
        for idx in rng.choice(len(files), size=min(per_class, len(files)), replace=False):
            chosen[files[idx]] = label
    images: dict[str, np.ndarray] = {}
    with tarfile.open(archive, mode="r|gz") as stream:
        for member in stream:
            if member.name in chosen:
                with Image.open(io.BytesIO(stream.extractfile(member).read())) as img:
                    images[member.name] = np.asarray(img.convert("RGB"), dtype=np.float32).transpose(2, 0, 1) / 255.0
    order = sorted(chosen)  # class folders, then file names: a stable order
    x = (np.stack([images[n] for n in order]) - CIFAR_MEAN) / CIFAR_STD
    y = np.asarray([chosen[n] for n in order], dtype=np.int64)
    return np.ascontiguousarray(x, dtype=np.float32), y


# -- the comparison -------------------------------------------------------------------------------
def compare(name: str, model: nn.Module, onnx_path: Path, sample_shape: tuple[int, ...], batches, threads, warmup: int, runs: int, small_batch_runs: int) -> list[dict]:
    """Alternate eager and onnxruntime calls per (threads, batch); returns one row per pair."""
    from nasforge.export import measure_interleaved
    from nasforge.export.runtime import make_session

    rows = []
    rng = np.random.default_rng(0)
    for t in threads:
        torch.set_num_threads(t)
        session = make_session(onnx_path, "CPUExecutionProvider", intra_op_threads=t)
        input_name = session.get_inputs()[0].name
        for b in batches:
            x = rng.standard_normal((b, *sample_shape)).astype(np.float32)
            xt = torch.from_numpy(x)
            with torch.inference_mode():
                stats = measure_interleaved(
                    {"torch": lambda: model(xt), "ort": lambda: session.run(None, {input_name: x})}, warmup=warmup,
                    runs=small_batch_runs if b <= 8 else runs,
                )
            row = {
                "model": name, "batch": b, "threads": t,
                "torch_median_ms": stats["torch"].median_ms, "torch_p90_ms": stats["torch"].p90_ms,
                "ort_median_ms": stats["ort"].median_ms, "ort_p90_ms": stats["ort"].p90_ms,
                "speedup": stats["torch"].median_ms / stats["ort"].median_ms, "runs": stats["ort"].runs,
            }
            rows.append(row)
            print(
                f"{name:10s} batch {b:3d} threads {t}: torch eager {row['torch_median_ms']:8.3f} ms (p90 {row['torch_p90_ms']:8.3f})  "
                f"onnxruntime {row['ort_median_ms']:8.3f} ms (p90 {row['ort_p90_ms']:8.3f})  speedup x{row['speedup']:.2f}",
                flush=True,
            )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="thread counts (torch and onnxruntime alike)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--small-batch-runs", type=int, default=300, help="timed runs for batches <= 8 (short calls need more samples on a shared machine)")
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--models", nargs="+", default=["resnet56", "digits"], choices=["resnet56", "digits"])
    parser.add_argument("--json", help="write the rows as JSON here")
    args = parser.parse_args(argv)

    import onnxruntime

    from nasforge.export import check_parity, export_onnx

    print(f"torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, cpu_count {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}; "
          f"threads {args.threads} (torch.set_num_threads = intra_op_num_threads, inter_op 1); runs {args.runs} (batch <= 8: {args.small_batch_runs}), warmup {args.warmup}")
    rows: list[dict] = []
    torch.set_num_threads(max(args.threads))
    with tempfile.TemporaryDirectory(prefix="nasforge-bench-") as tmp:
        for name in args.models:
            start = time.perf_counter()
            if name == "resnet56":
                model = load_resnet56()
                x_real, _ = load_cifar("test", per_class=10)
                shape = (3, 32, 32)
            else:
                model, x_test, _ = train_digits_cnn()
                x_real, shape = x_test.numpy(), (1, 8, 8)
            info = export_onnx(model, torch.from_numpy(x_real[:1]), Path(tmp) / f"{name}.onnx")
            parity = check_parity(model, info.path, x_real)
            print(f"{name}: exported in {time.perf_counter() - start:.1f}s, {info.size_bytes:,} bytes, opset {info.opset}; {parity.summary()}")
            rows += compare(name, model, info.path, shape, args.batches, args.threads, args.warmup, args.runs, args.small_batch_runs)
    load = os.getloadavg()
    print(f"\nload average at the end (1/5/15 min): {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores "
          "(other processes share the machine; ratios come from alternating calls, absolute times do not transfer)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2) + "\n")
    print("\n| model | batch | threads | torch eager median ms (p90) | onnxruntime median ms (p90) | speedup |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['batch']} | {r['threads']} | {r['torch_median_ms']:.3f} ({r['torch_p90_ms']:.3f}) | "
              f"{r['ort_median_ms']:.3f} ({r['ort_p90_ms']:.3f}) | x{r['speedup']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
