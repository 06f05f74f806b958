"""A trained encoder on its own, for use in another program: the weights as safetensors (a
format that stores tensors only, so reading it cannot run code) and a JSON file beside them
with the ViT config and the input convention.

Files: ``NAME.safetensors`` and ``NAME.json``. The JSON holds ``format``, ``vit`` (the
:class:`~sslab.models.vit.ViTConfig` fields), ``input`` (channels, image size, and the
per-channel ``pixel_mean`` / ``pixel_std`` the images were standardised with during
training: feed ``(x − mean) / std``), ``features`` (how :meth:`ViTEncoder.features` pools)
and provenance (method, dataset, epoch, step, sslab version).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from sslab.errors import DataError
from sslab.models.vit import ViTConfig, ViTEncoder

FORMAT = "sslab-encoder/1"


def config_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def save_encoder(encoder: ViTEncoder, weights: Path, meta: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``weights`` (.safetensors) and its JSON config atomically; returns both paths."""
    from safetensors.torch import save

    from sslab.io import atomic_write_bytes, atomic_write_json

    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in encoder.state_dict().items()}
    pool = "cls token" if encoder.cfg.pool == "cls" else "mean of the patch tokens"
    config = {
        "format": FORMAT,
        "vit": encoder.cfg.to_dict(),
        "features": f"{pool} after the final LayerNorm, on full (unmasked) images",
        **meta,
    }
    atomic_write_bytes(weights, save(tensors, metadata={"format": FORMAT}))
    atomic_write_json(config_path(weights), config)
    return weights, config_path(weights)


def read_encoder_config(weights: str | Path) -> dict[str, Any]:
    """The JSON beside an exported encoder (one-line DataError if missing or not ours)."""
    path = config_path(Path(weights))
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(f"no encoder config {path} beside {weights}; export with `sslab export RUN_DIR`") from None
    except (ValueError, UnicodeDecodeError):
        raise DataError(f"encoder config {path} is not valid JSON; export the run again") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT or not isinstance(config.get("vit"), dict):
        raise DataError(f"{path} is not an sslab encoder config (format {FORMAT}); export the run again")
    return config


def load_encoder(weights: str | Path, device: str | torch.device = "cpu") -> ViTEncoder:
    """The encoder exported by ``sslab export`` (in eval mode): ``load_encoder(path).features(x)``
    gives the run's features of standardised images ``x`` (see the JSON's ``input``)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = Path(weights)
    config = read_encoder_config(weights)
    try:
        vit = ViTConfig(**config["vit"])
    except TypeError as exc:
        raise DataError(f"{config_path(weights)}: bad vit config ({exc}); export the run again") from None
    try:
        tensors = load_file(weights, device=str(device))
    except (FileNotFoundError, SafetensorError, OSError) as exc:
        raise DataError(f"cannot read encoder weights {weights} ({type(exc).__name__}); export the run again") from None
    encoder = ViTEncoder(vit).to(device)
    missing, unexpected = encoder.load_state_dict(tensors, strict=False)
    if missing or unexpected:
        raise DataError(
            f"{weights} does not match its config (missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )
    return encoder.eval()
