"""Foregrounds on real textures: digits (or silhouettes) alpha-composited over photographs.

Each foreground image f ∈ [0, 1] (a ``mnist-5k`` digit or an ``animal-mnist`` silhouette) is
used as the alpha of a white stroke over a crop b of one of the photographs and textures that
ship inside scikit-image's wheel (``skimage/data``, read from the installed files and checked
against their SHA-256; no network):

    x = f · 1 + (1 − f) · clip(c + γ · (b − mean(b)), 0, 1),        c = 0.5.

γ is the contrast knob of the label-irrelevant background: it scales the crop's deviation from
its own mean. γ = 0 gives a flat grey background, so x = 0.5 + 0.5 f is an affine image of the
clean foreground (identical after standardisation); γ = 1 keeps the photograph's contrast.

Split hygiene: the train, validation and test splits draw their crops from three disjoint
groups of source images (:data:`SOURCE_GROUPS`), so a probe cannot score by memorising
backgrounds. Each crop is a square of side s (log-uniform in [size, 3·size], capped by the
source) at a uniform position, area-averaged to size × size. All draws come from a NumPy
generator seeded by (seed, split); the crops do not depend on γ, so every γ uses the same images.
``sslab data show textured`` draws its sample grid with :func:`sslab.data.catalog.save_sample_grid`.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sslab.data.dataset import ImageDataset, Splits
from sslab.errors import DataError

SKIMAGE_VERSION = "0.26.0"  # the wheel whose files the checksums below describe
BACKGROUND_FILES: dict[str, str] = {
    "brick.png": "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf",
    "grass.png": "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89",
    "astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    "camera.png": "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
    "rocket.jpg": "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c",
    "coins.png": "f8d773fc9cfa6f4d8e5942dc34d0a0788fcaed2a4fefbbed0aef5398d7ef4cba",
    "motorcycle_left.png": "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
    "ihc.png": "f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef",
    "chelsea.png": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    "moon.png": "78739619d11f7eb9c165bb5d2efd4772cee557812ec847532dbb1d92ef71f577",
    "cell.png": "8d23a7fb81f7cc877cd09f330357fc7f595651306e84e17252f6e0a1b3f61515",
    "gravel.png": "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12",
    "coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    "hubble_deep_field.jpg": "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4",
    "retina.jpg": "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6",
}
# Disjoint groups, each mixing regular textures and photographs; motorcycle_right is left out
# because it is a near-copy of motorcycle_left.
SOURCE_GROUPS: dict[str, tuple[str, ...]] = {
    "train": ("brick.png", "grass.png", "astronaut.png", "camera.png", "rocket.jpg", "coins.png",
              "motorcycle_left.png", "ihc.png"),
    "val": ("chelsea.png", "moon.png", "cell.png"),
    "test": ("gravel.png", "coffee.png", "hubble_deep_field.jpg", "retina.jpg"),
}
GREY_LEVEL = 0.5  # c: the flat background at γ = 0
SPLIT_NAMES = ("train", "val", "test")


def skimage_data_dir() -> Path:
    """The ``data`` folder of the installed scikit-image (found without importing it)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"textured backgrounds need scikit-image's bundled images: pip install "
                        f"scikit-image=={SKIMAGE_VERSION}")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def read_background(name: str, data_dir: Path | None = None, mode: str = "L") -> np.ndarray:
    """One bundled source image as float32 in [0, 1], grey (H, W) or with ``mode="RGB"`` (H, W, 3),
    after its SHA-256 check."""
    from PIL import Image

    if name not in BACKGROUND_FILES:
        raise DataError(f"unknown background image {name!r}; choose from {', '.join(BACKGROUND_FILES)}")
    path = (data_dir or skimage_data_dir()) / name
    if not path.is_file():
        raise DataError(f"background image {path} is missing: pip install --force-reinstall "
                        f"scikit-image=={SKIMAGE_VERSION}")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != BACKGROUND_FILES[name]:
        raise DataError(f"background image {path} fails its checksum (sha256 {digest[:12]}…): pip install "
                        f"--force-reinstall scikit-image=={SKIMAGE_VERSION}")
    import io

    with Image.open(io.BytesIO(raw)) as im:
        return np.asarray(im.convert(mode), dtype=np.float32) / 255.0


