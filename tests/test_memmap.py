"""CIFAR's uint8 cache holds exactly the pickles' pixels and labels; memory-mapped CIFAR and
STL-10 sources give the in-memory loaders' standardised images."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from sslab.data import load_dataset
from sslab.data.memmap import cifar_streaming_splits, cifar_uint8_cache, stl10_memmap, stl10_streaming_splits
from sslab.errors import DataError


def write_cifar10(root: Path, per_batch: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The python distribution's pickles (dicts of numpy arrays and lists), as released."""
    rng = np.random.default_rng(seed)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    xs, ys = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, per_batch)]
        with (d / name).open("wb") as fh:
            pickle.dump({b"batch_label": name.encode(), b"labels": y, b"data": x}, fh, protocol=2)
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)


def write_stl10(root: Path, n: int = 5, seed: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    d = root / "stl10_binary"
    d.mkdir(parents=True)
    images = {}
    for split in ("train", "test", "unlabeled"):
        img = rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)
        img.transpose(0, 1, 3, 2).tofile(d / f"{split}_X.bin")  # each channel column-major on disk
        if split != "unlabeled":
            rng.integers(1, 11, n, dtype=np.uint8).tofile(d / f"{split}_y.bin")
        images[split] = img
    return images


def test_cifar_uint8_cache_equals_the_pickle_contents(tmp_path: Path) -> None:
    x, y = write_cifar10(tmp_path)
    cache = cifar_uint8_cache(tmp_path)
    train = np.load(cache / "train_images.npy", mmap_mode="r", allow_pickle=False)
    test = np.load(cache / "test_images.npy", mmap_mode="r", allow_pickle=False)
    assert isinstance(train, np.memmap) and train.dtype == np.uint8 and train.shape == (30, 3, 32, 32)
    np.testing.assert_array_equal(train.reshape(30, 3072), x[:30])
    np.testing.assert_array_equal(test.reshape(6, 3072), x[30:])
    np.testing.assert_array_equal(np.load(cache / "train_labels.npy"), y[:30])
    stamp = (cache / "train_images.npy").stat().st_mtime_ns
    assert cifar_uint8_cache(tmp_path / "cifar-10-batches-py") == cache  # built once, then reused
    assert (cache / "train_images.npy").stat().st_mtime_ns == stamp
    write_cifar10(tmp_path / "new", seed=9)  # a changed source file rebuilds the cache
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_1"
    batch.write_bytes((tmp_path / "new" / "cifar-10-batches-py" / "data_batch_1").read_bytes())
    cifar_uint8_cache(tmp_path)
    new = np.load(cache / "train_images.npy", allow_pickle=False)
    assert not np.array_equal(new.reshape(30, 3072)[:6], x[:6]) and np.array_equal(new.reshape(30, 3072)[6:], x[6:30])


def test_memmapped_cifar_items_equal_the_in_memory_splits(tmp_path: Path) -> None:
    write_cifar10(tmp_path, per_batch=20)
    memory = load_dataset("cifar10", tmp_path).standardized()
    stream = cifar_streaming_splits(tmp_path, augment="mae")
    for got, want in ((stream.train_eval, memory.train), (stream.val, memory.val), (stream.test, memory.test)):
        assert torch.equal(got.labels, want.labels)
        torch.testing.assert_close(torch.stack([got.item(i) for i in range(len(got))]), want.images,
                                   rtol=1e-5, atol=1e-5)
    assert stream.train.item(3, 0).shape == (3, 32, 32)


def test_stl10_memory_map_reads_the_column_major_layout(tmp_path: Path) -> None:
    images = write_stl10(tmp_path)
    source = stl10_memmap(tmp_path, "train")
    assert isinstance(source.images, np.memmap)
    for i in range(5):
        np.testing.assert_allclose(source.raw(i), images["train"][i] / 255.0, rtol=0, atol=1e-7)
    memory = load_dataset("stl10", tmp_path).standardized()
    stream = stl10_streaming_splits(tmp_path, augment="mae", val_fraction=0.2)
    torch.testing.assert_close(torch.stack([stream.test.item(i) for i in range(5)]), memory.test.images,
                               rtol=1e-5, atol=1e-5)
    assert len(stream.train) == 5 and stream.train.classes == ["unlabeled"]
    plain = stl10_memmap(tmp_path, "unlabeled")
    np.testing.assert_allclose(plain.raw(4), images["unlabeled"][4] / 255.0, rtol=0, atol=1e-7)
    with pytest.raises(DataError, match="not a multiple of 3x96x96"):
        (tmp_path / "stl10_binary" / "test_X.bin").write_bytes(b"\0" * 100)
        stl10_memmap(tmp_path, "test")
