"""Latent prediction, I-JEPA (Assran et al. 2023; facebookresearch/ijepa src/train.py):
views = per-image multi-block masks (:class:`sslab.views.MultiBlockMasks`: 4 target blocks and a
context block with the targets removed); parts = context ViT encoder, an EMA target encoder (no
gradient) and a narrow transformer predictor; loss = smooth-L1 (``loss="mse"`` as an option)
between the predictor's output for each target block and the layer-normed target-encoder tokens
of that block.

The predictor runs once per target block, on the context tokens plus that block's mask tokens,
as the reference's predictor does (context repeated over blocks). sslab's encoder has a [cls]
token (I-JEPA's has none); it takes part in the encoders' attention but is not passed to the
predictor nor used as a target.

EMA: after optimiser step i (0-based) of T, target ← m_i·target + (1 − m_i)·context with
m_i = ema₀ + i·(ema₁ − ema₀)/T, I-JEPA's ``momentum_scheduler`` (``ipe_scale`` = 1 in its configs).
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from sslab.errors import ConfigError
from sslab.methods.losses import latent_regression, mean_pairwise_sq_distance
from sslab.models.vit import LN_EPS, Block, ViTConfig, ViTEncoder, gather_tokens, sincos_2d
from sslab.views.multiblock import MultiBlockMasks


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
        """Context tokens (B, 1 + N_c, D) at ``ctx_ids`` (B, N_c) → predictions (B, K, N_t, D) at
        ``tgt_ids`` (B, K, N_t), each of the K blocks predicted from the context alone."""
        b, k, nt = tgt_ids.shape
        pos = self.pos.expand(b * k, -1, -1)
        ctx = self.embed(ctx_tokens[:, 1:]) + gather_tokens(self.pos.expand(b, -1, -1), ctx_ids)
        ctx = ctx.repeat_interleave(k, dim=0)
        tgt = self.mask_token + gather_tokens(pos, tgt_ids.reshape(b * k, nt))
        x = torch.cat([ctx, tgt], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.out(self.norm(x[:, ctx.shape[1] :])).reshape(b, k, nt, -1)


class LatentPrediction(nn.Module):
    def __init__(
        self,
        vit: ViTConfig,
        predictor_dim: int = 48,
        predictor_depth: int = 2,
        predictor_heads: int = 4,
        masks: MultiBlockMasks | None = None,
        loss: Literal["smooth_l1", "mse"] = "smooth_l1",
        ema: tuple[float, float] = (0.996, 1.0),
    ) -> None:
        super().__init__()
        if loss not in ("smooth_l1", "mse"):
            raise ConfigError(f"latent loss must be 'smooth_l1' or 'mse', got {loss!r}")
        self.vit = vit
        self.masks = masks or MultiBlockMasks()
        self.loss = loss
        self.ema = ema
        self.encoder = ViTEncoder(vit)
        self.target_encoder = copy.deepcopy(self.encoder).requires_grad_(False)
        self.predictor = Predictor(vit, predictor_dim, predictor_depth, predictor_heads)

    def forward(
        self, x: torch.Tensor, generator: torch.Generator | None = None, target_x: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """``target_x`` (default ``x``): the image the target encoder sees; a view-perturbed ``x``
        with the clean ``target_x`` predicts the clean image's latents from the view's context."""
        ctx_ids, tgt_ids = self.masks(x.shape[0], self.vit.grid, generator, x.device)
        b, k, nt = tgt_ids.shape
        with torch.no_grad():
            full = self.target_encoder(x if target_x is None else target_x)[:, 1:]
            full = F.layer_norm(full, full.shape[-1:])
            target = gather_tokens(full, tgt_ids.reshape(b, k * nt)).reshape(b, k, nt, -1)
        ctx_tokens = self.encoder(x, ctx_ids)
        pred = self.predictor(ctx_tokens, ctx_ids, tgt_ids)
        loss = latent_regression(pred, target, self.loss)
        emb = self.encoder.pool(ctx_tokens)
        return {"loss": loss, "latent_loss": loss, "embedding": emb, "uniformity": mean_pairwise_sq_distance(emb)}

    def momentum(self, step: int, total_steps: int) -> float:
        """I-JEPA's EMA momentum after optimiser step ``step`` (0-based) of ``total_steps``."""
        return self.ema[0] + step * (self.ema[1] - self.ema[0]) / max(total_steps, 1)

    @torch.no_grad()
    def after_step(self, step: int, total_steps: int) -> None:
        """EMA update of the target encoder with :meth:`momentum`."""
        m = self.momentum(step, total_steps)
        for pt, pc in zip(self.target_encoder.parameters(), self.encoder.parameters(), strict=True):
            pt.mul_(m).add_(pc.detach(), alpha=1 - m)


__all__ = ["LatentPrediction", "Predictor"]
