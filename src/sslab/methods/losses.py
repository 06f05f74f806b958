"""Loss functions as pure functions of tensors (no modules, no state).

* :func:`masked_patch_mse` — MAE (He et al. 2022): mean over masked patches of the per-patch
  mean squared error; with ``norm_pix`` the target patch is standardised first, with the
  *unbiased* variance as in the official code (models_mae.py, ``forward_loss``).
* :func:`gram_squared_mean` — U-MAE's uniformity term as the authors' code computes it
  (zhangq327/U-MAE, loss_func.py ``uniformity_loss``): mean over all B² pairs, diagonal
  included, of (f̂_iᵀ f̂_j)² for L2-normalised features; *added* with weight λ.
* :func:`mean_pairwise_sq_distance` — U-MAE's uniformity term as the paper writes it
  (Zhang et al. 2022, eq. 9): E_{i≠j} ‖f̂_i − f̂_j‖²; *subtracted* with weight λ.
  For unit vectors ‖a − b‖² = 2 − 2 aᵀb, so it equals 2 − 2·mean off-diagonal cosine.
* :func:`nt_xent` — SimCLR's normalised-temperature cross-entropy (Chen et al. 2020):
  for 2B embeddings, ℓ_i = −log exp(s_{i,p(i)}/τ) / Σ_{j≠i} exp(s_{ij}/τ), mean over i;
  τ defaults to :data:`SIMCLR_TEMPERATURE`.
* :func:`latent_regression` — latent prediction (I-JEPA, Assran et al. 2023): smooth-L1
  (Huber, β = 1, as ``F.smooth_l1_loss`` in ijepa src/train.py) or squared error, mean over all
  entries, between predicted and (layer-normed, stop-gradient) target embeddings.
* :func:`effective_rank` — exp of the entropy of the normalised singular values (Roy &
  Vetterli 2007); a collapse diagnostic.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_patch_mse(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, norm_pix: bool = False, eps: float = 1e-6
) -> torch.Tensor:
    """pred, target (B, L, P); mask (B, L) with 1 = masked (the patches scored)."""
    if norm_pix:
        mean = target.mean(dim=-1, keepdim=True)
        var = target.var(dim=-1, keepdim=True)  # unbiased (÷ P−1), as the official MAE
        target = (target - mean) / (var + eps).sqrt()
    per_patch = (pred - target).pow(2).mean(dim=-1)
    return (per_patch * mask).sum() / mask.sum().clamp_min(1.0)


def mean_pairwise_sq_distance(z: torch.Tensor) -> torch.Tensor:
    """E_{i≠j} ‖ẑ_i − ẑ_j‖² of L2-normalised rows of z (B, d), B ≥ 2. In [0, 4]."""
    b = z.shape[0]
    if b < 2:
        raise ValueError("the uniformity term needs a batch of at least 2")
    zn = F.normalize(z, dim=-1)
    total = zn.sum(dim=0)
    off_diag_cos = (total @ total - b) / (b * (b - 1))  # Σ_{i≠j} ẑ_iᵀẑ_j / (B(B−1))
    return 2.0 - 2.0 * off_diag_cos


def gram_squared_mean(z: torch.Tensor) -> torch.Tensor:
    """mean_{i,j} (ẑ_iᵀ ẑ_j)² over all B² pairs of L2-normalised rows of z (B, d)."""
    zn = F.normalize(z, dim=-1)
    return (zn @ zn.T).pow(2).mean()


SIMCLR_TEMPERATURE = 0.5
"""NT-Xent τ for small images: SimCLR's CIFAR-10 setting (Chen et al. 2020, Appendix B.9, τ = 0.5)
and lightly's ``NTXentLoss`` default; the ImageNet setting is 0.1. Experiments choose τ on the
validation split and record the choice."""


def nt_xent(
    z1: torch.Tensor,
    z2: torch.Tensor,
    temperature: float = SIMCLR_TEMPERATURE,
    anchors: torch.Tensor | None = None,
) -> torch.Tensor:
    """SimCLR loss for positive pairs (z1[i], z2[i]), i = 1..B; all other 2B − 2 are negatives.

    ``anchors`` (indices into the 2B rows of [z1; z2]) averages ℓ_i over those rows only; under
    data parallelism each rank scores its own rows against the gathered batch, and the mean
    over ranks is the full loss.
    """
    if z1.shape != z2.shape:
        raise ValueError(f"views must have equal shapes, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    rows = torch.arange(2 * b, device=z.device) if anchors is None else anchors.to(z.device)
    logits = z[rows] @ z.T / temperature
    self_pair = rows.unsqueeze(1) == torch.arange(2 * b, device=z.device).unsqueeze(0)
    logits = logits.masked_fill(self_pair, float("-inf"))
    return F.cross_entropy(logits, (rows + b) % (2 * b))


def latent_regression(pred: torch.Tensor, target: torch.Tensor, kind: str = "smooth_l1") -> torch.Tensor:
    """mean_i ℓ(pred_i − target_i), ℓ(d) = d²/2 for |d| < 1 else |d| − 1/2 (``smooth_l1``) or d² (``mse``)."""
    if kind == "mse":
        return (pred - target.detach()).pow(2).mean()
    return F.smooth_l1_loss(pred, target.detach())


def effective_rank(z: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """exp of the entropy of the normalised singular values of the centred rows (Roy & Vetterli
    2007); NaN when ``z`` has a non-finite entry (the SVD of such a matrix does not converge)."""
    if not bool(torch.isfinite(z).all()):
        return torch.tensor(float("nan"))
    s = torch.linalg.svdvals(z.float() - z.float().mean(dim=0, keepdim=True))
    p = s / s.sum().clamp_min(eps)
    return torch.exp(-(p * (p + eps).log()).sum())
