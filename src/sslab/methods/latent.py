"""Latent prediction, I-JEPA style (Assran et al. 2023): views = a context block and target
blocks of patches; parts = context ViT encoder, an EMA target encoder (no gradient) and a
narrow transformer predictor; loss = MSE between predicted and layer-normed target
embeddings at the target positions. Masks are drawn per step (shared across the batch so
token counts match)."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from sslab.methods.losses import latent_mse, mean_pairwise_sq_distance
from sslab.models.vit import LN_EPS, Block, ViTConfig, ViTEncoder, gather_tokens, sincos_2d


def block_masks(
    grid: int, num_targets: int, target_scale: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Target patch ids (union of ``num_targets`` random square-ish blocks covering about
    ``target_scale`` of the grid each) and context ids (all the other patches)."""
    side = max(1, round(math.sqrt(target_scale) * grid))
    target = torch.zeros(grid, grid, dtype=torch.bool)
    for _ in range(num_targets):
        r = int(torch.randint(0, grid - side + 1, (1,), generator=generator))
        c = int(torch.randint(0, grid - side + 1, (1,), generator=generator))
        target[r : r + side, c : c + side] = True
    flat = target.flatten()
    if bool(flat.all()):  # keep at least one context patch
        flat[0] = False
    return flat.nonzero().squeeze(1), (~flat).nonzero().squeeze(1)


class Predictor(nn.Module):
    def __init__(self, vit: ViTConfig, dim: int, depth: int, heads: int) -> None:
        super().__init__()
        self.embed = nn.Linear(vit.dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.normal_(self.mask_token, std=0.02)
        self.register_buffer("pos", sincos_2d(dim, vit.grid)[None], persistent=False)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.out = nn.Linear(dim, vit.dim)

    def forward(self, ctx_tokens: torch.Tensor, ctx_ids: torch.Tensor, tgt_ids: torch.Tensor) -> torch.Tensor:
        b = ctx_tokens.shape[0]
        ctx = self.embed(ctx_tokens[:, 1:]) + self.pos[:, ctx_ids]
        tgt = self.mask_token.expand(b, len(tgt_ids), -1) + self.pos[:, tgt_ids]
        x = torch.cat([ctx, tgt], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.out(self.norm(x[:, ctx.shape[1] :]))


class LatentPrediction(nn.Module):
    def __init__(
        self,
        vit: ViTConfig,
        predictor_dim: int = 48,
        predictor_depth: int = 2,
        predictor_heads: int = 4,
        num_targets: int = 2,
        target_scale: float = 0.15,
        ema: tuple[float, float] = (0.996, 1.0),
    ) -> None:
        super().__init__()
        self.vit = vit
        self.num_targets = num_targets
        self.target_scale = target_scale
        self.ema = ema
        self.encoder = ViTEncoder(vit)
        self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
        self.predictor = Predictor(vit, predictor_dim, predictor_depth, predictor_heads)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        b = x.shape[0]
        tgt_ids, ctx_ids = block_masks(self.vit.grid, self.num_targets, self.target_scale, generator)
        tgt_ids, ctx_ids = tgt_ids.to(x.device), ctx_ids.to(x.device)
        with torch.no_grad():
            full = self.target_encoder(x)[:, 1:]
            target = F.layer_norm(full, full.shape[-1:])[:, tgt_ids]
        ctx_tokens = self.encoder(x, ctx_ids.expand(b, -1))
        pred = self.predictor(ctx_tokens, ctx_ids, tgt_ids)
        loss = latent_mse(pred, target)
        emb = self.encoder.pool(ctx_tokens)
        return {"loss": loss, "latent_loss": loss, "embedding": emb, "uniformity": mean_pairwise_sq_distance(emb)}

    @torch.no_grad()
    def after_step(self, progress: float) -> None:
        """EMA update of the target encoder; momentum goes linearly from ema[0] to ema[1]."""
        m = self.ema[0] + (self.ema[1] - self.ema[0]) * min(max(progress, 0.0), 1.0)
        for pt, pc in zip(self.target_encoder.parameters(), self.encoder.parameters(), strict=True):
            pt.mul_(m).add_(pc.detach(), alpha=1 - m)


__all__ = ["LatentPrediction", "Predictor", "block_masks", "gather_tokens"]
