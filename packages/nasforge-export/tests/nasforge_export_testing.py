"""Tiny models and data for the export tests (importable as ``nasforge_export_testing:<name>``)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class TinyCNN(nn.Module):
    """Conv-BN-ReLU, stride-2 conv, global pool, linear head."""

    def __init__(self, in_channels: int = 3, num_classes: int = 4, width: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1, stride=2),
            nn.ReLU(),
            nn.Dropout(0.5),
        )
        self.head = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(out)))


class TinyResNet(nn.Module):
    """A stem, two residual blocks, pooling and a classifier: skip connections in the graph."""

    def __init__(self, in_channels: int = 3, num_classes: int = 5, width: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU())
        self.blocks = nn.Sequential(ResidualBlock(width), ResidualBlock(width))
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))


class DigitsCNN(nn.Module):
    """A small CNN for 8x8 sklearn digits."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1, stride=2),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(32 * 4 * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body(x))


def tiny_cnn(num_classes: int = 4) -> nn.Module:
    """Factory used by the CLI tests."""
    torch.manual_seed(0)
    return TinyCNN(num_classes=num_classes)


def digits_data(seed: int = 0):
    """sklearn digits as (x_train, y_train, x_test, y_test) tensors, x scaled to [0, 1], shape (N, 1, 8, 8)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(digits.target, dtype=torch.long)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    train, test = perm[:1300], perm[1300:]
    return x[train], y[train], x[test], y[test]


def train_digits(epochs: int = 6, seed: int = 0):
    """Train :class:`DigitsCNN` briefly; returns (model in eval mode, x_train, y_train, x_test, y_test)."""
    torch.manual_seed(seed)
    x_train, y_train, x_test, y_test = digits_data(seed)
    model = DigitsCNN()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(order), 64):
            idx = order[start : start + 64]
            loss = nn.functional.cross_entropy(model(x_train[idx]), y_train[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    return model.eval(), x_train, y_train, x_test, y_test


def torch_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.inference_mode():
        return float((model(x).argmax(1) == y).float().mean())


def as_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()
