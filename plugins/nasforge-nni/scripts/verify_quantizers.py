"""Which of NNI 3.0's quantizers train a small CNN on digits? (the evidence behind docs/nni.md)

Trains the same Conv-BN-ReLU network on scikit-learn's digits (1,400 train / 397 test images,
SGD with momentum, cross-entropy) with each NNI quantizer wrapped around it, and prints test
accuracy and whether every weight and output is finite. Two settings: int8 weights only (5
epochs, lr 0.05), and int8 weights plus ReLU outputs (10 epochs, lr 0.05 and 0.1).

    python plugins/nasforge-nni/scripts/verify_quantizers.py
"""

from __future__ import annotations

import time
import warnings

import torch
from torch import nn

warnings.simplefilter("ignore")
torch.set_num_threads(1)

import nni  # noqa: E402
from nni.compression.quantization import BNNQuantizer, DoReFaQuantizer, LsqPlusQuantizer, LsqQuantizer, PtqQuantizer, QATQuantizer  # noqa: E402
from nni.compression.utils import TorchEvaluator  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import nasforge_nni.compat  # noqa: E402,F401

digits = load_digits()
X = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
Y = torch.tensor(digits.target)
order = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))
TRAIN, TEST = order[:1400], order[1400:]


def batches():
    for i in range(0, len(TRAIN), 64):
        idx = TRAIN[i : i + 64]
        yield X[idx], Y[idx]


def accuracy(model):
    model.eval()
    with torch.no_grad():
        out = model(X[TEST])
    finite = bool(torch.isfinite(out).all()) and all(bool(torch.isfinite(p).all()) for p in model.parameters())
    return float((out.argmax(1) == Y[TEST]).float().mean()), finite


def network():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10),
    )  # fmt: skip


def train(model, optimizers, training_step, lr_schedulers=None, max_steps=None, max_epochs=None):
    optimizer = optimizers[0] if isinstance(optimizers, list) else optimizers
    for _ in range(max_epochs or 1):
        model.train()
        for batch in batches():
            optimizer.zero_grad()
            training_step(batch, model).backward()
            optimizer.step()


def step(batch, model, *args, **kwargs):
    return nn.functional.cross_entropy(model(batch[0]), batch[1])


def run(cls, config, epochs, lr):
    model = network()
    optimizer = nni.trace(torch.optim.SGD)(model.parameters(), lr=lr, momentum=0.9)
    evaluator = TorchEvaluator(train, optimizer, step, dummy_input=X[:2])
    started = time.perf_counter()
    try:
        cls(model, config, evaluator).compress(max_steps=None, max_epochs=epochs)
    except Exception as exc:  # report, do not hide
        return f"error {type(exc).__name__}: {str(exc)[:80]}"
    acc, finite = accuracy(model)
    return f"accuracy {100 * acc:5.1f} %  finite {finite}  ({time.perf_counter() - started:.1f} s)"


def main():
    print(f"torch threads: {torch.get_num_threads()}")
    base = network()
    train(base, torch.optim.SGD(base.parameters(), lr=0.05, momentum=0.9), step, max_epochs=5)
    print(f"float, 5 epochs, lr 0.05: accuracy {100 * accuracy(base)[0]:.1f} %")
    weights = {"op_types": ["Conv2d", "Linear"], "target_names": ["weight"], "quant_scheme": "affine", "granularity": "default"}
    relu_out = {"op_types": ["ReLU"], "target_names": ["_output_"], "quant_dtype": "int8", "quant_scheme": "affine", "granularity": "default"}
    for cls in (QATQuantizer, PtqQuantizer, LsqQuantizer, BNNQuantizer, DoReFaQuantizer, LsqPlusQuantizer):
        dtype = "int1" if cls is BNNQuantizer else "int8"
        print(f"{cls.__name__:17s} {dtype} weights, 5 epochs, lr 0.05: {run(cls, [dict(weights, quant_dtype=dtype)], 5, 0.05)}")
    for cls in (DoReFaQuantizer, LsqPlusQuantizer):
        for lr in (0.05, 0.1):
            print(f"{cls.__name__:17s} int8 weights + ReLU outputs, 10 epochs, lr {lr}: {run(cls, [dict(weights, quant_dtype='int8'), relu_out], 10, lr)}")


if __name__ == "__main__":
    main()
