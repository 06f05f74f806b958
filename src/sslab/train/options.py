"""The options of ``sslab train`` as one value, and what they turn into (the ViT, the method's
keyword arguments, the training-loop config)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class TrainOptions:
    method: str
    dataset: str = "digits"
    data_dir: Path | None = None
    image_size: int = 8
    patch: int = 2
    preset: str = "cpu-tiny"
    epochs: int = 50
    batch_size: int = 128
    lr: float = 1.5e-3
    mask_ratio: float = 0.75
    uniformity_weight: float | None = None
    seed: int = 0
    checkpoint_every: int = 5
    eval_every: int = 5
    on_nan: str = "stop"
    out: Path = Path("runs/train")
    resume: bool = False
    nproc: int = 1
    device: str = "auto"
    precision: str = "fp32"
    compile: bool = False

    def method_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`sslab.methods.build_method` (recorded in the run config)."""
        kwargs: dict[str, Any] = {}
        if self.method in ("mae", "umae"):
            kwargs["mask_ratio"] = self.mask_ratio
            if self.uniformity_weight is not None:
                kwargs["uniformity_weight"] = self.uniformity_weight
        return kwargs

    def train_config(self):  # -> sslab.train.loop.TrainConfig (imported lazily: torch)
        from sslab.train.loop import TrainConfig

        return TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            seed=self.seed,
            checkpoint_every=self.checkpoint_every,
            eval_every=self.eval_every,
            on_nan=self.on_nan,  # type: ignore[arg-type]
            device=self.device,
            precision=self.precision,  # type: ignore[arg-type]
            compile=self.compile,
        )
