"""View generators: each has ``sample`` (batched, seeded) and, where exact, ``moments``."""

from sslab.views.base import View, monte_carlo_moments
from sslab.views.geometric import HorizontalFlip, RandomTranslate
from sslab.views.masking import Dropout, PatchMask
from sslab.views.multiblock import MultiBlockMasks, block_size
from sslab.views.noise import GaussianNoise
from sslab.views.token_masks import kept_patches, random_masking, random_order, visible_mask

__all__ = [
    "Dropout",
    "GaussianNoise",
    "HorizontalFlip",
    "MultiBlockMasks",
    "PatchMask",
    "RandomTranslate",
    "View",
    "block_size",
    "kept_patches",
    "monte_carlo_moments",
    "random_masking",
    "random_order",
    "visible_mask",
]
