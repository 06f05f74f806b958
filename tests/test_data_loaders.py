"""Loaders are tested on tiny files written here in the true on-disk formats."""

import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from sslab.data import detect_dataset, digits_splits, load_dataset
from sslab.errors import DataError


def write_cifar10(root: Path, per_batch: int = 6, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    all_x, all_y = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, per_batch)]
        with (d / name).open("wb") as fh:
            pickle.dump({b"batch_label": name.encode(), b"labels": y, b"data": x, b"filenames": []}, fh, protocol=2)
        all_x.append(x)
        all_y.append(y)
    with (d / "batches.meta").open("wb") as fh:
        names = [n.encode() for n in "airplane automobile bird cat deer dog frog horse ship truck".split()]
        pickle.dump({b"label_names": names, b"num_vis": 3072}, fh, protocol=2)
    return np.concatenate(all_x[:5]), np.concatenate(all_y[:5])


def write_cifar100(root: Path, n: int = 12, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    d = root / "cifar-100-python"
    d.mkdir(parents=True)
    for name in ("train", "test"):
        x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        with (d / name).open("wb") as fh:
            pickle.dump(
                {
                    b"data": x,
                    b"fine_labels": list(rng.integers(0, 100, n)),
                    b"coarse_labels": list(rng.integers(0, 20, n)),
                },
                fh,
                protocol=2,
            )


def write_stl10(root: Path, n: int = 5, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = root / "stl10_binary"
    d.mkdir(parents=True)
    images = {}
    for split in ("train", "test"):
        img = rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)  # (N, C, H, W)
        # the distribution stores each channel column-major: write (N, C, W, H) in C order
        img.transpose(0, 1, 3, 2).tofile(d / f"{split}_X.bin")
        rng.integers(1, 11, n, dtype=np.uint8).tofile(d / f"{split}_y.bin")
        images[split] = img
    return images["train"]


def test_digits_split_is_fixed_and_disjoint():
    a, b = digits_splits(split_seed=0), digits_splits(split_seed=0)
    assert torch.equal(a.train.images, b.train.images)
    total = len(a.train) + len(a.val) + len(a.test)
    assert total == 1797
    assert a.train.images.shape[1:] == (1, 8, 8)
    assert 0.0 <= a.train.images.min() and a.train.images.max() <= 1.0
    assert digits_splits(16).train.images.shape[1:] == (1, 16, 16)
    # stratified: every class in every split
    for part in (a.train, a.val, a.test):
        assert set(part.labels.tolist()) == set(range(10))


def test_cifar10_roundtrip_pixels_and_labels(tmp_path):
    x, y = write_cifar10(tmp_path)
    splits = load_dataset("cifar10", tmp_path)
    imgs = torch.cat([splits.train.images, splits.val.images])
    labels = torch.cat([splits.train.labels, splits.val.labels])
    assert imgs.shape == (30, 3, 32, 32) and len(splits.test) == 6
    expected = torch.from_numpy(x.reshape(-1, 3, 32, 32).astype(np.float32) / 255)
    # every written image appears with its label (splits reorder)
    for i in range(30):
        j = int(torch.nonzero((imgs == expected[i]).flatten(1).all(1))[0])
        assert labels[j] == int(y[i])
    assert splits.train.classes[0] == "airplane"
    assert detect_dataset(tmp_path) == "cifar10"
    assert load_dataset("auto", tmp_path / "cifar-10-batches-py").test.images.shape[0] == 6


def test_cifar100_fine_labels(tmp_path):
    write_cifar100(tmp_path)
    splits = load_dataset("cifar100", tmp_path)
    assert splits.train.num_classes == 100
    assert detect_dataset(tmp_path) == "cifar100"


def test_stl10_reads_column_major_layout(tmp_path):
    img = write_stl10(tmp_path)
    splits = load_dataset("stl10", tmp_path)
    got = torch.cat([splits.train.images, splits.val.images])
    assert got.shape == (5, 3, 96, 96)
    expected = torch.from_numpy(img.astype(np.float32) / 255)
    for i in range(5):
        assert (got == expected[i]).flatten(1).all(1).any(), "image not read in (C, H, W) orientation"
    assert load_dataset("stl10", tmp_path, image_size=32).test.images.shape[1:] == (3, 32, 32)


def _write_png_tree(root: Path, classes=("cat", "dog"), per_class=6, size=10) -> None:
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / c / f"{i}.png")


def test_image_folder_single_tree_and_train_val_layout(tmp_path):
    _write_png_tree(tmp_path / "flat", per_class=10)
    s = load_dataset("imagefolder", tmp_path / "flat", image_size=8)
    assert s.train.classes == ["cat", "dog"]
    assert len(s.train) + len(s.val) + len(s.test) == 20
    assert s.train.images.shape[1:] == (3, 8, 8)
    _write_png_tree(tmp_path / "in100" / "train", per_class=10)
    _write_png_tree(tmp_path / "in100" / "val", per_class=2)
    s2 = load_dataset("auto", tmp_path / "in100", image_size=8)
    assert len(s2.test) == 4 and len(s2.train) + len(s2.val) == 20


