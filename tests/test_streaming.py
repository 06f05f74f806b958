"""Streaming sources: same images and splits as the in-memory loaders, DistributedSampler-style
sharding without duplicates or drops, exact mid-epoch resume, and the per-sample augmentations."""

from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sslab.data.imagefolder import load_image_folder
from sslab.data.item_augment import _hsv_to_rgb, _rgb_to_hsv, color_jitter, crop_box, item_rng, mae_augment
from sslab.data.streaming import FolderSource, scan_folder, streaming_splits
from sslab.distributed import World
from sslab.errors import DataError
from sslab.train.sampler import GlobalBatchSampler
from sslab.train.streaming_loader import BatchStream, EpochBatchSampler, SourceItems


def write_folder(root: Path, per_class: int = 6, classes: int = 3, nested: bool = True, seed: int = 0) -> Path:
    """A tiny image folder in the ImageNet layout (train/ and val/ class folders) of odd-sized PNGs."""
    rng = np.random.default_rng(seed)
    parts = {"train": per_class, "val": 2} if nested else {"": per_class}
    for part, count in parts.items():
        for c in range(classes):
            d = root / part / f"cls{c}" if part else root / f"cls{c}"
            d.mkdir(parents=True, exist_ok=True)
            for k in range(count):
                h, w = rng.integers(12, 30, size=2)
                arr = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
                Image.fromarray(arr).save(d / f"img{k:02d}.png")
    return root


@pytest.mark.parametrize("nested", [True, False])
def test_streaming_items_equal_the_in_memory_loader(tmp_path: Path, nested: bool) -> None:
    root = write_folder(tmp_path / "folder", nested=nested)
    memory = load_image_folder(root, image_size=16).standardized()
    stream = streaming_splits(root, image_size=16, augment="mae")
    for got, want in ((stream.train_eval, memory.train), (stream.val, memory.val), (stream.test, memory.test)):
        assert len(got) == len(want) and torch.equal(got.labels, want.labels) and got.classes == want.classes
        items = torch.stack([got.item(i) for i in range(len(got))])
        assert items.shape == want.images.shape
        torch.testing.assert_close(items, want.images, rtol=1e-5, atol=1e-5)
    assert len(stream.train) == len(memory.train) and stream.train.image_shape == (3, 16, 16)
    # the pre-training source crops and flips: not the plain resize, but a pure function of (epoch, index)
    assert not torch.allclose(stream.train.item(0, 0), stream.train_eval.item(0))
    assert torch.equal(stream.train.item(0, 0), stream.train.item(0, 0))
    assert not torch.equal(stream.train.item(0, 0), stream.train.item(0, 1))


def test_a_corrupt_file_is_a_one_line_data_error(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "folder", nested=False)
    (root / "cls0" / "img00.png").write_bytes(b"not a png")
    files, labels, classes = scan_folder(root)
    source = FolderSource(files, labels, classes, mae_augment(8))
    assert source.files[0].endswith(b"cls0/img00.png")
    with pytest.raises(DataError, match=r"cannot decode image .*img00\.png"):
        source.item(0)


class IndexSource:
    """A source whose item is its own index (to see where every sample went)."""

    name, classes = "index", ["x"]

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    @property
    def labels(self) -> torch.Tensor:
        return torch.zeros(self.n, dtype=torch.long)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return 1, 1, 1

    def item(self, index: int, epoch: int = 0) -> torch.Tensor:
        return torch.tensor([index])


