"""I-JEPA multi-block masks: the reference's block sizes by hand, and the sampler's properties."""

import pytest
import torch

from sslab.errors import ConfigError
from sslab.views import MultiBlockMasks, block_size


def test_block_size_matches_the_reference_by_hand():
    # s = 0.175, n = int(196·0.175) = 34, a = 1.125: h = round(√38.25) = 6, w = round(√30.2) = 5
    assert block_size(0.5, (0.15, 0.2), (0.75, 1.5), 14) == (6, 5)
    # context: n = int(196·0.85) = 166, a = 1: h = w = round(12.88) = 13
    assert block_size(0.0, (0.85, 1.0), (1.0, 1.0), 14) == (13, 13)
    # n = int(196·0.99985) = 195 → 14 sides; the reference keeps sides below the grid (13)
    assert block_size(0.999, (0.85, 1.0), (1.0, 1.0), 14) == (14, 14)
    assert block_size(0.999, (0.85, 1.0), (1.0, 1.0), 14, full_grid=False) == (13, 13)
    # 4×4: n = int(2.4) = 2, a = 0.75: h = round(1.22) = 1, w = round(1.63) = 2
    assert block_size(0.0, (0.15, 0.2), (0.75, 1.5), 4) == (1, 2)
    # tiny grids never give an empty block
    assert block_size(0.0, (0.15, 0.2), (0.75, 1.5), 2) == (1, 1)


def _grids(ids: torch.Tensor, grid: int) -> torch.Tensor:
    out = torch.zeros(*ids.shape[:-1], grid * grid, dtype=torch.bool)
    return out.scatter_(-1, ids, True).reshape(*ids.shape[:-1], grid, grid)


@pytest.mark.parametrize("seed", range(4))
def test_targets_are_blocks_and_the_context_avoids_them_on_a_14x14_grid(seed):
    ctx, tgt = MultiBlockMasks()(32, 14, torch.Generator().manual_seed(seed))
    b, k, n = tgt.shape
    assert (b, k) == (32, 4) and ctx.shape[0] == 32 and ctx.shape[1] > 4
    tg = _grids(tgt, 14)
    rows, cols = tg.any(-1), tg.any(-2)
    h, w = rows.sum(-1), cols.sum(-1)
    assert bool((h * w == n).all()) and bool((tg.sum((-1, -2)) == n).all())  # each target is one h×w rectangle
    assert 0.1 * 196 <= n <= 0.25 * 196
    assert not bool((_grids(ctx, 14) & tg.any(1)).any())  # context ∩ targets = ∅
    assert bool((ctx.diff(dim=1) > 0).all())  # distinct, raster order
    assert len({tuple(t.flatten().tolist()) for t in tgt}) > 1  # drawn per image


@pytest.mark.parametrize("grid", [1, 2, 3, 4, 5, 7])
def test_sampler_terminates_on_small_grids(grid):
    sampler = MultiBlockMasks()
    for seed in range(5):
        ctx, tgt = sampler(16, grid, torch.Generator().manual_seed(seed))
        assert ctx.shape[0] == 16 and ctx.shape[1] >= 1
        assert tgt.shape[:2] == (16, 4) and tgt.shape[2] >= 1
        assert int(ctx.max()) < grid * grid and int(tgt.max()) < grid * grid


def test_context_keeps_more_than_min_context_patches_when_it_can():
    """On 7×7 the context block minus four ~8-patch targets leaves more than 4 patches."""
    ctx, tgt = MultiBlockMasks()(64, 7, torch.Generator().manual_seed(0))
    assert ctx.shape[1] > 4
    assert not bool((_grids(ctx, 7) & _grids(tgt, 7).any(1)).any())


def test_reference_placement_never_touches_the_last_row_or_column():
    hits = {}
    for full in (False, True):
        seen = torch.zeros(14, 14, dtype=torch.bool)
        for seed in range(10):
            ctx, tgt = MultiBlockMasks(full_grid=full)(16, 14, torch.Generator().manual_seed(seed))
            seen |= _grids(tgt, 14).any(1).any(0) | _grids(ctx, 14).any(0)
        hits[full] = bool(seen[-1].any() or seen[:, -1].any())
    assert hits == {False: False, True: True}


def test_masks_are_seeded_and_bad_settings_are_rejected():
    a = MultiBlockMasks()(8, 7, torch.Generator().manual_seed(3))
    b = MultiBlockMasks()(8, 7, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    with pytest.raises(ConfigError, match="target_scale"):
        MultiBlockMasks(target_scale=(0.3, 0.2))
    with pytest.raises(ConfigError, match="num_targets"):
        MultiBlockMasks(num_targets=0)
