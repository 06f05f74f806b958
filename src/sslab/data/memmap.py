"""CIFAR and STL-10 as uint8 memory maps, converted to float per item (in DataLoader workers).

* CIFAR-10/100: the python pickle batches are converted once into a uint8 cache next to the
  data, ``<root>/sslab-uint8/{train,test}_images.npy`` (N, 3, 32, 32) and ``*_labels.npy``
  (int64), plus ``manifest.json`` with the size and mtime of every source file; a changed
  source rebuilds the cache. The ``.npy`` files are opened with ``np.load(mmap_mode="r",
  allow_pickle=False)``: reading them cannot run code, and only touched pages are resident.
* STL-10: ``*_X.bin`` are read in place with ``np.memmap`` (N, 3, 96, 96), each channel
  column-major on disk (the H and W axes are swapped per item), labels 1..10 → 0..9;
  ``unlabeled_X.bin`` (100,000 images, 2.8 GB as uint8, 11 GB as float32) is the pre-training set.

:class:`ArraySource` is an :class:`sslab.data.streaming.ImageSource`: the same per-sample
augmentations and standardisation as :class:`~sslab.data.streaming.FolderSource`.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sslab.data.cifar import CIFAR10_LAYOUT, CIFAR100_LAYOUT, read_pickle_batch
from sslab.data.dataset import stratified_split
from sslab.data.item_augment import ItemAugment, item_rng, named_augment, resize_only
from sslab.data.streaming import StreamSplits, channel_stats, source_views, standardize
from sslab.errors import DataError, OutputError
from sslab.io import atomic_write_bytes, atomic_write_text

CACHE_DIR = "sslab-uint8"
STATS_IMAGES = 4096  # images of the train split behind the standardisation statistics
STL_LAYOUT = "stl10_binary/{train_X.bin, train_y.bin, test_X.bin, test_y.bin[, unlabeled_X.bin]}"
_CIFAR = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], b"labels",
                CIFAR10_LAYOUT, 10),
    "cifar100": ("cifar-100-python", ["train"], ["test"], b"fine_labels", CIFAR100_LAYOUT, 100),
}


@dataclass(frozen=True)
class ArraySource:
    """uint8 images (N, C, H, W) — or (N, C, W, H) with ``transposed`` — decoded per item."""

    images: np.ndarray
    label_array: np.ndarray
    classes: list[str]
    augment: ItemAugment
    transposed: bool = False
    seed: int = 0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    name: str = "array"

    def __len__(self) -> int:
        return int(self.label_array.shape[0])

    @property
    def labels(self) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.label_array))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return int(self.images.shape[1]), self.augment.size, self.augment.size

    def pixels(self, index: int) -> np.ndarray:
        """(H, W, C) uint8 of sample ``index`` as stored (H and W swapped back when transposed)."""
        x = np.asarray(self.images[index])
        return x.transpose(2, 1, 0) if self.transposed else x.transpose(1, 2, 0)

    def image(self, index: int) -> Image.Image:
        hwc = self.pixels(index)
        return Image.fromarray(hwc[..., 0] if hwc.shape[-1] == 1 else np.ascontiguousarray(hwc))

    def raw(self, index: int, epoch: int = 0) -> np.ndarray:
        return self.augment(self.image(index), item_rng(self.seed, epoch, int(index)))

    def item(self, index: int, epoch: int = 0) -> torch.Tensor:
        return standardize(self.raw(index, epoch), self.mean, self.std)

    def views(self, index: int, epoch: int = 0, count: int = 2) -> torch.Tensor:
        return source_views(self, index, epoch, count)

    def subset(self, index: np.ndarray) -> ArraySource:
        """Rows ``index``; the memory map stays a map (indices are resolved per item)."""
        return replace(self, images=_Rows(self.images, index), label_array=self.label_array[index])

    def with_augment(self, augment: ItemAugment) -> ArraySource:
        return replace(self, augment=augment)


class _Rows:
    """Row selection of an array without copying it (``array[index]`` would read every row)."""

    def __init__(self, base: np.ndarray, index: np.ndarray) -> None:
        self.base, self.index = base, np.asarray(index, dtype=np.int64)
        self.shape = (len(self.index), *base.shape[1:])

    def __getitem__(self, i: int) -> np.ndarray:
        return self.base[int(self.index[i])]


def _save_npy(path: Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def _manifest(files: list[Path]) -> dict[str, list[int]]:
    return {f.name: [f.stat().st_size, f.stat().st_mtime_ns] for f in files}


def _cifar_arrays(path: Path, label_key: bytes, layout: str) -> tuple[np.ndarray, np.ndarray]:
    batch = read_pickle_batch(path, layout)
    data, labels = np.asarray(batch.get(b"data")), np.asarray(batch.get(label_key), dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise DataError(f"{path}: expected uint8 b'data' (N, 3072) and {label_key!r} (N,); layout {layout}")
    return data.reshape(-1, 3, 32, 32), labels


def cifar_uint8_cache(data_dir: Path, which: str = "cifar10") -> Path:
    """Build (once) and return the uint8 cache folder of a CIFAR python distribution."""
    folder, train_files, test_files, key, layout, _ = _CIFAR[which]
    data_dir = Path(data_dir)
    root = data_dir / folder if (data_dir / folder / train_files[0]).exists() else data_dir
    sources = [root / f for f in (*train_files, *test_files)]
    for f in sources:
        if not f.is_file():
            raise DataError(f"missing file {f}; expected layout {layout}")
    cache = root / CACHE_DIR
    manifest = {"which": which, "files": _manifest(sources)}
    marker = cache / "manifest.json"
    if marker.is_file() and json.loads(marker.read_text()) == manifest:
        return cache
    if not os.access(root, os.W_OK):
        raise OutputError(f"cannot write the uint8 cache next to the data: {root} is read-only; copy the data "
                          "to a writable folder")
    for split, names in (("train", train_files), ("test", test_files)):
        parts = [_cifar_arrays(root / n, key, layout) for n in names]
        _save_npy(cache / f"{split}_images.npy", np.concatenate([p[0] for p in parts]))
        _save_npy(cache / f"{split}_labels.npy", np.concatenate([p[1] for p in parts]))
    atomic_write_text(marker, json.dumps(manifest))  # last: the cache is complete only once this exists
    return cache


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(f"{path} is not a readable .npy file ({type(exc).__name__}); delete its folder") from None


def _splits(
    train: ArraySource, test: ArraySource, image_size: int, augment: str, val_fraction: float, split_seed: int
) -> StreamSplits:
    """train/val carved as :func:`sslab.data.dataset.carve_validation`; stats on the train split."""
    tr, va = stratified_split(train.label_array, (1 - val_fraction, val_fraction), split_seed)
    plain = resize_only(image_size)
    train_eval, val, test = train.subset(tr).with_augment(plain), train.subset(va).with_augment(plain), test
    mean, std = channel_stats(train_eval, STATS_IMAGES)
    train_eval, val, test = (replace(s, mean=mean, std=std, augment=plain) for s in (train_eval, val, test))
    info: dict[str, object] = {"split_seed": split_seed, "streaming": True, "augment": augment,
                               "pixel_mean": list(mean), "pixel_std": list(std)}
    return StreamSplits(train_eval.with_augment(named_augment(augment, image_size)), train_eval, val, test, info)


def cifar_streaming_splits(
    data_dir: Path, which: str = "cifar10", image_size: int = 32, augment: str = "mae",
    val_fraction: float = 0.1, split_seed: int = 0, seed: int = 0,
) -> StreamSplits:
    cache = cifar_uint8_cache(data_dir, which)
    classes = [str(i) for i in range(_CIFAR[which][5])]
    parts = {
        s: ArraySource(_load_npy(cache / f"{s}_images.npy"), np.array(_load_npy(cache / f"{s}_labels.npy")),
                       classes, resize_only(image_size), seed=seed, name=which)
        for s in ("train", "test")
    }
    return _splits(parts["train"], parts["test"], image_size, augment, val_fraction, split_seed)


def stl10_memmap(data_dir: Path, split: str, image_size: int = 96, seed: int = 0) -> ArraySource:
    """``split`` ∈ {train, test, unlabeled} of STL-10 as a memory-mapped source (plain view)."""
    data_dir = Path(data_dir)
    root = data_dir / "stl10_binary" if (data_dir / "stl10_binary").is_dir() else data_dir
    path = root / f"{split}_X.bin"
    if not path.is_file():
        raise DataError(f"missing file {path}; expected layout {STL_LAYOUT}")
    size, per = path.stat().st_size, 3 * 96 * 96
    if size == 0 or size % per:
        raise DataError(f"{path} has {size} bytes, not a multiple of 3x96x96: truncated or corrupt; re-extract it")
    images = np.memmap(path, dtype=np.uint8, mode="r", shape=(size // per, 3, 96, 96))
    if split == "unlabeled":
        labels, classes = np.zeros(len(images), dtype=np.int64), ["unlabeled"]
    else:
        labels = np.fromfile(root / f"{split}_y.bin", dtype=np.uint8).astype(np.int64) - 1
        if labels.shape != (len(images),) or labels.min() < 0 or labels.max() > 9:
            raise DataError(f"{root / f'{split}_y.bin'}: need {len(images)} labels in 1..10; re-extract it")
        classes = [str(i) for i in range(10)]
    return ArraySource(images, labels, classes, resize_only(image_size), transposed=True, seed=seed, name="stl10")


def stl10_streaming_splits(
    data_dir: Path, image_size: int = 96, augment: str = "mae", pretrain: str = "unlabeled",
    val_fraction: float = 0.1, split_seed: int = 0, seed: int = 0,
) -> StreamSplits:
    """Evaluation on train/val/test as the in-memory loader; pre-training on ``pretrain``
    (``unlabeled``: the 100k unlabeled images, as in the STL-10 protocol; ``train``: the labelled split)."""
    train, test = stl10_memmap(data_dir, "train", image_size, seed), stl10_memmap(data_dir, "test", image_size, seed)
    splits = _splits(train, test, image_size, augment, val_fraction, split_seed)
    if pretrain == "train":
        return splits
    unlabeled = stl10_memmap(data_dir, "unlabeled", image_size, seed)
    pre = replace(unlabeled, mean=splits.train.mean, std=splits.train.std, augment=splits.train.augment)
    return replace(splits, train=pre, info={**splits.info, "pretrain": "unlabeled"})
