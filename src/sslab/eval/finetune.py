"""End-to-end fine-tuning: the pre-trained encoder plus a linear head, trained with
cross-entropy (AdamW, one warm-up epoch then cosine) on the train split; the reported number is the test
accuracy after the last epoch (fixed budget, never the best epoch).

Before testing, the head's BatchNorm statistics are recomputed exactly on the final features
of the whole train split ("precise BN"): with a short budget the running averages would still
remember their initial variance of 1, which for pre-trained features of small spread shrinks
every test feature towards the mean and collapses the predictions to one class.

Streamed images (:class:`sslab.data.lazy.LazyImages`) are read batch by batch through DataLoader
workers, on the device they name; tensors as before, on the CPU."""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn


def finetune(
    encoder: nn.Module,
    num_classes: int,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    seed: int = 0,
) -> float:
    torch.manual_seed(seed)
    device = torch.device(getattr(train_x, "device", "cpu")) if not isinstance(train_x, torch.Tensor) else None
    enc = copy.deepcopy(encoder).train()
    # non-affine BatchNorm before the head, as in MAE's protocol: the pooled features of a
    # pre-trained ViT can have a tiny spread between images, which a bare linear head learns slowly
    head = nn.Sequential(nn.BatchNorm1d(enc.cfg.dim, affine=False), nn.Linear(enc.cfg.dim, num_classes))
    if device is not None:  # streamed images: evaluation runs where their ``device`` says
        enc, head = enc.to(device), head.to(device)
        train_y, test_y = train_y.to(device), test_y.to(device)
    params = list(enc.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(seed)
    n = train_x.shape[0]
    per_epoch = max(1, n // batch_size)
    steps, warm = epochs * per_epoch, per_epoch
    step = 0
    for _ in range(epochs):
        order = torch.randperm(n, generator=g)
        lists = [order[i : i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]
        for idx, x in zip(lists, _rows(train_x, lists), strict=True):
            for group in opt.param_groups:
                cosine = 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))
                scale = (step + 1) / warm if step < warm else cosine
                group["lr"] = lr * scale
            loss = F.cross_entropy(head(enc.features(x.to(train_y.device))), train_y[idx.to(train_y.device)])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    enc.eval()
    with torch.no_grad():
        bn = head[0]
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the whole pass
        feats = torch.cat([enc.features(x.to(train_y.device)) for x in _rows(train_x, _chunks(n, 512))])
        bn(feats)  # one batch of all N rows: mean and unbiased variance of the train features
    head.eval()
    with torch.no_grad():
        pred = torch.cat([head(enc.features(x.to(test_y.device))).argmax(1)
                          for x in _rows(test_x, _chunks(len(test_x), 512))])
    return float((pred == test_y).float().mean())


def _chunks(n: int, size: int) -> list[torch.Tensor]:
    return [torch.arange(i, min(i + size, n)) for i in range(0, n, size)]


def _rows(x: Any, index_lists: list[torch.Tensor]) -> Iterator[torch.Tensor]:
    """The rows of each index list: indexed from a tensor, or decoded by the DataLoader workers of
    streamed images (:meth:`sslab.data.lazy.LazyImages.batches`)."""
    if isinstance(x, torch.Tensor):
        return (x[ix] for ix in index_lists)
    return x.batches([ix.tolist() for ix in index_lists])
