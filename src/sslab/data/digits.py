"""scikit-learn's bundled handwritten digits: 1,797 real 8×8 grey images, 10 classes.

Shipped inside scikit-learn, so it needs no network. Pixels are scaled from 0..16 to
[0, 1]; optional bilinear upsampling to 16×16 or 32×32 for ViTs.
"""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits as _sk_load_digits

from sslab.data.dataset import ImageDataset, Splits, resize_images, stratified_split


def load_digits(image_size: int | None = None) -> ImageDataset:
    bunch = _sk_load_digits()
    images = torch.from_numpy(bunch.images).float().div_(16.0).unsqueeze(1)
    if image_size is not None and image_size != 8:
        images = resize_images(images, image_size)
    labels = torch.from_numpy(bunch.target).long()
    return ImageDataset(images, labels, [str(i) for i in range(10)], "digits")


def digits_splits(image_size: int | None = None, split_seed: int = 0) -> Splits:
    """Stratified 70 / 10 / 20 train / val / test split, fixed by ``split_seed``."""
    ds = load_digits(image_size)
    tr, va, te = stratified_split(ds.labels.numpy(), (0.7, 0.1, 0.2), split_seed)
    return Splits(ds.subset(tr), ds.subset(va), ds.subset(te), {"split_seed": split_seed})
