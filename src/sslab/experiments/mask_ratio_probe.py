"""`mask-ratio-probe` (Zhang, Wang & Wang 2022): MAE linear-probe accuracy against the mask
ratio ρ, next to the raw-pixel and random-init baselines and the distance-based sweet spot of
`mask-distance`.

The best ρ > 0 is chosen on *validation* accuracy; its test accuracy is compared once, paired
over seeds, with plain autoencoding (ρ = 0). The ρ = 0.75 arm is the MAE run that ssl-compare,
umae-vs-mae and umae-lambda use (same cache key).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from pydantic import Field

from sslab.config import unused
from sslab.data import load_dataset
from sslab.errors import ConfigError
from sslab.experiments.base import Result, RunContext, register
from sslab.experiments.captions import count, deep_setting, seed_count, spread_text
from sslab.experiments.deep_common import (
    QUICK_RECIPE,
    ArmTable,
    DeepConfig,
    add_baselines,
    deep_setup,
    gate_claim,
    learning_gate,
    method_kwargs,
    paired_claim,
    plot_grid,
    run_arm,
    select_on_val,
)
from sslab.experiments.mask_ratio import MaskDistanceConfig, distance_sweep

SWEET_SPOT_MARGIN = -2.0  # pt: the sweet spot "is as good as" the chosen ρ = paired CI above −2 pt


class MaskRatioProbeConfig(DeepConfig):
    ratios: list[float] = Field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 0.9], min_length=2)

    def conflicts(self, explicit: frozenset[str]) -> list[str]:
        return unused(self, explicit, "mask_ratio", False, "ratios gives the mask ratio of every run; put it in ratios")


def arm_name(rho: float) -> str:
    return f"ρ={rho:g}"


@register(
    "mask-ratio-probe",
    paper="Zhang, Wang & Wang 2022 (Sec. 3)",
    claim="MAE's linear accuracy depends on ρ; the ρ > 0 chosen on validation beats plain autoencoding (ρ = 0)",
    config=MaskRatioProbeConfig,
    quick={**QUICK_RECIPE, "ratios": [0.0, 0.5, 0.75, 0.9]},
    quick_time="~3 min (192 s measured in make demo; ρ=0.75 shared with ssl-compare)",
    full_time="~40 min alone (150 epochs, 5 seeds, 5 ratios; estimated from per-epoch costs)",
)
def run_probe(cfg: MaskRatioProbeConfig, ctx: RunContext) -> Result:
    ratios = sorted(set(cfg.ratios))
    if 0.0 not in ratios or len(ratios) < 2:
        raise ConfigError(f"ratios must contain 0 and at least one ρ > 0, got {cfg.ratios}")
    setup = deep_setup(cfg, ctx)
    table = ArmTable()
    setup.prefetch([("mae", method_kwargs("mae", cfg, mask_ratio=rho)) for rho in ratios])
    add_baselines(table, setup, ctx)
    for rho in ratios:
        run_arm(table, setup, ctx, arm_name(rho), "mae", method_kwargs("mae", cfg, mask_ratio=rho))
    best = select_on_val({rho: table.get(arm_name(rho), "val_linear") for rho in ratios if rho > 0})
    raw = load_dataset(cfg.dataset, ctx.data_dir, cfg.image_size).train
    dcfg = MaskDistanceConfig(patch=cfg.patch, ratios=ratios, pairs=2000, modes=["min"], draws=4)
    spot = ratios[int(np.argmin(distance_sweep(raw.images, raw.labels, dcfg, ctx.seed)["min"]["ratio"]))]
    g = learning_gate(table, [arm_name(best)])
    claims = [
        gate_claim(table, g, [arm_name(best)]),
        paired_claim(f"the ρ > 0 chosen on validation (ρ={best:g}) beats ρ = 0 on linear probing",
                     table, arm_name(best), arm_name(0.0), "linear", 0.0, g, setup.seeds,
                     extra="validation linear by ρ: " + ", ".join(
                         f"{r:g}: {table.summary(arm_name(r), 'val_linear').text(unit='%')}" for r in ratios)),
    ]
    if spot != best:
        claims.append(paired_claim(
            f"the distance-based sweet spot ρ={spot:g} is as good as the validation choice ρ={best:g} "
            f"(paired loss under {-SWEET_SPOT_MARGIN:g} pt)", table, arm_name(spot), arm_name(best), "linear",
            SWEET_SPOT_MARGIN, g, setup.seeds))
    n = len(setup.seeds)
    fig, ax = plt.subplots(figsize=(8.5, 4.0), layout="constrained")
    plot_grid(ax, table, ratios, [arm_name(r) for r in ratios], "MAE")
    ax.axvline(spot, color="C1", ls="--", label=f"distance sweet spot (min mode) $\\rho = {spot:g}$")
    ax.axvline(best, color="C2", alpha=0.4, label=f"chosen on validation $\\rho = {best:g}$")
    ax.set_xlabel(r"mask ratio $\rho$")
    ax.set_ylabel("linear-probe accuracy (%)")
    ax.set_title(f"{cfg.dataset}, {seed_count(n)}, {count(cfg.epochs, 'epoch')}")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(alpha=0.3)
    ctx.save_figure(fig, "mask_ratio_probe", caption=(
        f"Linear-probe accuracy (test and validation splits) of MAE encoders pre-trained at mask ratio ρ "
        f"({', '.join(f'{r:g}' for r in ratios)}), mean over {seed_count(n)} ({spread_text(n)}); dashed and "
        "dotted horizontal lines: the raw-pixel and random-init linear probes; vertical lines: the ratio where "
        "the intra/inter distance ratio of masked views is lowest (mode min, {dcfg.pairs} pairs, seed "
        f"{ctx.seed}) and the ratio chosen on validation. Data: {deep_setting(setup)}"))
    gain = table.diff(arm_name(best), arm_name(0.0), "linear")
    return Result(numbers={"arms": table.records(), "chosen_ratio": best, "distance_sweet_spot": spot,
                           "best_minus_zero": gain.mean, "best_minus_zero_ci95": [gain.lo, gain.hi],
                           "pretraining": setup.shared_runs()},
                  claims=claims, headline="best_minus_zero")
