"""MAE and U-MAE: views = random patch masking; parts = ViT encoder (visible tokens only) +
MAE decoder; loss = masked-patch MSE (He et al. 2022), minus λ·uniformity for U-MAE
(Zhang et al. 2022, eq. 9) or plus λ·Gram² for the public-code variant.

Data parallel: masks are drawn for the global batch (each rank keeps its rows) and the
uniformity term is computed on embeddings gathered from every rank; the reconstruction term
is a per-rank mean over an equal number of masked patches, so its rank mean is the global one."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from sslab.data.patches import patchify
from sslab.distributed import gather_rows, global_rows
from sslab.errors import ConfigError
from sslab.methods.losses import gram_squared_mean, masked_patch_mse, mean_pairwise_sq_distance
from sslab.models.vit import MAEDecoder, ViTConfig, ViTEncoder, random_masking


class MAE(nn.Module):
    def __init__(
        self,
        vit: ViTConfig,
        mask_ratio: float = 0.75,
        norm_pix_loss: bool = False,
        uniformity_weight: float = 0.0,
        uniformity_form: Literal["eq9", "gram"] = "eq9",
        drop_masked: bool = True,
    ) -> None:
        super().__init__()
        if not 0.0 <= mask_ratio < 1.0:
            raise ConfigError(f"mask_ratio must be in [0, 1), got {mask_ratio}")
        if uniformity_weight < 0:
            raise ConfigError(f"uniformity_weight must be >= 0, got {uniformity_weight}")
        if uniformity_form not in ("eq9", "gram"):
            raise ConfigError(f"uniformity_form must be 'eq9' or 'gram', got {uniformity_form!r}")
        self.vit = vit
        self.mask_ratio = mask_ratio
        self.norm_pix_loss = norm_pix_loss
        self.uniformity_weight = uniformity_weight
        self.uniformity_form = uniformity_form
        self.drop_masked = drop_masked
        self.encoder = ViTEncoder(vit)
        self.decoder = MAEDecoder(vit)
        if not drop_masked:  # baseline for the benchmark: mask tokens go through the encoder
            self.enc_mask_token = nn.Parameter(torch.zeros(1, 1, vit.dim))

    def _encode_all_with_mask_tokens(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        enc = self.encoder
        enc.check_images(x)
        tok = enc.patch_embed(patchify(x, self.vit.patch))
        tok = torch.where(mask.bool().unsqueeze(-1), self.enc_mask_token.to(tok), tok) + enc.pos
        tok = torch.cat([enc.cls_token.expand(x.shape[0], -1, -1), tok], dim=1)
        for block in enc.blocks:
            tok = block(tok)
        return enc.norm(tok)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        b, n = x.shape[0], self.vit.num_patches
        start, total = global_rows(b)
        drawn = random_masking(total, n, self.mask_ratio, generator, x.device)
        ids_keep, mask, ids_restore = (t[start : start + b] for t in drawn)
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
        everyone = gather_rows(emb) if self.uniformity_weight else emb
        uniformity = mean_pairwise_sq_distance(everyone)
        out = {"recon_loss": recon, "uniformity": uniformity, "embedding": emb, "pred": pred, "mask": mask}
        if self.uniformity_weight == 0:
            out["loss"] = recon
        elif self.uniformity_form == "eq9":
            out["loss"] = recon - self.uniformity_weight * uniformity
        else:
            gram = gram_squared_mean(everyone)
            out["gram_uniformity"] = gram
            out["loss"] = recon + self.uniformity_weight * gram
        return out
