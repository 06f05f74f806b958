"""In-memory image datasets and seeded splits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from sslab.errors import DataError


@dataclass
class ImageDataset:
    """Images (N, C, H, W) float32 in [0, 1], integer labels (N,), class names."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str = "dataset"

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise DataError(f"{self.name}: images must be (N, C, H, W), got {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise DataError(
                f"{self.name}: {self.images.shape[0]} images but labels of shape {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images.shape[1:]
        return int(c), int(h), int(w)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def subset(self, index: torch.Tensor | np.ndarray) -> ImageDataset:
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageDataset(self.images[index], self.labels[index], self.classes, self.name)

    def flat(self) -> torch.Tensor:
        """(N, C·H·W) float64 view for the linear theory."""
        return self.images.reshape(len(self), -1).double()

    def resized(self, size: int | None) -> ImageDataset:
        if size is None or size == self.images.shape[-1] == self.images.shape[-2]:
            return self
        return ImageDataset(resize_images(self.images, size), self.labels, self.classes, self.name)

    def keep_classes(self, num_classes: int) -> ImageDataset:
        """The first ``num_classes`` classes, labels unchanged (they are already 0..C−1)."""
        if not 1 <= num_classes <= self.num_classes:
            raise DataError(f"{self.name} has {self.num_classes} classes, asked for {num_classes}")
        mask = self.labels < num_classes
        return ImageDataset(
            self.images[mask], self.labels[mask], self.classes[:num_classes], self.name
        )


@dataclass
class Splits:
    """Fixed train / validation / test splits of one dataset."""

    train: ImageDataset
    val: ImageDataset
    test: ImageDataset
    info: dict[str, object] = field(default_factory=dict)

    def map(self, fn: Callable[[ImageDataset], ImageDataset]) -> Splits:
        return Splits(fn(self.train), fn(self.val), fn(self.test), dict(self.info))

    def standardized(self) -> Splits:
        """Per-channel (x − mean) / std with the train split's statistics (info keeps them)."""
        dims = (0, 2, 3)
        mean = self.train.images.mean(dim=dims, keepdim=True)
        std = self.train.images.std(dim=dims, keepdim=True).clamp_min(1e-8)

        def norm(d: ImageDataset) -> ImageDataset:
            return ImageDataset((d.images - mean) / std, d.labels, d.classes, d.name)

        out = self.map(norm)
        out.info.update(pixel_mean=mean.flatten().tolist(), pixel_std=std.flatten().tolist())
        return out


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (N, C, H, W) to size×size: bilinear when upsampling, area when downsampling."""
    h = images.shape[-1]
    mode = "bilinear" if size > h else "area"
    kwargs = {"align_corners": False} if mode == "bilinear" else {}
    out = F.interpolate(images.float(), size=(size, size), mode=mode, **kwargs)
    return out.clamp_(0.0, 1.0)


def stratified_split(
    labels: np.ndarray, fractions: tuple[float, ...], seed: int
) -> list[np.ndarray]:
    """Split indices class by class into parts with the given fractions (last gets the rest)."""
    rng = np.random.default_rng(seed)
    parts: list[list[int]] = [[] for _ in fractions]
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        start = 0
        for i, size in enumerate(split_sizes(len(idx), fractions)):
            parts[i].extend(idx[start:start + size].tolist())
            start += size
    return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]


def split_sizes(n: int, fractions: tuple[float, ...]) -> list[int]:
    """How :func:`stratified_split` divides one class of ``n`` items: ``round(f·n)`` for each
    part but the last, which gets the rest."""
    sizes, used = [], 0
    for frac in fractions[:-1]:
        size = min(round(frac * n), n - used)
        sizes.append(size)
        used += size
    return [*sizes, n - used]


def min_per_class(fractions: tuple[float, ...], limit: int = 10_000) -> int:
    """The fewest items a class needs so that every part of the split holds at least one."""
    for n in range(1, limit):
        if min(split_sizes(n, fractions)) >= 1:
            return n
    raise ValueError(f"no class size up to {limit} fills every part of {fractions}")


def carve_validation(train: ImageDataset, test: ImageDataset, val_fraction: float, seed: int) -> Splits:
    """Split a given train set into train/val (stratified, seeded); the test set is kept."""
    tr, va = stratified_split(train.labels.numpy(), (1 - val_fraction, val_fraction), seed)
    return Splits(train.subset(tr), train.subset(va), test)
