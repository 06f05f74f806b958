"""Load a ViT state dict in the official MAE / timm layout into sslab's encoder (and decoder).

The official MAE (facebookresearch/mae, models_mae.py) and timm's ``VisionTransformer`` name
their parameters ``patch_embed.proj`` (a p×p stride-p Conv2d), ``cls_token``, ``pos_embed``
(fixed sin-cos, a zero row for [cls] first), ``blocks.i.{norm1, attn.qkv, attn.proj, norm2,
mlp.fc1, mlp.fc2}``, ``norm``; the MAE decoder adds ``decoder_embed``, ``mask_token``,
``decoder_pos_embed``, ``decoder_blocks.i.*``, ``decoder_norm`` and ``decoder_pred``. sslab's
blocks use the same names, so the mapping renames the top-level keys and turns the conv kernel
(D, C, p, p) into the linear weight (D, p·p·C) of sslab's patch layout (row, column, channel).

Only fixed sin-cos position tables load (they are checked against :func:`sincos_2d`); learned
ones, as in supervised timm ViTs, are rejected. A classification ``head`` is ignored.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import torch

from sslab.errors import ConfigError
from sslab.models.vit import MAEDecoder, ViTConfig, ViTEncoder, sincos_2d

STANDARD_HEADS = {192: 3, 384: 6, 768: 12, 1024: 16, 1280: 16}
"""Heads of the standard ViT-Ti/S/B/L/H widths, used when ``heads`` is not given."""
MAE_DECODER_HEADS = 16
"""Heads of the official MAE decoders (``decoder_num_heads=16``)."""
_IGNORED = ("head.weight", "head.bias")


def _blocks(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    ids = {int(m.group(1)) for k in state if (m := re.match(rf"{prefix}\.(\d+)\.", k))}
    return max(ids) + 1 if ids else 0


def _check_table(state: Mapping[str, torch.Tensor], key: str, dim: int, grid: int) -> None:
    want = torch.cat([torch.zeros(1, dim), sincos_2d(dim, grid)]).float()[None]
    got = state[key].detach().float().cpu()
    if got.shape != want.shape or not torch.allclose(got, want, atol=1e-4):
        raise ConfigError(
            f"{key} is not the fixed 2-D sin-cos table of a {grid}×{grid} grid; "
            "only MAE-style fixed position tables can be loaded (learned ones are not supported)"
        )


def official_config(
    state: Mapping[str, torch.Tensor], heads: int | None = None, decoder_heads: int | None = None, pool: str = "cls"
) -> ViTConfig:
    """The :class:`ViTConfig` that the shapes of an official state dict describe."""
    for key in ("patch_embed.proj.weight", "pos_embed", "cls_token", "norm.weight"):
        if key not in state:
            raise ConfigError(f"not an official MAE/timm ViT state dict: no {key!r}")
    dim, channels, patch, _ = state["patch_embed.proj.weight"].shape
    grid = math.isqrt(state["pos_embed"].shape[1] - 1)
    if grid * grid != state["pos_embed"].shape[1] - 1:
        raise ConfigError(f"pos_embed has {state['pos_embed'].shape[1] - 1} patch rows, not a square grid")
    heads = heads or STANDARD_HEADS.get(dim)
    if heads is None:
        raise ConfigError(f"cannot infer the number of heads of width {dim}; pass heads=")
    hidden = state["blocks.0.mlp.fc1.weight"].shape[0] if "blocks.0.mlp.fc1.weight" in state else 4 * dim
    decoder = {"decoder_dim": dim, "decoder_depth": 0, "decoder_heads": heads}
    if "decoder_embed.weight" in state:
        decoder = {
            "decoder_dim": state["decoder_embed.weight"].shape[0],
            "decoder_depth": _blocks(state, "decoder_blocks"),
            "decoder_heads": decoder_heads or MAE_DECODER_HEADS,
        }
    return ViTConfig(
        image_size=grid * patch, patch=patch, channels=channels, dim=dim, depth=_blocks(state, "blocks"),
        heads=heads, mlp_ratio=hidden / dim, pool=pool, **decoder,  # type: ignore[arg-type]
    )


def official_to_sslab(state: Mapping[str, torch.Tensor], cfg: ViTConfig) -> tuple[dict, dict]:
    """Rename (and reshape) official keys → (encoder state dict, decoder state dict)."""
    enc: dict[str, torch.Tensor] = {}
    dec: dict[str, torch.Tensor] = {}
    unknown = []
    for key, value in state.items():
        if key in _IGNORED or key in ("pos_embed", "decoder_pos_embed"):
            continue
        if key == "patch_embed.proj.weight":  # (D, C, p, p) → (D, p·p·C), sslab's (row, col, channel) layout
            enc["patch_embed.weight"] = value.permute(0, 2, 3, 1).reshape(value.shape[0], -1)
        elif key == "patch_embed.proj.bias":
            enc["patch_embed.bias"] = value
        elif key == "cls_token" or key.startswith(("blocks.", "norm.")):
            enc[key] = value
        elif key == "mask_token" or key.startswith("decoder_blocks."):
            dec[key.removeprefix("decoder_")] = value
        elif key.startswith(("decoder_embed.", "decoder_norm.")):
            dec[key.removeprefix("decoder_")] = value
        elif key.startswith("decoder_pred."):
            dec["head." + key.removeprefix("decoder_pred.")] = value
        else:
            unknown.append(key)
    if unknown:
        raise ConfigError(f"unexpected keys in the official state dict: {', '.join(sorted(unknown)[:5])}")
    _check_table(state, "pos_embed", cfg.dim, cfg.grid)
    if dec:
        _check_table(state, "decoder_pos_embed", cfg.decoder_dim, cfg.grid)
    return enc, dec


def load_official(
    state: Mapping[str, torch.Tensor],
    heads: int | None = None,
    decoder_heads: int | None = None,
    pool: str = "cls",
) -> tuple[ViTEncoder, MAEDecoder | None]:
    """Build sslab's encoder (and MAE decoder, if the state dict has one) with the weights of an
    official MAE / timm-layout ViT state dict. ``heads`` defaults to the standard one for the
    width (:data:`STANDARD_HEADS`), ``decoder_heads`` to the official MAE's 16."""
    cfg = official_config(state, heads, decoder_heads, pool)
    enc_state, dec_state = official_to_sslab(state, cfg)
    encoder = ViTEncoder(cfg)
    _load(encoder, enc_state, "encoder")
    if not dec_state:
        return encoder, None
    decoder = MAEDecoder(cfg)
    _load(decoder, dec_state, "decoder")
    return encoder, decoder


def _load(module: torch.nn.Module, state: dict, what: str) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    if missing:
        raise ConfigError(f"the official state dict lacks {what} weights: {', '.join(missing[:5])}")
    bad = [k for k in own if own[k].shape != state[k].shape]
    if bad:
        k = bad[0]
        raise ConfigError(f"{what} weight {k} has shape {tuple(state[k].shape)}, expected {tuple(own[k].shape)}")
    module.load_state_dict(state)
