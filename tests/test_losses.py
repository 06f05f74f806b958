"""Each loss is a pure function: known values on hand-made inputs, symmetries, gradients."""

import math

import pytest
import torch

from sslab.methods.losses import (
    effective_rank,
    gram_squared_mean,
    latent_regression,
    masked_patch_mse,
    mean_pairwise_sq_distance,
    nt_xent,
)


def test_masked_patch_mse_scores_only_masked_patches():
    pred = torch.zeros(1, 3, 2)
    target = torch.tensor([[[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]])
    mask = torch.tensor([[0.0, 1.0, 1.0]])
    assert masked_patch_mse(pred, target, mask).item() == pytest.approx((4 + 9) / 2)
    # norm_pix: a constant patch standardises to 0, so a zero prediction is perfect
    assert masked_patch_mse(pred, target, mask, norm_pix=True).item() == pytest.approx(0.0)


def test_norm_pix_uses_the_unbiased_patch_variance_like_the_official_mae():
    """Patch (0, 1, 2, 3): mean 1.5, unbiased variance 5/3 (biased would be 5/4). With a zero
    prediction the loss is mean((x − 1.5)²) / (5/3 + 1e-6) = (5/4) / (5/3) = 3/4 (biased: 1)."""
    target = torch.tensor([[[0.0, 1.0, 2.0, 3.0]]], dtype=torch.float64)
    loss = masked_patch_mse(torch.zeros_like(target), target, torch.ones(1, 1, dtype=torch.float64), norm_pix=True)
    assert loss.item() == pytest.approx(1.25 / (5 / 3 + 1e-6), rel=1e-12)
    assert loss.item() == pytest.approx(0.75, rel=1e-5)


def test_pairwise_distance_known_values():
    e = torch.eye(3)  # orthonormal: every pair at distance √2
    assert mean_pairwise_sq_distance(e).item() == pytest.approx(2.0)
    same = torch.ones(4, 3)
    assert mean_pairwise_sq_distance(same).item() == pytest.approx(0.0, abs=1e-6)
    opposite = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    assert mean_pairwise_sq_distance(opposite).item() == pytest.approx(4.0)
    z = torch.randn(7, 5, generator=torch.Generator().manual_seed(0))
    brute = torch.stack([
        (torch.nn.functional.normalize(z[i], dim=0) - torch.nn.functional.normalize(z[j], dim=0)).pow(2).sum()
        for i in range(7) for j in range(7) if i != j
    ]).mean()
    assert mean_pairwise_sq_distance(z).item() == pytest.approx(brute.item(), rel=1e-5)
    # permutation invariant and scale invariant
    assert mean_pairwise_sq_distance(z[torch.randperm(7)] * 3).item() == pytest.approx(brute.item(), rel=1e-5)


def test_gram_squared_mean_known_values():
    assert gram_squared_mean(torch.eye(4)).item() == pytest.approx(4 / 16)
    assert gram_squared_mean(torch.ones(3, 2)).item() == pytest.approx(1.0)


def test_nt_xent_known_value_and_symmetry():
    # two orthogonal pairs, each view identical to its partner
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    t = 0.5
    # for sample 0: positive cos 1, negatives: z1[1] cos 0, z2[1] cos 0
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2 * math.exp(0.0)))
    assert nt_xent(z1, z1.clone(), t).item() == pytest.approx(expected, rel=1e-6)
    a, b = torch.randn(6, 4), torch.randn(6, 4)
    assert nt_xent(a, b).item() == pytest.approx(nt_xent(b, a).item(), rel=1e-6)
    perm = torch.randperm(6)
    assert nt_xent(a[perm], b[perm]).item() == pytest.approx(nt_xent(a, b).item(), rel=1e-6)


@pytest.mark.parametrize("fn", [mean_pairwise_sq_distance, gram_squared_mean, lambda z: nt_xent(z[:3], z[3:])])
def test_gradients_match_finite_differences(fn):
    z = torch.randn(6, 4, dtype=torch.float64, requires_grad=True, generator=torch.Generator().manual_seed(1))
    assert torch.autograd.gradcheck(fn, (z,))


def test_latent_regression_is_ijepa_smooth_l1_by_hand_and_stops_target_gradient():
    """Differences 0.5, −2, 0, 3: smooth-L1 = (0.125 + 1.5 + 0 + 2.5)/4 = 1.03125; squared = 13.25/4."""
    pred = torch.tensor([[0.5, -2.0], [0.0, 3.0]], requires_grad=True)
    target = torch.zeros(2, 2, requires_grad=True)
    loss = latent_regression(pred, target)
    assert loss.item() == pytest.approx(1.03125)
    assert latent_regression(pred, target, "mse").item() == pytest.approx(13.25 / 4)
    loss.backward()
    assert pred.grad is not None and target.grad is None


def test_effective_rank_bounds():
    assert effective_rank(torch.randn(500, 8)).item() > 7.0
    rank1 = torch.randn(100, 1) @ torch.randn(1, 8)
    assert effective_rank(rank1).item() < 1.01
