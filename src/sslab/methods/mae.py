"""MAE and U-MAE: views = random patch masking; parts = ViT encoder (visible tokens only) +
MAE decoder; loss = masked-patch MSE (He et al. 2022) plus U-MAE's uniformity term
(Zhang et al. 2022) with weight λ = ``uniformity_weight``.

U-MAE's default follows the authors' code (zhangq327/U-MAE: loss_func.py, engine_pretrain.py,
pretrain.sh): ``loss = recon + λ · mean_{i,j} (ẑ_iᵀ ẑ_j)²`` over all B² pairs of the
L2-normalised [cls] features of the masked views, λ = :data:`UMAE_WEIGHT` = 0.01. Their [cls]
feature is the encoder output passed once more through the encoder's final LayerNorm
(models_mae.py ``forward``: ``self.norm(latent)[:, 0]``, and ``latent`` is already normed);
``uniformity_feature="cls"`` does the same. ``uniformity_form="eq9"`` is the paper's eq. 9,
``loss = recon − λ · E_{i≠j} ‖ẑ_i − ẑ_j‖²`` (the paper's λ is 1e-3), and
``uniformity_feature="mean"`` uses the mean of the patch tokens instead of [cls].

Data parallel: masks are drawn for the global batch (each rank keeps its rows) and the
uniformity term is computed on features gathered from every rank, with a gather whose backward
sums over ranks, so W processes compute the single-process gradient. The official code's
``GatherLayer`` backward keeps only the local slice, which scales this term's gradient by
1/W under DDP's gradient averaging (its effective λ shrinks with the number of GPUs); sslab's
does not. The reconstruction term is a per-rank mean over an equal number of masked patches,
so its rank mean is the global one."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from sslab.data.patches import patchify
from sslab.distributed import gather_rows
from sslab.errors import ConfigError
from sslab.methods.losses import gram_squared_mean, masked_patch_mse, mean_pairwise_sq_distance
from sslab.models.vit import MAEDecoder, ViTConfig, ViTEncoder
from sslab.views.token_masks import kept_patches, random_masking

UMAE_WEIGHT = 0.01
"""U-MAE's λ: ``--lamb 0.01`` in the authors' pretrain.sh and PRETRAIN.md (zhangq327/U-MAE)."""
UMAE_FORM: Literal["gram", "eq9"] = "gram"
"""U-MAE's uniformity term: ``gram`` as in the authors' loss_func.py; ``eq9`` is the paper's."""


class MAE(nn.Module):
    def __init__(
        self,
        vit: ViTConfig,
        mask_ratio: float = 0.75,
        norm_pix_loss: bool = False,
        uniformity_weight: float = 0.0,
        uniformity_form: Literal["gram", "eq9"] = UMAE_FORM,
        uniformity_feature: Literal["cls", "mean"] = "cls",
        drop_masked: bool = True,
    ) -> None:
        super().__init__()
        kept_patches(vit.num_patches, mask_ratio)  # rejects ratios that keep no patch
        if uniformity_weight < 0:
            raise ConfigError(f"uniformity_weight must be >= 0, got {uniformity_weight}")
        if uniformity_form not in ("eq9", "gram"):
            raise ConfigError(f"uniformity_form must be 'gram' or 'eq9', got {uniformity_form!r}")
        if uniformity_feature not in ("cls", "mean"):
            raise ConfigError(f"uniformity_feature must be 'cls' or 'mean', got {uniformity_feature!r}")
        self.vit = vit
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        self.uniformity_weight = uniformity_weight
        self.uniformity_form = uniformity_form
        self.uniformity_feature = uniformity_feature
        self.drop_masked = drop_masked
        self.encoder = ViTEncoder(vit)
        self.decoder = MAEDecoder(vit)
        if not drop_masked:  # baseline for the benchmark: mask tokens go through the encoder
            self.enc_mask_token = nn.Parameter(torch.zeros(1, 1, vit.dim))

    def _encode_all_with_mask_tokens(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Benchmark baseline: every position goes through the encoder, masked ones as a learned token."""
        tok = self.encoder.embed(x)
        masked = self.enc_mask_token.to(tok) + self.encoder.pos
        return self.encoder.run(torch.where(mask.bool().unsqueeze(-1), masked, tok))

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        b, n = x.shape[0], self.vit.num_patches
        ids_keep, mask, ids_restore = random_masking(b, n, self.mask_ratio, generator, x.device)
        if self.drop_masked:
            tokens = self.encoder(x, ids_keep)
            pred = self.decoder(tokens, ids_restore)
        else:
            tokens = self._encode_all_with_mask_tokens(x, mask)
            identity = torch.arange(n, device=x.device).expand(b, n)
            pred = self.decoder(tokens, identity)
        target = patchify(x, self.vit.patch)
        # with mask ratio 0 there is nothing masked: score every patch (plain autoencoding)
        scored = mask if self.mask_ratio > 0 else torch.ones_like(mask)
        recon = masked_patch_mse(pred, target, scored, self.norm_pix_loss)
        emb = self.encoder.pool(tokens) if self.drop_masked else tokens[:, 1:].mean(1)
        out = {"recon_loss": recon, "uniformity": mean_pairwise_sq_distance(emb), "embedding": emb}
        out.update(pred=pred, mask=mask, loss=recon)
        if self.uniformity_weight:
            feat = self.encoder.norm(tokens[:, 0]) if self.uniformity_feature == "cls" else tokens[:, 1:].mean(1)
            term = uniformity_term(gather_rows(feat), self.uniformity_form)
            out["uniformity_term"] = term
            out["loss"] = recon + self.uniformity_weight * term
        return out


def uniformity_term(features: torch.Tensor, form: Literal["gram", "eq9"]) -> torch.Tensor:
    """The signed term U-MAE adds with weight λ: mean (ẑẑᵀ)² (``gram``) or −E_{i≠j}‖ẑ_i − ẑ_j‖² (``eq9``)."""
    return gram_squared_mean(features) if form == "gram" else -mean_pairwise_sq_distance(features)
