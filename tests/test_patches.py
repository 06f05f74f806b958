import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sslab.data import patch_index_map, patchify, unpatchify
from sslab.errors import ShapeError


@settings(max_examples=60, deadline=None)
@given(
    b=st.integers(1, 3),
    c=st.integers(1, 3),
    gh=st.integers(1, 4),
    gw=st.integers(1, 4),
    p=st.integers(1, 4),
    q=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_unpatchify_inverts_patchify_exactly(b, c, gh, gw, p, q, seed):
    x = torch.randn(b, c, gh * p, gw * q, generator=torch.Generator().manual_seed(seed))
    tokens = patchify(x, (p, q))
    assert tokens.shape == (b, gh * gw, p * q * c)
    assert torch.equal(unpatchify(tokens, (p, q), (c, gh * p, gw * q)), x)
    # and the other way round
    assert torch.equal(patchify(unpatchify(tokens, (p, q), (c, gh * p, gw * q)), (p, q)), tokens)


def test_patch_layout_is_row_major_then_pixel_then_channel():
    x = torch.arange(2 * 4 * 4, dtype=torch.float32).reshape(1, 2, 4, 4)
    t = patchify(x, 2)
    # token 1 is the top-right 2x2 patch; its first entries are pixel (0, 2) of channels 0 and 1
    assert t[0, 1, 0].item() == x[0, 0, 0, 2].item()
    assert t[0, 1, 1].item() == x[0, 1, 0, 2].item()
    assert t[0, 1, 2].item() == x[0, 0, 0, 3].item()


def test_patch_index_map_groups_channels():
    idx = patch_index_map((2, 4, 4), (2, 2))
    assert idx.shape == (32,)
    assert idx[0] == idx[16] == 0 and idx[3] == 1 and idx[15] == 3


@pytest.mark.parametrize("shape,patch", [((1, 3, 8, 8), 3), ((1, 1, 6, 8), (4, 4))])
def test_non_tiling_patch_is_a_clear_error(shape, patch):
    with pytest.raises(ShapeError, match="not divisible"):
        patchify(torch.zeros(shape), patch)


def test_wrong_rank_input_is_rejected():
    with pytest.raises(ShapeError, match=r"\(B, C, H, W\)"):
        patchify(torch.zeros(8, 8), 2)
