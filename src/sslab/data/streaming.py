"""Streaming datasets: images decoded per item (in DataLoader workers) instead of up front.

One interface, :class:`ImageSource`, serves what the trainer and the evaluation read:
``len(source)``, ``source.labels`` (N,), ``source.classes``, ``source.image_shape`` and
``source.item(index, epoch)`` → a (C, H, W) float32 tensor, standardised per channel. A
plain ``(N, C, H, W)`` tensor (the in-memory path, :class:`sslab.data.ImageDataset.images`)
is accepted wherever a source is (:mod:`sslab.train.streaming_loader`), so methods do not
know which one they get: both deliver float batches of the same shape.

:class:`FolderSource` reads the image-folder layout of :mod:`sslab.data.imagefolder`
(``root/<class>/*`` or ``root/{train,val}/<class>/*``, the ImageNet layout) with the same
file order and the same seeded train/val/test split, so with the deterministic ``none``
augmentation item j equals row j of the in-memory loader. Only the file names (one numpy
byte-string buffer, no per-file Python objects to copy-on-touch in forked workers) and the
labels are held in memory.

Standardisation: per-channel mean and std of the train split, as
:meth:`sslab.data.Splits.standardized` — estimated here on ``STATS_IMAGES`` evenly spaced
train images (the whole split when smaller), since a pass over 10⁵ files is what streaming avoids.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from PIL import Image

from sslab.data.dataset import stratified_split
from sslab.data.imagefolder import EXTENSIONS, LAYOUT, MAX_IMAGE_PIXELS
from sslab.data.item_augment import ItemAugment, item_rng, named_augment, resize_only, views
from sslab.errors import DataError

STATS_IMAGES = 512


@runtime_checkable
class ImageSource(Protocol):
    """Random-access images: item(index, epoch) is a pure function of (seed, epoch, index)."""

    name: str
    classes: list[str]

    def __len__(self) -> int: ...

    @property
    def labels(self) -> torch.Tensor: ...

    @property
    def image_shape(self) -> tuple[int, int, int]: ...

    def item(self, index: int, epoch: int = 0) -> torch.Tensor: ...


def scan_folder(root: Path, classes: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(file paths as bytes, labels, class names) of ``root/<class>/*`` in the in-memory loader's order."""
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; expected layout {LAYOUT}")
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        raise DataError(f"no class sub-folders in {root}; expected layout {LAYOUT}")
    names = classes or [d.name for d in dirs]
    index = {n: i for i, n in enumerate(names)}
    files: list[bytes] = []
    labels: list[int] = []
    for d in dirs:
        if d.name not in index:
            raise DataError(f"class folder {d} is not among the training classes {names[:5]}...")
        found = sorted(e.name for e in os.scandir(d) if Path(e.name).suffix.lower() in EXTENSIONS)
        if not found:
            raise DataError(f"class folder {d} holds no images ({', '.join(sorted(EXTENSIONS))})")
        files += [os.fsencode(d / f) for f in found]
        labels += [index[d.name]] * len(found)
    return np.array(files), np.array(labels, dtype=np.int64), names


def decode(path: str | bytes, channels: int, data: bytes | None = None) -> Image.Image:
    """Decode one image (the file ``path``, or ``data`` read from it) as RGB (or L), with the
    in-memory loader's guards: more than ``MAX_IMAGE_PIXELS`` (a decompression bomb) or any
    decoder failure is a one-line DataError."""
    shown = os.fsdecode(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data) if data is not None else shown) as img:  # the header only
                if img.width * img.height > MAX_IMAGE_PIXELS:
                    raise DataError(f"image {shown} has {img.width * img.height:,} pixels, more than the "
                                    f"{MAX_IMAGE_PIXELS:,} allowed: a decompression bomb or a huge image; remove it")
                return img.convert("L" if channels == 1 else "RGB")
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise DataError(f"image {shown} has too many pixels: a decompression bomb or a huge image; remove it") from None
    except Exception as exc:  # an untrusted file may break a decoder in any way
        raise DataError(f"cannot decode image {shown} ({type(exc).__name__}): corrupt or not an image") from None


@dataclass(frozen=True)
class FolderSource:
    """Image files decoded and augmented per item; see the module docstring."""

    files: np.ndarray  # (N,) bytes paths
    label_array: np.ndarray  # (N,) int64
    classes: list[str]
    augment: ItemAugment
    channels: int = 3
    seed: int = 0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    name: str = "imagefolder"

    def __len__(self) -> int:
        return int(self.files.shape[0])

    @property
    def labels(self) -> torch.Tensor:
        return torch.from_numpy(self.label_array)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.channels, self.augment.size, self.augment.size

    def image(self, index: int) -> Image.Image:
        """The decoded file of item ``index``."""
        return decode(self.files[index], self.channels)

    def raw(self, index: int, epoch: int = 0) -> np.ndarray:
        """(C, H, W) float32 in [0, 1], before standardisation."""
        return self.augment(self.image(index), item_rng(self.seed, epoch, int(index)))

    def item(self, index: int, epoch: int = 0) -> torch.Tensor:
        return standardize(self.raw(index, epoch), self.mean, self.std)

    def views(self, index: int, epoch: int = 0, count: int = 2) -> torch.Tensor:
        return source_views(self, index, epoch, count)

    def subset(self, index: np.ndarray) -> FolderSource:
        return replace(self, files=self.files[index], label_array=self.label_array[index])

    def with_augment(self, augment: ItemAugment) -> FolderSource:
        return replace(self, augment=augment)


