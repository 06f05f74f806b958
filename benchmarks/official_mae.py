"""A faithful re-implementation of the official MAE model (facebookresearch/mae
``models_mae.py`` with timm 0.4.9 ``Block``), used only as the speed baseline of
``mae_step.py``. Structure as in the reference: Conv2d patch embedding, fixed sin-cos position
tables, per-sample noise argsort masking, timm blocks (LayerNorm, fused qkv Linear, attention
written out as softmax(q kᵀ · scale) v, proj, MLP with exact GELU), decoder that appends mask
tokens and unshuffles the full-length sequence with a gather, loss over all patches then
masked mean; no timm needed."""

from __future__ import annotations

import torch
from torch import nn

from sslab.models.vit import LN_EPS, ViTConfig, sincos_2d


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.num_heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class OfficialMAE(nn.Module):
    def __init__(self, cfg: ViTConfig, mask_ratio: float = 0.75) -> None:
        super().__init__()
        self.cfg, self.mask_ratio = cfg, mask_ratio
        d, dd, p = cfg.dim, cfg.decoder_dim, cfg.patch
        self.patch_embed = nn.Conv2d(cfg.channels, d, kernel_size=p, stride=p)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        pos = torch.cat([torch.zeros(1, d), sincos_2d(d, cfg.grid)])[None]
        self.pos_embed = nn.Parameter(pos, requires_grad=False)
        self.blocks = nn.ModuleList(Block(d, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(d, eps=LN_EPS)
        self.decoder_embed = nn.Linear(d, dd)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dd))
        dpos = torch.cat([torch.zeros(1, dd), sincos_2d(dd, cfg.grid)])[None]
        self.decoder_pos_embed = nn.Parameter(dpos, requires_grad=False)
        self.decoder_blocks = nn.ModuleList(
            Block(dd, cfg.decoder_heads, cfg.mlp_ratio) for _ in range(cfg.decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(dd, eps=LN_EPS)
        self.decoder_pred = nn.Linear(dd, p * p * cfg.channels)

    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        p, h = self.cfg.patch, self.cfg.grid
        x = imgs.reshape(imgs.shape[0], self.cfg.channels, h, p, h, p)
        return torch.einsum("nchpwq->nhwpqc", x).reshape(imgs.shape[0], h * h, -1)

    def random_masking(self, x: torch.Tensor, generator: torch.Generator | None):
        n, length, d = x.shape
        keep = int(length * (1 - self.mask_ratio))
        noise = torch.rand(n, length, generator=generator)
        ids_shuffle = torch.argsort(noise, dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        ids_keep = ids_shuffle[:, :keep]
        x_masked = torch.gather(x, 1, ids_keep.unsqueeze(-1).repeat(1, 1, d))
        mask = torch.ones(n, length)
        mask[:, :keep] = 0
        return x_masked, torch.gather(mask, 1, ids_restore), ids_restore

    def forward(self, imgs: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        x = self.patch_embed(imgs).flatten(2).transpose(1, 2) + self.pos_embed[:, 1:, :]
        x, mask, ids_restore = self.random_masking(x, generator)
        cls = (self.cls_token + self.pos_embed[:, :1, :]).expand(x.shape[0], -1, -1)
        x = torch.cat((cls, x), dim=1)
        for blk in self.blocks:
            x = blk(x)
        x = self.decoder_embed(self.norm(x))
        mask_tokens = self.mask_token.repeat(x.shape[0], ids_restore.shape[1] + 1 - x.shape[1], 1)
        x_ = torch.cat([x[:, 1:, :], mask_tokens], dim=1)
        x_ = torch.gather(x_, 1, ids_restore.unsqueeze(-1).repeat(1, 1, x.shape[2]))
        x = torch.cat([x[:, :1, :], x_], dim=1) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        pred = self.decoder_pred(self.decoder_norm(x))[:, 1:, :]
        loss = ((pred - self.patchify(imgs)) ** 2).mean(dim=-1)
        return {"loss": (loss * mask).sum() / mask.sum()}
