"""WebDataset-style tar shards of an image folder, for clusters and object stores.

Layout written by ``sslab data shard DIR OUT --shard-size N``::

    OUT/index.json            {"format": "sslab-shards/1", "classes": [...], "samples": N,
                               "shard_size": n, "shards": [{"file", "count", "sha256"}, ...]}
    OUT/samples.npy           int64 (N, 4): shard, byte offset, byte length, label — one row per
                              sample in shard order (plain .npy, read with allow_pickle=False)
    OUT/shard-000000.tar …    POSIX tar; sample k is two consecutive members, ``KKKKKKKK.<ext>``
                              (the original image bytes, not re-encoded) and ``KKKKKKKK.cls``
                              (the class index as decimal text), as WebDataset expects

A folder with ``train/`` and ``val/`` (or ``test/``) sub-trees gets one such set per split
(``OUT/train``, ``OUT/val``). Samples are shuffled once (seed 0) before being cut into shards,
so every shard mixes the classes; all shards but the last hold ``shard_size`` samples. OUT is
written in a temporary sibling and renamed, so it is never seen half-written.

Two readers:

* :class:`ShardSource` — random access through ``samples.npy`` (one seek + read per sample);
  an :class:`sslab.data.streaming.ImageSource`, so the trainer's sampler, exact resume and
  per-sample augmentation apply unchanged.
* :class:`ShardStream` — sequential reading for file systems where seeks are expensive:
  each epoch the shard order is permuted under (seed, epoch) and shard j of that order goes to
  (rank, worker) slot j mod (W·K) (slot = rank·K + worker), so every shard is read by exactly
  one worker of one rank per epoch; samples inside a shard pass through a seeded shuffle buffer.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import IterableDataset, get_worker_info

from sslab.data.item_augment import ItemAugment, item_rng, resize_only
from sslab.data.streaming import decode, scan_folder, source_views, standardize
from sslab.errors import ConfigError, DataError, OutputError

FORMAT = "sslab-shards/1"


def _write_split(root: Path, out: Path, shard_size: int, classes: list[str] | None = None) -> list[str]:
    files, labels, names = scan_folder(root, classes)
    order = np.random.default_rng(0).permutation(len(files))
    rows, shards = [], []
    for s, start in enumerate(range(0, len(order), shard_size)):
        name = f"shard-{s:06d}.tar"
        with tarfile.open(out / name, "w", format=tarfile.USTAR_FORMAT) as tar:
            for k, i in enumerate(order[start : start + shard_size]):
                path = Path(os.fsdecode(files[i]))
                key = f"{start + k:08d}"
                data = path.read_bytes()
                info = tarfile.TarInfo(f"{key}{path.suffix.lower()}")
                info.size = len(data)
                header_at = tar.offset  # a USTAR header of a short name is one 512-byte block
                tar.addfile(info, io.BytesIO(data))
                rows.append((s, header_at + tarfile.BLOCKSIZE, len(data), int(labels[i])))
                cls = str(int(labels[i])).encode()
                meta = tarfile.TarInfo(f"{key}.cls")
                meta.size = len(cls)
                tar.addfile(meta, io.BytesIO(cls))
        digest = hashlib.sha256((out / name).read_bytes()).hexdigest()
        shards.append({"file": name, "count": min(shard_size, len(order) - start), "sha256": digest})
    np.save(out / "samples.npy", np.asarray(rows, dtype=np.int64).reshape(-1, 4), allow_pickle=False)
    index = {"format": FORMAT, "classes": names, "samples": len(order), "shard_size": shard_size, "shards": shards}
    (out / "index.json").write_text(json.dumps(index, indent=1))
    return names


def write_shards(root: Path, out: Path, shard_size: int = 1000) -> Path:
    """Shard the image folder ``root`` into ``out`` (see the module docstring for the layout)."""
    root, out = Path(root), Path(out)
    if shard_size < 1:
        raise ConfigError(f"bad value --shard-size={shard_size}: must be >= 1")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputError(f"{out} already exists and is not empty; choose a new OUT folder")
    held = root / "val" if (root / "val").is_dir() else root / "test"
    nested = (root / "train").is_dir() and held.is_dir()
    tmp = out.parent / f".{out.name}.partial"
    try:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if nested:
            (tmp / "train").mkdir()
            (tmp / held.name).mkdir()
            classes = _write_split(root / "train", tmp / "train", shard_size)
            _write_split(held, tmp / held.name, shard_size, classes)
        else:
            _write_split(root, tmp, shard_size)
        if out.exists():
            out.rmdir()
        tmp.rename(out)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        why = exc.strerror or exc
        raise OutputError(f"cannot write shards to {out} ({why}); check the path and free space") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def read_index(out: Path) -> tuple[dict, np.ndarray]:
    out = Path(out)
    try:
        index = json.loads((out / "index.json").read_text())
        rows = np.load(out / "samples.npy", allow_pickle=False)
    except (OSError, ValueError) as exc:
        why = type(exc).__name__
        raise DataError(f"{out} is not a shard folder ({why}); write one with `sslab data shard`") from None
    if index.get("format") != FORMAT or rows.ndim != 2 or rows.shape != (index.get("samples"), 4):
        raise DataError(f"{out}/index.json and samples.npy disagree or are not {FORMAT}; rewrite the shards")
    return index, rows


@dataclass(frozen=True)
class ShardSource:
    """Random access to sharded samples; same item contract as the folder source."""

    root: Path
    shard_files: tuple[str, ...]
    rows: np.ndarray  # (N, 4) shard, offset, length, label
    classes: list[str]
    augment: ItemAugment
    channels: int = 3
    seed: int = 0
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    name: str = "shards"

    @classmethod
    def open(cls, out: Path, image_size: int, channels: int = 3, seed: int = 0) -> ShardSource:
        index, rows = read_index(out)
        files = tuple(s["file"] for s in index["shards"])
        return cls(Path(out), files, rows, index["classes"], resize_only(image_size), channels, seed)

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    @property
    def labels(self) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(self.rows[:, 3]))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.channels, self.augment.size, self.augment.size

    def image_bytes(self, index: int) -> bytes:
        shard, offset, length, _ = (int(v) for v in self.rows[index])
        with open(self.root / self.shard_files[shard], "rb") as fh:
            fh.seek(offset)
            data = fh.read(length)
        if len(data) != length:
            raise DataError(f"{self.root / self.shard_files[shard]} is truncated; rewrite the shards")
        return data

    def image(self, index: int) -> Image.Image:
        return decode(f"sample {index} of {self.root}", self.channels, self.image_bytes(index))

    def item(self, index: int, epoch: int = 0) -> torch.Tensor:
        return standardize(self.augment(self.image(index), item_rng(self.seed, epoch, int(index))), self.mean, self.std)

    def views(self, index: int, epoch: int = 0, count: int = 2) -> torch.Tensor:
        return source_views(self, index, epoch, count)

    def with_augment(self, augment: ItemAugment) -> ShardSource:
        return replace(self, augment=augment)

    def subset(self, index: np.ndarray) -> ShardSource:
        return replace(self, rows=self.rows[index])


def shard_plan(num_shards: int, epoch: int, seed: int, rank: int, world: int, worker: int, workers: int) -> list[int]:
    """Shards read by (rank, worker) in ``epoch``: slot rank·K + worker of the permuted order, stride W·K."""
    order = np.random.default_rng([seed, epoch]).permutation(num_shards)
    slots = world * workers
    return [int(s) for s in order[rank * workers + worker :: slots]]


class ShardStream(IterableDataset):
    """Sequential (image, label) samples of this rank's shards; call :meth:`set_epoch` each epoch."""

    def __init__(self, source: ShardSource, rank: int = 0, world: int = 1, buffer: int = 256) -> None:
        self.source, self.rank, self.world, self.buffer = source, rank, world, buffer
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, int]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        src = self.source
        rng = np.random.default_rng([src.seed, self.epoch, self.rank, worker])
        pending: list[int] = []
        for shard in shard_plan(len(src.shard_files), self.epoch, src.seed, self.rank, self.world, worker, workers):
            for index in np.flatnonzero(src.rows[:, 0] == shard):
                pending.append(int(index))
                if len(pending) >= self.buffer:
                    yield self._sample(pending.pop(int(rng.integers(len(pending)))))
        while pending:
            yield self._sample(pending.pop(int(rng.integers(len(pending)))))

    def _sample(self, index: int) -> tuple[torch.Tensor, int]:
        return self.source.item(index, self.epoch), int(self.source.rows[index, 3])
