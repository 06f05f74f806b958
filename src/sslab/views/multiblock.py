"""I-JEPA's multi-block masks (Assran et al. 2023, Sec. 3; facebookresearch/ijepa
src/masks/multiblock.py ``MaskCollator`` with the configs' values).

Per step, one target block size and one context block size are drawn for the whole batch
(:func:`block_size`: scale s ~ U(scale), aspect a ~ U(aspect) *from the same uniform draw*, as the
reference does; n = int(L·s) patches, h = round(√(n·a)), w = round(√(n/a))). Then per image:

* ``num_targets`` target blocks of h×w patches at uniformly random positions (they may overlap);
* one context block (aspect 1, scale 0.85–1.0) with every target patch removed from it. A
  position is accepted when more than ``min_context`` patches remain; after ``tries`` rejected
  positions the reference drops the last target's constraint, then the next, and so on.

All images then keep the same number of context patches, the smallest over the (global) batch,
by keeping each image's first ones in raster order, as the reference truncates its index lists.

Adapted so that it terminates on any grid, however small (7×7, 4×4, even 1×1): the candidate
positions are drawn in advance (``tries`` per relaxation level) and, if none leaves more than
``min_context`` patches, the candidate leaving the most is used (the reference loops forever
when the context block itself has ≤ ``min_context`` patches). Block sides are at least 1.
``full_grid=True`` (sslab's default) lets blocks reach the last row and column: the reference
draws corners with ``randint(0, H − h)`` and sides < H, so a block never touches them, which
on a 4×4 grid means 7 of the 16 patches can never be a target. ``full_grid=False`` is the
reference's placement. Masks are drawn for the global batch from the step's generator and each
rank keeps its rows, so an image gets the same masks whatever the number of processes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from sslab.distributed import global_rows
from sslab.errors import ConfigError


def block_size(
    u: float, scale: tuple[float, float], aspect: tuple[float, float], grid: int, full_grid: bool = True
) -> tuple[int, int]:
    """(h, w) of a block from one uniform draw u ∈ [0, 1), as the reference's ``_sample_block_size``."""
    s = scale[0] + u * (scale[1] - scale[0])
    n = int(grid * grid * s)
    a = aspect[0] + u * (aspect[1] - aspect[0])
    h, w = round(math.sqrt(n * a)), round(math.sqrt(n / a))  # Python round, as the reference
    largest = grid if full_grid else max(grid - 1, 1)
    return min(max(h, 1), largest), min(max(w, 1), largest)


def _rectangles(top: torch.Tensor, left: torch.Tensor, h: int, w: int, grid: int) -> torch.Tensor:
    """Boolean (..., grid, grid) masks of the h×w blocks with corners (top, left)."""
    r = torch.arange(grid)
    rows = (r >= top[..., None]) & (r < top[..., None] + h)
    cols = (r >= left[..., None]) & (r < left[..., None] + w)
    return rows[..., :, None] & cols[..., None, :]


def _first_true(mask: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of the first ``count`` True entries of each row of a (N, L) boolean, in raster order."""
    return (~mask).to(torch.uint8).argsort(dim=1, stable=True)[:, :count]


@dataclass(frozen=True)
class MultiBlockMasks:
    num_targets: int = 4
    target_scale: tuple[float, float] = (0.15, 0.2)
    target_aspect: tuple[float, float] = (0.75, 1.5)
    context_scale: tuple[float, float] = (0.85, 1.0)
    min_context: int = 4  # MaskCollator's default min_keep (the configs use 10 on 14×14 grids)
    tries: int = 20
    full_grid: bool = True

    def __post_init__(self) -> None:
        for name in ("target_scale", "context_scale"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi <= 1:
                raise ConfigError(f"{name} must satisfy 0 < low <= high <= 1, got {(lo, hi)}")
        if not 0 < self.target_aspect[0] <= self.target_aspect[1]:
            raise ConfigError(f"target_aspect must satisfy 0 < low <= high, got {self.target_aspect}")
        if self.num_targets < 1 or self.tries < 1 or self.min_context < 0:
            raise ConfigError("num_targets and tries must be >= 1 and min_context >= 0")

    def __call__(
        self, batch: int, grid: int, generator: torch.Generator | None = None, device=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context ids (B, N_c) and target ids (B, num_targets, h·w), patch ids in raster order."""
        start, total = global_rows(batch)
        k, g = self.num_targets, grid
        u_tgt, u_ctx = torch.rand(2, generator=generator).tolist()
        th, tw = block_size(u_tgt, self.target_scale, self.target_aspect, g, self.full_grid)
        ch, cw = block_size(u_ctx, self.context_scale, (1.0, 1.0), g, self.full_grid)
        slack = 1 if self.full_grid else 0

        def corners(h: int, w: int, *shape: int) -> tuple[torch.Tensor, torch.Tensor]:
            top = torch.randint(0, max(g - h + slack, 1), shape, generator=generator)
            return top, torch.randint(0, max(g - w + slack, 1), shape, generator=generator)

        targets = _rectangles(*corners(th, tw, total, k), th, tw, g)  # (T, K, g, g)
        top, left = corners(ch, cw, total, k + 1, self.tries)  # candidates per relaxation level
        # relaxation level l keeps the constraints of the first K − l targets
        covered = torch.zeros(total, k + 1, g, g, dtype=torch.bool)
        for j in range(1, k + 1):
            covered[:, j] = covered[:, j - 1] | targets[:, j - 1]
        allowed = ~covered.flip(1)  # level l → ~(union of the first K − l targets)
        # allowed patches inside each candidate block, from the integral image of ``allowed``
        integral = torch.zeros(total, k + 1, g + 1, g + 1, dtype=torch.long)
        integral[:, :, 1:, 1:] = allowed.long().cumsum(-1).cumsum(-2)
        flat = integral.flatten(2)

        def at(r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            return flat.gather(2, (r * (g + 1) + c).flatten(2)).reshape(r.shape)

        counts = (at(top + ch, left + cw) - at(top, left + cw) - at(top + ch, left) + at(top, left)).flatten(1)
        valid = counts > self.min_context  # (T, (K+1)·tries), level-major
        pick = torch.where(valid.any(1), valid.to(torch.uint8).argmax(1), counts.argmax(1))
        level, t = pick // self.tries, pick % self.tries
        rows_t = torch.arange(total)
        block = _rectangles(top[rows_t, level, t], left[rows_t, level, t], ch, cw, g)
        context = (block & allowed[rows_t, level]).flatten(1)  # (T, L)
        keep = int(context.sum(1).min())
        ctx_ids = _first_true(context, keep)
        tgt_ids = _first_true(targets.flatten(2).flatten(0, 1), th * tw).reshape(total, k, th * tw)
        mine = slice(start, start + batch)
        return ctx_ids[mine].to(device), tgt_ids[mine].to(device)
