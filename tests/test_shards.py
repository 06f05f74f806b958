"""Tar shards: the round trip keeps every image's bytes and label; shard splitting over ranks
and workers reads each shard once per epoch."""

from __future__ import annotations

import tarfile
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from sslab.data.shards import ShardSource, ShardStream, read_index, shard_plan, write_shards
from sslab.data.streaming import scan_folder
from sslab.errors import ConfigError, OutputError
from test_streaming import write_folder


def test_shard_round_trip_keeps_bytes_labels_and_the_webdataset_layout(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "folder", per_class=5, nested=False)
    out = write_shards(root, tmp_path / "shards", shard_size=4)
    index, rows = read_index(out)
    assert index["samples"] == 15 and [s["count"] for s in index["shards"]] == [4, 4, 4, 3]
    files, labels, classes = scan_folder(root)
    source = ShardSource.open(out, image_size=8)
    want = Counter((Path(f.decode()).read_bytes(), int(y)) for f, y in zip(files, labels, strict=True))
    got = Counter((source.image_bytes(i), int(source.labels[i])) for i in range(len(source)))
    assert got == want and source.classes == classes
    with tarfile.open(out / "shard-000001.tar") as tar:
        names = tar.getnames()
        assert names[0::2] == [f"{k:08d}.png" for k in range(4, 8)]
        assert names[1::2] == [f"{k:08d}.cls" for k in range(4, 8)]
        assert int(tar.extractfile(names[1]).read()) == int(rows[4, 3])
    assert source.item(0).shape == (3, 8, 8) and torch.equal(source.item(0), source.item(0))


def test_nested_folders_shard_per_split_and_bad_arguments_write_nothing(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "folder", per_class=3)
    out = write_shards(root, tmp_path / "shards", shard_size=100)
    assert read_index(out / "train")[0]["samples"] == 9 and read_index(out / "val")[0]["samples"] == 6
    with pytest.raises(OutputError, match="not empty"):
        write_shards(root, out, shard_size=2)
    with pytest.raises(ConfigError, match="--shard-size"):
        write_shards(root, tmp_path / "other", shard_size=0)
    assert not (tmp_path / "other").exists() and not list(tmp_path.glob(".*partial"))


def test_each_shard_goes_to_exactly_one_rank_and_worker_per_epoch() -> None:
    plans = {}
    for epoch in (0, 1):
        slots = [shard_plan(10, epoch, 3, r, 2, k, 3) for r in range(2) for k in range(3)]
        assert sorted(s for slot in slots for s in slot) == list(range(10))
        plans[epoch] = slots
    assert plans[0] != plans[1]


def test_shard_stream_over_two_ranks_and_two_workers_yields_every_sample_once(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "folder", per_class=6, nested=False)
    source = ShardSource.open(write_shards(root, tmp_path / "shards", shard_size=3), image_size=4)
    want = Counter((round(float(source.item(i).sum()), 4), int(source.labels[i])) for i in range(len(source)))
    got: Counter = Counter()
    for rank in range(2):
        stream = ShardStream(source, rank, 2, buffer=2)
        stream.set_epoch(0)
        for image, label in DataLoader(stream, batch_size=None, num_workers=2):
            got[(round(float(image.sum()), 4), int(label))] += 1
    assert got == want
