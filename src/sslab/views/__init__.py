"""Every view sslab makes: the theory's linear views (``sample``, batched and seeded, and, where
exact, ``moments``), SimCLR's augmentations (:class:`Augment`), MAE's random token masks
(:func:`random_masking`) and I-JEPA's multi-block masks (:class:`MultiBlockMasks`)."""

from sslab.views.augment import Augment
from sslab.views.base import View, monte_carlo_moments
from sslab.views.geometric import HorizontalFlip, RandomTranslate
from sslab.views.masking import Dropout, PatchMask
from sslab.views.multiblock import MultiBlockMasks, block_size
from sslab.views.noise import GaussianNoise
from sslab.views.token_masks import kept_patches, random_masking, random_order, visible_mask

__all__ = [
    "Augment",
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
