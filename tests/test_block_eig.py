"""The iterative large-d paths (the ARPACK closed forms and the block Krylov solver) agree with
dense LAPACK (`scipy.linalg.eigh`) to 1e-8 on data-like spectra (small relative gaps, no clear
cut-off)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from sslab.theory import joint_embedding
from sslab.theory.joint_embedding import RCOperator, ViewMoments, solve_je, solve_rc
from sslab.theory.linalg import generalized_top_eig, top_eig_block

F64 = torch.float64


def data(d: int, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(d, n, generator=g, dtype=F64) * torch.logspace(0, -1, d, dtype=F64)[:, None]


def aligned_error(ours: np.ndarray, ref: np.ndarray) -> float:
    """max |ours − ref| / max |ref| over columns, after fixing each column's sign."""
    ours = ours * np.sign((ours * ref).sum(0))
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


def test_block_krylov_matches_dense_eigh_and_applies_only_blocks():
    d, k = 600, 10
    X = data(d, 900, 0)
    C = X @ X.T / 900
    widths = []

    def apply(B: torch.Tensor) -> torch.Tensor:
        widths.append(B.shape[1])
        return C @ B

    vals, vecs = top_eig_block(apply, d, k)
    ref_vals, ref_vecs = scipy.linalg.eigh(C.numpy(), subset_by_index=[d - k, d - 1])
    gaps = np.diff(ref_vals) / ref_vals[-1]
    assert gaps.min() < 0.02  # a clustered top spectrum, the hard case for an iterative solver
    assert np.abs(vals.numpy() - ref_vals[::-1]).max() <= 1e-12 * ref_vals[-1]
    assert aligned_error(vecs.numpy(), ref_vecs[:, ::-1]) < 1e-8
    assert max(widths) < d // 4 and len(widths) > 4  # iterated on blocks, never the dense matrix


def test_block_krylov_reports_non_convergence():
    X = data(400, 600, 1)
    C = X @ X.T
    with pytest.raises(RuntimeError, match="did not converge"):
        top_eig_block(lambda B: C @ B, 400, 10, depth=4, max_restarts=1, check_from=3)


def test_rc_and_je_iterative_paths_match_dense_generalized_eigh():
    d, n, k = 560, 1200, 8
    X = data(d, n, 2)
    m = ViewMoments.additive(X, 0.1 * torch.eye(d, dtype=F64) + 0.05 * torch.diag(torch.rand(d, dtype=F64)))
    rc, je = solve_rc(m, k), solve_je(m, k)  # d ≥ dense_below = 512: the iterative paths
    assert rc.phi.numel() == k and je.omega.numel() == k
    A, S, G = m.A.numpy(), m.S.numpy(), m.G.numpy()
    mu, P = scipy.linalg.eigh(A.T @ A, S, subset_by_index=[d - k, d - 1])  # Aᵀ A e = φ² S e, eᵀ S e = 1
    assert np.abs(rc.phi.numpy() - np.sqrt(mu[::-1])).max() < 1e-10
    assert aligned_error(rc.E.numpy().T, P[:, ::-1]) < 1e-8
    om, W = scipy.linalg.eigh(G, S, subset_by_index=[d - k, d - 1])  # G w = ω S w, wᵀ S w = 1
    assert np.abs(je.omega.numpy() - om[::-1]).max() < 1e-10
    assert aligned_error(je.W.numpy().T, W[:, ::-1]) < 1e-8


def test_generalized_top_eig_iterative_path_matches_dense():
    d, k = 520, 8
    X = data(d, 800, 3)
    T = X @ X.T
    G = T + 0.2 * torch.eye(d, dtype=F64)
    mu, V = generalized_top_eig(T, G, k, dense_below=100)
    ref_mu, ref_V = scipy.linalg.eigh((T @ T).numpy(), G.numpy(), subset_by_index=[d - k, d - 1])
    assert np.abs(mu.numpy() - ref_mu[::-1]).max() <= 1e-11 * ref_mu[-1]
    assert aligned_error(V.numpy(), ref_V[:, ::-1]) < 1e-8


def test_rc_operator_gives_the_same_products_before_and_after_forming_m():
    d, n = 300, 500
    X = data(d, n, 4)
    Xbar = 0.8 * X + 0.1 * data(d, n, 6)  # views with a mean other than x: A = X X̄ᵀ/n is not symmetric
    G = Xbar @ Xbar.T / n
    m = ViewMoments(X, Xbar, G + 0.1 * torch.eye(d, dtype=F64), G)
    assert float((m.A - m.A.T).abs().max()) > 1e-3
    L = torch.linalg.cholesky(m.S)
    dense = m.A @ torch.linalg.solve(m.S, m.A.T)
    op = RCOperator(m.A, L, form_after=3)
    B = torch.randn(d, 2, dtype=F64, generator=torch.Generator().manual_seed(5))
    before = op(B)  # columns 1–2: triangular solves
    assert op.M is None
    op(B[:, :1])  # column 3
    after = op(B)  # the threshold is reached: M = L⁻¹ Aᵀ is formed
    assert op.M is not None and op.applied == 5
    for out in (before, after):
        assert float((out - dense @ B).abs().max() / (dense @ B).abs().max()) < 1e-12
    assert float((op.half(B) - torch.linalg.solve_triangular(L, m.A.T @ B, upper=False)).abs().max()) < 1e-12


@pytest.mark.parametrize("form_after", [0, 10**9])
def test_solve_rc_is_the_same_whether_m_is_formed_first_or_never(monkeypatch, form_after):
    d, n, k = 560, 1200, 8
    m = ViewMoments.additive(data(d, n, 2), 0.1 * torch.eye(d, dtype=F64))
    reference = solve_rc(m, k)
    monkeypatch.setattr(joint_embedding, "FORM_AFTER", form_after)
    other = solve_rc(m, k)
    assert torch.allclose(other.phi, reference.phi, rtol=1e-11)
    assert aligned_error(other.E.numpy().T, reference.E.numpy().T) < 1e-9
