"""`mask-ratio-probe` (Zhang et al. 2022, seed 001): MAE linear-probe accuracy against the mask
ratio ρ, next to the distance-based sweet spot of `mask-distance`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from pydantic import Field

from sslab.config import unused
from sslab.data import load_dataset
from sslab.experiments.base import Claim, Result, RunContext, register
from sslab.experiments.common import seeds_for
from sslab.experiments.deep_common import DeepConfig, beats, deep_setup, mean_std, pm, train_config
from sslab.experiments.mask_ratio import MaskDistanceConfig, distance_sweep
from sslab.progress import track
from sslab.train.pipeline import pretrain_and_evaluate


class MaskRatioProbeConfig(DeepConfig):
    ratios: list[float] = Field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 0.9], min_length=2)

    def conflicts(self, explicit: frozenset[str]) -> list[str]:
        return unused(self, explicit, "mask_ratio", False, "ratios gives the mask ratio of every run; put it in ratios")


@register(
    "mask-ratio-probe",
    paper="Zhang et al. 2022 (seed 001)",
    claim="MAE's linear accuracy depends on ρ; ρ = 0 (plain autoencoding) is worse than a high ratio",
    config=MaskRatioProbeConfig,
    quick={"epochs": 6, "seeds": 1, "finetune_epochs": 0, "ratios": [0.0, 0.5, 0.75, 0.9]},
    quick_time="~40 s",
    full_time="~6 min (digits)",
)
def run_probe(cfg: MaskRatioProbeConfig, ctx: RunContext) -> Result:
    splits, vit = deep_setup(cfg, ctx)
    acc: dict[float, list[float]] = {r: [] for r in cfg.ratios}
    for seed, rho in track([(s, r) for s in seeds_for(ctx.seed, cfg.seeds) for r in cfg.ratios], "mask ratios"):
        res = pretrain_and_evaluate("mae", vit, splits, train_config(cfg, seed), {"mask_ratio": rho})
        acc[rho].append(res.linear)
    means = [mean_std(acc[r])[0] for r in cfg.ratios]
    best = cfg.ratios[int(np.argmax(means))]
    raw = load_dataset(cfg.dataset, ctx.data_dir, cfg.image_size).train
    dcfg = MaskDistanceConfig(patch=cfg.patch, ratios=cfg.ratios, pairs=2000, modes=["min"], draws=4)
    ratio = distance_sweep(raw.images, raw.labels, dcfg, ctx.seed)["min"]["ratio"]
    spot = cfg.ratios[int(np.argmin(ratio))]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.errorbar(cfg.ratios, [100 * m for m in means], yerr=[100 * mean_std(acc[r])[1] for r in cfg.ratios],
                fmt="o-", capsize=3, label="MAE linear probe")
    ax.axvline(spot, color="C1", ls="--", label=f"distance sweet spot (min mode) ρ={spot:g}")
    ax.set_xlabel("mask ratio ρ")
    ax.set_ylabel("linear-probe test accuracy (%)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ctx.save_figure(fig, "mask_ratio_probe")
    zero = cfg.ratios.index(0.0) if 0.0 in cfg.ratios else None
    claims = [
        Claim(
            "a masked ratio beats ρ = 0 on linear probing (by more than one test image)",
            zero is not None and best != 0.0 and beats(max(means), means[zero], len(splits.test.labels)),
            "linear accuracy by ρ: " + ", ".join(f"{r:g}: {pm(acc[r])}" for r in cfg.ratios),
        ),
        Claim(
            "the best ρ for linear probing is the distance-based sweet spot (same grid point)",
            best == spot,
            f"best probe ρ = {best:g}; distance sweet spot ρ = {spot:g}",
        ),
    ]
    return Result(numbers={"linear_by_ratio": {str(k): v for k, v in acc.items()}, "best_ratio": best,
                           "distance_sweet_spot": spot}, claims=claims, headline="best_ratio")
