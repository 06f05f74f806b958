"""CIFAR-10 / CIFAR-100 from the python pickle batches as distributed.

Expected layout (``data_dir`` may be the folder itself or its parent)::

    cifar-10-batches-py/data_batch_1 … data_batch_5, test_batch, batches.meta
    cifar-100-python/train, test, meta

Each batch is a pickled dict with ``b'data'`` (uint8, N×3072, channel-major 32×32) and
``b'labels'`` (CIFAR-10) or ``b'fine_labels'`` / ``b'coarse_labels'`` (CIFAR-100).
Unpickling is restricted to the numpy classes those files need, so a hostile or random
file cannot run code; any defect becomes a one-line DataError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from sslab.data.dataset import ImageDataset, Splits, carve_validation
from sslab.data.safe_pickle import SafeUnpickler
from sslab.errors import DataError

CIFAR10_LAYOUT = "cifar-10-batches-py/{data_batch_1..5, test_batch} (python version)"
CIFAR100_LAYOUT = "cifar-100-python/{train, test} (python version)"

def read_pickle_batch(path: Path, layout: str) -> dict[bytes, Any]:
    if not path.is_file():
        raise DataError(f"missing file {path}; expected layout {layout}")
    try:
        with path.open("rb") as fh:
            obj = SafeUnpickler(fh, encoding="bytes").load()
    except Exception as exc:
        raise DataError(
            f"{path} is truncated or corrupt ({type(exc).__name__}); re-extract the archive, "
            f"expected layout {layout}"
        ) from None
    if not isinstance(obj, dict):
        raise DataError(f"{path} does not hold a CIFAR batch dict; expected layout {layout}")
    return obj


def _batch_arrays(path: Path, label_key: bytes, layout: str) -> tuple[np.ndarray, np.ndarray]:
    batch = read_pickle_batch(path, layout)
    data, labels = batch.get(b"data"), batch.get(label_key)
    if data is None or labels is None:
        raise DataError(f"{path} lacks the keys b'data' and {label_key!r}; expected layout {layout}")
    data = np.asarray(data)
    labels = np.asarray(labels)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DataError(f"{path}: b'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}")
    if labels.shape != (data.shape[0],):
        raise DataError(f"{path}: {data.shape[0]} images but {labels.size} labels")
    return data, labels.astype(np.int64)


def _to_dataset(data: np.ndarray, labels: np.ndarray, classes: list[str], name: str) -> ImageDataset:
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DataError(f"{name}: labels outside 0..{len(classes) - 1}")
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0)
    return ImageDataset(images, torch.from_numpy(labels), classes, name)


def _resolve(data_dir: Path, folder: str, probe: str, layout: str) -> Path:
    data_dir = Path(data_dir)
    for cand in (data_dir / folder, data_dir):
        if (cand / probe).exists():
            return cand
    raise DataError(f"no CIFAR files under {data_dir}; expected layout {layout}")


def _class_names(path: Path, key: bytes, count: int) -> list[str]:
    if path.is_file():
        try:
            meta = read_pickle_batch(path, "")
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta.get(key, [])]
            if len(names) == count:
                return names
        except DataError:
            pass
    return [str(i) for i in range(count)]


def load_cifar10(data_dir: Path, val_fraction: float = 0.1, split_seed: int = 0) -> Splits:
    root = _resolve(data_dir, "cifar-10-batches-py", "data_batch_1", CIFAR10_LAYOUT)
    parts = [_batch_arrays(root / f"data_batch_{i}", b"labels", CIFAR10_LAYOUT) for i in range(1, 6)]
    test = _batch_arrays(root / "test_batch", b"labels", CIFAR10_LAYOUT)
    classes = _class_names(root / "batches.meta", b"label_names", 10)
    train = _to_dataset(
        np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), classes, "cifar10"
    )
    splits = carve_validation(train, _to_dataset(*test, classes, "cifar10"), val_fraction, split_seed)
    splits.info = {"split_seed": split_seed, "root": str(root)}
    return splits


def load_cifar100(
    data_dir: Path, val_fraction: float = 0.1, split_seed: int = 0, coarse: bool = False
) -> Splits:
    root = _resolve(data_dir, "cifar-100-python", "train", CIFAR100_LAYOUT)
    key = b"coarse_labels" if coarse else b"fine_labels"
    count = 20 if coarse else 100
    classes = _class_names(root / "meta", b"coarse_label_names" if coarse else b"fine_label_names", count)
    train = _to_dataset(*_batch_arrays(root / "train", key, CIFAR100_LAYOUT), classes, "cifar100")
    test = _to_dataset(*_batch_arrays(root / "test", key, CIFAR100_LAYOUT), classes, "cifar100")
    splits = carve_validation(train, test, val_fraction, split_seed)
    splits.info = {"split_seed": split_seed, "root": str(root), "coarse": coarse}
    return splits