@pytest.mark.parametrize(("n", "world_size"), [(48, 1), (48, 2), (48, 3), (50, 2)])
def test_ranks_partition_each_epoch_without_duplicates_or_drops(n: int, world_size: int) -> None:
    batch = 12
    samplers = [GlobalBatchSampler(n, batch, seed=5, world=World(r, world_size)) for r in range(world_size)]
    seen_by_epoch = []
    for epoch in (0, 1):
        seen = []
        for s in samplers:
            stream = BatchStream(IndexSource(n), s, torch.device("cpu"), workers=0)
            seen += torch.cat(list(stream.epoch(epoch))).flatten().tolist()
        assert len(seen) == len(set(seen)) == (n // batch) * batch  # no sample twice, none lost
        if n % batch == 0:
            assert sorted(seen) == list(range(n))
        seen_by_epoch.append(seen)
    assert seen_by_epoch[0] != seen_by_epoch[1]  # set_epoch: a new order each epoch


def test_mid_epoch_resume_restores_the_data_order_and_views_exactly(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "folder", per_class=8, nested=False)
    source = streaming_splits(root, 8, augment="mae", standardize_stats=False).train
    sampler = GlobalBatchSampler(len(source), 4, seed=1, world=World(0, 1))
    uninterrupted = list(BatchStream(source, sampler, torch.device("cpu"), workers=0).epoch(1))
    resumed_sampler = GlobalBatchSampler(len(source), 4, seed=1, world=World(0, 1))  # a fresh process
    resumed = list(BatchStream(source, resumed_sampler, torch.device("cpu"), workers=2).epoch(1, first=2))
    assert len(uninterrupted) == len(source) // 4 and len(resumed) == len(uninterrupted) - 2
    for a, b in zip(uninterrupted[2:], resumed, strict=True):
        assert torch.equal(a, b)
    # the order is the sampler's permutation for epoch 1, not the identity
    batches = EpochBatchSampler(resumed_sampler)
    batches.start(1, 2)
    first_keys = next(iter(batches))
    want = torch.stack([SourceItems(source)[k] for k in first_keys])
    assert torch.equal(resumed[0], want) and [e for e, _ in first_keys] == [1] * 4


def test_crop_box_follows_the_inception_crop_reference() -> None:
    rng = np.random.default_rng(0)
    assert crop_box(10, 10, (1.0, 1.0), (1.0, 1.0), rng) == (0, 0, 10, 10)
    # a square of the whole area never fits 100×10: after 10 tries, the centre crop with ratio clamped to 1
    assert crop_box(100, 10, (1.0, 1.0), (1.0, 1.0), rng) == (45, 0, 10, 10)
    assert crop_box(10, 100, (1.0, 1.0), (0.5, 0.5), rng) == (0, 40, 10, 20)
    for _ in range(200):
        left, top, w, h = crop_box(40, 30, (0.2, 1.0), (3 / 4, 4 / 3), rng)
        assert 0 <= left and left + w <= 40 and 0 <= top and top + h <= 30
        assert 0.2 * 1200 * 0.9 <= w * h <= 1200


def test_colour_ops_match_colorsys_and_leave_gray_images_gray() -> None:
    x = np.random.default_rng(1).random((5, 7, 3)).astype(np.float32)
    hsv = _rgb_to_hsv(x)
    want = np.array([colorsys.rgb_to_hsv(*p) for p in x.reshape(-1, 3)]).reshape(x.shape)
    np.testing.assert_allclose(hsv, want, atol=1e-6)
    np.testing.assert_allclose(_hsv_to_rgb(hsv), x, atol=1e-6)
    gray = np.repeat(x[..., :1], 3, axis=-1)
    out = color_jitter(gray, 1.0, np.random.default_rng(2))
    np.testing.assert_allclose(out[..., 0], out[..., 1], atol=1e-6)
    np.testing.assert_allclose(out[..., 1], out[..., 2], atol=1e-6)


def test_mae_augment_is_the_official_crop_and_flip() -> None:
    aug = mae_augment(8)
    assert aug.crop_scale == (0.2, 1.0) and aug.interpolation == "bicubic" and aug.flip
    assert aug.jitter_strength == 0 and aug.grayscale_p == 0
    img = Image.fromarray(np.arange(16 * 16 * 3, dtype=np.uint8).reshape(16, 16, 3))
    out = aug(img, item_rng(0, 0, 0))
    assert out.shape == (3, 8, 8) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    source = FolderSource(np.array([b"x"]), np.zeros(1, dtype=np.int64), ["a"], aug)
    assert source.image_shape == (3, 8, 8)
