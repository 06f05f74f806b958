"""Random token masks for patch-token models: which patches an encoder sees.

One source of random patch orders (:func:`random_order`: the argsort of uniform noise, as in the
official MAE's ``random_masking``) serves every masked view in sslab:

* :func:`random_masking` — MAE (He et al. 2022, models_mae.py ``random_masking``): keep the
  first ``int(L·(1 − r))`` patches of a random order. Returns ``ids_keep`` (B, M), the binary
  ``mask`` (B, L) with 1 = masked, and ``ids_restore`` (B, L), the inverse permutation that
  puts [visible, masked] tokens back in patch order. Drawn for the global batch (each rank keeps
  its rows), so an image gets the same mask whatever the number of processes.
* :func:`visible_mask` — the theory's masks: a boolean (B, L) with ``hidden`` random patches off.
"""

from __future__ import annotations

import torch

from sslab.distributed import global_rows
from sslab.errors import ConfigError


def random_order(batch: int, num_patches: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, L) independent uniformly random permutations of the patch ids (argsort of U(0, 1) noise)."""
    return torch.rand(batch, num_patches, generator=generator).argsort(dim=1)


def kept_patches(num_patches: int, ratio: float) -> int:
    """Number of visible patches at mask ratio r: ``int(L·(1 − r))``, the official MAE's count
    (truncation, so r = 0.9 on 16 patches keeps 1 and masks 93.75 %)."""
    if not 0.0 <= ratio < 1.0:
        raise ConfigError(f"mask ratio must be in [0, 1), got {ratio}")
    keep = int(num_patches * (1 - ratio))
    if keep < 1:
        raise ConfigError(
            f"mask ratio {ratio} keeps no patch of {num_patches} (int(L·(1 − r)) = 0); "
            f"use a ratio below {1 - 1 / num_patches:.4g} or smaller patches"
        )
    return keep


def random_masking(
    batch: int, num_patches: int, ratio: float, generator: torch.Generator | None = None, device=None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MAE's per-image random masking of ``ratio`` of the patches: (ids_keep, mask, ids_restore)."""
    keep = kept_patches(num_patches, ratio)
    start, total = global_rows(batch)
    ids_shuffle = random_order(total, num_patches, generator)[start : start + batch].to(device)
    ids_restore = ids_shuffle.argsort(dim=1)
    mask = torch.ones(batch, num_patches, device=device)
    mask[:, :keep] = 0
    return ids_shuffle[:, :keep], torch.gather(mask, 1, ids_restore), ids_restore


def visible_mask(batch: int, num_patches: int, hidden: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, L) boolean, True = visible, with ``hidden`` uniformly random patches of each row off."""
    visible = torch.ones(batch, num_patches, dtype=torch.bool)
    return visible.scatter_(1, random_order(batch, num_patches, generator)[:, :hidden], False)
