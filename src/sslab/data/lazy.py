"""Images that stay on disk: an ``(N, C, H, W)`` stand-in for the tensor of
:class:`sslab.data.ImageDataset` whose rows are decoded when read.

:class:`LazyImages` wraps a streaming :class:`~sslab.data.streaming.ImageSource` (its
deterministic, standardised evaluation view) so that code written for in-memory splits — the
deep experiments, :func:`sslab.train.pipeline.pretrain`, the probes — takes streamed data
unchanged: ``len``, ``shape``, ``ndim`` and indexing (``x[i]``, ``x[a:b]``, ``x[index]``) behave
as on the tensor, and the bulk readers go through DataLoader workers instead of indexing:

* :meth:`LazyImages.batches` — rows in given index lists, decoded by ``workers`` processes;
* :meth:`LazyImages.pretraining` — the source a method pre-trains on (per-sample augmentation,
  and the unlabeled split for STL-10), two views per sample for SimCLR;
* :meth:`LazyImages.fingerprint` — what identifies the data in cache keys, without reading
  pixels: SHA-256 of the file list with sizes and mtimes (or of the memory-mapped file's name,
  size and mtime and the selected rows), the image size, the augmentation and the standardisation.

``device`` is where the evaluation of these images runs (feature extraction, fine-tuning): a
CUDA run keeps its evaluation on the GPU instead of the CPU the in-memory protocol uses.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from sslab.data.item_augment import ItemAugment
from sslab.data.streaming import ImageSource, ViewPairs

PIXEL_SIDE = 32  # the raw-pixel baseline of streamed data is area-downsampled to at most 32×32 per channel


class _Rows(Dataset):
    def __init__(self, source: ImageSource) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.source.item(index, 0)


class LazyImages:
    """Standardised images of ``source`` (its deterministic view), read on demand; see the module
    docstring. ``pretrain`` is the source pre-training reads (default: ``source`` itself)."""

    ndim = 4
    dtype = torch.float32

    def __init__(self, source: ImageSource, pretrain: ImageSource | None = None, workers: int = 2,
                 device: str = "cpu") -> None:
        self.source, self.pretrain_source = source, pretrain if pretrain is not None else source
        self.workers, self.device = workers, device
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return len(self.source)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.source), *self.source.image_shape))

    def __getitem__(self, key: Any) -> torch.Tensor:
        if isinstance(key, (int, np.integer)):
            return self.source.item(int(key) % len(self))
        if isinstance(key, slice):
            return self._stack(range(*key.indices(len(self))))
        index = torch.as_tensor(key)
        if index.dtype == torch.bool:
            index = index.nonzero().flatten()
        return self._stack(index.tolist())

    def _stack(self, rows: Iterable[int]) -> torch.Tensor:
        items = [self.source.item(int(i)) for i in rows]
        return torch.stack(items) if items else torch.empty(0, *self.source.image_shape)

    def batches(self, index_lists: Sequence[Sequence[int]]) -> Iterator[torch.Tensor]:
        """One (len(list), C, H, W) batch per index list, in order, decoded by the workers."""
        lists = [[int(i) for i in ix] for ix in index_lists]
        loader = DataLoader(_Rows(self.source), batch_sampler=lists, num_workers=self.workers)
        yield from loader

    def chunks(self, batch_size: int) -> Iterator[torch.Tensor]:
        """All rows in order, ``batch_size`` at a time."""
        n = len(self)
        yield from self.batches([range(s, min(s + batch_size, n)) for s in range(0, n, batch_size)])

    def pretraining(self, method: str, seed: int = 0) -> ImageSource:
        """What ``method`` pre-trains on: the pre-training source with the MAE augmentation
        (RandomResizedCrop (0.2, 1) + flip), or, for SimCLR, two views per sample with the SimCLR
        one (crop (0.08, 1), flip, colour jitter, grayscale) — see :mod:`sslab.data.item_augment`.
        Views are drawn with the generator of (``seed``, epoch, index): the run's seed."""
        from sslab.data.item_augment import mae_augment, simclr_augment

        size = self.source.image_shape[-1]
        if method == "simclr":
            return ViewPairs(replace(self.pretrain_source, augment=simclr_augment(size), seed=seed))  # type: ignore[type-var]
        return replace(self.pretrain_source, augment=mae_augment(size), seed=seed)  # type: ignore[type-var]

    def flat_pixels(self, side: int = PIXEL_SIDE, batch_size: int = 256) -> torch.Tensor:
        """(N, C·s·s) standardised pixels area-downsampled to s = min(side, H): the raw-pixel
        baseline's features without holding the full-resolution images."""
        h = self.source.image_shape[-1]
        out = []
        for x in self.chunks(batch_size):
            if h > side:
                x = F.interpolate(x, size=(side, side), mode="area")
            out.append(x.reshape(x.shape[0], -1).float())
        return torch.cat(out)

    def fingerprint(self) -> str:
        """SHA-256 (first 16 hex digits) naming the data; see the module docstring. Computed once
        per object (one stat per file), so every run of an experiment sees the same name."""
        if self._fingerprint is None:
            h = hashlib.sha256()
            for src in (self.source, self.pretrain_source):
                h.update(source_identity(src).encode())
            self._fingerprint = "stream-" + h.hexdigest()[:16]
        return self._fingerprint


def _files_identity(files: np.ndarray) -> str:
    h = hashlib.sha256()
    for f in files.tolist():
        st = os.stat(f)
        h.update(f + f"|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _array_identity(images: Any) -> str:
    rows = None
    if hasattr(images, "base") and hasattr(images, "index") and not isinstance(images, np.ndarray):  # memmap._Rows
        images, rows = images.base, images.index
    name = getattr(images, "filename", None)
    h = hashlib.sha256(f"{tuple(images.shape)}|{images.dtype}|".encode())
    if name is not None:
        st = os.stat(name)
        h.update(f"{os.fsdecode(name)}|{st.st_size}|{st.st_mtime_ns}".encode())
    else:
        h.update(np.ascontiguousarray(images).tobytes())
    if rows is not None:
        h.update(np.ascontiguousarray(rows, dtype=np.int64).tobytes())
    return h.hexdigest()


def source_identity(source: Any) -> str:
    """A description of a folder, memory-map or shard source that changes when its data does."""
    if isinstance(source, ViewPairs):
        return "pairs|" + source_identity(source.source)
    if hasattr(source, "files"):
        data = _files_identity(source.files)
    elif hasattr(source, "images"):
        data = _array_identity(source.images)
    elif hasattr(source, "rows") and hasattr(source, "root"):
        data = _files_identity(np.array([os.fsencode(source.root / f) for f in source.shard_files]))
        data += hashlib.sha256(np.ascontiguousarray(source.rows).tobytes()).hexdigest()
    else:
        raise TypeError(f"cannot fingerprint a {type(source).__name__}")
    aug: ItemAugment = source.augment
    labels = hashlib.sha256(np.ascontiguousarray(source.labels.numpy()).tobytes()).hexdigest()
    return f"{type(source).__name__}|{data}|{labels}|{aug}|{source.mean}|{source.std}|{source.seed}|{len(source)}"


def is_lazy(images: object) -> bool:
    return isinstance(images, LazyImages)


def flat_pixels(images: torch.Tensor | LazyImages) -> torch.Tensor:
    """(N, D) float pixels: the tensor's rows as they are, or :meth:`LazyImages.flat_pixels`."""
    if isinstance(images, LazyImages):
        return images.flat_pixels()
    return images.reshape(len(images), -1).float()
