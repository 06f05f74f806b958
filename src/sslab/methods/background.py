"""Methods trained on packed (foreground, background) tensors with background-perturbing views.

Reconstruction with views (Van Assel et al. 2025, §3: min ‖x − D(E(x′))‖² with x′ an augmented
view of x): :class:`ViewTargetMAE` masks and encodes the view x′ (background perturbed with
probability α, :class:`sslab.views.background.BackgroundViews`) and scores the MAE decoder on the
masked patches of the clean composite x. Masks are drawn before the view, so at α = 0 the run is
the plain MAE run on the composites, step for step.

Joint embedding with views: SimCLR whose two views are each background-perturbed, then cropped
and jittered by SimCLR's own :class:`sslab.methods.Augment`; and latent prediction
(:class:`ViewTargetLatent`), whose context encoder sees the background-perturbed view x′ while the
EMA target encoder sees the clean composite x, so the predictor regresses x's target-block latents
from x′'s context (the joint-embedding analogue of :class:`ViewTargetMAE`). At α = 0 the view is
x and draws no random numbers, so the run is the plain latent-prediction run, step for step.
"""

from __future__ import annotations

import torch
from torch import nn

from sslab.data.patches import patchify
from sslab.errors import ConfigError
from sslab.methods.latent import LatentPrediction
from sslab.methods.losses import masked_patch_mse
from sslab.methods.mae import MAE
from sslab.methods.simclr import SimCLR
from sslab.models.vit import ViTConfig
from sslab.views.augment import Augment
from sslab.views.background import BackgroundViews, then
from sslab.views.token_masks import random_masking

BACKGROUND_METHODS = ("mae", "simclr", "latent")


class ViewTargetMAE(nn.Module):
    def __init__(self, mae: nn.Module, views: BackgroundViews) -> None:
        super().__init__()
        self.mae = mae
        self.encoder = mae.encoder
        self.views = views

    def forward(self, packed: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        m = self.mae
        b, n = packed.shape[0], m.vit.num_patches
        ids_keep, mask, ids_restore = random_masking(b, n, m.mask_ratio, generator, packed.device)
        x_view = self.views(packed, generator)
        tokens = m.encoder(x_view, ids_keep)
        pred = m.decoder(tokens, ids_restore)
        scored = mask if m.mask_ratio > 0 else torch.ones_like(mask)  # ratio 0: plain autoencoding, as MAE
        loss = masked_patch_mse(pred, patchify(self.views.clean(packed), m.vit.patch), scored, m.norm_pix_loss)
        return {"loss": loss, "recon_loss": loss, "embedding": m.encoder.pool(tokens)}


class ViewTargetLatent(nn.Module):
    def __init__(self, latent: nn.Module, views: BackgroundViews) -> None:
        super().__init__()
        self.latent = latent
        self.encoder = latent.encoder
        self.views = views

    def forward(self, packed: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        return self.latent(self.views(packed, generator), generator, target_x=self.views.clean(packed))

    def after_step(self, step: int, total_steps: int) -> None:
        self.latent.after_step(step, total_steps)


def build_background_method(name: str, vit: ViTConfig, views: BackgroundViews, **kwargs) -> nn.Module:
    """``mae`` → :class:`ViewTargetMAE`; ``simclr`` → SimCLR with views ``augment ∘ background``;
    ``latent`` → :class:`ViewTargetLatent`. The model trains on packed (foreground, background)
    tensors (:func:`sslab.views.background.pack`)."""
    if name == "mae":
        return ViewTargetMAE(MAE(vit, **kwargs), views)
    if name == "latent":
        return ViewTargetLatent(LatentPrediction(vit, **kwargs), views)
    if name == "simclr":
        return SimCLR(vit, augment=then(views, Augment()), **kwargs)
    raise ConfigError(f"background views are implemented for {', '.join(BACKGROUND_METHODS)}, not {name!r}")
