"""SimCLR (Chen et al. 2020): views = two random augmentations of each image; parts = ViT
encoder + MLP projector; loss = NT-Xent over the batch (all other views are negatives), with
temperature τ = ``temperature`` (default :data:`~sslab.methods.losses.SIMCLR_TEMPERATURE` = 0.5,
the CIFAR-10 setting of the SimCLR paper and lightly's default; 0.1 is its ImageNet setting).

Views: from a batch of images (B, C, H, W), two draws of the batched tensor augmentation
``augment`` with the step's generator; a batch of view pairs (B, 2, C, H, W) — what a streaming
source gives, each pair drawn per sample in a DataLoader worker
(:class:`sslab.data.streaming.ViewPairs`) — is used as it is.

Data parallel: the projector's BatchNorm uses global-batch statistics and the negatives are
the projections gathered from every rank, so W processes optimise the single-process loss."""

from __future__ import annotations

import torch
from torch import nn

from sslab.distributed import GlobalBatchNorm1d, gather_rows, global_rows
from sslab.errors import ConfigError
from sslab.methods.losses import SIMCLR_TEMPERATURE, mean_pairwise_sq_distance, nt_xent
from sslab.models.vit import ViTConfig, ViTEncoder
from sslab.views.augment import Augment


class SimCLR(nn.Module):
    def __init__(
        self,
        vit: ViTConfig,
        proj_dim: int = 64,
        temperature: float = SIMCLR_TEMPERATURE,
        augment: Augment | None = None,
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ConfigError(f"SimCLR temperature must be > 0, got {temperature}")
        self.vit = vit
        self.temperature = temperature
        self.augment = augment or Augment()
        self.encoder = ViTEncoder(vit)
        self.projector = nn.Sequential(
            nn.Linear(vit.dim, vit.dim), GlobalBatchNorm1d(vit.dim), nn.ReLU(), nn.Linear(vit.dim, proj_dim)
        )

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        if x.ndim == 5:  # (B, 2, C, H, W): two views drawn per sample by the data loader
            v1, v2 = x[:, 0], x[:, 1]
        else:
            v1, v2 = self.augment(x, generator), self.augment(x, generator)
        h = self.encoder.features(torch.cat([v1, v2]))
        z = self.projector(h)
        b = x.shape[0]
        start, total = global_rows(b)
        mine = torch.arange(start, start + b, device=z.device)
        anchors = torch.cat([mine, mine + total])
        loss = nt_xent(gather_rows(z[:b]), gather_rows(z[b:]), self.temperature, anchors)
        return {"loss": loss, "nt_xent": loss, "embedding": h[:b], "uniformity": mean_pairwise_sq_distance(h[:b])}