def source_views(source: ImageSource, index: int, epoch: int, count: int) -> torch.Tensor:
    """(count, C, H, W): ``count`` independent augmentations of one decoded item, drawn one after
    the other from the generator of (seed, epoch, index) — a pure function of the three integers.
    ``source`` is any source dataclass with ``image``, ``augment``, ``seed``, ``mean`` and ``std``."""
    img = source.image(index)  # type: ignore[attr-defined]
    rng = item_rng(source.seed, epoch, int(index))  # type: ignore[attr-defined]
    drawn = views(source.augment, img, rng, count)  # type: ignore[attr-defined]
    return torch.stack([standardize(x, source.mean, source.std) for x in drawn])  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ViewPairs:
    """A source whose item is two independent views (2, C, H, W) of one sample, for the
    two-view methods (SimCLR): the pair is drawn in the DataLoader worker per sample, with the
    sample's own generator, instead of from the batch tensor in the training step."""

    source: ImageSource

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def classes(self) -> list[str]:
        return self.source.classes

    def __len__(self) -> int:
        return len(self.source)

    @property
    def labels(self) -> torch.Tensor:
        return self.source.labels

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.source.image_shape

    def item(self, index: int, epoch: int = 0) -> torch.Tensor:
        return self.source.views(index, epoch, 2)  # type: ignore[attr-defined]


def standardize(x: np.ndarray, mean: tuple[float, ...] | None, std: tuple[float, ...] | None) -> torch.Tensor:
    t = torch.from_numpy(x)
    if mean is None or std is None:
        return t
    m = torch.tensor(mean, dtype=t.dtype).view(-1, 1, 1)
    s = torch.tensor(std, dtype=t.dtype).view(-1, 1, 1)
    return (t - m) / s


def channel_stats(source: ImageSource, count: int = STATS_IMAGES) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (unbiased) std over the pixels of ``count`` evenly spaced images of
    ``source``'s deterministic view (any source dataclass with ``augment``, ``mean`` and ``std``)."""
    plain = replace(source, augment=resize_only(source.image_shape[-1]), mean=None, std=None)  # type: ignore[type-var]
    picks = np.unique(np.linspace(0, len(plain) - 1, num=min(count, len(plain))).round().astype(np.int64))
    total = np.zeros(plain.image_shape[0], dtype=np.float64)
    squares = np.zeros_like(total)
    n = 0
    for i in picks:
        x = plain.item(int(i)).numpy().astype(np.float64)
        total += x.sum(axis=(1, 2))
        squares += (x**2).sum(axis=(1, 2))
        n += x.shape[1] * x.shape[2]
    mean = total / n
    var = (squares - n * mean**2) / max(n - 1, 1)
    std = np.sqrt(np.maximum(var, 0.0)).clip(min=1e-8)
    return tuple(mean.tolist()), tuple(std.tolist())


@dataclass(frozen=True)
class StreamSplits:
    """Train (augmented), train_eval (same files, deterministic view), val and test sources."""

    train: ImageSource
    train_eval: ImageSource
    val: ImageSource
    test: ImageSource
    info: dict[str, object]


def streaming_splits(
    root: Path,
    image_size: int = 32,
    augment: str = "mae",
    channels: int = 3,
    val_fraction: float = 0.1,
    split_seed: int = 0,
    seed: int = 0,
    standardize_stats: bool = True,
) -> StreamSplits:
    """The splits of :func:`sslab.data.imagefolder.load_image_folder`, as streaming sources."""
    root = Path(root)
    plain = resize_only(image_size)
    if (root / "train").is_dir() and ((root / "val").is_dir() or (root / "test").is_dir()):
        files, labels, classes = scan_folder(root / "train")
        held = root / "val" if (root / "val").is_dir() else root / "test"
        tfiles, tlabels, _ = scan_folder(held, classes)
        full = FolderSource(files, labels, classes, plain, channels, seed, name=root.name)
        tr, va = stratified_split(labels, (1 - val_fraction, val_fraction), split_seed)
        test = FolderSource(tfiles, tlabels, classes, plain, channels, seed, name=root.name)
        train, val = full.subset(tr), full.subset(va)
    else:
        files, labels, classes = scan_folder(root)
        full = FolderSource(files, labels, classes, plain, channels, seed, name=root.name)
        tr, va, te = stratified_split(labels, (0.7, val_fraction, 0.3 - val_fraction), split_seed)
        train, val, test = full.subset(tr), full.subset(va), full.subset(te)
    info: dict[str, object] = {"split_seed": split_seed, "root": str(root), "image_size": image_size,
                               "streaming": True, "augment": augment}
    if standardize_stats:
        mean, std = channel_stats(train)
        train, val, test = (replace(s, mean=mean, std=std) for s in (train, val, test))
        info.update(pixel_mean=list(mean), pixel_std=list(std))
    return StreamSplits(train.with_augment(named_augment(augment, image_size)), train, val, test, info)
