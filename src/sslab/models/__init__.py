"""Models: a small ViT encoder that drops masked tokens, and the MAE decoder."""

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
    "sincos_2d",
    "vit_config",
]
