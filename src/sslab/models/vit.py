"""A small Vision Transformer and the MAE decoder, in one readable file.

Encoder (Dosovitskiy et al. 2021, with the MAE conventions of He et al. 2022):
patchify (:func:`sslab.data.patchify`) → linear patch embedding → + fixed 2-D sin-cos
position encoding → [cls] token → pre-norm blocks x ← x + MHSA(LN(x)), x ← x + MLP(LN(x))
→ final LayerNorm. Given ``ids_keep`` it embeds and runs only the visible tokens, which is
what makes MAE pre-training cheap (cost ∝ visible fraction). Features for probes are the
[cls] token or the mean of patch tokens (``pool``).

The block layout and parameter names are those of timm's ``VisionTransformer`` as the official
MAE uses it (``norm1``, ``attn.qkv`` fused, ``attn.proj``, ``norm2``, ``mlp.fc1``, ``mlp.fc2``;
LayerNorm eps 1e-6, exact GELU, qkv bias), so :func:`sslab.models.load_official` only renames
the few top-level keys; attention runs through ``F.scaled_dot_product_attention``, except in bf16
on a CPU, where the written-out form is faster (:func:`uses_written_out_attention`).

Decoder (MAE): linear map to the narrower decoder width, a learned [mask] token put back at
the masked positions (``ids_restore``), its own sin-cos positions, a few blocks, and a
linear head predicting each patch's p·q·C pixels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from sslab.data.patches import check_patch_grid, patchify
from sslab.errors import ConfigError, ShapeError


@dataclass(frozen=True)
class ViTConfig:
    image_size: int = 8
    patch: int = 2
    channels: int = 1
    dim: int = 64
    depth: int = 4
    heads: int = 4
    mlp_ratio: float = 4.0
    pool: Literal["cls", "mean"] = "mean"
    decoder_dim: int = 32
    decoder_depth: int = 1
    decoder_heads: int = 4

    def __post_init__(self) -> None:
        check_patch_grid(self.image_size, self.image_size, self.patch)
        for name in ("dim", "decoder_dim"):
            heads = self.heads if name == "dim" else self.decoder_heads
            if getattr(self, name) % heads:
                raise ConfigError(f"{name}={getattr(self, name)} must be divisible by its number of heads {heads}")
        if self.pool not in ("cls", "mean"):
            raise ConfigError(f"pool must be 'cls' or 'mean', got {self.pool!r}")

    @property
    def grid(self) -> int:
        return self.image_size // self.patch

    @property
    def num_patches(self) -> int:
        return self.grid**2

    @property
    def patch_dim(self) -> int:
        return self.patch * self.patch * self.channels

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS: dict[str, dict] = {
    "cpu-tiny": {"dim": 64, "depth": 4, "heads": 4, "decoder_dim": 32, "decoder_depth": 1, "decoder_heads": 4},
    "vit-tiny": {"dim": 192, "depth": 12, "heads": 3, "decoder_dim": 128, "decoder_depth": 4, "decoder_heads": 4},
    "vit-small": {"dim": 384, "depth": 12, "heads": 6, "decoder_dim": 256, "decoder_depth": 4, "decoder_heads": 8},
    "vit-base": {"dim": 768, "depth": 12, "heads": 12, "decoder_dim": 512, "decoder_depth": 8, "decoder_heads": 16},
}


def vit_config(preset: str = "cpu-tiny", **overrides) -> ViTConfig:
    if preset not in PRESETS:
        raise ConfigError(f"unknown ViT preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return ViTConfig(**{**PRESETS[preset], **overrides})


LN_EPS = 1e-6
"""LayerNorm eps of the official MAE ViTs (``partial(nn.LayerNorm, eps=1e-6)``) and I-JEPA."""


def sincos_2d(dim: int, grid: int) -> torch.Tensor:
    """Fixed 2-D sin-cos position encoding (grid², dim) in the official MAE layout
    (util/pos_embed.py ``get_2d_sincos_pos_embed``): for the patch at row r, column c (row-major
    index r·grid + c) the first dim/2 channels encode the column, [sin(ω_k c), cos(ω_k c)], the
    last dim/2 the row, [sin(ω_k r), cos(ω_k r)], with ω_k = 10000^{−k/(dim/4)}, k < dim/4."""
    if dim % 4:
        raise ConfigError(f"sin-cos position encoding needs dim divisible by 4, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim / 4))
    coords = torch.arange(grid, dtype=torch.float64)
    rows, cols = torch.meshgrid(coords, coords, indexing="ij")

    def enc(t: torch.Tensor) -> torch.Tensor:
        ang = t.reshape(-1, 1) * omega[None]
        return torch.cat([ang.sin(), ang.cos()], dim=1)

    return torch.cat([enc(cols), enc(rows)], dim=1).to(torch.get_default_dtype())


def written_out_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q kᵀ / √d_head) v with the products as batched matmuls: the form of timm's
    ``Attention`` that the official MAE uses. Under CPU bf16 autocast the products and the softmax
    run in bf16 (torch's CPU softmax accumulates in fp32 and rounds its output once)."""
    return ((q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5).softmax(dim=-1) @ v


def uses_written_out_attention(q: torch.Tensor) -> bool:
    """bf16 on a CPU: torch's fused CPU attention kernel is slow in bf16 (in ``benchmarks/mae_step.py``
    its backward is most of the bf16 MAE step's time, and the written-out form makes that step
    about 1.7× faster), so bf16 CPU steps use :func:`written_out_attention`; everything else uses
    ``F.scaled_dot_product_attention``. Both compute the same function."""
    return q.device.type == "cpu" and q.dtype == torch.bfloat16


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """softmax(q kᵀ / √d_head) v per head, by the kernel :func:`uses_written_out_attention` picks."""
        if uses_written_out_attention(q):
            return written_out_attention(q, k, v)
        return F.scaled_dot_product_attention(q, k, v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(self.attend(q, k, v).transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (timm layout)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def gather_tokens(x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """x (B, L, D), ids (B, M) → (B, M, D)."""
    return torch.gather(x, 1, ids.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


class ViTEncoder(nn.Module):
    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = nn.Linear(cfg.patch_dim, cfg.dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        self.register_buffer("pos", sincos_2d(cfg.dim, cfg.grid)[None], persistent=False)
        self.blocks = nn.ModuleList(Block(cfg.dim, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.depth))
        self.norm = nn.LayerNorm(cfg.dim, eps=LN_EPS)
        self.apply(_init_weights)
        nn.init.normal_(self.cls_token, std=0.02)

    def check_images(self, x: torch.Tensor) -> None:
        c = self.cfg
        if x.ndim != 4 or tuple(x.shape[1:]) != (c.channels, c.image_size, c.image_size):
            raise ShapeError(
                f"ViT expects images (B, {c.channels}, {c.image_size}, {c.image_size}), got {tuple(x.shape)}"
            )

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Images (B, C, H, W) → position-encoded patch tokens (B, L, dim)."""
        self.check_images(x)
        return self.patch_embed(patchify(x, self.cfg.patch)) + self.pos

    def run(self, tokens: torch.Tensor) -> torch.Tensor:
        """Patch tokens (B, M, dim) → [cls] + blocks + final norm → (B, 1 + M, dim)."""
        tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        for block in self.blocks:
            tokens = block(tokens)
        return self.norm(tokens)

    def forward(self, x: torch.Tensor, ids_keep: torch.Tensor | None = None) -> torch.Tensor:
        """Images (B, C, H, W) → tokens (B, 1 + M, dim), M = visible patches (all if None)."""
        tokens = self.embed(x)
        return self.run(tokens if ids_keep is None else gather_tokens(tokens, ids_keep))

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens[:, 0] if self.cfg.pool == "cls" else tokens[:, 1:].mean(dim=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled representation (B, dim) of full, unmasked images."""
        return self.pool(self.forward(x))


class MAEDecoder(nn.Module):
    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(cfg.dim, cfg.decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.decoder_dim))
        self.register_buffer("pos", sincos_2d(cfg.decoder_dim, cfg.grid)[None], persistent=False)
        self.blocks = nn.ModuleList(
            Block(cfg.decoder_dim, cfg.decoder_heads, cfg.mlp_ratio) for _ in range(cfg.decoder_depth)
        )
        self.norm = nn.LayerNorm(cfg.decoder_dim, eps=LN_EPS)
        self.head = nn.Linear(cfg.decoder_dim, cfg.patch_dim)
        self.apply(_init_weights)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, tokens: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """Encoder tokens (B, 1 + M, dim) → per-patch pixel predictions (B, L, p·q·C)."""
        x = self.embed(tokens)
        b, m1, d = x.shape
        n_mask = ids_restore.shape[1] - (m1 - 1)
        patches = torch.cat([x[:, 1:], self.mask_token.expand(b, n_mask, d)], dim=1)
        patches = gather_tokens(patches, ids_restore) + self.pos
        x = torch.cat([x[:, :1], patches], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))[:, 1:]


def encoder_flops(cfg: ViTConfig, tokens: int) -> float:
    """Forward FLOPs of the encoder on ``tokens`` tokens (+cls), matmuls only."""
    n, d = tokens + 1, cfg.dim
    per_layer = 2 * n * d * 3 * d + 2 * 2 * n * n * d + 2 * n * d * d + 2 * 2 * n * d * int(d * cfg.mlp_ratio)
    return cfg.depth * per_layer + 2 * tokens * cfg.patch_dim * d


def decoder_flops(cfg: ViTConfig) -> float:
    n, d = cfg.num_patches + 1, cfg.decoder_dim
    per_layer = 2 * n * d * 3 * d + 2 * 2 * n * n * d + 2 * n * d * d + 2 * 2 * n * d * int(d * cfg.mlp_ratio)
    return cfg.decoder_depth * per_layer + 2 * n * cfg.dim * d + 2 * cfg.num_patches * d * cfg.patch_dim


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)

