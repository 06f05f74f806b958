"""ImageNet-C-style corruptions (Hendrycks & Dietterich, ICLR 2019) of images in [0, 1].

Severity s ∈ 1..5 picks the parameter of the ImageNet-C code:

* Gaussian noise   x + σ ε, ε ~ N(0, I), σ = (0.08, 0.12, 0.18, 0.26, 0.38)[s − 1];
* Gaussian blur    σ_px = (1, 2, 3, 4, 6)[s − 1] on 224-px images, scaled here by size / 224 so
                   that the blur covers the same fraction of the image;
* contrast         (x − mean) · c + mean per image and channel, c = (0.4, 0.3, 0.2, 0.1, 0.05)[s − 1];

each clipped to [0, 1]. The noise is drawn from a fixed generator, so every encoder is scored on
the same corrupted images (paired comparisons).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from sslab.errors import ConfigError

CORRUPTIONS = ("noise", "blur", "contrast")
NOISE_SIGMA = (0.08, 0.12, 0.18, 0.26, 0.38)
BLUR_SIGMA_224 = (1.0, 2.0, 3.0, 4.0, 6.0)
CONTRAST = (0.4, 0.3, 0.2, 0.1, 0.05)
# Relative top-1 drop on ImageNet-C reported by Van Assel et al. 2025 (their motivating figure).
PAPER_IMAGENET_C_DROP = {"MAE": 25.1, "DINO": 10.5, "BYOL": 12.4}


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with a kernel of radius ⌈3σ⌉ and reflect padding."""
    if sigma <= 0:
        return x.clone()
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    xp = F.pad(x, (r, r, r, r), mode="reflect")
    xp = F.conv2d(xp, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(xp, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def corrupt(x: torch.Tensor, kind: str, severity: int, seed: int = 0) -> torch.Tensor:
    """One corruption of images x (N, C, H, W) in [0, 1] at ImageNet-C severity 1..5."""
    if not 1 <= severity <= 5:
        raise ConfigError(f"corruption severity must be 1..5, got {severity}")
    i = severity - 1
    if kind == "noise":
        eps = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype)
        out = x + NOISE_SIGMA[i] * eps
    elif kind == "blur":
        out = gaussian_blur(x, BLUR_SIGMA_224[i] * x.shape[-1] / 224)
    elif kind == "contrast":
        mean = x.mean(dim=(2, 3), keepdim=True)
        out = (x - mean) * CONTRAST[i] + mean
    else:
        raise ConfigError(f"unknown corruption {kind!r}; choose one of {', '.join(CORRUPTIONS)}")
    return out.clamp(0.0, 1.0)
