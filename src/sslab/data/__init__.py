"""Datasets (real and synthetic), seeded splits, patchify/unpatchify.

:func:`load_dataset` is the one entry point: ``digits`` (bundled, default), ``mnist-5k`` and
``animal-mnist`` (read from installed packages, see :mod:`sslab.data.packaged`), ``cifar10``,
``cifar100``, ``stl10``, ``imagefolder``, or ``auto`` (detect from ``data_dir``).
"""

from __future__ import annotations

from pathlib import Path

from sslab.data.cifar import CIFAR10_LAYOUT, CIFAR100_LAYOUT, load_cifar10, load_cifar100
from sslab.data.dataset import ImageDataset, Splits, resize_images, stratified_split
from sslab.data.digits import digits_splits, load_digits
from sslab.data.imagefolder import check_image_folder, load_image_folder
from sslab.data.packaged import PACKAGED, package_dir, packaged_splits
from sslab.data.patches import check_patch_grid, patch_index_map, patchify, unpatchify
from sslab.data.stl10 import check_stl10, load_stl10
from sslab.errors import DataError

DATASETS = (
    "digits", "mnist-5k", "animal-mnist", "textured", "textured-animal", "cifar10", "cifar100", "stl10",
    "imagefolder", "auto",
)

__all__ = [
    "DATASETS",
    "ImageDataset",
    "Splits",
    "check_data_layout",
    "check_patch_grid",
    "detect_dataset",
    "digits_splits",
    "load_dataset",
    "load_digits",
    "patch_index_map",
    "patchify",
    "resize_images",
    "stratified_split",
    "unpatchify",
]


def detect_dataset(data_dir: Path) -> str:
    """Guess the dataset kind from the files under ``data_dir``."""
    data_dir = Path(data_dir)
    if not data_dir.exists():
        raise DataError(f"--data-dir {data_dir} does not exist")
    if not data_dir.is_dir():
        raise DataError(f"--data-dir {data_dir} is not a directory")
    probes = {
        "cifar10": ("cifar-10-batches-py/data_batch_1", "data_batch_1"),
        "cifar100": ("cifar-100-python/train", "__none__"),
        "stl10": ("stl10_binary/train_X.bin", "train_X.bin"),
    }
    for name, (nested, flat) in probes.items():
        if (data_dir / nested).exists() or (data_dir / flat).exists():
            return name
    if (data_dir / "train").is_file() and (data_dir / "test").is_file():
        return "cifar100"
    return "imagefolder"


def _check_files(root: Path, names: list[str], layout: str) -> None:
    for name in names:
        path = root / name
        if not path.is_file():
            raise DataError(f"missing file {path}; expected layout {layout}")
        if path.stat().st_size == 0:
            raise DataError(f"{path} is empty: truncated; re-extract the archive (layout {layout})")


def check_data_layout(name: str, data_dir: str | Path | None) -> str:
    """Check that ``data_dir`` holds dataset ``name`` in its expected layout, without decoding it.

    Cheap (file names and sizes only), so a run can refuse a wrong ``--data-dir`` before it
    creates anything; a file whose contents are corrupt is still found when it is loaded.
    Returns the dataset's resolved name (``auto`` detected)."""
    if name == "digits" or (name == "auto" and data_dir is None):
        return "digits"
    if name in PACKAGED:
        package_dir(PACKAGED[name])  # the installed package is there (checksums are checked on load)
        return name
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if data_dir is None:
        raise DataError(f"dataset {name!r} is not bundled: pass --data-dir pointing at its files")
    data_dir = Path(data_dir)
    if name == "auto":
        name = detect_dataset(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"--data-dir {data_dir} does not exist or is not a directory")
    if name == "cifar10":
        root = data_dir / "cifar-10-batches-py" if (data_dir / "cifar-10-batches-py").is_dir() else data_dir
        _check_files(root, [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], CIFAR10_LAYOUT)
    elif name == "cifar100":
        root = data_dir / "cifar-100-python" if (data_dir / "cifar-100-python").is_dir() else data_dir
        _check_files(root, ["train", "test"], CIFAR100_LAYOUT)
    elif name == "stl10":
        check_stl10(data_dir)
    else:
        check_image_folder(data_dir)
    return name


def load_dataset(
    name: str = "digits",
    data_dir: str | Path | None = None,
    image_size: int | None = None,
    split_seed: int = 0,
) -> Splits:
    """Load fixed train/val/test splits of a dataset, optionally resized to ``image_size``."""
    if name == "auto":
        if data_dir is None:
            name = "digits"
        else:
            name = detect_dataset(Path(data_dir))
    if name == "digits":
        return digits_splits(image_size, split_seed)
    if name in PACKAGED:
        return packaged_splits(name, image_size, split_seed)
    if name in ("textured", "textured-animal"):  # foregrounds over real photographs, γ = 1
        from sslab.data.textured import load_textured

        return load_textured("animal-mnist" if name == "textured-animal" else "mnist-5k", 1.0, image_size)
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if data_dir is None:
        raise DataError(f"dataset {name!r} is not bundled: pass --data-dir pointing at its files")
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"--data-dir {data_dir} does not exist or is not a directory")
    if name == "cifar10":
        splits = load_cifar10(data_dir, split_seed=split_seed)
    elif name == "cifar100":
        splits = load_cifar100(data_dir, split_seed=split_seed)
    elif name == "stl10":
        return load_stl10(data_dir, image_size=image_size, split_seed=split_seed)
    else:
        return load_image_folder(data_dir, image_size=image_size or 32, split_seed=split_seed)
    if image_size is not None:
        splits = splits.map(lambda d: d.resized(image_size))
    return splits
