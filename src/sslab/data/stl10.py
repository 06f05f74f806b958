"""STL-10 from its binary distribution.

Expected layout (``data_dir`` may be the folder itself or its parent)::

    stl10_binary/train_X.bin, train_y.bin, test_X.bin, test_y.bin [, class_names.txt]

``*_X.bin``: uint8, N × 3 × 96 × 96, each channel stored column-major (so the H and W
axes are transposed on read); ``*_y.bin``: uint8 labels 1..10. The 100k unlabeled images
are not loaded (they are for pre-training at full scale; use ``load_stl10_unlabeled``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sslab.data.dataset import ImageDataset, Splits, carve_validation, resize_images
from sslab.errors import DataError

LAYOUT = "stl10_binary/{train_X.bin, train_y.bin, test_X.bin, test_y.bin}"
_IMAGE_BYTES = 3 * 96 * 96


def _root(data_dir: Path) -> Path:
    data_dir = Path(data_dir)
    for cand in (data_dir / "stl10_binary", data_dir):
        if (cand / "train_X.bin").exists():
            return cand
    raise DataError(f"no STL-10 files under {data_dir}; expected layout {LAYOUT}")


def check_stl10(data_dir: Path) -> None:
    """The four files exist and their sizes agree (whole images, one label byte per image)."""
    root = _root(data_dir)
    for split in ("train", "test"):
        x, y = root / f"{split}_X.bin", root / f"{split}_y.bin"
        for path in (x, y):
            if not path.is_file():
                raise DataError(f"missing file {path}; expected layout {LAYOUT}")
        size = x.stat().st_size
        if size == 0 or size % _IMAGE_BYTES:
            raise DataError(
                f"{x} has {size} bytes, not a multiple of 3x96x96={_IMAGE_BYTES}: truncated or "
                f"corrupt; re-extract the archive (layout {LAYOUT})"
            )
        count = size // _IMAGE_BYTES
        if y.stat().st_size != count:
            raise DataError(f"{y} has {y.stat().st_size} labels for {count} images: truncated or corrupt")


def read_images(path: Path, image_size: int | None = None) -> torch.Tensor:
    if not path.is_file():
        raise DataError(f"missing file {path}; expected layout {LAYOUT}")
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % _IMAGE_BYTES:
        raise DataError(
            f"{path} has {raw.size} bytes, not a multiple of 3x96x96={_IMAGE_BYTES}: truncated or "
            f"corrupt; re-extract the archive (layout {LAYOUT})"
        )
    arr = raw.reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2)
    images = torch.from_numpy(np.ascontiguousarray(arr)).float().div_(255.0)
    return resize_images(images, image_size) if image_size else images


def read_labels(path: Path, count: int) -> torch.Tensor:
    if not path.is_file():
        raise DataError(f"missing file {path}; expected layout {LAYOUT}")
    labels = np.fromfile(path, dtype=np.uint8).astype(np.int64)
    if labels.size != count:
        raise DataError(f"{path} has {labels.size} labels for {count} images: truncated or corrupt")
    if labels.size and (labels.min() < 1 or labels.max() > 10):
        raise DataError(f"{path}: labels must be in 1..10, found {labels.min()}..{labels.max()}")
    return torch.from_numpy(labels - 1)


def _classes(root: Path) -> list[str]:
    names_file = root / "class_names.txt"
    if names_file.is_file():
        names = [n.strip() for n in names_file.read_text(errors="replace").splitlines() if n.strip()]
        if len(names) == 10:
            return names
    return [str(i) for i in range(10)]


def load_stl10(
    data_dir: Path, image_size: int | None = None, val_fraction: float = 0.1, split_seed: int = 0
) -> Splits:
    root = _root(data_dir)
    classes = _classes(root)
    parts = {}
    for split in ("train", "test"):
        images = read_images(root / f"{split}_X.bin", image_size)
        labels = read_labels(root / f"{split}_y.bin", images.shape[0])
        parts[split] = ImageDataset(images, labels, classes, "stl10")
    splits = carve_validation(parts["train"], parts["test"], val_fraction, split_seed)
    splits.info = {"split_seed": split_seed, "root": str(root)}
    return splits


def load_stl10_unlabeled(data_dir: Path, image_size: int | None = None) -> torch.Tensor:
    return read_images(_root(data_dir) / "unlabeled_X.bin", image_size)
