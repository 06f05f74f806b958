"""Closed forms of learning by reconstruction (Balestriero & LeCun, ICML 2024;
``docs/theory/balestriero-lecun-2024-reconstruction.md``).

Notation: X ∈ R^{D×N} (columns are samples), Y ∈ R^{C×N}, encoder
V ∈ R^{D×K}, head W ∈ R^{K×C}, decoder Z ∈ R^{K×D}. Conventions: callers centre X per
pixel and Y per output (:func:`~sslab.theory.linalg.center_rows`); every eigenproblem is
restricted to the numerical range of Σ = X Xᵀ (or G), so K must not exceed that rank.

* :func:`solve_joint` — Thm 1: argmin ‖WᵀVᵀX − Y‖² + λ‖ZᵀVᵀX − X‖².
  With Σ = U diag(s²) Uᵀ, H = Bᵀ B + λ diag(s²), B = Y Xᵀ U diag(1/s) (this is
  D^{-1/2} Pᵀ A P D^{-1/2} with A = X YᵀY Xᵀ + λΣ² written without squaring Σ), and
  V* = U diag(1/s) (P_H)_{:,1:K}. Because V*ᵀ Σ V* = I, W* = V*ᵀ X Yᵀ, Z* = V*ᵀ Σ and
  the optimum is ‖Y‖² + λ‖X‖² − Σ_{i≤K} eig_i(H).
* :func:`solve_denoising` — Thm 3: argmin_V min_Z E‖ZᵀVᵀX′ − X‖² for a view with
  S = E[X′], G = E[X′X′ᵀ]: V* = P_G D_G^{-1/2} (P_H)_{:,1:K},
  H = D_G^{-1/2} P_Gᵀ S Xᵀ X Sᵀ P_G D_G^{-1/2}; optimum ‖X‖² − Σ_{i≤K} eig_i(H).
* :func:`ols_map` and :func:`pca_projector` — the λ → 0 and λ → ∞ limits of Thm 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sslab.theory.linalg import as_f64, check_width, generalized_top_eig, sym_eig, thin_svd


@dataclass
class LinearSolution:
    """An optimal linear encoder with its head/decoder and the optimal objective value."""

    V: torch.Tensor  # D×K encoder
    W: torch.Tensor | None  # K×C head (Thm 1 only)
    Z: torch.Tensor  # K×D decoder
    loss: float  # optimal objective value
    eigenvalues: torch.Tensor  # eigenvalues of H, descending (Thm 1: all kept directions; Thm 3: top k)


def joint_loss(
    X: torch.Tensor, Y: torch.Tensor, V: torch.Tensor, W: torch.Tensor, Z: torch.Tensor, lam: float
) -> torch.Tensor:
    """‖WᵀVᵀX − Y‖²_F + λ ‖ZᵀVᵀX − X‖²_F (Balestriero & LeCun 2024, Thm 1)."""
    F = V.T @ X
    return (W.T @ F - Y).pow(2).sum() + lam * (Z.T @ F - X).pow(2).sum()


def denoising_loss(
    X: torch.Tensor, S: torch.Tensor, G: torch.Tensor, V: torch.Tensor, Z: torch.Tensor
) -> torch.Tensor:
    """E‖ZᵀVᵀX′ − X‖²_F = tr(ZᵀVᵀ G V Z) − 2 tr(ZᵀVᵀ S Xᵀ) + ‖X‖²_F, exact given (S, G)."""
    M = V @ Z  # D×D
    return (M * (G @ M)).sum() - 2 * (M * (S @ X.T)).sum() + X.pow(2).sum()


def solve_joint(X: torch.Tensor, Y: torch.Tensor, lam: float, k: int, rtol: float = 1e-10) -> LinearSolution:
    """Thm 1 closed form for any λ ≥ 0 and width k ≤ rank(X)."""
    if lam < 0:
        raise ValueError(f"lambda must be >= 0, got {lam}")
    X, Y = as_f64(X), as_f64(Y)
    svd = thin_svd(X, rtol)
    check_width(k, svd.rank, "data X")
    B = (Y @ X.T @ svd.U) / svd.s  # C×r
    H = B.T @ B + lam * torch.diag(svd.s**2)
    evals, PH = sym_eig(H, rtol=None)
    PK = PH[:, :k]
    V = (svd.U / svd.s) @ PK
    W = PK.T @ B.T
    Z = PK.T @ (svd.U * svd.s).T
    loss = Y.pow(2).sum() + lam * X.pow(2).sum() - evals[:k].sum()
    return LinearSolution(V, W, Z, float(loss), evals)


def solve_denoising_gram(
    sxt: torch.Tensor, G: torch.Tensor, k: int, rtol: float = 1e-10
) -> tuple[torch.Tensor, torch.Tensor]:
    """Thm 3 from sufficient statistics T = S Xᵀ (D×D) and G. Returns (V, eig(H)[:k]).

    The optimal decoder is Z = Vᵀ S Xᵀ because V*ᵀ G V* = I.
    """
    return generalized_top_eig(as_f64(sxt), as_f64(G), k, rtol)[::-1]


def solve_denoising(
    X: torch.Tensor, S: torch.Tensor, G: torch.Tensor, k: int, rtol: float = 1e-10
) -> LinearSolution:
    """Thm 3 closed form: the best width-k linear denoising autoencoder for the view (S, G)."""
    X, S = as_f64(X), as_f64(S)
    sxt = S @ X.T
    V, evals = solve_denoising_gram(sxt, G, k, rtol)
    loss = X.pow(2).sum() - evals.sum()
    return LinearSolution(V, None, V.T @ sxt, float(loss), evals)


def ols_map(X: torch.Tensor, Y: torch.Tensor, rtol: float = 1e-10) -> torch.Tensor:
    """Minimum-norm least squares map (C×D): Y Xᵀ Σ⁺ — the λ → 0 limit of Wᵀ V*ᵀ."""
    X, Y = as_f64(X), as_f64(Y)
    svd = thin_svd(X, rtol)
    return (Y @ X.T @ svd.U / svd.s**2) @ svd.U.T


def pca_projector(X: torch.Tensor, k: int, rtol: float = 1e-10) -> torch.Tensor:
    """Projector (D×D) on the top-k principal subspace — the λ → ∞ limit of Z*ᵀ V*ᵀ."""
    svd = thin_svd(as_f64(X), rtol)
    check_width(k, svd.rank, "data X")
    Uk = svd.U[:, :k]
    return Uk @ Uk.T


def supervised_error_curve(
    V: torch.Tensor, sigma: torch.Tensor, xyt: torch.Tensor, yy: float
) -> torch.Tensor:
    """Relative least-squares error min_W ‖WᵀV_kᵀX − Y‖² / ‖Y‖² for k = 1..K (nested prefixes).

    Computed in D-space from Σ = X Xᵀ, X Yᵀ and ‖Y‖²: with L = chol(VᵀΣV) (leading blocks of
    a Cholesky factor are the factors of leading blocks), R = (Y X V) L⁻ᵀ and
    err(k) = ‖Y‖² − Σ_{j≤k} ‖R_{:,j}‖².
    """
    V = as_f64(V)
    return error_curve_from_projections(V.T @ as_f64(sigma) @ V, as_f64(xyt).T @ V, yy)


def error_curve_from_projections(gram: torch.Tensor, yxv: torch.Tensor, yy: float) -> torch.Tensor:
    """:func:`supervised_error_curve` from gram = VᵀΣV (K×K), Y Xᵀ V (C×K) and ‖Y‖² alone."""
    gram = 0.5 * (gram + gram.T)
    jitter = 1e-12 * gram.diagonal().abs().max().clamp_min(1e-300)
    L = torch.linalg.cholesky(gram + jitter * torch.eye(gram.shape[0], dtype=torch.float64))
    R = torch.linalg.solve_triangular(L, yxv.T, upper=False)  # K×C
    explained = R.pow(2).sum(dim=1).cumsum(0)
    return ((yy - explained) / yy).clamp_min(0.0)
