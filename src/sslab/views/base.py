"""The view interface and a generic Monte Carlo estimator of view moments.

A view maps a clean batch ``x`` (B, C, H, W) to a random view ``x'``. The linear theory
(Thm 3 of Balestriero & LeCun 2024; docs/theory/balestriero-lecun-2024-reconstruction.md,
"Formulas") needs only two moments of the view given the data matrix X ∈ R^{D×N}
(columns are samples, D = C·H·W flattened C-major):

    S = E[X']        (D×N)        G = E[X' X'ᵀ] = Σ_n E[x'_n x'_nᵀ]   (D×D)

Linear views (noise, masking, flips) have exact moments; others are estimated by
:func:`monte_carlo_moments`, whose error shrinks as 1/√draws.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from sslab.errors import ShapeError


class View(ABC):
    """A random view of C×H×W images."""

    def __init__(self, image_shape: tuple[int, int, int]) -> None:
        self.image_shape = tuple(int(v) for v in image_shape)

    @property
    def dim(self) -> int:
        c, h, w = self.image_shape
        return c * h * w

    def _check(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ShapeError(
                f"{type(self).__name__} expects images (B, {', '.join(map(str, self.image_shape))}), "
                f"got {tuple(x.shape)}"
            )

    @abstractmethod
    def sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One independent view of every image in the batch."""

    def moments(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact (S, G) for X of shape (D, N); views without a closed form raise."""
        raise NotImplementedError(f"{type(self).__name__} has no exact moments; use monte_carlo_moments")

    def _check_matrix(self, X: torch.Tensor) -> None:
        if X.ndim != 2 or X.shape[0] != self.dim:
            raise ShapeError(f"moments expect X of shape ({self.dim}, N), got {tuple(X.shape)}")


def monte_carlo_moments(
    view: View,
    X: torch.Tensor,
    draws: int,
    generator: torch.Generator | None = None,
    return_std: bool = False,
) -> tuple[torch.Tensor, ...]:
    """Estimate (S, G) of ``view`` on X (D, N) from ``draws`` independent views of every column.

    With ``return_std`` also return the per-entry standard errors of both estimates
    (sample std / √draws), which a caller can use as a tolerance.
    """
    view._check_matrix(X)
    X = X.double()
    d, n = X.shape
    images = X.T.reshape(n, *view.image_shape)
    s_sum = torch.zeros(d, n, dtype=torch.float64)
    s_sq = torch.zeros(d, n, dtype=torch.float64)
    g_sum = torch.zeros(d, d, dtype=torch.float64)
    g_sq = torch.zeros(d, d, dtype=torch.float64)
    for _ in range(draws):
        xv = view.sample(images, generator).reshape(n, d).T.double()
        s_sum += xv
        g = xv @ xv.T
        g_sum += g
        if return_std:
            s_sq += xv * xv
            g_sq += g * g
    S, G = s_sum / draws, g_sum / draws
    if not return_std:
        return S, G
    s_std = ((s_sq / draws - S * S).clamp_min(0) / max(draws - 1, 1)).sqrt()
    g_std = ((g_sq / draws - G * G).clamp_min(0) / max(draws - 1, 1)).sqrt()
    return S, G, s_std, g_std