@lru_cache(maxsize=4)
def _group_images(group: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    return tuple(read_background(n) for n in group)


def random_crops(
    sources: tuple[np.ndarray, ...], n: int, size: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """n crops (n, 1, size, size) in [0, 1] and the index of each crop's source image."""
    which = rng.integers(0, len(sources), n)
    out = torch.empty(n, 1, size, size)
    for i, k in enumerate(which):
        img = sources[k]
        h, w = img.shape
        side = round(float(np.exp(rng.uniform(np.log(size), np.log(3 * size)))))
        side = max(size, min(side, h, w))
        r, c = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = torch.from_numpy(np.ascontiguousarray(img[r : r + side, c : c + side]))[None, None]
        out[i] = F.adaptive_avg_pool2d(crop, size)[0]
    return out, torch.as_tensor(which, dtype=torch.long)


def composite(alpha: torch.Tensor, background: torch.Tensor, gamma: float) -> torch.Tensor:
    """x = f + (1 − f) · clip(c + γ (b − mean b), 0, 1), the mean taken per image (module docstring)."""
    if gamma < 0:
        raise DataError(f"background contrast gamma must be >= 0, got {gamma}")
    dev = background - background.mean(dim=(1, 2, 3), keepdim=True)
    bg = (GREY_LEVEL + gamma * dev).clamp(0.0, 1.0)
    return alpha + (1.0 - alpha) * bg


@dataclass
class TexturedSource:
    """Foregrounds (used as alpha), their background crops and the crops' source images,
    per split; :meth:`splits` composites them at any γ."""

    foreground: Splits
    backgrounds: dict[str, torch.Tensor]
    source_index: dict[str, torch.Tensor]
    foreground_name: str
    seed: int

    def sources_of(self, split: str) -> set[str]:
        """Names of the source images actually used by ``split``'s crops."""
        group = SOURCE_GROUPS[split]
        return {group[int(i)] for i in self.source_index[split].unique()}

    def dataset(self, split: str, gamma: float) -> ImageDataset:
        fg = getattr(self.foreground, split)
        images = composite(fg.images, self.backgrounds[split], gamma)
        return ImageDataset(images, fg.labels, fg.classes, f"textured-{self.foreground_name}-g{gamma:g}")

    def splits(self, gamma: float) -> Splits:
        info = {**self.foreground.info, "gamma": gamma, "foreground": self.foreground_name,
                "background_seed": self.seed, "background_sources": {s: list(SOURCE_GROUPS[s]) for s in SPLIT_NAMES}}
        return Splits(*(self.dataset(s, gamma) for s in SPLIT_NAMES), info)


def textured_source(foreground: Splits, foreground_name: str, seed: int = 0) -> TexturedSource:
    """Draw one background crop per foreground image, from the split's own source group."""
    size = foreground.train.image_shape[-1]
    if foreground.train.image_shape[0] != 1:
        raise DataError(f"textured compositing needs grey foregrounds, got {foreground.train.image_shape[0]} channels")
    backgrounds, index = {}, {}
    for k, split in enumerate(SPLIT_NAMES):
        rng = np.random.default_rng([seed, k])
        n = len(getattr(foreground, split))
        backgrounds[split], index[split] = random_crops(_group_images(SOURCE_GROUPS[split]), n, size, rng)
    return TexturedSource(foreground, backgrounds, index, foreground_name, seed)


def load_textured(
    foreground: str = "mnist-5k", gamma: float = 1.0, image_size: int | None = None, seed: int = 0
) -> Splits:
    """``textured`` in :func:`sslab.data.load_dataset`: foreground splits composited at γ."""
    from sslab.data import load_dataset

    fg = load_dataset(foreground, image_size=image_size or (28 if foreground == "digits" else None))
    return textured_source(fg, foreground, seed).splits(gamma)
