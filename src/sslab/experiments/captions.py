"""Words for figure captions: how many seeds a figure shows, what its intervals are, and the
data and model a deep experiment's figure was made on. Captions are built from the run's own
config, so they say what was run, not what the defaults are."""

from __future__ import annotations

from typing import Any


def count(n: int, word: str) -> str:
    """``1 epoch`` or ``n epochs``: a number with its noun, singular for one."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def seed_count(n: int) -> str:
    """``1 seed`` or ``n seeds``."""
    return count(n, "seed")


def spread_text(n: int, what: str = "error bars") -> str:
    """What an interval over ``n`` seeds is: a 95% t-interval, or none with one seed (never '± 0')."""
    return f"{what}: 95% t-interval over {n} seeds" if n > 1 else "1 seed, so no interval"


def deep_setting(setup: Any) -> str:
    """The data, encoder and pre-training budget of a deep experiment (a ``DeepSetup``)."""
    cfg, vit, splits = setup.cfg, setup.vit, setup.splits
    size = f"{cfg.image_size}×{cfg.image_size}"
    images = f"{len(splits.train)} train / {len(splits.val)} validation / {len(splits.test)} test images"
    return (f"{cfg.dataset} at {size} ({images}); ViT width {vit.dim}, depth {vit.depth}, patch {cfg.patch}; "
            f"{count(cfg.epochs, 'pre-training epoch')}, batch {cfg.batch_size}; {seed_count(len(setup.seeds))}")
