"""TensorBoard artefacts beyond scalars, each one call from the trainer:

* :func:`log_reconstructions` — for methods that predict pixels (MAE, U-MAE): an image grid of
  input / masked input / reconstruction, rows of the same fixed images every N epochs, so the
  IMAGES tab shows the reconstructions sharpen. The reconstruction pastes the visible patches
  of the input back, as the MAE paper's figures do (He et al. 2022, Fig. 2); with
  ``norm_pix_loss`` the predicted patches are de-normalised with the target patch's mean and
  variance first.
* :func:`log_hparams` — the run's hyper-parameters with its final metrics (HPARAMS tab).
* :func:`log_projector` — features, labels and image thumbnails for the embedding projector
  (PROJECTOR tab), at the end of the run.

:func:`epoch_end` and :func:`run_end` bundle them for the training loop and the CLI. All are
cheap by default: 8 images every 10 epochs (and the last), at most 500 projector points.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sslab.data.patches import patchify, unpatchify

RECON_EVERY = 10
RECON_IMAGES = 8
PROJECTOR_POINTS = 500


def _to_unit(x: torch.Tensor) -> torch.Tensor:
    """Min-max scale every image of a (B, C, H, W) batch to [0, 1] (standardised data is not)."""
    lo = x.amin(dim=(1, 2, 3), keepdim=True)
    hi = x.amax(dim=(1, 2, 3), keepdim=True)
    return ((x - lo) / (hi - lo).clamp_min(1e-8)).clamp(0, 1)


def image_grid(images: torch.Tensor, columns: int, pad: int = 1) -> torch.Tensor:
    """Tile (N, C, H, W) images row by row into one (C, H', W') image with ``pad`` white pixels
    between tiles."""
    n, c, h, w = images.shape
    rows = math.ceil(n / columns)
    grid = torch.ones(c, rows * (h + pad) + pad, columns * (w + pad) + pad)
    for i in range(n):
        r, k = divmod(i, columns)
        top, left = pad + r * (h + pad), pad + k * (w + pad)
        grid[:, top : top + h, left : left + w] = images[i]
    return grid


def predicts_pixels(method: nn.Module) -> bool:
    """True for masked pixel-reconstruction methods (MAE, U-MAE): an encoder taking the kept
    patch ids, a pixel decoder taking the restore order, a mask ratio and a ViT config."""
    return all(hasattr(method, a) for a in ("encoder", "decoder", "mask_ratio", "vit"))


@torch.no_grad()
def reconstruction_rows(method: nn.Module, images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """(3·B, C, H, W) in [0, 1]: B inputs, the same with masked patches greyed out, and the
    reconstructions (visible patches from the input, masked ones predicted). Deterministic in
    ``seed``; the method's train/eval mode is restored."""
    from sslab.views.token_masks import random_masking

    was_training = method.training
    method.eval()
    try:
        x = images.to(next(method.parameters()).device, torch.float32)
        generator = torch.Generator(device=x.device).manual_seed(seed)
        # encoder + decoder directly, not method.forward: its loss may gather across processes,
        # and this runs on one process only
        ids_keep, mask, ids_restore = random_masking(len(x), method.vit.num_patches, method.mask_ratio,
                                                     generator, x.device)
        pred = method.decoder(method.encoder(x, ids_keep), ids_restore).float()
    finally:
        method.train(was_training)
    patch = method.vit.patch
    target = patchify(x, patch)
    if getattr(method, "norm_pix_loss", False):
        mean, var = target.mean(-1, keepdim=True), target.var(-1, keepdim=True)
        pred = pred * (var + 1e-6).sqrt() + mean
    masked = mask.bool().unsqueeze(-1)
    shape = tuple(x.shape[1:])
    grey = torch.full_like(target, float(x.mean()))
    masked_input = unpatchify(torch.where(masked, grey, target), patch, shape)
    recon = unpatchify(torch.where(masked, pred, target), patch, shape)
    lo, hi = x.amin(dim=(1, 2, 3), keepdim=True), x.amax(dim=(1, 2, 3), keepdim=True)
    span = (hi - lo).clamp_min(1e-8)  # one scale per image, shared by its three rows
    return torch.cat([((t - lo) / span).clamp(0, 1) for t in (x, masked_input, recon)]).cpu()


def log_reconstructions(writer: Any, method: nn.Module, images: torch.Tensor, step: int, seed: int = 0) -> bool:
    """Add the grid (row 1 input, row 2 masked input, row 3 reconstruction) as the image
    ``reconstruction`` at ``step``. Returns False, logging nothing, for methods that do not
    predict pixels."""
    if not predicts_pixels(method):
        return False
    rows = reconstruction_rows(method, images, seed)
    writer.add_image("reconstruction", image_grid(rows, columns=len(images)), step)
    return True


def log_hparams(writer: Any, hparams: dict[str, Any], metrics: dict[str, float]) -> None:
    """Record ``hparams`` with the final ``metrics`` (prefixed ``final/``) for the HPARAMS tab.
    Values TensorBoard cannot show (lists, dicts, None) are written as text."""
    clean = {k: v if isinstance(v, bool | int | float | str) else str(v) for k, v in _flat(hparams).items()}
    finals = {f"final/{k}": float(v) for k, v in metrics.items()
              if isinstance(v, int | float) and not isinstance(v, bool)}
    writer.add_hparams(clean, finals, run_name=".")


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def log_projector(
    writer: Any, features: torch.Tensor, labels: torch.Tensor, images: torch.Tensor | None, step: int,
    max_points: int = PROJECTOR_POINTS, seed: int = 0,
) -> int:
    """Write up to ``max_points`` rows of ``features`` (a fixed random subset, deterministic in
    ``seed``) with their labels and image thumbnails for the embedding projector. Returns the
    number of points written."""
    n = features.shape[0]
    keep = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[: min(n, max_points)].sort().values
    thumbs = _to_unit(images[keep].float()) if images is not None else None
    writer.add_embedding(features[keep].float().cpu(), metadata=[int(v) for v in labels[keep]],
                         label_img=thumbs, global_step=step, tag="features")
    return int(keep.numel())


def epoch_end(writer: Any, method: nn.Module, images: torch.Tensor, epoch: int, epochs: int,
              every: int = RECON_EVERY, count: int = RECON_IMAGES) -> bool:
    """Call after each epoch (``epoch`` counts from 1): every ``every`` epochs and at the last one,
    log the reconstruction grid of the first ``count`` images (the same images each time)."""
    if writer is None or every <= 0 or (epoch % every and epoch != epochs):
        return False
    return log_reconstructions(writer, method, images[:count], epoch)


def run_end(log_dir: str | Path, hparams: dict[str, Any], metrics: dict[str, float], encoder: nn.Module,
            images: torch.Tensor, labels: torch.Tensor, step: int, max_points: int = PROJECTOR_POINTS) -> None:
    """At the end of a run: hparams with the final metrics and the embedding projector of the
    encoder's features on ``images`` (e.g. the test split), in the run's TensorBoard directory."""
    from torch.utils.tensorboard import SummaryWriter

    n = min(len(images), max_points)
    keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:n].sort().values
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    with torch.no_grad():
        feats = torch.cat([encoder.features(images[keep][i : i + 256].to(device)).float().cpu()
                           for i in range(0, n, 256)])
    encoder.train(was_training)
    with SummaryWriter(str(log_dir)) as writer:
        log_hparams(writer, hparams, metrics)
        log_projector(writer, feats, labels[keep], images[keep], step, max_points=n)
