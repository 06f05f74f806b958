"""An image-folder tree: one sub-folder per class (the ImageNet-100 layout).

Accepted layouts::

    root/train/<class>/*.{png,jpg,jpeg,bmp}  and  root/val/<class>/...   (val used as test)
    root/<class>/*.{png,...}                                             (seeded split)

Images are decoded with Pillow, converted to RGB (or L with ``channels=1``) and resized
to ``image_size``×``image_size``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from sslab.data.dataset import ImageDataset, Splits, carve_validation, stratified_split
from sslab.errors import DataError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
LAYOUT = "root/<class>/<image files> or root/{train,val}/<class>/<image files>"


def _class_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; expected layout {LAYOUT}")
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        raise DataError(f"no class sub-folders in {root}; expected layout {LAYOUT}")
    return dirs


def _read_image(path: Path, image_size: int, channels: int) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            img = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
            arr = np.asarray(img, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"cannot decode image {path} ({type(exc).__name__}): corrupt or not an image") from None
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def _listing(root: Path, classes: list[str] | None = None) -> list[tuple[Path, list[Path]]]:
    """(class folder, its image files) for each class folder of ``root``, checked for layout."""
    out = []
    for d in _class_dirs(root):
        if classes is not None and d.name not in classes:
            raise DataError(f"class folder {d} is not among the training classes {classes[:5]}...")
        files = sorted(p for p in d.iterdir() if p.suffix.lower() in EXTENSIONS and p.is_file())
        if not files:
            raise DataError(f"class folder {d} holds no images ({', '.join(sorted(EXTENSIONS))})")
        out.append((d, files))
    return out


def _trees(root: Path) -> tuple[Path, Path | None]:
    """(train tree, held-out tree or None for the single-tree layout)."""
    if (root / "train").is_dir() and ((root / "val").is_dir() or (root / "test").is_dir()):
        return root / "train", root / "val" if (root / "val").is_dir() else root / "test"
    return root, None


def check_image_folder(root: Path) -> None:
    """The layout is right (class folders holding image files), without decoding any image."""
    train, held = _trees(Path(root))
    listing = _listing(train)
    if held is not None:
        _listing(held, [d.name for d, _ in listing])


def load_tree(root: Path, image_size: int = 32, channels: int = 3, classes: list[str] | None = None) -> ImageDataset:
    listing = _listing(root, classes)
    names = classes or [d.name for d, _ in listing]
    index = {n: i for i, n in enumerate(names)}
    images, labels = [], []
    for d, files in listing:
        for f in files:
            images.append(_read_image(f, image_size, channels))
            labels.append(index[d.name])
    return ImageDataset(
        torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.long), names, root.name
    )


def load_image_folder(
    root: Path, image_size: int = 32, channels: int = 3, val_fraction: float = 0.1, split_seed: int = 0
) -> Splits:
    root = Path(root)
    train_root, held = _trees(root)
    if held is not None:
        train = load_tree(train_root, image_size, channels)
        test = load_tree(held, image_size, channels, classes=train.classes)
        splits = carve_validation(train, test, val_fraction, split_seed)
    else:
        ds = load_tree(root, image_size, channels)
        tr, va, te = stratified_split(ds.labels.numpy(), (0.7, val_fraction, 0.3 - val_fraction), split_seed)
        splits = Splits(ds.subset(tr), ds.subset(va), ds.subset(te))
    splits.info = {"split_seed": split_seed, "root": str(root), "image_size": image_size}
    return splits