def test_missing_files_name_path_and_layout(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError, match=r"data_batch_3.*expected layout"):
        load_dataset("cifar10", tmp_path)
    with pytest.raises(DataError, match="no CIFAR files"):
        load_dataset("cifar100", tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("cifar10", tmp_path / "nope")
    with pytest.raises(DataError, match="pass --data-dir"):
        load_dataset("stl10")


def test_truncated_and_corrupt_files_give_one_line_errors(tmp_path):
    write_cifar10(tmp_path)
    f = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    f.write_bytes(f.read_bytes()[:500])
    with pytest.raises(DataError, match=r"data_batch_2 is truncated or corrupt") as exc:
        load_dataset("cifar10", tmp_path)
    assert "\n" not in str(exc.value)

    write_stl10(tmp_path / "s")
    xf = tmp_path / "s" / "stl10_binary" / "train_X.bin"
    xf.write_bytes(xf.read_bytes()[:-7])
    with pytest.raises(DataError, match="not a multiple"):
        load_dataset("stl10", tmp_path / "s")

    _write_png_tree(tmp_path / "imgs")
    (tmp_path / "imgs" / "cat" / "bad.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match=r"bad\.png"):
        load_dataset("imagefolder", tmp_path / "imgs")


def test_pickle_with_foreign_globals_is_refused(tmp_path):
    write_cifar10(tmp_path)
    evil = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": Path("/")})
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(evil)
    with pytest.raises(DataError, match="test_batch is truncated or corrupt"):
        load_dataset("cifar10", tmp_path)


def test_wrong_shape_data_is_refused(tmp_path):
    write_cifar10(tmp_path)
    with (tmp_path / "cifar-10-batches-py" / "data_batch_1").open("wb") as fh:
        pickle.dump({b"data": np.zeros((4, 100), np.uint8), b"labels": [0, 1, 2, 3]}, fh)
    with pytest.raises(DataError, match=r"\(N, 3072\)"):
        load_dataset("cifar10", tmp_path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(min_size=0, max_size=4000))
def test_random_bytes_never_crash_the_loaders(tmp_path_factory, blob):
    root = tmp_path_factory.mktemp("fuzz")
    write_cifar10(root, per_batch=1)
    (root / "cifar-10-batches-py" / "data_batch_1").write_bytes(blob)
    with pytest.raises(DataError):
        load_dataset("cifar10", root)
    s = root / "stl10_binary"
    s.mkdir()
    (s / "train_X.bin").write_bytes(blob)
    (s / "train_y.bin").write_bytes(blob[:3])
    (s / "test_X.bin").write_bytes(blob)
    (s / "test_y.bin").write_bytes(b"")
    with pytest.raises(DataError):
        load_dataset("stl10", root)


def write_png_header(path: Path, width: int, height: int) -> None:
    """A tiny PNG whose header claims width x height RGB pixels (a decompression bomb's shape)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 4096, 9)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.mark.parametrize("side", [9000, 12_000, 100_000])  # above our limit; above Pillow's warning; its error
def test_decompression_bomb_is_refused_before_decoding(tmp_path, side):
    _write_png_tree(tmp_path / "imgs")
    write_png_header(tmp_path / "imgs" / "dog" / "bomb.png", side, side)
    assert (tmp_path / "imgs" / "dog" / "bomb.png").stat().st_size < 200
    with pytest.raises(DataError, match=r"bomb\.png has .* pixels, more than the 67,108,864 allowed") as exc:
        load_dataset("imagefolder", tmp_path / "imgs", image_size=8)
    assert "\n" not in str(exc.value)


def test_pillow_bomb_guards_become_data_errors(tmp_path, monkeypatch):
    import sslab.data.imagefolder as imagefolder

    monkeypatch.setattr(imagefolder, "MAX_IMAGE_PIXELS", 10**12)  # leave the refusal to Pillow
    for side in (12_000, 100_000):  # Pillow warns above 89.5 M pixels, raises above twice that
        _write_png_tree(tmp_path / str(side))
        write_png_header(tmp_path / str(side) / "dog" / "bomb.png", side, side)
        with pytest.raises(DataError, match=r"bomb\.png has too many pixels"):
            load_dataset("imagefolder", tmp_path / str(side), image_size=8)


def test_one_class_and_too_few_images_per_class_are_one_line_errors(tmp_path):
    _write_png_tree(tmp_path / "one", classes=("cat",), per_class=20)
    with pytest.raises(DataError, match=r"has 1 class folder \(only 'cat'\); a probe needs at least 2 classes"):
        load_dataset("imagefolder", tmp_path / "one")
    _write_png_tree(tmp_path / "single", per_class=1)
    with pytest.raises(DataError, match=r"cat holds 1 image; every class needs at least 6"):
        load_dataset("imagefolder", tmp_path / "single")
    _write_png_tree(tmp_path / "five", per_class=5)  # 5 images: round(0.1 * 5) = 0 left for validation
    with pytest.raises(DataError, match=r"holds 5 images; every class needs at least 6"):
        load_dataset("imagefolder", tmp_path / "five")
    _write_png_tree(tmp_path / "tv" / "train", per_class=4)
    _write_png_tree(tmp_path / "tv" / "val", per_class=1)
    with pytest.raises(DataError, match=r"train/cat holds 4 images; every class needs at least 5"):
        load_dataset("imagefolder", tmp_path / "tv")
    _write_png_tree(tmp_path / "six", per_class=6)  # the smallest folder accepted: every split holds each class
    s = load_dataset("imagefolder", tmp_path / "six", image_size=8)
    for part in (s.train, s.val, s.test):
        assert sorted(set(part.labels.tolist())) == [0, 1]
