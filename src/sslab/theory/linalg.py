"""The one symmetric eigen / thin-SVD helper every closed form in sslab uses.

All work is in float64. Rank deficiency is handled by keeping only eigen-directions whose
eigenvalue exceeds ``rtol · λ_max`` (the dropped directions carry no data and yield
identically zero features). The thin SVD of X (D×N) is taken through whichever Gram
matrix is smaller, so an N×N matrix is never formed when D < N.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from sslab.errors import RankError, ShapeError

DEFAULT_RTOL = 1e-10


def as_f64(x: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(x).detach().to(torch.float64)


def sym_eig(M: torch.Tensor, rtol: float | None = DEFAULT_RTOL) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (descending) and eigenvectors of a symmetric matrix.

    With ``rtol`` (PSD matrices) only eigenvalues > rtol·max are kept; ``rtol=None``
    keeps all of them.
    """
    M = as_f64(M)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ShapeError(f"expected a square matrix, got {tuple(M.shape)}")
    M = 0.5 * (M + M.T)
    evals, evecs = torch.linalg.eigh(M)
    evals, evecs = evals.flip(0), evecs.flip(1)
    if rtol is not None:
        top = evals[0].clamp_min(0) if evals.numel() else torch.tensor(0.0, dtype=torch.float64)
        keep = evals > rtol * top if top > 0 else torch.zeros_like(evals, dtype=torch.bool)
        evals, evecs = evals[keep], evecs[:, keep]
    return evals, evecs


@dataclass
class ThinSVD:
    """X = U diag(s) Vᵀ restricted to the numerical range: U (D×r), s (r,), descending."""

    U: torch.Tensor
    s: torch.Tensor

    @property
    def rank(self) -> int:
        return int(self.s.numel())

    def right_vectors(self, X: torch.Tensor) -> torch.Tensor:
        """V (N×r) = Xᵀ U diag(1/s); only call when an N×r matrix is affordable."""
        return (as_f64(X).T @ self.U) / self.s


def thin_svd(X: torch.Tensor, rtol: float = DEFAULT_RTOL) -> ThinSVD:
    """Thin SVD through the smaller Gram matrix (relative tolerance on σ², not σ)."""
    X = as_f64(X)
    d, n = X.shape
    if d <= n:
        evals, U = sym_eig(X @ X.T, rtol)
        return ThinSVD(U, evals.sqrt())
    evals, V = sym_eig(X.T @ X, rtol)
    s = evals.sqrt()
    return ThinSVD((X @ V) / s, s)


def check_width(k: int, rank: int, what: str = "data") -> None:
    if k < 1:
        raise RankError(f"embedding width K must be >= 1, got {k}")
    if k > rank:
        raise RankError(
            f"embedding width K={k} exceeds the numerical rank {rank} of the {what}; use K <= {rank}"
        )


def center_rows(X: torch.Tensor) -> torch.Tensor:
    """Centre each row (pixel / output) over the samples (columns)."""
    X = as_f64(X)
    return X - X.mean(dim=1, keepdim=True)


