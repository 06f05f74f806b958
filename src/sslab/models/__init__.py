"""Models: a small ViT encoder that drops masked tokens, and the MAE decoder; an exported
encoder (safetensors + JSON) is read back with :func:`load_encoder`."""

from sslab.models.export import load_encoder, read_encoder_config, save_encoder
from sslab.models.vit import (
    PRESETS,
    MAEDecoder,
    ViTConfig,
    ViTEncoder,
    count_parameters,
    random_masking,
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
    "random_masking",
    "read_encoder_config",
    "save_encoder",
    "sincos_2d",
    "vit_config",
]
