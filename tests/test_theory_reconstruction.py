"""Closed forms of Balestriero & LeCun (Thm 1, Thm 3) against gradient-based optimisation."""

import pytest
import torch

from sslab.errors import RankError
from sslab.theory import (
    center_rows,
    denoising_loss,
    joint_loss,
    ols_map,
    one_hot,
    pca_projector,
    solve_denoising,
    solve_joint,
    thin_svd,
)
from sslab.views import GaussianNoise, PatchMask

F64 = torch.float64


def problem(d=6, n=40, c=3, seed=0, rank=None):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(d, n, generator=g, dtype=F64) * torch.linspace(2.0, 0.3, d, dtype=F64)[:, None]
    if rank is not None:
        X = torch.randn(d, rank, generator=g, dtype=F64) @ torch.randn(rank, n, generator=g, dtype=F64)
    labels = torch.randint(0, c, (n,), generator=g)
    return center_rows(X), center_rows(one_hot(labels, c))


def lbfgs(loss_fn, params, rounds=30):
    opt = torch.optim.LBFGS(
        params, lr=1, max_iter=2000, history_size=100, tolerance_grad=1e-15, tolerance_change=1e-18,
        line_search_fn="strong_wolfe",
    )

    def closure():
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        return loss

    for _ in range(rounds):
        opt.step(closure)
    return float(loss_fn().detach())


def best_of(restarts, make):
    return min(make(torch.Generator().manual_seed(100 + r)) for r in range(restarts))


@pytest.mark.parametrize("lam,k", [(0.0, 2), (0.7, 2), (5.0, 4), (0.3, 6)])
def test_thm1_matches_gradient_optimum(lam, k):
    X, Y = problem()
    sol = solve_joint(X, Y, lam, k)
    assert abs(float(joint_loss(X, Y, sol.V, sol.W, sol.Z, lam)) - sol.loss) <= 1e-9 * sol.loss

    def make(g):
        V = torch.randn(X.shape[0], k, generator=g, dtype=F64).requires_grad_()
        W = torch.randn(k, Y.shape[0], generator=g, dtype=F64).requires_grad_()
        Z = torch.randn(k, X.shape[0], generator=g, dtype=F64).requires_grad_()
        return lbfgs(lambda: joint_loss(X, Y, V, W, Z, lam), [V, W, Z])

    gd = best_of(3, make)
    assert sol.loss <= gd * (1 + 1e-9)
    assert abs(gd - sol.loss) / sol.loss < 1e-6


@pytest.mark.parametrize(
    "view",
    [GaussianNoise((1, 2, 3), 0.5), PatchMask((1, 2, 3), 0.4, (1, 1)), PatchMask((1, 2, 3), 0.6, (2, 1))],
    ids=["noise", "dropout", "patch"],
)
def test_thm3_matches_gradient_optimum(view):
    X, _ = problem()
    S, G = view.moments(X)
    k = 2
    sol = solve_denoising(X, S, G, k)
    assert abs(float(denoising_loss(X, S, G, sol.V, sol.Z)) - sol.loss) <= 1e-9 * X.pow(2).sum()

    def make(g):
        V = torch.randn(X.shape[0], k, generator=g, dtype=F64).requires_grad_()
        Z = torch.randn(k, X.shape[0], generator=g, dtype=F64).requires_grad_()
        return lbfgs(lambda: denoising_loss(X, S, G, V, Z), [V, Z])

    gd = best_of(3, make)
    assert sol.loss <= gd * (1 + 1e-9)
    assert abs(gd - sol.loss) / sol.loss < 1e-6


def test_thm3_with_identity_view_is_pca():
    X, _ = problem()
    S, G = X, X @ X.T
    sol = solve_denoising(X, S, G, 3)
    assert torch.allclose(sol.Z.T @ sol.V.T, pca_projector(X, 3), atol=1e-9)


def test_gaussian_noise_leaves_supervised_map_unchanged():
    """Corollary of Thm 3: Wᵀ V*ᵀ does not depend on σ (W fitted by least squares on clean X)."""
    X, Y = problem(d=8, n=60)
    maps = []
    for sigma in (0.0, 0.1, 1.0, 10.0):
        S, G = GaussianNoise((1, 2, 4), sigma).moments(X)
        V = solve_denoising(X, S, G, 3).V
        F = V.T @ X
        W = torch.linalg.lstsq(F.T, Y.T).solution
        maps.append(W.T @ V.T)
    for m in maps[1:]:
        assert torch.allclose(m, maps[0], rtol=1e-8, atol=1e-10)


def test_lambda_limits_give_ols_and_pca():
    X, Y = problem(d=8, n=60, c=4)
    k = 5  # ≥ rank of the OLS map (C − 1 = 3 after centring)
    small = solve_joint(X, Y, 1e-10, k)
    ols = ols_map(X, Y)
    assert (small.W.T @ small.V.T - ols).norm() / ols.norm() < 1e-6
    big = solve_joint(X, Y, 1e8, k)
    proj = pca_projector(X, k)
    assert (big.Z.T @ big.V.T - proj).norm() / proj.norm() < 1e-6


def test_rank_deficient_data_and_width_above_rank():
    X, Y = problem(d=10, n=30, rank=4)
    assert thin_svd(X).rank == 4
    sol = solve_joint(X, Y, 1.0, 4)
    assert torch.isfinite(sol.V).all()
    with pytest.raises(RankError, match="exceeds the numerical rank 4"):
        solve_joint(X, Y, 1.0, 5)


def test_wide_data_uses_sample_gram_and_agrees():
    X, Y = problem(d=50, n=12)  # D > N
    svd = thin_svd(X)
    assert svd.rank == 11  # centring removes one dimension
    sol = solve_joint(X, Y, 0.5, 3)
    assert abs(float(joint_loss(X, Y, sol.V, sol.W, sol.Z, 0.5)) - sol.loss) <= 1e-8 * sol.loss


def test_iterative_generalized_solver_matches_dense():
    from sslab.theory.linalg import generalized_top_eig

    g = torch.Generator().manual_seed(5)
    X = torch.randn(120, 400, generator=g, dtype=F64) * torch.logspace(0, -1, 120, dtype=F64)[:, None]
    sigma = X @ X.T
    view = PatchMask((1, 10, 12), 0.4, (2, 3))
    G = view.apply_to_gram(sigma)
    mu_d, V_d = generalized_top_eig(0.6 * sigma, G, 8, dense_below=10_000)
    mu_i, V_i = generalized_top_eig(0.6 * sigma, G, 8, dense_below=50)
    assert torch.allclose(mu_i, mu_d, rtol=1e-9)
    assert torch.allclose(V_i.T @ G @ V_i, torch.eye(8, dtype=F64), atol=1e-9)
    proj = lambda V: V @ torch.linalg.pinv(V)  # noqa: E731
    assert (proj(V_i) - proj(V_d)).norm() < 1e-5
