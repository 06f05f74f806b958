"""Write a synthetic image folder in the ImageNet layout (root/<class>/<n>.jpg) for data benchmarks.

Each image is a smooth random colour field (a few low-frequency sinusoids per channel plus
mild noise), saved as a JPEG of quality 90, so decoding costs what a real photo of the same
size costs. The folder is written once: an existing complete folder (``.complete`` marker
holding the same parameters) is reused.

    python benchmarks/synthetic_folder.py OUT --images 40000 --size 96 --classes 100
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image


def write_synthetic_folder(root: Path, images: int, size: int = 96, classes: int = 100, seed: int = 0) -> Path:
    """``images`` JPEGs of size×size spread evenly over ``classes`` class folders under ``root``."""
    root = Path(root)
    params = {"images": images, "size": size, "classes": classes, "seed": seed}
    marker = root / ".complete"
    if marker.is_file() and json.loads(marker.read_text()) == params:
        return root
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    for c in range(classes):
        (root / f"class{c:03d}").mkdir(parents=True, exist_ok=True)
    for n in range(images):
        freq = rng.uniform(0.5, 4.0, size=(3, 2))
        phase = rng.uniform(0, 2 * np.pi, size=(3,))
        field = np.sin(2 * np.pi * (freq[:, :1, None] * xx + freq[:, 1:, None] * yy) + phase[:, None, None])
        pixels = 127.5 + 100 * field + rng.normal(0, 8, size=field.shape)
        arr = np.clip(pixels, 0, 255).astype(np.uint8).transpose(1, 2, 0)
        Image.fromarray(arr).save(root / f"class{n % classes:03d}" / f"{n:07d}.jpg", quality=90)
    marker.write_text(json.dumps(params))
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--images", type=int, default=40_000)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--classes", type=int, default=100)
    args = parser.parse_args()
    print(write_synthetic_folder(args.out, args.images, args.size, args.classes))


if __name__ == "__main__":
    main()