def one_hot(labels: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """C×N one-hot matrix (float64)."""
    labels = torch.as_tensor(labels).long()
    c = int(num_classes if num_classes is not None else labels.max().item() + 1)
    return torch.nn.functional.one_hot(labels, c).T.to(torch.float64)


def generalized_top_eig(
    T: torch.Tensor,
    G: torch.Tensor,
    k: int,
    rtol: float = DEFAULT_RTOL,
    dense_below: int = 768,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k solutions of T Tᵀ v = μ G v (G PSD), normalised so that Vᵀ G V = I.

    Small or singular G: eigen-decomposition of G restricted to its numerical range and a
    dense eigenproblem (exact). Large positive-definite G: Cholesky G = L Lᵀ, M = L⁻¹ T and
    Lanczos on M Mᵀ (matrix-vector products instead of an O(D³) dense eigh); V = L⁻ᵀ W.
    """
    d = G.shape[0]
    if d > dense_below:
        L, info = torch.linalg.cholesky_ex(G)
        diag = L.diagonal()
        if int(info) == 0 and bool((diag > rtol**0.5 * diag.max()).all()):
            check_width(k, d, "view second moment G")
            M = torch.linalg.solve_triangular(L, T, upper=False)
            mu, W = top_eig_lanczos(lambda B: M @ (M.T @ B), d, k, tol=1e-10)
            return mu, torch.linalg.solve_triangular(L.T, W, upper=True)
    dG, PG = sym_eig(G, rtol)
    check_width(k, int(dG.numel()), "view second moment G")
    R = (PG.T @ T) / dG.sqrt()[:, None]  # r×D, reduced problem R Rᵀ w = μ w
    mu, w = sym_eig(R @ R.T, rtol=None)
    return mu[:k], (PG / dG.sqrt()) @ w[:, :k]


def psd_power(S: torch.Tensor, power: float, rtol: float = DEFAULT_RTOL) -> torch.Tensor:
    """S^power for a symmetric PSD matrix; requires S ≻ 0 (numerically) for negative powers."""
    evals, evecs = sym_eig(S, rtol=None)
    if power < 0 and bool((evals <= rtol * evals[0].clamp_min(1e-300)).any()):
        raise RankError("matrix is singular: a negative power needs a positive-definite matrix (S ≻ 0)")
    return (evecs * evals.clamp_min(0) ** power) @ evecs.T


def principal_angles(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians, ascending) between the column spans of A and B."""
    qa, _ = torch.linalg.qr(as_f64(A))
    qb, _ = torch.linalg.qr(as_f64(B))
    s = torch.linalg.svdvals(qa.T @ qb).clamp(-1.0, 1.0)
    return torch.arccos(s).flip(0)


def top_eig_lanczos(
    apply: Callable[[torch.Tensor], torch.Tensor], dim: int, k: int, tol: float = 1e-12
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k eigenpairs (descending) of a symmetric operator given ``apply(B) = C @ B``, by
    implicitly restarted Lanczos (ARPACK through SciPy). Krylov methods handle the smooth,
    gap-free spectra of natural data far better than block subspace iteration."""
    import numpy as np
    from scipy.sparse.linalg import LinearOperator, eigsh

    def matvec(v: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64)).reshape(dim, -1)
        return apply(x).numpy().reshape(v.shape)

    op = LinearOperator((dim, dim), matvec=matvec, matmat=matvec, dtype=np.float64)
    vals, vecs = eigsh(op, k=k, which="LA", tol=tol, ncv=min(dim, max(2 * k + 1, 40)), v0=np.ones(dim))
    order = np.argsort(vals)[::-1]
    return torch.from_numpy(vals[order].copy()), torch.from_numpy(vecs[:, order].copy())


def chol_solve_left(L: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """L⁻¹ B for a lower-triangular Cholesky factor L (a block triangular solve)."""
    return torch.linalg.solve_triangular(L, B, upper=False)


def chol_solve_right(L: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """L⁻ᵀ B for a lower-triangular Cholesky factor L (a block triangular solve)."""
    return torch.linalg.solve_triangular(L.T, B, upper=True)


def _orthonormalise(W: torch.Tensor, Q: torch.Tensor | None) -> torch.Tensor:
    """Orthonormal basis of the part of W orthogonal to the orthonormal columns of Q
    (classical Gram–Schmidt applied twice, then a thin QR)."""
    if Q is not None:
        for _ in range(2):
            W = W - Q @ (Q.T @ W)
    return torch.linalg.qr(W)[0]


def top_eig_block(
    apply: Callable[[torch.Tensor], torch.Tensor],
    dim: int,
    k: int,
    tol: float = 1e-11,
    block: int | None = None,
    depth: int = 30,
    max_restarts: int = 40,
    check_from: int = 10,
    check_every: int = 3,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k eigenpairs (descending) of a symmetric PSD operator ``apply(B) = C @ B``, by
    thick-restarted block Krylov iteration with Rayleigh–Ritz (Golub & Van Loan, Matrix
    Computations, 4th ed., §10.3; Musco & Musco, NeurIPS 2015, for the block Krylov space).

    Each cycle builds K = span[U, C U, …, C^{depth−1} U] from a block U of ``block`` ≥ k
    vectors (k plus oversampling), every block orthogonalised against all previous ones
    (full reorthogonalisation), and restarts from the top ``block`` Ritz vectors of K. The
    Ritz pairs are checked after ``check_from`` blocks and then every ``check_every`` blocks.
    ``apply`` is only ever called on dim×block matrices, so an implicit operator (e.g.
    triangular solves with a Cholesky factor) runs at BLAS-3 speed instead of one vector at a
    time. Stops when every top-k residual ‖C u − θ u‖ ≤ tol·θ₁, which bounds the eigenvector
    error by tol·θ₁ / gap; raises RuntimeError after ``max_restarts`` cycles.
    """
    if not 1 <= k <= dim:
        raise ValueError(f"need 1 <= k <= dim, got k={k}, dim={dim}")
    b = min(dim, block if block is not None else max(k + 10, 2 * k))
    depth = min(depth, dim // (2 * b))
    if depth < 4:  # the Krylov space would be most of the space: dense is cheaper
        C = apply(torch.eye(dim, dtype=torch.float64))
        evals, evecs = sym_eig(C, rtol=None)
        return evals[:k], evecs[:, :k]
    g = torch.Generator().manual_seed(seed)
    U = _orthonormalise(torch.randn(dim, b, generator=g, dtype=torch.float64), None)
    CU = apply(U)
    width = b * depth
    Q = torch.empty(dim, width, dtype=torch.float64)  # basis, its image and H = Qᵀ C Q, filled block by block
    CQ = torch.empty(dim, width, dtype=torch.float64)
    H = torch.empty(width, width, dtype=torch.float64)
    for _ in range(max_restarts):
        Q[:, :b], CQ[:, :b] = U, CU
        H[:b, :b] = U.T @ CU
        for j in range(1, depth):
            s, e = j * b, (j + 1) * b
            Q[:, s:e] = _orthonormalise(CQ[:, s - b : s], Q[:, :s])
            CQ[:, s:e] = apply(Q[:, s:e])
            H[:e, s:e] = Q[:, :e].T @ CQ[:, s:e]
            H[s:e, :s] = H[:s, s:e].T
            if j < depth - 1 and (j < check_from or (j - check_from) % check_every):
                continue
            theta, Y = torch.linalg.eigh(0.5 * (H[:e, :e] + H[:e, :e].T))
            theta, Y = theta.flip(0)[:b], Y.flip(1)[:, :b]
            U, CU = Q[:, :e] @ Y, CQ[:, :e] @ Y
            resid = (CU[:, :k] - U[:, :k] * theta[:k]).norm(dim=0)
            if bool((resid <= tol * theta[0].abs().clamp_min(1e-300)).all()):
                return theta[:k], U[:, :k]
        # restart from the top Ritz block, re-orthonormalised (Ritz vectors drift slowly)
        U, R = torch.linalg.qr(U)
        CU = torch.linalg.solve_triangular(R, CU, upper=True, left=False)
    raise RuntimeError(f"block Krylov did not converge to tol={tol} in {max_restarts} restarts")
