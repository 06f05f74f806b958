"""Batched, seeded image augmentations on tensors (no torchvision): random resized crop,
horizontal flip, brightness/contrast jitter and Gaussian noise, each drawn per image from
an explicit ``torch.Generator`` so that a run is reproducible and resumable.

Under data parallelism the parameters are drawn for the whole global batch and each rank
keeps its rows (:func:`sslab.distributed.global_rows`), so an image gets the same view
whatever the number of processes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sslab.distributed import global_rows


@dataclass(frozen=True)
class Augment:
    crop_scale: tuple[float, float] = (0.35, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = False  # off by default: flips change the meaning of digits
    brightness: float = 0.4
    contrast: float = 0.4
    noise_std: float = 0.0

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        b = x.shape[0]
        start, total = global_rows(b)

        def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
            return lo + (hi - lo) * torch.rand(total, *shape, generator=generator)[start : start + b]

        area = u(*self.crop_scale)
        logr = u(torch.tensor(self.crop_ratio).log()[0].item(), torch.tensor(self.crop_ratio).log()[1].item())
        ratio = logr.exp()
        sw = (area * ratio).sqrt().clamp(max=1.0)
        sh = (area / ratio).sqrt().clamp(max=1.0)
        cx = (1 - sw) * (2 * u(0.0, 1.0) - 1)
        cy = (1 - sh) * (2 * u(0.0, 1.0) - 1)
        theta = torch.zeros(b, 2, 3)
        theta[:, 0, 0], theta[:, 0, 2] = sw, cx
        theta[:, 1, 1], theta[:, 1, 2] = sh, cy
        if self.flip:
            sign = torch.where(u(0.0, 1.0) < 0.5, -1.0, 1.0)
            theta[:, 0, 0] *= sign
        grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        if self.brightness:
            out = out * u(1 - self.brightness, 1 + self.brightness, 1, 1, 1).to(x)
        if self.contrast:
            mean = out.mean(dim=(1, 2, 3), keepdim=True)
            out = (out - mean) * u(1 - self.contrast, 1 + self.contrast, 1, 1, 1).to(x) + mean
        if self.noise_std:
            noise = torch.randn((total, *out.shape[1:]), generator=generator)[start : start + b]
            out = out + self.noise_std * noise.to(x)
        return out
