"""An image-folder tree: one sub-folder per class (the ImageNet-100 layout).

Accepted layouts::

    root/train/<class>/*.{png,jpg,jpeg,bmp}  and  root/val/<class>/...   (val used as test)
    root/<class>/*.{png,...}                                             (seeded split)

Images are decoded with Pillow, converted to RGB (or L with ``channels=1``) and resized
to ``image_size``×``image_size``.

Files are untrusted: an image whose header claims more than :data:`MAX_IMAGE_PIXELS` pixels
(a decompression bomb: a few KB that inflate to gigabytes) is refused before it is decoded,
Pillow's own bomb warning is an error here, and any decoder failure is a one-line DataError.
A folder must have at least two classes, and every class enough images that each split
(train / validation / test) holds it; the check runs on file names, before any decoding.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from sslab.data.dataset import ImageDataset, Splits, carve_validation, min_per_class, stratified_split
from sslab.errors import DataError

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
LAYOUT = "root/<class>/<image files> or root/{train,val}/<class>/<image files>"
# 8192 x 8192: above any photograph a lab would resize to <= 256 pixels (ImageNet's largest are
# ~ 5000 x 4000), below Pillow's 89.5 M-pixel warning; decoding the largest allowed RGB image
# takes 200 MB.
MAX_IMAGE_PIXELS = 8192 * 8192
VAL_FRACTION = 0.1


def _class_dirs(root: Path) -> list[Path]:
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist; expected layout {LAYOUT}")
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not dirs:
        raise DataError(f"no class sub-folders in {root}; expected layout {LAYOUT}")
    return dirs


def _bomb(path: Path, pixels: int | None = None) -> DataError:
    size = f"{pixels:,} pixels" if pixels is not None else "too many pixels"
    return DataError(
        f"image {path} has {size}, more than the {MAX_IMAGE_PIXELS:,} allowed: a decompression bomb "
        f"or a huge image; remove it or shrink it"
    )


def _read_image(path: Path, image_size: int, channels: int) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:  # reads the header only
                if img.width * img.height > MAX_IMAGE_PIXELS:
                    raise _bomb(path, img.width * img.height)
                img = img.convert("L" if channels == 1 else "RGB")
                img = img.resize((image_size, image_size), Image.Resampling.BILINEAR)
                arr = np.asarray(img, dtype=np.float32) / 255.0
    except DataError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _bomb(path) from None
    except Exception as exc:  # an untrusted file may break a decoder in any way
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


def _check_counts(root: Path, listing: list[tuple[Path, list[Path]]], fractions: tuple[float, ...]) -> None:
    """At least two classes, and every class big enough that each part of its split holds it."""
    if len(listing) < 2:
        only = f" (only {listing[0][0].name!r})" if listing else ""
        raise DataError(
            f"image folder {root} has {len(listing)} class folder{only}; a probe needs at least 2 classes, "
            f"expected layout {LAYOUT}"
        )
    need = min_per_class(fractions)
    for d, files in listing:
        if len(files) < need:
            raise DataError(
                f"class folder {d} holds {len(files)} image{'s' if len(files) != 1 else ''}; every class needs "
                f"at least {need} so that the train, validation and test splits each hold it"
            )


def check_image_folder(root: Path, val_fraction: float = VAL_FRACTION) -> None:
    """The layout is right (>= 2 class folders, each with enough image files), without decoding."""
    root = Path(root)
    train, held = _trees(root)
    listing = _listing(train)
    if held is None:
        _check_counts(root, listing, (0.7, val_fraction, 0.3 - val_fraction))
    else:
        _check_counts(train, listing, (1 - val_fraction, val_fraction))
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
    root: Path, image_size: int = 32, channels: int = 3, val_fraction: float = VAL_FRACTION, split_seed: int = 0
) -> Splits:
    root = Path(root)
    check_image_folder(root, val_fraction)
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
