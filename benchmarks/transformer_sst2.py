"""Shrink MiniLM-L6 for SST-2: full model vs first-k layers vs nasforge's searched sub-networks.

One run measures, side by side, SST-2 dev accuracy and onnxruntime CPU latency (1 thread,
batch 1, 64 tokens; all contenders timed in interleaved rounds):

* A  the full MiniLM-L6 fine-tuned (what a user does with transformers alone): eager PyTorch,
     ORT fp32, ORT fp32 with onnxruntime's transformer fusion, ORT dynamic int8;
* B  keep the first k layers (k = 3, 2) of A, then fine-tune (DistilBERT-style shortcut);
* C  nasforge's one-shot search (``transformer_oneshot`` evaluator, ``--strategy``) on accuracy
     and ORT latency, constrained to ``latency_ratio <= --latency-cap`` (each trial's fused graph
     against A's, timed in one interleaved loop; 0.5 by default, target 1's bound); the Pareto
     finalists are extracted, fine-tuned like B, and exported fp32 + int8.

B and C get the same final fine-tune (``--final-steps`` of distillation from A's cached logits).
One more finalist, ``C-long``, answers target 3 (an int8 file at a third of A's ORT fp32 latency):
the most accurate re-timed front member whose int8 file should be that fast (its fused latency
scaled by A's int8 / fused ratio), fine-tuned ``--long-steps`` (3x as long). It is compared with A
only: target 2 compares B with the C finalists that had B's fine-tune budget.
The search scores sub-networks on a seeded stratified slice of the *training* data
(``--search-samples``) that the super-network does not train on; once the finalists are chosen,
B and C fine-tune on the whole training split, as the deploy stage does. The dev set is used only
for the table, so no figure in it was seen by the search. Everything lands in ``--out``
(resumable: every finished stage is kept and reused when the command is run again).

    python benchmarks/transformer_sst2.py                       # the full budget (see --help)
    python benchmarks/transformer_sst2.py --teacher-epochs 1 --supernet-seconds 900 --trials 30 --final-steps 150
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "transformer_sst2")
    p.add_argument("--data", type=Path, default=ROOT / ".." / "shared" / "data" / "text", help="folder holding sst2_sentences.csv")
    p.add_argument("--model", default="minilm")
    p.add_argument("--max-seq-length", type=int, default=64)
    p.add_argument("--max-train", type=int, default=None, help="seeded stratified sample of the training split (default: all 6,920)")
    p.add_argument("--teacher-epochs", type=float, default=2.0)
    p.add_argument("--supernet-steps", type=int, default=600)
    p.add_argument("--supernet-seconds", type=float, default=None)
    p.add_argument("--random-subnets", type=int, default=2)
    p.add_argument("--trials", type=int, default=45)
    p.add_argument("--strategy", default="evolution")
    p.add_argument("--latency-cap", type=float, default=0.5, metavar="FRACTION",
                   help="constrain the search to sub-networks at most FRACTION x A's latency (latency_ratio: each trial's fused ORT graph timed against A's in "
                        "one interleaved loop, 1 thread; 0: no constraint; the default is target 1's bound, so the search spends its trials where that target lies)")
    p.add_argument("--search-samples", type=int, default=872, help="training sentences held out to score sub-networks in the search")
    p.add_argument("--finalists", type=int, default=3, help="Pareto sub-networks extracted, fine-tuned and exported")
    p.add_argument("--final-steps", type=int, default=400, help="distillation fine-tune steps of B and C")
    p.add_argument("--long-steps", type=int, default=1200,
                   help="distillation steps of C-long, the finalist for target 3 (0: none); small sub-networks gain most from the longer fine-tune")
    p.add_argument("--final-lr", type=float, default=1e-4, help="peak learning rate of B's and C's distillation fine-tune (linear warm-up 10 %%, then linear decay)")
    p.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1),
                   help="torch threads for training: both cores of a 2-core machine (1.6x faster steps than 1 thread when nothing else runs); "
                        "use 1 when other jobs share the cores, where more threads oversubscribe them")
    p.add_argument("--seq-len", type=int, default=64, help="latency: tokens per sequence")
    p.add_argument("--rounds", type=int, default=10, help="latency: interleaved rounds")
    p.add_argument("--runs", type=int, default=20, help="latency: timed runs per contender per round")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


# -- A and B ----------------------------------------------------------------------------------
def teacher_model(args: argparse.Namespace, data: Any, stages: dict[str, Any]) -> Path:
    from nasforge_transformers import FinetuneOptions, encode, finetune, load_model

    folder = args.out / "A-teacher"
    if (folder / "config.json").is_file():
        return folder
    loaded = load_model(args.model, "classification", data.num_labels, label_names=list(data.label_names))
    train = encode(loaded.tokenizer, data.train, args.max_seq_length, loaded.max_length)
    opts = FinetuneOptions(epochs=args.teacher_epochs, batch_size=32, lr=5e-5, warmup_ratio=0.1, seed=args.seed)
    log(f"A: fine-tuning {args.model} on {len(train)} sentences, {args.teacher_epochs:g} epoch(s), {opts.total_steps(len(train))} steps")
    started = time.perf_counter()
    finetune(loaded.model.to(args.device), train, opts, checkpoint=args.out / "A-teacher.ckpt",
             progress=lambda s, t, loss: log(f"A step {s}/{t} loss {loss:.4f}") if s % 20 == 0 or s == t else None)
    stages["teacher_seconds"] = time.perf_counter() - started
    tmp = args.out / "A-teacher.tmp"
    loaded.model.cpu().save_pretrained(tmp)
    loaded.tokenizer.save_pretrained(tmp)
    os.replace(tmp, folder)
    return folder


def search(args: argparse.Namespace, teacher_dir: Path) -> Path:
    from nasforge.core.config import validate_config
    from nasforge.core.experiment import Experiment

    directory = args.out / "C-search"
    config = validate_config({
        "name": "sst2-minilm-oneshot",
        "seed": args.seed,
        "space": {"name": "transformer_subnet", "options": {"model": args.model}},
        "strategy": {"name": args.strategy},
        "evaluator": {"name": "transformer_oneshot", "options": {
            "model": args.model, "teacher": str(teacher_dir), "dataset": "sst2",
            "dataset_options": {"root": str(args.data), **({"max_train": args.max_train} if args.max_train else {})},
            "max_seq_length": args.max_seq_length, "eval_samples": args.search_samples, "eval_split": "train", "threads": args.threads, "device": args.device,
            "latency_backend": "onnxruntime", "latency_fusion": True, "latency_threads": 1, "latency_seq_len": args.seq_len, "latency_runs": 30, "seed": args.seed,
            "supernet": {"max_steps": args.supernet_steps, "max_seconds": args.supernet_seconds, "random_subnets": args.random_subnets, "seed": args.seed},
        }},
        "objectives": ["accuracy", "latency_ratio:min"],  # the ratio, not ms: ms drift with the load between trials
        **({"constraints": [f"latency_ratio <= {args.latency_cap:g}"]} if args.latency_cap else {}),
        "budget": {"trials": args.trials},
    })
    cached = directory / "transformer" / "teacher_logits.pt"
    if not cached.is_file():  # the evaluator checks the fingerprint of the data before reusing it
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.out / "A-teacher-logits.pt", cached)
    if (directory / "nasforge.db").exists():
        experiment = Experiment.resume(directory)
    else:
        experiment = Experiment.create(config, directory=directory)
    try:
        experiment.run()
    finally:
        experiment.close()
    return directory


def candidates(directory: Path, cap: float, limit: int = 24) -> list[dict[str, Any]]:
    """The search's Pareto front plus every trial timed within 25 % of the latency bound.

    One trial's latency is timed in seconds beside whatever else the machine runs, so near the
    bound a trial can be timed on the wrong side of it; on seed 1 a 4-layer sub-network timed at
    0.36x (re-timed: 0.67x) dominated, and so dropped from the front, the real candidates at
    0.47x. Re-timing everything near the bound in one loop, and taking the front again on the
    re-timed figures, leaves the choice to the steadier measurement. At most ``limit`` trials
    near the bound, the most accurate first.
    """
    from nasforge.core.records import TrialState
    from nasforge.core.store import Store

    result = json.loads((directory / "result.json").read_text())
    pool = {t["number"]: {"architecture": t["architecture"], **t["metrics"], "trial": t["number"]} for t in result["pareto"]}
    if cap:
        with Store(directory / "nasforge.db", read_only=True) as store:
            near = [t for t in store.trials((TrialState.COMPLETE,)) if t.number not in pool and abs(t.metrics["latency_ratio"] - cap) <= 0.25 * cap]
        for t in sorted(near, key=lambda t: -t.metrics["accuracy"])[:limit]:
            pool[t.number] = {"architecture": dict(t.architecture), **t.metrics, "trial": t.number}
    return sorted(pool.values(), key=lambda r: r["latency_ratio"])


def retimed_front(pool: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The members of ``pool`` no other member beats on both accuracy and re-timed latency."""
    def beaten(r: dict[str, Any]) -> bool:
        return any(o is not r and o["accuracy"] >= r["accuracy"] and o["retimed_ms"] <= r["retimed_ms"]
                   and (o["accuracy"] > r["accuracy"] or o["retimed_ms"] < r["retimed_ms"]) for o in pool)

    return sorted((r for r in pool if not beaten(r)), key=lambda r: r["retimed_ms"])


