"""Models: a small ViT encoder that drops masked tokens, the MAE decoder, and a loader for
official MAE / timm-layout ViT weights."""

from sslab.models.official import load_official
from sslab.models.vit import (
    PRESETS,
    MAEDecoder,
    ViTConfig,
    ViTEncoder,
    count_parameters,
    sincos_2d,
    vit_config,
)

__all__ = [
    "PRESETS",
    "MAEDecoder",
    "ViTConfig",
    "ViTEncoder",
    "count_parameters",
    "load_official",
    "sincos_2d",
    "vit_config",
]
