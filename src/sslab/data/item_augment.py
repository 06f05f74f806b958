"""Per-sample augmentations run in DataLoader workers on decoded Pillow images (no torchvision).

Each draw uses a numpy generator seeded with (seed, epoch, sample index), so an image gets
the same view whatever the number of workers, ranks or the moment a run was resumed.

* ``random_resized_crop``: the Inception crop (Szegedy et al. 2015, §6) as used by MAE and
  SimCLR — up to 10 tries of area fraction s ~ U(scale) and log aspect ratio
  log r ~ U(log ratio); w = round(√(s·A·r)), h = round(√(s·A/r)); the first box that fits is
  taken at a uniform position, else a centre crop with the ratio clamped into ``ratio``; the
  box is resized to size×size.
* MAE (He et al. 2022, official ``main_pretrain.py``): crop with scale (0.2, 1.0), bicubic,
  then a horizontal flip with p = 0.5.
* SimCLR (Chen et al. 2020, Appendix A): crop with scale (0.08, 1.0), flip p = 0.5, colour
  jitter with strength s (brightness, contrast, saturation 0.8·s, hue 0.2·s, in a random
  order) applied with p = 0.8, then grayscale with p = 0.2. s = 1 on ImageNet, 0.5 on CIFAR.
  Brightness is multiplicative, x·b with b ~ U(1 − 0.8s, 1 + 0.8s) (the SimCLR v2 code's form).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601-2, as PIL's "L"
_RESAMPLE = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}


def item_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of sample ``index`` in ``epoch``: a pure function of the three integers."""
    return np.random.default_rng([seed, epoch, index])


def crop_box(
    width: int, height: int, scale: tuple[float, float], ratio: tuple[float, float], rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """(left, top, w, h) of an Inception random resized crop; see the module docstring."""
    area = width * height
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1)), w, h
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        w, h = round(height * ratio[1]), height
    else:
        w, h = width, height
    return (width - w) // 2, (height - h) // 2, w, h


def _gray(x: np.ndarray) -> np.ndarray:
    return x @ LUMA


def _rgb_to_hsv(x: np.ndarray) -> np.ndarray:
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    v = x.max(-1)
    c = v - x.min(-1)
    safe = np.where(c > 0, c, 1.0)
    h = np.where(v == r, (g - b) / safe, np.where(v == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    h = np.where(c > 0, (h / 6.0) % 1.0, 0.0)
    s = np.where(v > 0, c / np.where(v > 0, v, 1.0), 0.0)
    return np.stack([h, s, v], -1)


def _hsv_to_rgb(x: np.ndarray) -> np.ndarray:
    h, s, v = x[..., 0], x[..., 1], x[..., 2]
    k = (np.array([5.0, 3.0, 1.0], dtype=x.dtype) + h[..., None] * 6.0) % 6.0
    return v[..., None] - v[..., None] * s[..., None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def color_jitter(x: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """SimCLR colour distortion of an (H, W, 3) float image in [0, 1], one random order of the four ops."""
    b = c = s = 0.8 * strength
    hue = 0.2 * strength
    for op in rng.permutation(4):
        if op == 0:
            x = x * rng.uniform(max(0.0, 1 - b), 1 + b)
        elif op == 1:
            mean = _gray(x).mean()
            x = (x - mean) * rng.uniform(max(0.0, 1 - c), 1 + c) + mean
        elif op == 2:
            g = _gray(x)[..., None]
            x = g + (x - g) * rng.uniform(max(0.0, 1 - s), 1 + s)
        else:
            hsv = _rgb_to_hsv(np.clip(x, 0.0, 1.0))
            hsv[..., 0] = (hsv[..., 0] + rng.uniform(-hue, hue)) % 1.0
            x = _hsv_to_rgb(hsv)
        x = np.clip(x, 0.0, 1.0).astype(np.float32)
    return x


@dataclass(frozen=True)
class ItemAugment:
    """One random view of a Pillow image → (C, H, W) float32 array in [0, 1].

    ``crop_scale=None`` means no crop: the whole image is resized (the evaluation view).
    """

    size: int
    crop_scale: tuple[float, float] | None = (0.2, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True
    jitter_strength: float = 0.0
    jitter_p: float = 0.8
    grayscale_p: float = 0.0
    interpolation: str = "bicubic"

    def __call__(self, img: Image.Image, rng: np.random.Generator) -> np.ndarray:
        resample = _RESAMPLE[self.interpolation]
        if self.crop_scale is None:
            img = img.resize((self.size, self.size), resample)
        else:
            left, top, w, h = crop_box(img.width, img.height, self.crop_scale, self.crop_ratio, rng)
            img = img.resize((self.size, self.size), resample, box=(left, top, left + w, top + h))
        if self.flip and rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        x = np.asarray(img, dtype=np.float32) / 255.0
        if x.ndim == 2:
            return x[None]
        if self.jitter_strength and rng.random() < self.jitter_p:
            x = color_jitter(x, self.jitter_strength, rng)
        if self.grayscale_p and rng.random() < self.grayscale_p:
            x = np.repeat(_gray(x)[..., None], 3, axis=-1)
        return np.ascontiguousarray(x.transpose(2, 0, 1))


def resize_only(size: int) -> ItemAugment:
    """The deterministic view (bilinear resize of the whole image), as the in-memory loaders make."""
    return ItemAugment(size, crop_scale=None, flip=False, interpolation="bilinear")


def mae_augment(size: int) -> ItemAugment:
    """Official MAE pre-training: RandomResizedCrop(size, scale=(0.2, 1.0), bicubic) + flip."""
    return ItemAugment(size, crop_scale=(0.2, 1.0), flip=True)


def simclr_augment(size: int, strength: float = 1.0) -> ItemAugment:
    """SimCLR: crop (0.08, 1.0) + flip + colour jitter (p = 0.8, strength s) + grayscale (p = 0.2)."""
    return ItemAugment(size, crop_scale=(0.08, 1.0), flip=True, jitter_strength=strength, grayscale_p=0.2)


AUGMENTS = ("none", "mae", "simclr")


def named_augment(name: str, size: int) -> ItemAugment:
    from sslab.errors import ConfigError

    if name == "none":
        return resize_only(size)
    if name == "mae":
        return mae_augment(size)
    if name == "simclr":
        return simclr_augment(size)
    raise ConfigError(f"unknown augmentation {name!r}; choose one of {', '.join(AUGMENTS)}")


def views(augment: ItemAugment, img: Image.Image, rng: np.random.Generator, count: int) -> Sequence[np.ndarray]:
    """``count`` independent views of one image from one generator (two for SimCLR)."""
    return [augment(img, rng) for _ in range(count)]
