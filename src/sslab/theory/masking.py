"""Masking vs plain reconstruction in the linear model (Balestriero & LeCun 2024, Thm 3 and
Fig. 7; ``docs/theory/balestriero-lecun-2024-reconstruction.md``).

For masking with keep probability q and patch (a, b) on centred data, S Xᵀ = q Σ and
G = Σ ⊙ Q (see :mod:`sslab.views.masking`), so Thm 3 needs only Σ = X Xᵀ: the optimal
encoder spans the top-K solutions of q² Σ² v = μ G v. The paper's Fig. 7 measures an encoder by

    alignment(k) = min_W ‖WᵀV_kᵀX − Y‖²_F          (a residual: smaller is better)

and plots the relative difference against plain reconstruction (p = 0, i.e. PCA), positive when
masking helps:

    Δ_align = (alignment_plain − alignment_mask) / alignment_plain = (err_plain − err_mask) / err_plain

with err = alignment / ‖Y‖²_F (:func:`supervised_error_curve`; the normalisation cancels).
``delta_sqrt`` keeps the variant this module used before, (√(1 − err_mask) − √(1 − err_plain)) /
√(1 − err_plain); it has the same sign in every cell, and the docs page gives its measured gap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from sslab.progress import track
from sslab.theory.linalg import generalized_top_eig
from sslab.theory.reconstruction import supervised_error_curve
from sslab.views.masking import PatchMask

PROBS_DEFAULT = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99)


@dataclass
class MaskingSweep:
    patches: list[tuple[int, int]]
    drop_probs: list[float]
    ks: list[int]
    err: torch.Tensor  # (patch, prob, k) relative supervised error
    err_plain: torch.Tensor  # (k,)

    @property
    def delta_align(self) -> torch.Tensor:
        """The paper's relative alignment difference (> 0: masking lowers the supervised residual)."""
        return (self.err_plain - self.err) / self.err_plain

    @property
    def delta_sqrt(self) -> torch.Tensor:
        """The earlier square-root variant (same sign as ``delta_align``)."""
        a, a0 = (1 - self.err).sqrt(), (1 - self.err_plain).sqrt()
        return (a - a0) / a0


def masked_encoder(sigma: torch.Tensor, view: PatchMask, k: int) -> torch.Tensor:
    """Thm 3 encoder V (D×k) for the masking view, from Σ = X Xᵀ alone (S Xᵀ = qΣ)."""
    _, V = generalized_top_eig(view.keep * sigma, view.apply_to_gram(sigma), k)
    return V


def masking_sweep(
    sigma: torch.Tensor,
    xyt: torch.Tensor,
    yy: float,
    image_shape: tuple[int, int, int],
    patches: Sequence[tuple[int, int]],
    drop_probs: Sequence[float],
    ks: Sequence[int],
) -> MaskingSweep:
    """err(k) for every (patch, drop probability, k); p = 0 is plain reconstruction."""
    sigma = sigma.double()
    k_max = max(ks)
    idx = torch.as_tensor([k - 1 for k in ks])
    plain = supervised_error_curve(masked_encoder(sigma, PatchMask(image_shape, 0.0), k_max), sigma, xyt, yy)[idx]
    err = torch.empty(len(patches), len(drop_probs), len(ks), dtype=torch.float64)
    cells = [(i, j) for i in range(len(patches)) for j in range(len(drop_probs))]
    for i, j in track(cells, "masking sweep"):
        p = drop_probs[j]
        if p == 0.0:
            err[i, j] = plain
            continue
        V = masked_encoder(sigma, PatchMask(image_shape, p, patches[i]), k_max)
        err[i, j] = supervised_error_curve(V, sigma, xyt, yy)[idx]
    return MaskingSweep(list(patches), list(drop_probs), list(ks), err, plain)
