"""Structured pruning of the CIFAR-10 ResNet-56: accuracy, MACs, params and onnxruntime CPU latency.

What it does, in one run:

1. extracts the CIFAR-10 JPEG copy (``<shared>/cifar10/cifar10-jpeg.tar.gz``) into a temporary
   folder and loads it with the trainer's ``imagefolder`` loader (ImageNet normalisation, as the
   checkpoint was trained with);
2. loads the He et al. ResNet-56 checkpoint (``<shared>/weights/resnet56-4bfd9763.th``) and
   evaluates it on the test images (the JPEG re-encoding costs the checkpoint accuracy, so the
   reported 93.6 % is never the reference here);
3. **baseline**: fine-tunes a copy of the unpruned model with the recipe below;
4. **pruned**, for each ``--plan``: depth pruning (the residual blocks whose removal raises the
   loss least) and/or channel pruning (L2 importance, uniform ratio, widths rounded to multiples
   of 8 for onnxruntime's SIMD kernels), then fine-tunes with *the same recipe*;
5. measures both with onnxruntime on CPU (batch 1, fixed threads, interleaved runs, median).

The recipe for both: ``--epochs`` passes over a fixed random subset of ``--train-samples``
training images with flip + crop augmentation, SGD (momentum 0.9, cosine from ``--lr``), loss =
distillation from the original checkpoint (T=4, alpha=0.9) + cross-entropy. Accuracy drop is
pruned minus baseline, both fine-tuned alike, on the same test images.

    python benchmarks/prune_resnet56.py --json results.json                 # plan d15
    python benchmarks/prune_resnet56.py --plan d12 --plan d12+c0.25 --plan c0.5   # compare plans

The default plan, ``d15`` (remove 15 of the 27 blocks), is the one that reached >= 2x latency
without losing accuracy once the fine-tuning budget was large enough; see
docs/benchmarks.md for the measured numbers and budgets.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def shared_data() -> Path:
    root = Path(__file__).resolve().parents[1]
    return Path(os.environ.get("NASFORGE_SHARED_DATA", root.parent / "shared" / "data"))


def list_images(split: Path) -> list[tuple[Path, int]]:
    """``(file, class index)`` for every JPEG under ``split/<class>/``, classes in sorted order."""
    classes = sorted(d.name for d in split.iterdir() if d.is_dir())
    return [(f, c) for c, name in enumerate(classes) for f in sorted((split / name).glob("*.jpg"))]


def decode(files: list[tuple[Path, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode JPEGs into a ``uint8`` ``(N, 3, 32, 32)`` tensor and their labels."""
    import numpy as np
    from PIL import Image

    images = np.stack([np.asarray(Image.open(f).convert("RGB")) for f, _ in files])
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.tensor([c for _, c in files])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-samples", type=int, default=10000, help="fine-tuning subset size (default 10000)")
    p.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs for baseline and pruned alike")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--alpha", type=float, default=0.9, help="weight of distillation from the original checkpoint (0 = plain cross-entropy)")
    p.add_argument("--temperature", type=float, default=4.0)
    p.add_argument("--eval-samples", type=int, default=10000, help="test images to evaluate on (10000 = the full test set)")
    p.add_argument("--plan", action="append", help="pruning plan, e.g. d9+c0.25: remove 9 blocks (g9: greedily), then 25%% of each channel group; repeat to compare several plans against the same baseline (default d15)")
    p.add_argument("--importance-batches", type=int, default=4, help="batches used to score blocks")
    p.add_argument("--round-to", type=int, default=8)
    p.add_argument("--torch-threads", type=int, default=1, help="1 by default: on 2 cores shared with other work, 2 threads ran 3x slower than 1")
    p.add_argument("--ort-threads", type=int, default=1)
    p.add_argument("--latency-runs", type=int, default=300)
    p.add_argument("--device", default="cpu", help="where to fine-tune and evaluate (pruning and latency stay on the CPU)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="write all numbers here")
    args = p.parse_args(argv)
    args.plan = args.plan or ["d15"]

    from nasforge.compression import ChannelPruner, DepthPruner
    from nasforge.compression.finetune import fine_tune, frozen_copy
    from nasforge.compression.models.cifar_resnet import load_checkpoint, resnet56
    from nasforge.export import export_onnx, measure_interleaved
    from nasforge.export.runtime import make_session
    from nasforge.torchutils import count_macs, count_params, evaluate_accuracy
    from nasforge.trainer.data import ImageTensorDataset, make_loader

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.torch_threads)
    started = time.perf_counter()
    data = shared_data()
    archive, weights = data / "cifar10" / "cifar10-jpeg.tar.gz", data / "weights" / "resnet56-4bfd9763.th"
    for f in (archive, weights):
        if not f.is_file():
            sys.exit(f"missing {f}; set NASFORGE_SHARED_DATA to the folder holding cifar10/ and weights/")
    print(f"python {platform.python_version()}, torch {torch.__version__}, torch threads {torch.get_num_threads()}, onnxruntime intra-op threads {args.ort_threads}")
    out: dict = {"args": vars(args), "torch_threads": torch.get_num_threads(), "ort_threads": args.ort_threads}

    g = torch.Generator().manual_seed(args.seed)
    with tempfile.TemporaryDirectory(prefix="cifar10-jpeg-") as tmp:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        root = next(p for p in [Path(tmp), *Path(tmp).iterdir()] if (p / "train").is_dir())
        # decode only the images used: a seeded random training subset and the test images
        train_files = list_images(root / "train")
        test_files = list_images(root / "test")
        train_pick = torch.randperm(len(train_files), generator=g)[: args.train_samples].tolist()
        test_pick = sorted(torch.randperm(len(test_files), generator=g)[: args.eval_samples].tolist())
        train_x, train_y = decode([train_files[i] for i in train_pick])
        test_x, test_y = decode([test_files[i] for i in test_pick])
    print(f"decoded {len(train_y)} training and {len(test_y)} test JPEGs in {time.perf_counter() - started:.0f}s")
    train = ImageTensorDataset(train_x, train_y, IMAGENET_MEAN, IMAGENET_STD, augment=True)
    test = ImageTensorDataset(test_x, test_y, IMAGENET_MEAN, IMAGENET_STD)
    train_loader = make_loader(train, args.batch_size, shuffle=True, seed=args.seed)
    test_loader = make_loader(test, 500)
    out["train_images"], out["test_images"] = len(train), len(test)

    device = torch.device(args.device)
    original = load_checkpoint(resnet56(), weights).eval()
    teacher = frozen_copy(original).to(device)
    t = time.perf_counter()
    out["acc_original"] = evaluate_accuracy(copy.deepcopy(original).to(device), test_loader)
    print(f"original checkpoint on {len(test)} JPEG test images: {100 * out['acc_original']:.2f}% ({time.perf_counter() - t:.0f}s)")

    def recipe(model: torch.nn.Module, what: str) -> float:
        t0 = time.perf_counter()
        model.to(device)
        losses = fine_tune(model, train_loader, epochs=args.epochs, lr=args.lr, teacher=teacher if args.alpha > 0 else None, temperature=args.temperature, alpha=args.alpha)
        acc = evaluate_accuracy(model, test_loader)
        model.cpu()
        print(f"{what}: fine-tuned {args.epochs} epochs on {len(train)} images in {time.perf_counter() - t0:.0f}s, losses {[round(l, 3) for l in losses]}, accuracy {100 * acc:.2f}%")
        return acc

    baseline = copy.deepcopy(original)
    out["acc_baseline"] = recipe(baseline, "baseline (unpruned)")

    x = torch.randn(2, 3, 32, 32)
    models = {"baseline": baseline}
    plans: dict = {}
    for plan in args.plan:
        t = time.perf_counter()
        pruned, info = original, {"plan": plan}
        for step in plan.split("+"):
            if step.startswith(("d", "g")):  # d<N>: remove N blocks; g<N>: the same, greedily re-scored
                depth = DepthPruner(num_blocks=int(step[1:]), criterion="loss", greedy=step[0] == "g", importance_batches=args.importance_batches)
                result = depth.compress(pruned, x, data=train_loader)
                info["removed_blocks"] = result.report.removed_blocks
            elif step.startswith("c"):  # c<ratio>: remove that fraction of each channel group
                result = ChannelPruner(ratio=float(step[1:]), importance="l2", round_to=args.round_to).compress(pruned, x)
                info["widths"] = {n: list(v) for n, v in result.report.removed_channels.items()}
            else:
                sys.exit(f"unknown plan step {step!r}: use d<blocks>, g<blocks> or c<ratio>, joined by '+'")
            pruned = result.model
            print(result.report.table())
        info["prune_seconds"] = time.perf_counter() - t
        info["acc"] = recipe(pruned, f"pruned {plan}")
        info["blocks"] = list(getattr(pruned, "blocks", ()))
        models[plan] = pruned
        plans[plan] = info

    with tempfile.TemporaryDirectory(prefix="resnet56-onnx-") as tmp:
        sessions = {}
        for name, model in models.items():
            exported = export_onnx(model.eval(), x[:1], Path(tmp) / f"{len(sessions)}.onnx", dynamic_batch=False, exporter="torchscript")
            sess = make_session(exported.path, intra_op_threads=args.ort_threads)
            feed = {sess.get_inputs()[0].name: x[:1].numpy()}
            sessions[name] = lambda s=sess, f=feed: s.run(None, f)
        lat = measure_interleaved(sessions, warmup=30, runs=args.latency_runs)
    base_params, base_macs, base_ms = count_params(baseline), count_macs(baseline, x), lat["baseline"].median_ms
    out.update(params_baseline=base_params, macs_baseline=base_macs, latency_ms_baseline=base_ms)
    for plan, info in plans.items():
        model = models[plan]
        info.update(params=count_params(model), macs=count_macs(model, x), latency_ms=lat[plan].median_ms)
        info.update(params_ratio=base_params / info["params"], macs_ratio=base_macs / info["macs"], latency_ratio=base_ms / info["latency_ms"])
        info["accuracy_change_points"] = 100 * (info["acc"] - out["acc_baseline"])
    out["plans"] = plans
    out["seconds"] = time.perf_counter() - started

    print()
    print(f"| model | top-1 ({len(test)} JPEG test images) | params | MACs | ORT CPU latency (batch 1, {args.ort_threads} thread) | params / MACs / latency ratio | accuracy change |")
    print("|---|---|---|---|---|---|---|")
    print(f"| ResNet-56 checkpoint, not fine-tuned | {100 * out['acc_original']:.2f}% | {base_params:,} | {base_macs / 1e6:.1f} M | | | |")
    print(f"| ResNet-56 baseline, fine-tuned | {100 * out['acc_baseline']:.2f}% | {base_params:,} | {base_macs / 1e6:.1f} M | {base_ms:.3f} ms | 1 / 1 / 1 | |")
    for plan, info in plans.items():
        print(
            f"| pruned `{plan}` (blocks {info['blocks']}), fine-tuned alike | {100 * info['acc']:.2f}% | {info['params']:,} | {info['macs'] / 1e6:.1f} M | "
            f"{info['latency_ms']:.3f} ms | {info['params_ratio']:.2f}x / {info['macs_ratio']:.2f}x / {info['latency_ratio']:.2f}x | {info['accuracy_change_points']:+.2f} pt |"
        )
    print()
    print(f"threads: torch {torch.get_num_threads()} (fine-tuning, evaluation), onnxruntime intra-op {args.ort_threads} (latency); "
          f"fine-tuning on {args.device}; total {out['seconds'] / 60:.1f} min")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
