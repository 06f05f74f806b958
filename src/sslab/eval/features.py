"""Frozen-feature extraction: the encoder's pooled representation of full, unmasked images."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


@torch.no_grad()
def extract_features(encoder: nn.Module, images: Any, batch_size: int = 512) -> torch.Tensor:
    """(N, D) features of an (N, C, H, W) tensor, or of streamed images
    (:class:`sslab.data.lazy.LazyImages`: decoded by DataLoader workers, on their ``device``)."""
    if not isinstance(images, torch.Tensor):
        device = torch.device(images.device)
        model = encoder if next(encoder.parameters()).device == device else copy.deepcopy(encoder).to(device)
        batches = images.chunks(batch_size)
    else:
        model, batches = encoder, (images[i : i + batch_size] for i in range(0, images.shape[0], batch_size))
        device = next(encoder.parameters()).device
    was_training = model.training
    model.eval()
    feats = [model.features(x.to(device)).float().cpu() for x in batches]
    model.train(was_training)
    return torch.cat(feats)
