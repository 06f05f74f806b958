"""SSL methods: each is views + model parts + a pure loss; ``forward(x, generator) -> dict``
with at least ``loss`` and ``embedding``. :func:`build_method` makes one by name."""

from __future__ import annotations

from typing import Any

from torch import nn

from sslab.errors import ConfigError
from sslab.methods.latent import LatentPrediction
from sslab.methods.mae import MAE, UMAE_FORM, UMAE_WEIGHT
from sslab.methods.simclr import SimCLR
from sslab.models.vit import ViTConfig

METHODS = ("mae", "umae", "simclr", "latent")
RANDOM_MASKING = ("mae", "umae")
"""The methods whose view is MAE's random patch masking, hence that take a ``mask_ratio``."""


def build_method(name: str, vit: ViTConfig, background: dict[str, Any] | None = None, **kwargs: Any) -> nn.Module:
    """``mae`` / ``umae`` (MAE with ``uniformity_weight``, default :data:`UMAE_WEIGHT`) /
    ``simclr`` / ``latent``. ``background`` (the fields of
    :class:`sslab.views.background.BackgroundViews`) makes the method's views perturb the background
    of packed (foreground, background) inputs (:func:`sslab.methods.background.build_background_method`);
    being a plain keyword argument, it is part of a pre-training's cache key."""
    if background is not None:
        from sslab.methods.background import build_background_method
        from sslab.views.background import BackgroundViews

        return build_background_method(name, vit, BackgroundViews(**background), **kwargs)
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


def method_options(
    name: str,
    mask_ratio: float | None = None,
    uniformity_weight: float | None = None,
    uniformity_form: str | None = None,
) -> dict[str, Any]:
    """:func:`build_method` keyword arguments for ``name`` from settings shared across methods:
    ``mask_ratio`` goes to the randomly masking methods, the ``uniformity_*`` ones to ``umae``;
    settings a method does not take, and settings left at None, are dropped."""
    if name not in METHODS:
        raise ConfigError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    given = {"mask_ratio": mask_ratio, "uniformity_weight": uniformity_weight, "uniformity_form": uniformity_form}
    takes = {"mask_ratio"} if name in RANDOM_MASKING else set()
    if name == "umae":
        takes |= {"uniformity_weight", "uniformity_form"}
    return {k: v for k, v in given.items() if k in takes and v is not None}


__all__ = [
    "MAE",
    "METHODS",
    "RANDOM_MASKING",
    "UMAE_FORM",
    "UMAE_WEIGHT",
    "LatentPrediction",
    "SimCLR",
    "build_method",
    "method_options",
]
