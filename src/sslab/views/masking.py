"""Patch masking (and its (1, 1) special case, dropout).

Every patch of shape (a, b) of an H×W image is dropped (set to 0, the mean of centred data)
independently with probability p, the same decision for all channels of the patch;
q = 1 − p is the keep probability. No rescaling by 1/q (the theory's convention).

Exact moments (docs/theory/balestriero-lecun-2024-reconstruction.md, "Formulas"):
S = q X and G = (X Xᵀ) ⊙ Q with Q_ij = q when pixels i, j lie in the same patch (any channel) and q² otherwise.
"""

from __future__ import annotations

import torch

from sslab.data.patches import check_patch_grid, patch_index_map
from sslab.errors import ConfigError
from sslab.views.base import View


class PatchMask(View):
    def __init__(
        self, image_shape: tuple[int, int, int], drop_prob: float, patch: tuple[int, int] = (1, 1)
    ) -> None:
        super().__init__(image_shape)
        if not 0.0 <= drop_prob < 1.0:
            raise ConfigError(f"drop probability must be in [0, 1), got {drop_prob}")
        self.patch = (int(patch[0]), int(patch[1]))
        _, h, w = self.image_shape
        self.grid = check_patch_grid(h, w, self.patch)
        self.drop_prob = float(drop_prob)

    @property
    def keep(self) -> float:
        return 1.0 - self.drop_prob

    def sample(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        self._check(x)
        b = x.shape[0]
        gh, gw = self.grid
        keep = torch.rand((b, 1, gh, gw), generator=generator, device=x.device) >= self.drop_prob
        a, c = self.patch
        mask = keep.repeat_interleave(a, dim=2).repeat_interleave(c, dim=3)
        return x * mask.to(x.dtype)

    def mask_matrix(self) -> torch.Tensor:
        """Q (D×D): q on same-patch pairs, q² elsewhere."""
        idx = patch_index_map(self.image_shape, self.patch)
        same = idx[:, None] == idx[None, :]
        q = self.keep
        return torch.where(same, torch.tensor(q, dtype=torch.float64), torch.tensor(q * q, dtype=torch.float64))

    def same_patch_pairs(self) -> torch.Tensor:
        """Flat indices i·D + j of the pixel pairs (i, j) in the same patch (D·C·a·b of the D²),
        computed once per view: Q differs from q² only there."""
        if getattr(self, "_same", None) is None:
            idx = patch_index_map(self.image_shape, self.patch)
            members = torch.argsort(idx, stable=True).view(-1, self.image_shape[0] * self.patch[0] * self.patch[1])
            self._same = (members[:, :, None] * self.dim + members[:, None, :]).reshape(-1)
        return self._same

    def moments(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """S = qX, G = (X Xᵀ) ⊙ Q: one GEMM with q² folded into its α, then the same-patch
        entries rescaled by 1/q (q > 0), without forming the D×D matrix Q."""
        self._check_matrix(X)
        X = X.double()
        q = self.keep
        G = torch.empty(self.dim, self.dim, dtype=X.dtype)
        torch.addmm(G, X, X.T, beta=0.0, alpha=q * q, out=G)  # β = 0: G's contents are ignored
        flat, same = G.view(-1), self.same_patch_pairs()
        flat[same] = flat[same] / q
        return q * X, G

    def apply_to_gram(self, sigma: torch.Tensor) -> torch.Tensor:
        """G = Σ ⊙ Q from a precomputed Gram matrix Σ = X Xᵀ (no pass over the data)."""
        q = self.keep
        G = sigma * (q * q)
        same = self.same_patch_pairs()
        G.view(-1)[same] = sigma.reshape(-1)[same] * q
        return G


class Dropout(PatchMask):
    """Pixel dropout: patch masking with patch (1, 1)."""

    def __init__(self, image_shape: tuple[int, int, int], drop_prob: float) -> None:
        super().__init__(image_shape, drop_prob, (1, 1))
