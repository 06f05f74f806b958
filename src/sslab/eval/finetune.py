"""End-to-end fine-tuning: the pre-trained encoder plus a linear head, trained with
cross-entropy (AdamW, one warm-up epoch then cosine) on the train split; the reported number is the test
accuracy after the last epoch (fixed budget, never the best epoch).

Before testing, the head's BatchNorm statistics are recomputed exactly on the final features
of the whole train split ("precise BN"): with a short budget the running averages would still
remember their initial variance of 1, which for pre-trained features of small spread shrinks
every test feature towards the mean and collapses the predictions to one class."""

from __future__ import annotations

import copy
import math

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
    enc = copy.deepcopy(encoder).train()
    # non-affine BatchNorm before the head, as in MAE's protocol: the pooled features of a
    # pre-trained ViT can have a tiny spread between images, which a bare linear head learns slowly
    head = nn.Sequential(nn.BatchNorm1d(enc.cfg.dim, affine=False), nn.Linear(enc.cfg.dim, num_classes))
    params = list(enc.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    g = torch.Generator().manual_seed(seed)
    n = train_x.shape[0]
    per_epoch = max(1, n // batch_size)
    steps, warm = epochs * per_epoch, per_epoch
    step = 0
    for _ in range(epochs):
        order = torch.randperm(n, generator=g)
        for i in range(0, n - batch_size + 1, batch_size):
            for group in opt.param_groups:
                cosine = 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, steps - warm)))
                scale = (step + 1) / warm if step < warm else cosine
                group["lr"] = lr * scale
            idx = order[i : i + batch_size]
            loss = F.cross_entropy(head(enc.features(train_x[idx])), train_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
    enc.eval()
    with torch.no_grad():
        bn = head[0]
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average over the whole pass
        feats = torch.cat([enc.features(train_x[i : i + 512]) for i in range(0, n, 512)])
        bn(feats)  # one batch of all N rows: mean and unbiased variance of the train features
    head.eval()
    with torch.no_grad():
        pred = torch.cat([head(enc.features(test_x[i : i + 512])).argmax(1) for i in range(0, len(test_x), 512)])
    return float((pred == test_y).float().mean())