def pick_finalists(front: list[dict[str, Any]], count: int, caps: list[float]) -> list[dict[str, Any]]:
    """The most accurate sub-network under each latency cap (``retimed_ms``), then others spread over the front.

    The caps are the latencies a finalist must beat (half of A's, each B's), so every target is
    answered by the best candidate the search found for it rather than by an arbitrary front point.
    """
    chosen: list[dict[str, Any]] = []
    for cap in caps:
        under = [r for r in front if r["retimed_ms"] <= cap]
        best = max(under, key=lambda r: r["accuracy"], default=None)
        if best is not None and best not in chosen:
            chosen.append(best)
    for i in range(count):
        if len(chosen) >= count:
            break
        r = front[round(i * (len(front) - 1) / max(1, count - 1))]
        if r not in chosen:
            chosen.append(r)
    return sorted(chosen[:count], key=lambda r: r["retimed_ms"], reverse=True)


def retime_front(front: list[dict[str, Any]], extract: Any, references: dict[str, Path], args: argparse.Namespace, dev: Any, vocab: int) -> dict[str, float]:
    """Time every Pareto sub-network and ``references`` in one interleaved loop.

    The search timed each sub-network when it ran it, under whatever load the machine had then;
    re-timing the front next to A and B makes the caps and the candidates comparable. Each
    sub-network is timed as the graph the final table reports for it (fused when onnxruntime's
    fusion keeps parity, as for A and B): fusion does not always pay at one thread, so timing
    the un-fused graph against fused caps could pick a finalist that ends over its cap.
    """
    folder = args.out / "onnx" / "front"
    paths: dict[str, Path] = {}
    for i, row in enumerate(front):
        member = folder / str(i)
        stored = member / "architecture.json"
        if member.is_dir() and not (stored.is_file() and json.loads(stored.read_text()) == row["architecture"]):
            shutil.rmtree(member)
        variants = onnx_variants(extract(row["architecture"]).eval(), member, dev, fuse=True, int8=False)
        stored.write_text(json.dumps(row["architecture"]))
        paths[f"front {i}"] = variants.get("fused", variants["fp32"])
    timed = interleaved_latency({**references, **paths}, args.seq_len, args.rounds, 10, vocab)
    for i, row in enumerate(front):
        row["retimed_ms"] = timed[f"front {i}"]
    return {name: timed[name] for name in references}


