"""The Fig. 7 masking sweep in sample space, exact when there are fewer samples than pixels.

With centred X ∈ R^{D×N} and N − 1 < D (e.g. 64×64×3 images, D = 12,288, from a few thousand
samples) every D×D object of :func:`sslab.theory.masking.masking_sweep` has rank ≤ N − 1, and
the Thm 3 problem for patch masking (keep probability q, a = q², c = q(1 − q))

    q² Σ² v = μ G v,    G = a Σ + c E,    Σ = X Xᵀ,    E = Σ ⊙ B (B: same-patch pairs)

reduces exactly to (N − 1)×(N − 1) matrices:

* X̃ = X P (first N − 1 columns; P a Householder reflector sending 1/√N to e_N) has
  X̃ X̃ᵀ = Σ because X 1 = 0; Γ = X̃ᵀX̃ = L_Γ L_Γᵀ.
* E is block diagonal (one block of C·a·b pixels per patch), so H = X̃ᵀ E⁻¹ X̃ costs one
  block-triangular solve and one GEMM per patch shape, shared by every drop probability.
* Woodbury: X̃ᵀ G⁻¹ X̃ = H (cI + aH)⁻¹ =: F, hence a F = I − c K⁻¹ with K = cI + aH.
* v = G⁻¹ X̃ w with a Γ F w = μ w. The symmetric form is O y = μ y with
  O = a L_Γᵀ F L_Γ = L_Γᵀ L_Γ − c Mᵀ M, M = L_K⁻¹ L_Γ (K = L_K L_Kᵀ), and Vᵀ G V = I gives
  Z := X̃ᵀ V = (L_Γ y − c K⁻¹ L_Γ y) / √(a μ).

The supervised error needs V only through Vᵀ Σ V = Zᵀ Z and Y Xᵀ V = Ỹ Z (Ỹ = (Y P) without
its last column), so no D×D matrix and no D×K encoder is ever formed. Cost: one N×N Gram
and Cholesky, per patch shape one D·N² GEMM, per cell one N×N Cholesky, one triangular solve
and a Lanczos run on O, instead of D×D Cholesky factors and solves per cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from sslab.data.patches import patch_index_map
from sslab.theory.linalg import as_f64, top_eig_lanczos
from sslab.theory.masking import MaskingSweep, masking_sweep
from sslab.theory.reconstruction import error_curve_from_projections

F64 = torch.float64


def _drop_mean_direction(X: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(X P, Y P) without their last column, P the Householder reflector with P 1/√N = e_N."""
    n = X.shape[1]
    h = torch.full((n,), 1 / math.sqrt(n), dtype=F64)
    h[-1] -= 1.0
    scale = 2.0 / float(h @ h)
    Xp = X - scale * torch.outer(X @ h, h)
    Yp = Y - scale * torch.outer(Y @ h, h)
    return Xp[:, :-1], Yp[:, :-1]


def _stable_cholesky(M: torch.Tensor, rtol: float = 1e-12) -> torch.Tensor | None:
    """Lower Cholesky factor of a symmetric matrix, or None when it is not numerically PD."""
    L, info = torch.linalg.cholesky_ex(0.5 * (M + M.T))
    if int(info):
        return None
    diag = L.diagonal()
    return L if bool((diag > math.sqrt(rtol) * diag.max()).all()) else None


def _block_whitened(Xt: torch.Tensor, image_shape: tuple[int, int, int], patch: tuple[int, int]) -> torch.Tensor | None:
    """C⁻¹ X̃ grouped by patch (E = C Cᵀ block by block), so that H = (C⁻¹X̃)ᵀ(C⁻¹X̃); the
    small inverse factors are applied by one batched GEMM."""
    idx = patch_index_map(image_shape, patch)
    members = torch.argsort(idx, stable=True).view(-1, image_shape[0] * patch[0] * patch[1])
    Xg = Xt[members]  # (patches, m, N − 1)
    blocks = Xg @ Xg.transpose(1, 2)
    C, info = torch.linalg.cholesky_ex(blocks)
    if bool((info != 0).any()):
        return None
    eye = torch.eye(C.shape[-1], dtype=F64).expand_as(C)
    C_inv = torch.linalg.solve_triangular(C, eye, upper=False)
    return torch.bmm(C_inv, Xg).reshape(-1, Xt.shape[1])


