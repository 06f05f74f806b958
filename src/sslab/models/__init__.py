"""Models: a small ViT encoder that drops masked tokens, the MAE decoder, a loader for
official MAE / timm-layout ViT weights, and an exported encoder (safetensors + JSON) read back
with :func:`load_encoder`."""

from sslab.models.export import load_encoder, read_encoder_config, save_encoder
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
    "load_encoder",
    "load_official",
    "read_encoder_config",
    "save_encoder",
    "sincos_2d",
    "vit_config",
]
