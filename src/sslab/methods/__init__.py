"""SSL methods: each is views + model parts + a pure loss; ``forward(x, generator) -> dict``
with at least ``loss`` and ``embedding``. :func:`build_method` makes one by name."""

from __future__ import annotations

from typing import Any

from torch import nn

from sslab.errors import ConfigError
from sslab.methods.augment import Augment
from sslab.methods.latent import LatentPrediction
from sslab.methods.mae import MAE, UMAE_FORM, UMAE_WEIGHT
from sslab.methods.simclr import SimCLR
from sslab.models.vit import ViTConfig

METHODS = ("mae", "umae", "simclr", "latent")


def build_method(name: str, vit: ViTConfig, **kwargs: Any) -> nn.Module:
    """``mae`` / ``umae`` (MAE with ``uniformity_weight``, default :data:`UMAE_WEIGHT`) /
    ``simclr`` / ``latent``."""
    if name == "mae":
        return MAE(vit, **kwargs)
    if name == "umae":
        kwargs.setdefault("uniformity_weight", UMAE_WEIGHT)
        return MAE(vit, **kwargs)
    if name == "simclr":
        return SimCLR(vit, **kwargs)
    if name == "latent":
        return LatentPrediction(vit, **kwargs)
    raise ConfigError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")


__all__ = ["MAE", "METHODS", "UMAE_FORM", "UMAE_WEIGHT", "Augment", "LatentPrediction", "SimCLR", "build_method"]
