"""Closed forms of linear RC and JE (Van Assel et al. 2025) against gradient-based optimisation,
rotations, brute force, and the limits stated by the paper."""

import math

import pytest
import torch

from sslab.theory.joint_embedding import (
    IrrelevantFeatureModel,
    ViewMoments,
    je_invariance,
    rc_loss,
    solve_je,
    solve_rc,
    supervised_map,
)
from sslab.theory.linalg import principal_angles
from sslab.views import PatchMask

F64 = torch.float64


def moments(d=6, n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(d, n, generator=g, dtype=F64) * torch.linspace(2, 0.5, d, dtype=F64)[:, None]
    A = torch.randn(d, d, generator=g, dtype=F64)
    return ViewMoments.additive(X, 0.3 * A @ A.T / d + 0.05 * torch.eye(d, dtype=F64))


def lbfgs(fn, params, rounds=20):
    opt = torch.optim.LBFGS(params, max_iter=2000, history_size=100, tolerance_grad=1e-15,
                            tolerance_change=1e-18, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = fn()
        loss.backward()
        return loss

    for _ in range(rounds):
        opt.step(closure)
    return float(fn().detach())


@pytest.mark.parametrize("k", [1, 3])
def test_rc_closed_form_matches_gradient_optimum(k):
    m = moments()
    sol = solve_rc(m, k)
    assert abs(float(rc_loss(m, sol.E, sol.D)) - sol.loss) < 1e-9 * abs(sol.loss) + 1e-12
    best = math.inf
    for r in range(3):
        g = torch.Generator().manual_seed(10 + r)
        E = torch.randn(k, 6, generator=g, dtype=F64).requires_grad_()
        D = torch.randn(6, k, generator=g, dtype=F64).requires_grad_()
        best = min(best, lbfgs(lambda E=E, D=D: rc_loss(m, E, D), [E, D]))
    assert sol.loss <= best * (1 + 1e-9) + 1e-12
    assert abs(best - sol.loss) / abs(sol.loss) < 1e-5


@pytest.mark.parametrize("k", [1, 3])
def test_je_closed_form_matches_constrained_gradient_optimum(k):
    """W = Q̃ᵀ S^{-1/2} with Q̃ orthonormal (QR of a free matrix) satisfies W S Wᵀ = I exactly."""
    m = moments()
    sol = solve_je(m, k)
    assert torch.allclose(sol.W @ m.S @ sol.W.T, torch.eye(k, dtype=F64), atol=1e-9)
    assert abs(float(je_invariance(m, sol.W)) - sol.loss) < 1e-9
    evals, evecs = torch.linalg.eigh(m.S)
    s_inv_half = (evecs / evals.sqrt()) @ evecs.T
    best = math.inf
    for r in range(3):
        A = torch.randn(6, k, generator=torch.Generator().manual_seed(20 + r), dtype=F64).requires_grad_()
        best = min(best, lbfgs(lambda A=A: je_invariance(m, torch.linalg.qr(A).Q.T @ s_inv_half), [A]))
    assert sol.loss <= best * (1 + 1e-9) + 1e-12
    assert abs(best - sol.loss) / sol.loss < 1e-5


def test_solutions_rotate_with_the_data():
    m = moments(seed=3)
    R, _ = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(4), dtype=F64))
    rot = ViewMoments(R @ m.X, R @ m.Xbar, R @ m.S @ R.T, R @ m.G @ R.T)
    for solve, attr in ((solve_rc, "E"), (solve_je, "W")):
        a, b = getattr(solve(m, 2), attr), getattr(solve(rot, 2), attr)
        assert float(principal_angles((a @ R.T).T, b.T).max()) < 1e-6


def test_brute_force_on_a_tiny_problem():
    m = moments(d=2, n=30, seed=5)
    angles = torch.linspace(0, math.pi, 200_001, dtype=F64)
    W = torch.stack([angles.cos(), angles.sin()], 1)  # candidate directions (1×2 encoders)
    rayleigh = ((W @ m.G) * W).sum(1) / ((W @ m.S) * W).sum(1)
    assert abs(float(rayleigh.max()) - float(solve_je(m, 1).omega[0])) < 1e-8
    # RC with the best decoder for each direction: loss = ‖X‖²/n − ‖X X̄ᵀ wᵀ‖²/(n² wSwᵀ)
    n = m.X.shape[1]
    c = W @ (m.Xbar @ m.X.T) / n
    rc = m.X.pow(2).sum() / n - c.pow(2).sum(1) / ((W @ m.S) * W).sum(1)
    assert abs(float(rc.min()) - solve_rc(m, 1).loss) < 1e-8


def test_any_view_plugs_in_through_its_moments():
    X = torch.randn(16, 40, generator=torch.Generator().manual_seed(0), dtype=F64)
    view = PatchMask((1, 4, 4), 0.3, (2, 2))
    m = ViewMoments.from_view_moments(X, *view.moments(X))
    assert torch.allclose(m.S - m.G, (m.S - m.G).T) and solve_je(m, 3).W.shape == (3, 16)


def test_population_limits_of_the_paper():
    model = IrrelevantFeatureModel.make(d=12, k=3, gamma=30.0, theta_irrelevant=0.01, seed=0)
    a_rc, a_je = model.thresholds()
    assert a_je < a_rc  # strong irrelevant features
    for alpha, rc_ok, je_ok in ((0.0, False, False), (0.5 * (a_rc + a_je), False, True), (a_rc + 1, True, True)):
        m = model.population_moments(alpha)
        assert (model.subspace_error(solve_rc(m, 3).E) < 1e-6) == rc_ok, alpha
        assert (model.subspace_error(solve_je(m, 3).W) < 1e-6) == je_ok, alpha
    # supervised regression of the relevant targets recovers the subspace at any alpha (population)
    cov = (model.Q * torch.cat([model.s, model.lam_gamma])) @ model.Q.T
    m = model.population_moments(0.0)
    n = m.X.shape[1]
    Z = (torch.diag(model.s) @ model.relevant_basis().T @ torch.linalg.pinv(cov)) @ m.X  # E[z|x] on the samples
    B = supervised_map(m, Z)
    assert model.subspace_error(B) < 1e-6 and n == 12


def test_iterative_large_d_paths_match_the_dense_closed_forms():
    m = moments(d=40, n=300, seed=7)
    for solve, attr in ((solve_rc, "E"), (solve_je, "W")):
        dense, fast = solve(m, 4), solve(m, 4, dense_below=10)
        assert abs(dense.loss - fast.loss) <= 1e-8 * abs(dense.loss)
        a, b = getattr(dense, attr), getattr(fast, attr)
        assert float(principal_angles(a.T, b.T).max()) < 1e-6
    je_d, je_f = solve_je(m, 4), solve_je(m, 4, dense_below=10)
    assert torch.allclose(je_f.W @ m.S @ je_f.W.T, torch.eye(4, dtype=F64), atol=1e-9)
    assert torch.allclose(je_d.omega[:4], je_f.omega, rtol=1e-9)
