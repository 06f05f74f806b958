"""Frozen-feature extraction: the encoder's pooled representation of full, unmasked images."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def extract_features(encoder: nn.Module, images: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    feats = [
        encoder.features(images[i : i + batch_size].to(device)).float().cpu()
        for i in range(0, images.shape[0], batch_size)
    ]
    encoder.train(was_training)
    return torch.cat(feats)
