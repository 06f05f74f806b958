"""Masking as a graph (Zhang, Wang & Wang, NeurIPS 2022, Sec. 3-4; ``docs/theory/zhang-2022-mask-graph.md``).

Masked-view distances (Fig. 3). A mask of ratio ρ hides ρ of the patches; the distance of
two images "under masking" is not pinned down by the paper, so three conventions are offered:

* ``same``: one mask for both images, distance over the visible pixels ‖m ⊙ (a − b)‖;
* ``independent``: independent masks, hidden pixels set to 0, ‖m_a ⊙ a − m_b ⊙ b‖;
* ``min``: the minimum of the independent distance over ``draws`` mask pairs — "does a close
  pair of views exist", which is what an edge of the augmentation graph means.

Distances of sampled pairs are computed in batches from row-wise inner products
(‖a‖² + ‖b‖² − 2⟨a, b⟩), never with a Python loop over pairs.

Augmentation graph (Sec. 4). From T draws (anchor x̄_r, mask m_r) we get visible views
u_r = m_r ⊙ x̄_r and masked views v_r = (1 − m_r) ⊙ x̄_r. The edge weight
w(u, v) = E_x̄[A₁(u|x̄) A₂(v|x̄)] is estimated with a k-nearest-neighbour kernel (k(a, b) = 1 when one view is among the
other's 7 nearest views, a choice fixed in advance; Gaussian kernels are near-uniform on
these 64-dimensional views): W = K₁ K₂ᵀ / T, K₁ = k(u_s, u_r), K₂ = k(v_t, v_r): the number of draws whose two views are
close to u and to v. The normalised
Ā = D_row^{-1/2} W D_col^{-1/2}; the Laplacian of the bipartite graph, I − [[0, Ā], [Āᵀ, 0]],
has eigenvalues 1 ± σ_i(Ā), so its (k+1)-th smallest is λ_{k+1} = 1 − σ_{k+1}(Ā). The
labelling error α = Σ w(u_s, v_t) 1[y_s ≠ y_t] / Σ w. Thm 4.4 bounds the downstream error by
O(√(2α) / λ_{k+1}). Thm 4.1: MAE ≡ min ‖Ā − U Vᵀ‖²_F, solved by the truncated SVD.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from sslab.data.patches import patchify
from sslab.views.token_masks import visible_mask

Mode = Literal["same", "independent", "min"]


def patch_masks(batch: int, num_patches: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """(B, L) keep-masks (1 = visible) hiding round(ρ·L) patches uniformly at random."""
    return visible_mask(batch, num_patches, round(ratio * num_patches), generator).float()


def pair_distances(
    a: torch.Tensor, b: torch.Tensor, ratio: float, mode: Mode, generator: torch.Generator, draws: int = 8
) -> torch.Tensor:
    """Distances of the pairs (a_i, b_i); a, b are patch tokens (B, L, P)."""
    bsz, n, _ = a.shape

    def masked_dist(ma: torch.Tensor, mb: torch.Tensor) -> torch.Tensor:
        xa, xb = a * ma.unsqueeze(-1), b * mb.unsqueeze(-1)
        sq = xa.pow(2).sum((1, 2)) + xb.pow(2).sum((1, 2)) - 2 * (xa * xb).sum((1, 2))
        return sq.clamp_min(0).sqrt()

    if mode == "same":
        m = patch_masks(bsz, n, ratio, generator)
        return masked_dist(m, m)
    if mode == "independent":
        return masked_dist(patch_masks(bsz, n, ratio, generator), patch_masks(bsz, n, ratio, generator))
    if mode == "min":
        out = torch.full((bsz,), math.inf)
        for _ in range(draws):
            d = masked_dist(patch_masks(bsz, n, ratio, generator), patch_masks(bsz, n, ratio, generator))
            out = torch.minimum(out, d)
        return out
    raise ValueError(f"mode must be same/independent/min, got {mode!r}")


def sample_pairs(labels: torch.Tensor, count: int, kind: str, generator: torch.Generator) -> torch.Tensor:
    """(count, 2) index pairs: ``intra`` (same label), ``inter`` (different), ``all`` (any, i ≠ j)."""
    n = labels.numel()
    out, have = [], 0
    while have < count:
        i = torch.randint(0, n, (2 * count,), generator=generator)
        j = torch.randint(0, n, (2 * count,), generator=generator)
        keep = i != j
        if kind == "intra":
            keep &= labels[i] == labels[j]
        elif kind == "inter":
            keep &= labels[i] != labels[j]
        pairs = torch.stack([i[keep], j[keep]], 1)
        out.append(pairs)
        have += pairs.shape[0]
    return torch.cat(out)[:count]


@dataclass
class DistanceStats:
    mean: float
    ci95: float  # half-width of the 95% normal interval of the mean


def masked_distance_stats(
    images: torch.Tensor,
    labels: torch.Tensor,
    ratio: float,
    patch: int,
    mode: Mode,
    pairs: int,
    generator: torch.Generator,
    batch: int = 4096,
    draws: int = 8,
) -> dict[str, DistanceStats]:
    """Mean distance (with CI) of intra-class, inter-class and all pairs, streaming in batches."""
    out: dict[str, DistanceStats] = {}
    for kind in ("intra", "inter", "all"):
        idx = sample_pairs(labels, pairs, kind, generator)
        s, s2 = 0.0, 0.0
        for start in range(0, pairs, batch):
            chunk = idx[start : start + batch]
            a = patchify(images[chunk[:, 0]].float(), patch)
            b = patchify(images[chunk[:, 1]].float(), patch)
            d = pair_distances(a, b, ratio, mode, generator, draws).double()
            s += float(d.sum())
            s2 += float(d.pow(2).sum())
        mean = s / pairs
        var = max(s2 / pairs - mean**2, 0.0)
        out[kind] = DistanceStats(mean, 1.96 * math.sqrt(var / pairs))
    return out


def ratio_ci(intra: DistanceStats, inter: DistanceStats) -> tuple[float, float]:
    """intra/inter and its delta-method 95% half-width (the two samples are independent)."""
    r = intra.mean / inter.mean
    rel = math.hypot(intra.ci95 / intra.mean, inter.ci95 / inter.mean)
    return r, r * rel


@dataclass
class GraphSpectrum:
    singular_values: torch.Tensor  # of Ā, descending
    lambda_k1: float  # (k+1)-th smallest Laplacian eigenvalue, 1 − σ_{k+1}
    label_error: float  # α
    abar: torch.Tensor


def augmentation_graph(
    images: torch.Tensor,
    labels: torch.Tensor,
    ratio: float,
    patch: int,
    views: int,
    num_classes: int,
    generator: torch.Generator,
    neighbours: int = 7,
) -> GraphSpectrum:
    """Estimate the bipartite augmentation graph of Sec. 4 from ``views`` random (anchor, mask) draws."""
    n = images.shape[0]
    anchors = torch.randint(0, n, (views,), generator=generator)
    tokens = patchify(images[anchors].double(), patch)
    keep = patch_masks(views, tokens.shape[1], ratio, generator).double().unsqueeze(-1)
    vis = (tokens * keep).flatten(1)
    hid = (tokens * (1 - keep)).flatten(1)

    def kernel(x: torch.Tensor) -> torch.Tensor:
        """Symmetric k-nearest-neighbour adjacency (self included): 1 where a view is among the
        other's ``neighbours`` closest views."""
        d = torch.cdist(x, x)
        idx = d.topk(min(neighbours + 1, d.shape[0]), dim=1, largest=False).indices
        K = torch.zeros_like(d).scatter_(1, idx, 1.0)
        return torch.maximum(K, K.T)

    W = kernel(vis) @ kernel(hid).T / views
    y = labels[anchors]
    alpha = float((W * (y[:, None] != y[None, :])).sum() / W.sum())
    abar = W / W.sum(1, keepdim=True).sqrt() / W.sum(0, keepdim=True).sqrt()
    sv = torch.linalg.svdvals(abar)
    return GraphSpectrum(sv, float(1 - sv[num_classes]), alpha, abar)


def asymmetric_factorization(abar: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Thm 4.1 / Eckart–Young: argmin ‖Ā − U Vᵀ‖²_F over rank-k U Vᵀ; returns U, V, optimum."""
    Um, s, Vh = torch.linalg.svd(abar)
    U = Um[:, :k] * s[:k].sqrt()
    V = Vh[:k].T * s[:k].sqrt()
    return U, V, float(s[k:].pow(2).sum())
