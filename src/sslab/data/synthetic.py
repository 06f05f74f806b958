"""Synthetic image-like datasets whose labels live in chosen frequency bands.

Images are sums of orthonormal 2-D DCT-II basis images with a 1/f²-like variance spectrum
(variance ∝ (1 + u + v)^{-2} for frequency (u, v)), so the top principal directions are
the low frequencies, as in natural images. Each class adds a fixed mean made of a few basis
images chosen either among the lowest frequencies (``band="low"``: labels aligned with the
top principal subspace) or among the highest (``band="high"``: poorly aligned labels).
"""

from __future__ import annotations

import math

import torch

from sslab.data.dataset import ImageDataset


def dct_basis(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Orthonormal DCT-II basis images (size², size, size) sorted by frequency, and the
    frequency index u + v of each."""
    n = torch.arange(size, dtype=torch.float64)
    k = n[:, None]
    mat = torch.cos(math.pi * (n[None, :] + 0.5) * k / size) * math.sqrt(2.0 / size)
    mat[0] /= math.sqrt(2.0)
    basis = torch.einsum("ui,vj->uvij", mat, mat).reshape(size * size, size, size)
    freq = (k + k.T).reshape(-1).double()
    order = torch.argsort(freq * size * size + torch.arange(size * size), stable=True)
    return basis[order], freq[order]


def banded_classes(
    n: int = 2000,
    size: int = 8,
    num_classes: int = 10,
    band: str = "low",
    signal: float = 1.0,
    seed: int = 0,
) -> ImageDataset:
    """``n`` samples of 1×size×size images; class means in the ``band`` frequencies.

    ``signal`` scales the class means relative to the standard deviation of the top
    (lowest-frequency) component. Pixel values are not clipped (this is a linear model).
    """
    if band not in {"low", "high"}:
        raise ValueError(f"band must be 'low' or 'high', got {band!r}")
    g = torch.Generator().manual_seed(seed)
    basis, freq = dct_basis(size)
    d = size * size
    std = 1.0 / (1.0 + freq)
    coeffs = torch.randn(n, d, generator=g, dtype=torch.float64) * std
    labels = torch.randint(0, num_classes, (n,), generator=g)
    m = max(num_classes, 2)
    dirs = torch.arange(1, m + 1) if band == "low" else torch.arange(d - m, d)
    means = torch.randn(num_classes, m, generator=g, dtype=torch.float64)
    means = signal * means / means.norm(dim=1, keepdim=True) * std[0]
    coeffs[:, dirs] += means[labels]
    images = (coeffs @ basis.reshape(d, d)).reshape(n, 1, size, size).float()
    return ImageDataset(images, labels, [str(i) for i in range(num_classes)], f"synthetic-{band}")


def add_structured_noise(ds: ImageDataset, magnitude: float, rank: int = 6, seed: int = 0) -> ImageDataset:
    """Add label-independent "irrelevant features": for every image a random combination of the
    ``rank`` lowest non-constant DCT basis images with N(0, magnitude²) coefficients (the same
    pattern on every channel). With magnitude ≫ pixel std these dominate the pixel variance."""
    c, h, w = ds.image_shape
    if h != w:
        raise ValueError("structured noise needs square images")
    basis, _ = dct_basis(h)
    patterns = basis[1 : rank + 1].float()  # (rank, h, w)
    g = torch.Generator().manual_seed(seed)
    coeffs = torch.randn(len(ds), rank, generator=g) * magnitude
    noise = torch.einsum("nr,rhw->nhw", coeffs, patterns).unsqueeze(1).expand(-1, c, -1, -1)
    return ImageDataset(ds.images + noise, ds.labels, ds.classes, f"{ds.name}+noise{magnitude:g}")
