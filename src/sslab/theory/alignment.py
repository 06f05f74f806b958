"""Alignment between reconstruction and a supervised task (Balestriero & LeCun 2024, Cor. 1.2;
``docs/theory/balestriero-lecun-2024-reconstruction.md``).

    alignment(k) = ‖YᵀY P_{:,1:k}‖²_F / ‖YᵀY P‖²_F

P holds the right singular vectors of X (eigenvectors of Xᵀ X), sorted by decreasing
singular value. ``normalization="thin"`` (primary) sums the denominator over the r kept
directions, so the curve reaches 1 at k = rank; ``"full"`` divides by ‖YᵀY‖²_F.

Computed without any N×N matrix: ‖YᵀY p_j‖² = (Y p_j)ᵀ (Y Yᵀ)(Y p_j) and
Y p_j = Y Xᵀ u_j / s_j. Nothing is clamped: in exact arithmetic the curve lies in [0, 1] and
never decreases, so a value outside (beyond rounding) is a numerical error for the caller to
report, not something to hide.
"""

from __future__ import annotations

from typing import Literal

import torch

from sslab.theory.linalg import as_f64, thin_svd


def alignment_curve(
    X: torch.Tensor,
    Y: torch.Tensor,
    k_max: int | None = None,
    normalization: Literal["thin", "full"] = "thin",
    rtol: float = 1e-10,
) -> torch.Tensor:
    """alignment(k) for k = 1..k_max (default: rank of X); in [0, 1] and non-decreasing up to
    rounding (unclamped). Returns zeros if Y has no component in the row space of X (0/0 taken as 0).
    """
    X, Y = as_f64(X), as_f64(Y)
    svd = thin_svd(X, rtol)
    YP = (Y @ X.T @ svd.U) / svd.s  # C×r, column j = Y p_j
    yyt = Y @ Y.T
    per_dir = ((yyt @ YP) * YP).sum(dim=0)  # ‖YᵀY p_j‖²
    if normalization == "thin":
        denom = per_dir.sum()
    elif normalization == "full":
        denom = yyt.pow(2).sum()
    else:
        raise ValueError(f"normalization must be 'thin' or 'full', got {normalization!r}")
    k_max = svd.rank if k_max is None else min(int(k_max), svd.rank)
    num = per_dir.cumsum(0)[:k_max]
    if denom <= 0:
        return torch.zeros(k_max, dtype=torch.float64)
    return num / denom
