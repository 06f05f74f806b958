"""Additive Gaussian noise: x' = x + σ ε, ε ~ N(0, I).

Exact moments (docs/theory/balestriero-lecun-2024-reconstruction.md, "Formulas"): S = X, G = X Xᵀ + N σ² I.
"""

from __future__ import annotations

import torch

from sslab.errors import ConfigError
from sslab.views.base import View


class GaussianNoise(View):
    def __init__(self, image_shape: tuple[int, int, int], sigma: float) -> None:
        super().__init__(image_shape)
        if not sigma >= 0:
            raise ConfigError(f"noise sigma must be >= 0, got {sigma}")
        self.sigma = float(sigma)

    def sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        self._check(x)
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
        return x + self.sigma * eps

    def moments(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_matrix(X)
        X = X.double()
        n = X.shape[1]
        G = X @ X.T
        G.diagonal().add_(n * self.sigma**2)
        return X.clone(), G
