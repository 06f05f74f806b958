"""Attention probabilities of a ViT encoder and three summaries of them per layer.

``attention_maps`` records each block's attention input (the pre-norm output LN₁(x)) with
forward hooks and recomputes, from the block's own qkv weights, the probabilities the block
used: A = softmax(q kᵀ / √d_h) per head (the scale of ``scaled_dot_product_attention``).
The models are not modified.

The summaries use patch queries and patch keys only: the [cls] key has no position, so each
query row is restricted to the L patch keys and renormalised. With a_i the row of query i,
p_i its patch position on the grid (in patch units):

* mean attention distance  Σ_j a_ij ‖p_i − p_j‖₂, averaged over queries (Dosovitskiy et al.
  2021, Fig. 7; Huang et al. ICLR 2025 use it to show MAE attends locally);
* attention entropy        −Σ_j a_ij log a_ij (nats), averaged over queries;
* query dependence         mean over query pairs i ≠ i' of TV(a_i, a_i') = ½ Σ_j |a_ij − a_i'j|:
  0 when every query attends the same way (a global pattern), up to 1 for disjoint maps.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sslab.models.vit import ViTEncoder


@torch.no_grad()
def attention_maps(encoder: ViTEncoder, images: torch.Tensor) -> list[torch.Tensor]:
    """Per block: attention probabilities (B, heads, 1 + L, 1 + L) on full, unmasked images."""
    inputs: list[torch.Tensor] = []
    hooks = [blk.attn.register_forward_hook(lambda _m, args, _out: inputs.append(args[0].detach()))
             for blk in encoder.blocks]
    was_training = encoder.training
    encoder.eval()
    try:
        encoder(images)
    finally:
        for h in hooks:
            h.remove()
        encoder.train(was_training)
    return [attention_probs(blk.attn, x) for blk, x in zip(encoder.blocks, inputs, strict=True)]


def attention_probs(attn: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """softmax(q kᵀ / √d_h) of an :class:`sslab.models.vit.Attention` on its input x (B, N, D)."""
    b, n, d = x.shape
    heads = attn.heads
    qkv = attn.qkv(x).reshape(b, n, 3, heads, d // heads).permute(2, 0, 3, 1, 4)
    q, k = qkv[0], qkv[1]
    return (q @ k.transpose(-2, -1) / math.sqrt(d // heads)).softmax(dim=-1)


def patch_rows(attn: torch.Tensor, has_cls: bool = True) -> torch.Tensor:
    """Patch-query × patch-key block of (…, N, N) probabilities, rows renormalised to sum 1."""
    a = attn[..., 1:, 1:] if has_cls else attn
    return a / a.sum(dim=-1, keepdim=True).clamp_min(1e-12)


def grid_distances(grid: int) -> torch.Tensor:
    """(L, L) Euclidean distances between patch positions of a grid × grid layout (patch units)."""
    r, c = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    pos = torch.stack([r.flatten(), c.flatten()], dim=1).double()
    return torch.cdist(pos, pos)


def mean_attention_distance(a: torch.Tensor, grid: int) -> torch.Tensor:
    """Σ_j a_ij ‖p_i − p_j‖ averaged over queries: (…, L, L) row-stochastic → (…)."""
    return (a.double() * grid_distances(grid)).sum(-1).mean(-1)


def attention_entropy(a: torch.Tensor) -> torch.Tensor:
    """−Σ_j a_ij log a_ij (0 log 0 = 0) averaged over queries: (…, L, L) → (…)."""
    a = a.double()
    return -(torch.xlogy(a, a)).sum(-1).mean(-1)


def query_dependence(a: torch.Tensor) -> torch.Tensor:
    """Mean total variation ½‖a_i − a_i'‖₁ over ordered query pairs i ≠ i': (…, L, L) → (…)."""
    a = a.double()
    L = a.shape[-1]
    lead = a.shape[:-2]
    flat = a.reshape(-1, L, L)
    tv = 0.5 * torch.cdist(flat, flat, p=1.0)  # (…, L, L); the diagonal is 0
    return (tv.sum((-1, -2)) / (L * (L - 1))).reshape(lead)


def layer_metrics(encoder: ViTEncoder, images: torch.Tensor, batch_size: int = 128) -> dict[str, list[float]]:
    """Per layer, each metric averaged over heads and images: {"distance", "entropy", "tv"}."""
    grid = encoder.cfg.grid
    sums: dict[str, torch.Tensor] = {}
    for i in range(0, images.shape[0], batch_size):
        maps = attention_maps(encoder, images[i : i + batch_size])
        for name, fn in (("distance", lambda a: mean_attention_distance(a, grid)),
                         ("entropy", attention_entropy), ("tv", query_dependence)):
            per_layer = torch.stack([fn(patch_rows(m)).sum() / m.shape[1] for m in maps])  # sum over images
            sums[name] = sums.get(name, 0) + per_layer
    return {k: (v / images.shape[0]).tolist() for k, v in sums.items()}