# -- ONNX files -------------------------------------------------------------------------------
def onnx_variants(model: Any, folder: Path, dev: Any, fuse: bool = True, int8: bool = True) -> dict[str, Path]:
    """fp32, fused fp32 (when onnxruntime's fusion keeps parity) and dynamic int8 of a classifier."""
    import numpy as np
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from nasforge_transformers.latency import export_classifier_onnx

    folder.mkdir(parents=True, exist_ok=True)
    out = {"fp32": folder / "fp32.onnx"}
    if not out["fp32"].is_file():
        export_classifier_onnx(model.cpu().eval(), folder / "tmp.onnx")
        os.replace(folder / "tmp.onnx", out["fp32"])
    base = out["fp32"]
    if fuse:
        fused = folder / "fused.onnx"
        if not fused.is_file():
            from nasforge_transformers.export import optimize_transformer

            info = optimize_transformer(out["fp32"], folder / "tmp.onnx")
            log(f"{folder.name}: fused operators {info['fused']}")
            os.replace(folder / "tmp.onnx", fused)
        ref, got = ort_logits(out["fp32"], dev, limit=64), ort_logits(fused, dev, limit=64)
        if np.abs(ref - got).max() < 1e-3:
            out["fused"] = base = fused
        else:
            log(f"{folder.name}: fused graph differs from fp32 by {np.abs(ref - got).max():.2e}; not used")
    if not int8:
        return out
    quantized = folder / "int8.onnx"
    if not quantized.is_file():
        import onnx

        # the fused graph has contrib operators shape inference cannot type: default to float
        quantize_dynamic(str(base), str(folder / "tmp.onnx"), weight_type=QuantType.QInt8, extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        os.replace(folder / "tmp.onnx", quantized)
    out["int8"] = quantized
    return out


def ort_logits(path: Path, data: Any, limit: int | None = None, batch_size: int = 64) -> Any:
    import numpy as np

    from nasforge_transformers.latency import onnxruntime_session

    session = onnxruntime_session(path, threads=2)
    n = len(data) if limit is None else min(limit, len(data))
    out = np.zeros((n, 0), dtype=np.float32)
    rows = []
    for batch in data.subset(list(range(n))).batches(batch_size):
        logits = session.run(None, {"input_ids": batch["input_ids"].numpy(), "attention_mask": batch["attention_mask"].numpy()})[0]
        rows.append((batch["index"].numpy(), logits))
    out = np.zeros((n, rows[0][1].shape[1]), dtype=np.float32)
    for index, logits in rows:
        out[index] = logits
    return out


def accuracy(logits: Any, labels: Any, subset: list[int] | None = None) -> float:
    import numpy as np

    labels = np.asarray(labels)
    pred = np.asarray(logits).argmax(-1)
    if subset is not None:
        pred, labels = pred[subset], labels[subset]
    return float((pred == labels).mean())


# -- latency, interleaved -----------------------------------------------------------------------
def interleaved_latency(contenders: dict[str, Any], seq_len: int, rounds: int, runs: int, vocab: int) -> dict[str, float]:
    """Median ms per contender; ``contenders`` maps a name to an ONNX path or a torch model (eager)."""
    import numpy as np
    import torch

    from nasforge_transformers.latency import interleaved_medians, onnxruntime_session

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, vocab, size=(1, seq_len), dtype=np.int64)
    mask = np.ones_like(ids)
    calls = {}
    for name, target in contenders.items():
        if isinstance(target, Path):
            session = onnxruntime_session(target, threads=1)
            calls[name] = lambda s=session: s.run(None, {"input_ids": ids, "attention_mask": mask})
        else:
            t_ids, t_mask = torch.from_numpy(ids), torch.from_numpy(mask)

            def eager(m=target.eval()):  # noqa: B008 - binds this iteration's model
                with torch.inference_mode():
                    return m(input_ids=t_ids, attention_mask=t_mask)

            calls[name] = eager
    return interleaved_medians(calls, rounds * runs, 3, rounds)


