"""Magnitude pruning of a model with nn.MultiheadAttention fine-tunes (the attention's out_proj is left alone)."""

from __future__ import annotations

import torch
from torch import nn

from nasforge.compression.unstructured import MagnitudePruner


class TinyAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(4, 8)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), 1, enable_nested_tensor=False)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.inp(x)).mean(dim=1))


def test_magnitude_pruning_fine_tunes_a_transformer():
    torch.manual_seed(0)
    x, y = torch.randn(32, 5, 4), torch.randint(0, 3, (32,))
    data = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 32, 8)]
    result = MagnitudePruner(sparsity=0.5, finetune={"epochs": 2}).compress(TinyAttention(), x[:1], data=data)
    # before the fix: RuntimeError 'Trying to backward through the graph a second time' on the second batch
    assert len(result.report.finetune_losses) == 2
    pruned = result.model
    assert float((pruned.head.weight == 0).float().mean()) > 0.2
