"""Patchify / unpatchify: the one image ↔ token layout used across sslab.

An image batch ``x`` of shape (B, C, H, W) with patch (p, q) becomes tokens of shape
(B, L, p·q·C), L = (H/p)(W/q), patches in row-major order and each token laid out as
(row-in-patch, col-in-patch, channel) — the layout of the original MAE. The pair are
exact inverses (pure reshapes/permutes, no arithmetic).
"""

from __future__ import annotations

import torch

from sslab.errors import ShapeError


def _pair(patch: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(patch, int):
        return patch, patch
    p, q = patch
    return int(p), int(q)


def check_patch_grid(height: int, width: int, patch: int | tuple[int, int]) -> tuple[int, int]:
    """Return the patch grid (H/p, W/q) or raise a one-line ShapeError."""
    p, q = _pair(patch)
    if p < 1 or q < 1:
        raise ShapeError(f"patch shape must be positive, got ({p}, {q})")
    if height % p or width % q:
        raise ShapeError(
            f"image size {height}x{width} is not divisible by patch shape ({p}, {q}); "
            f"pick a patch that tiles the image or resize the images"
        )
    return height // p, width // q


def patchify(x: torch.Tensor, patch: int | tuple[int, int]) -> torch.Tensor:
    """(B, C, H, W) → (B, L, p·q·C)."""
    if x.ndim != 4:
        raise ShapeError(f"patchify expects (B, C, H, W) images, got shape {tuple(x.shape)}")
    b, c, h, w = x.shape
    gh, gw = check_patch_grid(h, w, patch)
    p, q = _pair(patch)
    x = x.reshape(b, c, gh, p, gw, q).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(b, gh * gw, p * q * c)


def unpatchify(
    tokens: torch.Tensor, patch: int | tuple[int, int], image_shape: tuple[int, int, int]
) -> torch.Tensor:
    """(B, L, p·q·C) → (B, C, H, W); inverse of :func:`patchify` for ``image_shape=(C, H, W)``."""
    c, h, w = image_shape
    gh, gw = check_patch_grid(h, w, patch)
    p, q = _pair(patch)
    if tokens.ndim != 3 or tokens.shape[1] != gh * gw or tokens.shape[2] != p * q * c:
        raise ShapeError(
            f"unpatchify expects tokens of shape (B, {gh * gw}, {p * q * c}) for images "
            f"{image_shape} and patch ({p}, {q}), got {tuple(tokens.shape)}"
        )
    b = tokens.shape[0]
    x = tokens.reshape(b, gh, gw, p, q, c).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(b, c, h, w)


def patch_index_map(image_shape: tuple[int, int, int], patch: int | tuple[int, int]) -> torch.Tensor:
    """For each flattened pixel of a (C, H, W) image (C-major order), the index of its patch."""
    c, h, w = image_shape
    _, gw = check_patch_grid(h, w, patch)
    p, q = _pair(patch)
    rows = torch.arange(h) // p
    cols = torch.arange(w) // q
    grid = rows[:, None] * gw + cols[None, :]
    return grid.expand(c, h, w).reshape(-1)
