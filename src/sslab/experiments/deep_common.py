"""Shared configuration of the deep-pipeline experiments."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from sslab.config import ExperimentConfig
from sslab.data import Splits, load_dataset
from sslab.experiments.base import RunContext
from sslab.models.vit import ViTConfig, vit_config
from sslab.train.loop import TrainConfig


def distinct_methods(methods: list[str]) -> list[str]:
    """Each method once: a repeated method would pool its runs as extra seeds."""
    twice = sorted({m for m in methods if methods.count(m) > 1})
    if twice:
        raise ValueError(f"methods lists {', '.join(twice)} more than once; give each method once")
    return methods


class DeepConfig(ExperimentConfig):
    dataset: str = Field("digits", description="digits, or auto/cifar10/... with --data-dir")
    image_size: int = Field(8, ge=4, le=256, description="image side after resizing")
    patch: int = Field(2, ge=1, le=32)
    preset: Literal["cpu-tiny", "vit-tiny", "vit-small", "vit-base"] = "cpu-tiny"
    depth: int | None = Field(None, ge=1, le=48, description="override the preset's encoder depth")
    epochs: int = Field(60, ge=1, le=100_000)
    batch_size: int = Field(128, ge=2, le=65_536)
    lr: float = Field(1.5e-3, gt=0, le=1)
    weight_decay: float = Field(0.05, ge=0, le=10)
    mask_ratio: float = Field(0.75, ge=0, lt=1)
    seeds: int = Field(3, ge=1, le=100, description="number of seeds (mean ± std)")
    finetune_epochs: int = Field(15, ge=0, le=10_000)
    device: str = Field("cpu", pattern=r"^(cpu|auto|cuda(:\d+)?)$", description="pre-training device")
    precision: Literal["fp32", "bf16"] = Field("fp32", description="bf16: autocast during pre-training")

    @model_validator(mode="after")
    def _patch_tiles_image(self) -> DeepConfig:
        if self.image_size % self.patch:
            raise ValueError(f"image_size={self.image_size} is not divisible by patch={self.patch}")
        return self


def deep_setup(cfg: DeepConfig, ctx: RunContext) -> tuple[Splits, ViTConfig]:
    splits = load_dataset(cfg.dataset, ctx.data_dir, cfg.image_size).standardized()
    overrides = {} if cfg.depth is None else {"depth": cfg.depth}
    vit = vit_config(
        cfg.preset, image_size=cfg.image_size, patch=cfg.patch, channels=splits.train.image_shape[0], **overrides
    )
    return splits, vit


def train_config(cfg: DeepConfig, seed: int, **extra) -> TrainConfig:
    return TrainConfig(
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        warmup_epochs=max(1, cfg.epochs // 10),
        seed=seed,
        checkpoint_every=max(1, cfg.epochs),
        tensorboard=False,
        device=cfg.device,
        precision=cfg.precision,
        **extra,
    )


def mean_std(values: list[float]) -> tuple[float, float]:
    import statistics

    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def beats(a: float, b: float, n_test: int) -> bool:
    """Accuracy a is higher than b by more than one test image (1/n_test): the smallest
    difference the test set can resolve; a strict ``a > b`` would count roundoff as a win."""
    return a - b > 1 / n_test


def paired_gain(new: list[float], old: list[float], resolution: float) -> tuple[float, float, bool]:
    """Mean over seeds of new − old (same seeds), its standard error, and whether the gain is
    real: larger than both its standard error and ``resolution`` (e.g. one test image, 1/N_test).
    A strict ``mean(new) > mean(old)`` would call a roundoff-level difference an improvement."""
    import statistics

    diffs = [a - b for a, b in zip(new, old, strict=True)]
    gain = statistics.fmean(diffs)
    se = statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else 0.0
    return gain, se, gain > max(se, resolution)


def pm(values: list[float]) -> str:
    m, s = mean_std(values)
    return f"{100 * m:.1f} ± {100 * s:.1f}"
