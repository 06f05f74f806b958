"""The one symmetric eigen / thin-SVD helper every closed form in sslab uses.

All work is in float64. Rank deficiency is handled by keeping only eigen-directions whose
eigenvalue exceeds ``rtol · λ_max`` (the dropped directions carry no data and yield
identically zero features). The thin SVD of X (D×N) is taken through whichever Gram
matrix is smaller, so an N×N matrix is never formed when D < N.
"""

from __future__ import annotations

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
