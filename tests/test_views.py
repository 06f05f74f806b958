import pytest
import torch

from sslab.errors import ConfigError, ShapeError
from sslab.views import (
    Dropout,
    GaussianNoise,
    HorizontalFlip,
    PatchMask,
    RandomTranslate,
    monte_carlo_moments,
)

SHAPE = (2, 4, 4)
D = 32


def data(n: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(D, n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


VIEWS = [
    GaussianNoise(SHAPE, 0.7),
    Dropout(SHAPE, 0.3),
    PatchMask(SHAPE, 0.5, (2, 2)),
    PatchMask(SHAPE, 0.9, (4, 2)),
    HorizontalFlip(SHAPE, 0.3),
]


def _mc_error(view, X, draws, seed):
    S, G = monte_carlo_moments(view, X, draws, torch.Generator().manual_seed(seed))
    S0, G0 = view.moments(X)
    return float((S - S0).norm() / S0.norm().clamp_min(1e-12)), float((G - G0).norm() / G0.norm())


@pytest.mark.parametrize("view", VIEWS, ids=lambda v: type(v).__name__ + str(getattr(v, "patch", "")))
def test_exact_moments_match_monte_carlo_with_1_over_sqrt_draws(view):
    """Relative error at n and 16n draws: both within 4/√draws, and it shrinks ≈ 4× (we ask ≥ 2×)."""
    X = data()
    errs = {}
    for draws in (200, 3200):
        # average over 3 seeds to make the 1/√n trend robust
        e = [_mc_error(view, X, draws, s) for s in range(3)]
        errs[draws] = (sum(a for a, _ in e) / 3, sum(b for _, b in e) / 3)
        assert errs[draws][1] < 4.0 / draws**0.5, (draws, errs[draws])
    if errs[200][0] > 1e-12:  # noise view: S is exact only in expectation
        assert errs[3200][0] < errs[200][0] / 2
    assert errs[3200][1] < errs[200][1] / 2


def test_masking_moments_formula_by_hand():
    X = torch.tensor([[1.0], [2.0]], dtype=torch.float64)  # 1x1x2 image
    S, G = PatchMask((1, 1, 2), 0.25, (1, 1)).moments(X)
    q = 0.75
    assert torch.allclose(S, q * X)
    assert torch.allclose(G, torch.tensor([[q * 1, q * q * 2], [q * q * 2, q * 4]], dtype=torch.float64))
    _, G2 = PatchMask((1, 1, 2), 0.25, (1, 2)).moments(X)
    assert torch.allclose(G2, q * X @ X.T)


def test_sampling_is_seeded_and_shaped():
    x = torch.randn(3, *SHAPE)
    for view in [*VIEWS, RandomTranslate(SHAPE, 1)]:
        a = view.sample(x, torch.Generator().manual_seed(7))
        b = view.sample(x, torch.Generator().manual_seed(7))
        assert a.shape == x.shape and torch.equal(a, b)


def test_patch_mask_drops_whole_patches_across_channels():
    x = torch.ones(50, *SHAPE)
    out = PatchMask(SHAPE, 0.5, (2, 2)).sample(x, torch.Generator().manual_seed(0))
    blocks = out.reshape(50, 2, 2, 2, 2, 2)  # b, c, gh, p, gw, q
    per_patch = blocks.permute(0, 2, 4, 1, 3, 5).reshape(50, 4, 8)
    assert torch.all((per_patch.sum(-1) == 0) | (per_patch.sum(-1) == 8))


def test_bad_view_arguments():
    with pytest.raises(ShapeError, match="not divisible"):
        PatchMask((1, 8, 8), 0.5, (3, 3))
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        PatchMask(SHAPE, 1.0)
    with pytest.raises(ShapeError, match="expects images"):
        Dropout(SHAPE, 0.1).sample(torch.zeros(2, 1, 4, 4))
    with pytest.raises(ShapeError):
        Dropout(SHAPE, 0.1).moments(torch.zeros(5, 3))


def test_patch_mask_exact_moments_equal_the_dense_mask_product():
    """The fast path (q² in the GEMM, same-patch entries rescaled) equals (X Xᵀ) ⊙ Q with Q
    formed densely, for patches, dropout and a non-square patch on several channels."""
    from sslab.views import PatchMask

    g = torch.Generator().manual_seed(3)
    for shape, patch, p in (((3, 8, 8), (4, 4), 0.5), ((2, 6, 4), (3, 2), 0.3), ((1, 5, 5), (1, 1), 0.9)):
        view = PatchMask(shape, p, patch)
        X = torch.randn(view.dim, 17, generator=g, dtype=torch.float64)
        S, G = view.moments(X)
        ref = (X @ X.T) * view.mask_matrix()
        assert torch.allclose(G, ref, rtol=1e-13, atol=0)
        assert torch.equal(view.apply_to_gram(X @ X.T), (X @ X.T) * view.mask_matrix())
        assert torch.allclose(S, (1 - p) * X, rtol=0, atol=0)
