"""Geometric views: horizontal flips (exact moments) and random translations (Monte Carlo).

Flip with probability p: x' = F x with prob. p, else x (F reverses the width axis), so
S = (1−p) X + p F X and G = (1−p) X Xᵀ + p F X Xᵀ Fᵀ.
Random translation: shift by (dy, dx) uniform in [−s, s]², zero fill — linear in x for a
fixed shift, but its moments are left to :func:`~sslab.views.base.monte_carlo_moments`.
"""

from __future__ import annotations

import torch

from sslab.errors import ConfigError
from sslab.views.base import View


class HorizontalFlip(View):
    def __init__(self, image_shape: tuple[int, int, int], prob: float = 0.5) -> None:
        super().__init__(image_shape)
        if not 0.0 <= prob <= 1.0:
            raise ConfigError(f"flip probability must be in [0, 1], got {prob}")
        self.prob = float(prob)

    def sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        self._check(x)
        flip = torch.rand((x.shape[0], 1, 1, 1), generator=generator, device=x.device) < self.prob
        return torch.where(flip, x.flip(-1), x)

    def _flip_rows(self, X: torch.Tensor) -> torch.Tensor:
        n = X.shape[-1]
        return X.reshape(*self.image_shape, n).flip(2).reshape(self.dim, n)

    def moments(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._check_matrix(X)
        X = X.double()
        FX = self._flip_rows(X)
        p = self.prob
        return (1 - p) * X + p * FX, (1 - p) * (X @ X.T) + p * (FX @ FX.T)


class RandomTranslate(View):
    def __init__(self, image_shape: tuple[int, int, int], max_shift: int = 1) -> None:
        super().__init__(image_shape)
        if max_shift < 0:
            raise ConfigError(f"max_shift must be >= 0, got {max_shift}")
        self.max_shift = int(max_shift)

    def sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        self._check(x)
        s = self.max_shift
        if s == 0:
            return x.clone()
        b, _, h, w = x.shape
        padded = torch.nn.functional.pad(x, (s, s, s, s))
        shifts = torch.randint(0, 2 * s + 1, (b, 2), generator=generator)
        rows = (shifts[:, 0, None] + torch.arange(h)).to(x.device)
        cols = (shifts[:, 1, None] + torch.arange(w)).to(x.device)
        bi = torch.arange(b, device=x.device)[:, None, None]
        out = padded.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]]
        return out.permute(0, 3, 1, 2).contiguous()