def svg_plot(rows: list[dict[str, Any]], path: Path) -> None:
    """Accuracy vs latency scatter (no plotting library needed)."""
    width, height, pad = 640, 420, 60
    xs = [r["latency_ms"] for r in rows]
    ys = [r["accuracy"] * 100 for r in rows]
    x0, x1 = 0.0, max(xs) * 1.1
    y0, y1 = min(ys) - 1, max(ys) + 1
    def sx(x: float) -> float:
        return pad + (x - x0) / (x1 - x0) * (width - 2 * pad)

    def sy(y: float) -> float:
        return height - pad - (y - y0) / (y1 - y0) * (height - 2 * pad)

    colour = {"A": "#d62728", "B": "#1f77b4", "C": "#2ca02c", "search": "#bbbbbb"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
             f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="black"/>',
             f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="black"/>',
             f'<text x="{width / 2}" y="{height - 20}" text-anchor="middle">ORT CPU latency, ms (1 thread, batch 1, 64 tokens)</text>',
             f'<text x="15" y="{height / 2}" transform="rotate(-90 15 {height / 2})" text-anchor="middle">SST-2 dev accuracy, %</text>']
    for k in range(5):
        xv, yv = x0 + k * (x1 - x0) / 4, y0 + k * (y1 - y0) / 4
        parts.append(f'<text x="{sx(xv):.0f}" y="{height - pad + 15}" text-anchor="middle">{xv:.1f}</text>')
        parts.append(f'<text x="{pad - 5}" y="{sy(yv) + 4:.0f}" text-anchor="end">{yv:.1f}</text>')
    for r, x, y in zip(rows, xs, ys):
        c = colour.get(r["group"], "black")
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="{3 if r["group"] == "search" else 5}" fill="{c}"/>')
        if r["group"] != "search":
            parts.append(f'<text x="{sx(x) + 7:.1f}" y="{sy(y) - 5:.1f}">{r["name"]}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts), encoding="utf-8")


# -- main --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    from dataclasses import replace

    import onnxruntime

    from nasforge.export.benchmark import cpu_info, describe_cpu
    from nasforge_transformers import FinetuneOptions, encode, finetune, load_model, load_text_classification, teacher_logits
    from nasforge_transformers.importance import encoder_shape, slice_subnetwork
    from nasforge_transformers.subnet_space import subnetwork_plan, transformer_subnet_space
    from nasforge_transformers.supernet import OneShotEvaluator

    started = time.perf_counter()
    stages: dict[str, Any] = {}
    log(f"machine: {platform.machine()}, {describe_cpu()}; load average {os.getloadavg()[0]:.1f}; torch {torch.__version__} "
        f"({args.threads} training threads), onnxruntime {onnxruntime.__version__} (1 intra-op thread for latency)")
    data = load_text_classification("sst2", root=args.data, max_train=args.max_train, seed=args.seed)
    teacher_dir = teacher_model(args, data, stages)
    loaded = load_model(str(teacher_dir), "classification", data.num_labels, label_names=list(data.label_names))
    teacher = loaded.model.eval()
    train = encode(loaded.tokenizer, data.train, args.max_seq_length, loaded.max_length)
    dev = encode(loaded.tokenizer, data.valid, args.max_seq_length, loaded.max_length)
    logits_a = teacher_logits(teacher, train, cache=args.out / "A-teacher-logits.pt")
    final = FinetuneOptions(max_steps=args.final_steps, batch_size=32, lr=args.final_lr, warmup_ratio=0.1, alpha=0.9, seed=args.seed)

    rows: list[dict[str, Any]] = []
    files: dict[str, Path] = {}
    eager: dict[str, Any] = {}

    def add(group: str, name: str, model: Any, arch: Any, params: int, fuse: bool = True, steps: int | None = None) -> None:
        from nasforge_transformers import predict_logits

        logits = predict_logits(model.eval(), dev).numpy()
        variants = onnx_variants(model, args.out / "onnx" / name, dev, fuse=fuse)
        int8_logits = ort_logits(variants["int8"], dev)
        fp32_kind = "fused" if "fused" in variants else "fp32"
        files[f"{name} ORT fp32"] = variants["fp32"]
        if "fused" in variants:
            files[f"{name} ORT fused"] = variants["fused"]
        files[f"{name} ORT int8"] = variants["int8"]
        common = {"group": group, "architecture": arch, "params": params, "fp32_kind": fp32_kind, "final_steps": steps}
        rows.append({**common, "name": name, "accuracy": accuracy(logits, dev.labels), "int8": False,
                     "file_mb": variants[fp32_kind].stat().st_size / 1e6})
        rows.append({**common, "name": f"{name} int8", "accuracy": accuracy(int8_logits, dev.labels),
                     "int8": True, "file_mb": variants["int8"].stat().st_size / 1e6})

    # A
    total_params = sum(p.numel() for p in teacher.parameters())
    eager["A eager"] = teacher
    add("A", "A", teacher, "full", total_params)
    log(f"A: dev accuracy {rows[0]['accuracy']:.4f} (int8 {rows[1]['accuracy']:.4f})")
    # B: first k layers, full width, fine-tuned with the same recipe as C's finalists
    shape = encoder_shape(teacher)
    for k in (3, 2):
        arch = {"layers": k, **{f"heads_{i}": 1.0 for i in range(1, k + 1)}, **{f"ffn_{i}": 1.0 for i in range(1, k + 1)}}
        name = f"B first-{k}"
        student = slice_subnetwork(teacher, subnetwork_plan(arch, shape, "first"))
        weights = args.out / f"B-first{k}.pt"
        if weights.is_file():
            student.load_state_dict(torch.load(weights, weights_only=True))
        else:
            log(f"{name}: fine-tuning {args.final_steps} steps")
            finetune(student, train, final, teacher_logits=logits_a, checkpoint=args.out / f"B-first{k}.ckpt",
                     progress=lambda s, t, loss, n=name: log(f"{n} step {s}/{t} loss {loss:.4f}") if s % 25 == 0 or s == t else None)
            torch.save(student.state_dict(), weights)
        add("B", name, student, arch, sum(p.numel() for p in student.parameters()), steps=args.final_steps)
    # C: the one-shot search
    cap_file = args.out / "search-latency-cap.json"  # kept, so that a resumed search keeps its constraint
    kept = json.loads(cap_file.read_text()) if cap_file.is_file() else {"fraction": 0.0, "metric": "latency_ratio"} if (args.out / "C-search" / "nasforge.db").exists() else None
    if kept is not None and (kept["fraction"] != args.latency_cap or kept.get("metric") != "latency_ratio"):
        sys.exit(f"{args.out} holds a search constrained at --latency-cap {kept['fraction']:g} by an earlier version of this script; use another --out")
    if not cap_file.is_file():
        cap_file.write_text(json.dumps({"fraction": args.latency_cap, "metric": "latency_ratio"}))
    stages["search_latency_cap"] = args.latency_cap
    if args.latency_cap:
        log(f"search constrained to latency_ratio <= {args.latency_cap:g}: each trial's fused graph timed against A's in one interleaved loop")
    search_started = time.perf_counter()
    search_dir = search(args, teacher_dir)
    stages["search_seconds"] = time.perf_counter() - search_started
    pool = candidates(search_dir, args.latency_cap)
    evaluator = OneShotEvaluator(
        transformer_subnet_space(model=args.model),
        model=args.model, teacher=str(teacher_dir), dataset="sst2", dataset_options={"root": str(args.data), **({"max_train": args.max_train} if args.max_train else {})},
        max_seq_length=args.max_seq_length, eval_samples=args.search_samples, eval_split="train", threads=args.threads, seed=args.seed,
        supernet={"max_steps": args.supernet_steps, "max_seconds": args.supernet_seconds, "random_subnets": args.random_subnets, "seed": args.seed},
    )
    evaluator.setup(search_dir)  # loads the trained super-network from the experiment folder
    state = evaluator._state
    supernet_info = state["supernet_info"]

    def extract(architecture: dict[str, Any]) -> Any:
        with state["elastic"].suspended():
            return slice_subnetwork(state["supernet"], evaluator.plan(architecture))

    # caps in the same loop as the front: a C finalist's fp32 graph must beat half of A's fused
    # latency (target 1) and each B's fused latency (target 2)
    refs = {name: files[f"{name} ORT fused"] if f"{name} ORT fused" in files else files[f"{name} ORT fp32"] for name in ("A", "B first-3", "B first-2")}
    refs |= {"A fp32": files["A ORT fp32"], "A int8": files["A ORT int8"]}  # target 3's reference and this CPU's int8 speed-up
    ref_ms = retime_front(pool, extract, refs, args, dev, teacher.config.vocab_size)
    front = retimed_front(pool)
    caps = [0.5 * ref_ms["A"], ref_ms["B first-3"], ref_ms["B first-2"]]
    stages["finalist_caps_ms"] = caps
    stages["retimed_candidates"] = len(pool)
    log(f"{len(pool)} candidates re-timed; front: " + ", ".join(f"{r['accuracy']:.4f}@{r['retimed_ms']:.1f}ms" for r in front)
        + f"; caps {', '.join(f'{c:.1f}' for c in caps)} ms")
    finalists = pick_finalists(front, args.finalists, caps)

    def finalist(name: str, row: dict[str, Any], steps: int, seed: int, found: str) -> None:
        """Extract ``row``'s sub-network, fine-tune it ``steps`` (kept in ``--out`` per architecture) and add its rows."""
        student = extract(row["architecture"])
        weights, stored_arch = args.out / f"{name}.pt", args.out / f"{name}.json"
        if weights.is_file() and json.loads(stored_arch.read_text()) == row["architecture"]:
            student.load_state_dict(torch.load(weights, weights_only=True))
        else:
            log(f"{name}: {row['architecture']} ({found}); fine-tuning {steps} steps")
            tuned = time.perf_counter()
            finetune(student, train, replace(final, max_steps=steps, seed=seed), teacher_logits=logits_a, checkpoint=args.out / f"{name}.ckpt",
                     progress=lambda s, t, loss: log(f"{name} step {s}/{t} loss {loss:.4f}") if s % 25 == 0 or s == t else None)
            stages[f"{name}_finetune_seconds"] = time.perf_counter() - tuned
            torch.save(student.state_dict(), weights)
            stored_arch.write_text(json.dumps(row["architecture"]))
        add("C", name, student, row["architecture"], int(row["params"]), fuse=True, steps=steps)

    for i, row in enumerate(finalists, start=1):
        finalist(f"C{i}", row, args.final_steps, args.seed + i, f"search: acc {row['accuracy']:.4f}, {row['latency_ms']:.2f} ms")
    if args.long_steps:
        # target 3: an int8 file at a third of A's ORT fp32 latency; a sub-network's int8 latency is
        # estimated from its fused one by A's int8 / fused ratio on this CPU (about 1 where int8 does not pay)
        cap3 = ref_ms["A fp32"] / 3 * ref_ms["A"] / ref_ms["A int8"]
        stages["long_cap_ms"] = cap3
        row = max((r for r in front if r["retimed_ms"] <= cap3), key=lambda r: r["accuracy"], default=None)
        if row is None:
            log(f"C-long: no front member at <= {cap3:.1f} ms fused; skipped")
        else:
            finalist("C-long", row, args.long_steps, args.seed + 10,
                     f"search: acc {row['accuracy']:.4f}, re-timed {row['retimed_ms']:.2f} ms, cap {cap3:.2f}")
    # latency of everything, interleaved
    log(f"latency: {len(files) + len(eager)} contenders, {args.rounds} rounds x {args.runs} runs, 1 thread, batch 1, {args.seq_len} tokens; "
        f"load average {os.getloadavg()[0]:.1f}")
    latency = interleaved_latency({**eager, **files}, args.seq_len, args.rounds, args.runs, teacher.config.vocab_size)
    for row in rows:
        key = f"{row['name'].removesuffix(' int8')} ORT {'int8' if row['int8'] else row['fp32_kind']}"
        row["latency_ms"] = latency[key]
    a_fused = latency.get("A ORT fused", latency["A ORT fp32"])
    a_fp32 = latency["A ORT fp32"]
    a_acc = rows[0]["accuracy"]
    report = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "cpu": cpu_info(), "load_average_end": os.getloadavg(), "seconds": time.perf_counter() - started, "stages": stages, "supernet": supernet_info,
        "latency": latency, "rows": rows, "search_pareto": front, "retimed_candidates": pool,
    }
    print_table(rows, latency, a_fused, a_fp32, a_acc)
    targets = check_targets(rows, a_fused, a_fp32, a_acc)
    report["targets"] = targets
    for line in targets:
        print(line)
    plot_rows = rows + [{"group": "search", "name": "", "accuracy": r["accuracy"], "latency_ms": r["retimed_ms"]} for r in front]
    svg_plot(plot_rows, args.out / "pareto.svg")
    (args.out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    print(f"wall {time.perf_counter() - started:.0f} s; report {args.out / 'report.json'}, plot {args.out / 'pareto.svg'}")
    return 0


def print_table(rows: list[dict[str, Any]], latency: dict[str, float], a_fused: float, a_fp32: float, a_acc: float) -> None:
    print()
    print(f"A eager: {latency['A eager']:.2f} ms")
    print("| model | dev acc | Δ vs A (pt) | ORT ms | × A fused | × A fp32 | params | file MB | architecture |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        kind = "int8" if r["int8"] else r["fp32_kind"]
        print(f"| {r['name']} ({kind}) | {r['accuracy'] * 100:.2f} | {(r['accuracy'] - a_acc) * 100:+.2f} | {r['latency_ms']:.2f} | "
              f"{r['latency_ms'] / a_fused:.2f} | {r['latency_ms'] / a_fp32:.2f} | {r['params'] / 1e6:.2f}M | {r['file_mb']:.1f} | {_arch(r['architecture'])} |")
    if "A ORT fused" in latency:
        print(f"A ORT fp32 {a_fp32:.2f} ms, fused {a_fused:.2f} ms")


def _arch(arch: Any) -> str:
    if not isinstance(arch, dict):
        return str(arch)
    n = int(arch["layers"])
    return f"{n} layers, heads " + "/".join(f"{arch[f'heads_{i}']:g}" for i in range(1, n + 1)) + ", ffn " + "/".join(f"{arch[f'ffn_{i}']:g}" for i in range(1, n + 1))


def check_targets(rows: list[dict[str, Any]], a_fused: float, a_fp32: float, a_acc: float) -> list[str]:
    c_fp32 = [r for r in rows if r["group"] == "C" and not r["int8"]]
    c_int8 = [r for r in rows if r["group"] == "C" and r["int8"]]
    b = [r for r in rows if r["group"] == "B" and not r["int8"]]
    out = []
    fast = [r for r in c_fp32 if r["latency_ms"] <= 0.5 * a_fused]
    best = max(fast, key=lambda r: r["accuracy"], default=None)
    out.append("target 1 (C fp32 <= 0.5x A fused, within 1.0 pt): " + (
        f"{best['name']} {best['latency_ms'] / a_fused:.2f}x at {(best['accuracy'] - a_acc) * 100:+.2f} pt -> {'MET' if a_acc - best['accuracy'] <= 0.010 else 'NOT MET'}"
        if best else "no C sub-network at <= 0.5x -> NOT MET"))
    verdicts = []
    for rb in b:
        # only the finalists fine-tuned as long as B (not C-long)
        rivals = [r for r in c_fp32 if r["latency_ms"] <= rb["latency_ms"] and r.get("final_steps") == rb.get("final_steps")]
        rc = max(rivals, key=lambda r: r["accuracy"], default=None)
        verdicts.append(f"{rb['name']} {rb['accuracy'] * 100:.2f}% {rb['latency_ms']:.2f} ms vs " + (
            f"{rc['name']} {rc['accuracy'] * 100:.2f}% {rc['latency_ms']:.2f} ms ({(rc['accuracy'] - rb['accuracy']) * 100:+.2f} pt) -> {'MET' if rc['accuracy'] - rb['accuracy'] >= 0.010 else 'NOT MET'}"
            if rc else "no C sub-network as fast -> NOT MET"))
    out.append("target 2 (C beats B by >= 1 pt at equal or lower latency): " + "; ".join(verdicts))
    fast8 = [r for r in c_int8 if r["latency_ms"] * 3 <= a_fp32]
    best8 = max(fast8, key=lambda r: r["accuracy"], default=None)
    out.append("target 3 (C int8 >= 3x faster than A ORT fp32, within 1.5 pt): " + (
        f"{best8['name']} {a_fp32 / best8['latency_ms']:.2f}x at {(best8['accuracy'] - a_acc) * 100:+.2f} pt -> {'MET' if a_acc - best8['accuracy'] <= 0.015 else 'NOT MET'}"
        if best8 else "no C int8 file >= 3x faster -> NOT MET"))
    return out


if __name__ == "__main__":
    sys.exit(main())
