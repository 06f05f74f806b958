"""Weighted k-nearest-neighbour classifier on cosine similarity (Wu et al. 2018, as used by
DINO): each of the k nearest training features votes for its class with weight exp(s/T)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.no_grad()
def knn_accuracy(
    train_f: torch.Tensor,
    train_y: torch.Tensor,
    test_f: torch.Tensor,
    test_y: torch.Tensor,
    k: int = 20,
    temperature: float = 0.07,
    chunk: int = 1024,
) -> float:
    if not (bool(torch.isfinite(train_f).all()) and bool(torch.isfinite(test_f).all())):
        return float("nan")  # features of a diverged encoder: no accuracy to report
    train_f = F.normalize(train_f.float(), dim=1)
    test_f = F.normalize(test_f.float(), dim=1)
    c = int(max(train_y.max(), test_y.max()) + 1)
    k = min(k, train_f.shape[0])
    correct = 0
    for i in range(0, test_f.shape[0], chunk):
        sim = test_f[i : i + chunk] @ train_f.T
        top, idx = sim.topk(k, dim=1)
        votes = torch.zeros(sim.shape[0], c).scatter_add_(1, train_y[idx], (top / temperature).exp())
        correct += int((votes.argmax(1) == test_y[i : i + chunk]).sum())
    return correct / test_f.shape[0]