def gram_upper(W: torch.Tensor, parts: int = 4) -> torch.Tensor:
    """Wᵀ W (symmetric) from its upper column blocks only: (parts + 1) / (2 parts) of the flops."""
    n = W.shape[1]
    edges = [round(i * n / parts) for i in range(parts + 1)]
    out = torch.empty(n, n, dtype=W.dtype)
    for i in range(parts):
        a, b = edges[i], edges[i + 1]
        block = W[:, a:b].T @ W[:, a:]
        out[a:b, a:] = block
        out[a:, a:b] = block.T
    return out


def _cell(L_gamma: torch.Tensor, gamma_hat: torch.Tensor, H: torch.Tensor | None, q: float, k: int) -> torch.Tensor:
    """Z = X̃ᵀV (N − 1 × k) for one drop probability (H None: plain reconstruction, c = 0)."""
    a, c = q * q, q * (1 - q)
    n = L_gamma.shape[0]
    if H is None or c == 0.0:
        mu, Yv = top_eig_lanczos(lambda B: gamma_hat @ B, n, k, tol=1e-10)
        return (L_gamma @ Yv) / (a * mu).sqrt()
    K = a * H
    K.diagonal().add_(c)
    L_k = torch.linalg.cholesky(K)
    M = torch.linalg.solve_triangular(L_k, L_gamma, upper=False)
    mu, Yv = top_eig_lanczos(lambda B: gamma_hat @ B - c * (M.T @ (M @ B)), n, k, tol=1e-10)
    G_y = L_gamma @ Yv
    Z = G_y - c * torch.cholesky_solve(G_y, L_k)
    return Z / (a * mu).sqrt()


def sample_space_sweep(
    X: torch.Tensor,
    Y: torch.Tensor,
    image_shape: tuple[int, int, int],
    patches: Sequence[tuple[int, int]],
    drop_probs: Sequence[float],
    ks: Sequence[int],
) -> MaskingSweep | None:
    """The sweep of :func:`~sslab.theory.masking.masking_sweep` from centred X (D×N) and Y
    (C×N) through N×N matrices; None when it does not apply (N − 1 ≥ D, X rows not centred,
    or X̃ or a patch block numerically rank deficient)."""
    X, Y = as_f64(X), as_f64(Y)
    d, n = X.shape
    if n - 1 >= d or n < 2 or max(ks) > n - 1:
        return None
    if float(X.sum(1).norm()) > 1e-8 * float(X.norm()) * math.sqrt(n):
        return None
    Xt, Yt = _drop_mean_direction(X, Y)
    yy = float(Y.pow(2).sum())
    L_gamma = _stable_cholesky(gram_upper(Xt))
    if L_gamma is None:
        return None
    gamma_hat = L_gamma.T @ L_gamma
    k_max = max(ks)
    idx = torch.as_tensor([k - 1 for k in ks])

    def curve(Z: torch.Tensor) -> torch.Tensor:
        return error_curve_from_projections(Z.T @ Z, Yt @ Z, yy)[idx]

    plain = curve(_cell(L_gamma, gamma_hat, None, 1.0, k_max))
    err = torch.empty(len(patches), len(drop_probs), len(ks), dtype=F64)
    for i, patch in enumerate(patches):
        err[i] = plain
        if all(p == 0.0 for p in drop_probs):
            continue
        W = _block_whitened(Xt, image_shape, (int(patch[0]), int(patch[1])))
        if W is None:
            return None
        H = gram_upper(W)  # shared by every drop probability of this patch shape
        del W
        for j, p in enumerate(drop_probs):
            if p > 0.0:
                err[i, j] = curve(_cell(L_gamma, gamma_hat, H, 1.0 - p, k_max))
    return MaskingSweep(list(patches), list(drop_probs), list(ks), err, plain)


def masking_sweep_samples(
    X: torch.Tensor,
    Y: torch.Tensor,
    image_shape: tuple[int, int, int],
    patches: Sequence[tuple[int, int]],
    drop_probs: Sequence[float],
    ks: Sequence[int],
) -> MaskingSweep:
    """The sweep from centred samples: in sample space when N − 1 < D (exact, see the module
    docstring), else through the D×D Gram matrix Σ = X Xᵀ."""
    sweep = sample_space_sweep(X, Y, image_shape, patches, drop_probs, ks)
    if sweep is not None:
        return sweep
    X, Y = as_f64(X), as_f64(Y)
    return masking_sweep(X @ X.T, X @ Y.T, float(Y.pow(2).sum()), image_shape, patches, drop_probs, ks)
