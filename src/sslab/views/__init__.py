"""View generators: each has ``sample`` (batched, seeded) and, where exact, ``moments``."""

from sslab.views.base import View, monte_carlo_moments
from sslab.views.geometric import HorizontalFlip, RandomTranslate
from sslab.views.masking import Dropout, PatchMask
from sslab.views.noise import GaussianNoise

__all__ = [
    "Dropout",
    "GaussianNoise",
    "HorizontalFlip",
    "PatchMask",
    "RandomTranslate",
    "View",
    "monte_carlo_moments",
]
