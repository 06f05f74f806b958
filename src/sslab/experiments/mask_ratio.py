"""The mask ratio through the lens of Zhang et al. 2022 (seed 001, Sec. 3-4, Fig. 2-3):

* `mask-distance` — average distances between masked views of intra-class, inter-class and all
  pairs vs ρ, and the intra/inter ratio (paper: minimum near ρ ≈ 0.7 on ImageNet-100), under
  the three distance conventions of :mod:`sslab.theory.mask_graph`;
* `mask-graph` — the bipartite augmentation graph, λ_{k+1} of its Laplacian and the labelling
  error α vs ρ, and the Thm 4.4 bound √(2α)/λ_{k+1};

`mask-ratio-probe` (MAE linear-probe accuracy vs ρ) lives in :mod:`sslab.experiments.mask_ratio_probe`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from pydantic import Field
from scipy.stats import spearmanr

from sslab.config import ExperimentConfig, unused
from sslab.data import load_dataset
from sslab.experiments.base import Claim, Result, RunContext, register
from sslab.progress import track
from sslab.theory.mask_graph import augmentation_graph, masked_distance_stats, ratio_ci

MODES = ("same", "independent", "min")


class MaskDistanceConfig(ExperimentConfig):
    dataset: str = Field("digits", description="digits, or auto/cifar10/... with --data-dir")
    patch: int = Field(2, ge=1, le=32)
    ratios: list[float] = Field(default_factory=lambda: [round(0.05 * i, 2) for i in range(20)], min_length=2)
    pairs: int = Field(20000, ge=100, le=10_000_000, description="sampled pairs per kind and ratio")
    draws: int = Field(8, ge=1, le=256, description="mask pairs per image pair in mode 'min'")
    modes: list[str] = Field(default_factory=lambda: list(MODES), min_length=1)

    def conflicts(self, explicit: frozenset[str]) -> list[str]:
        return unused(self, explicit, "draws", "min" in self.modes,
                      "only mode 'min' draws several mask pairs and modes has no min; add min to modes or drop draws")


def distance_sweep(images, labels, cfg: MaskDistanceConfig, seed: int) -> dict[str, dict[str, list[float]]]:
    import torch

    out: dict[str, dict[str, list[float]]] = {}
    for mode in cfg.modes:
        rec = {k: [] for k in ("intra", "inter", "all", "intra_ci", "inter_ci", "all_ci", "ratio", "ratio_ci")}
        g = torch.Generator().manual_seed(seed)
        for rho in track(cfg.ratios, f"ratios ({mode})"):
            st = masked_distance_stats(images, labels, rho, cfg.patch, mode, cfg.pairs, g, draws=cfg.draws)
            for kind in ("intra", "inter", "all"):
                rec[kind].append(st[kind].mean)
                rec[f"{kind}_ci"].append(st[kind].ci95)
            r, rci = ratio_ci(st["intra"], st["inter"])
            rec["ratio"].append(r)
            rec["ratio_ci"].append(rci)
        out[mode] = rec
    return out


@register(
    "mask-distance",
    paper="Zhang et al. 2022 (seed 001, Fig. 3)",
    claim="the intra/inter-class distance ratio of masked views falls then rises, lowest near ρ ≈ 0.7",
    config=MaskDistanceConfig,
    quick={"pairs": 2000, "draws": 4},
    quick_time="~15 s",
    full_time="~2 min (digits); ~10 min (CIFAR-10, 50k images)",
)
def run_distance(cfg: MaskDistanceConfig, ctx: RunContext) -> Result:
    for m in cfg.modes:
        if m not in MODES:
            from sslab.errors import ConfigError

            raise ConfigError(f"unknown distance mode {m!r}; choose from {', '.join(MODES)}")
    ds = load_dataset(cfg.dataset, ctx.data_dir).train
    sweep = distance_sweep(ds.images, ds.labels, cfg, ctx.seed)
    rhos = np.array(cfg.ratios)
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6))
    for j, (key, title) in enumerate((("intra", "(a) intra-class"), ("inter", "(b) inter-class"),
                                      ("all", "(c) all pairs"), ("ratio", "(d) intra / inter"))):
        for i, mode in enumerate(cfg.modes):
            y, ci = np.array(sweep[mode][key]), np.array(sweep[mode][f"{key}_ci"])
            axes[j].plot(rhos, y, "o-", ms=3, color=f"C{i}", label=mode)
            axes[j].fill_between(rhos, y - ci, y + ci, color=f"C{i}", alpha=0.25)
        axes[j].set_title(title)
        axes[j].set_xlabel("mask ratio ρ")
        axes[j].grid(alpha=0.3)
    axes[0].set_ylabel("mean L2 distance of masked views")
    axes[3].axvline(0.7, color="gray", ls=":", label="paper: 0.7")
    axes[3].legend(fontsize=8)
    ctx.save_figure(fig, "mask_distance")
    claims, spots = [], {}
    for mode in cfg.modes:
        r = np.array(sweep[mode]["ratio"])
        i = int(np.argmin(r))
        spots[mode] = float(rhos[i])
        interior = 0 < i < len(rhos) - 1
        claims.append(
            Claim(
                f"[{mode}] the intra/inter ratio falls then rises (minimum at an interior ρ)",
                interior and r[0] > r[i] < r[-1],
                f"minimum {r[i]:.4f} ± {sweep[mode]['ratio_ci'][i]:.4f} at ρ = {rhos[i]:.2f} "
                f"(ρ=0: {r[0]:.4f}, ρ={rhos[-1]:.2f}: {r[-1]:.4f}); paper ≈ 0.7 on ImageNet-100",
            )
        )
    return Result(
        numbers={"ratios": cfg.ratios, "sweep": sweep, "sweet_spot": spots, "sweet_spot_min_mode": spots.get("min")},
        claims=claims,
        headline="sweet_spot_min_mode" if "min" in spots else None,
        notes=f"{len(ds)} {ds.name} training images, patch {cfg.patch}, {cfg.pairs} pairs per kind and ratio.",
    )


class MaskGraphConfig(ExperimentConfig):
    patch: int = Field(2, ge=1, le=8)
    ratios: list[float] = Field(default_factory=lambda: [i / 16 for i in range(1, 16, 2)], min_length=3)
    views: int = Field(800, ge=50, le=5000, description="sampled (anchor, mask) draws = graph nodes per side")
    neighbours: int = Field(7, ge=1, le=100, description="k of the nearest-neighbour kernel")


@register(
    "mask-graph",
    paper="Zhang et al. 2022 (seed 001, Sec. 4, Thm 4.4)",
    claim="larger ρ raises λ_{k+1} (connectivity) and the labelling error α: the bound is best at an intermediate ρ",
    config=MaskGraphConfig,
    quick={"views": 400},
    quick_time="~5 s",
    full_time="~20 s",
)
def run_graph(cfg: MaskGraphConfig, ctx: RunContext) -> Result:
    import torch

    ds = load_dataset("digits").train
    g = torch.Generator().manual_seed(ctx.seed)
    lam, alpha, top = [], [], []
    for rho in track(cfg.ratios, "mask ratios"):
        spec = augmentation_graph(
            ds.images, ds.labels, rho, cfg.patch, cfg.views, ds.num_classes, g, neighbours=cfg.neighbours
        )
        lam.append(spec.lambda_k1)
        alpha.append(spec.label_error)
        top.append(spec.singular_values[:15].tolist())
    bound = [float(np.sqrt(2 * a) / max(lk, 1e-12)) for a, lk in zip(alpha, lam, strict=True)]
    rhos = np.array(cfg.ratios)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    axes[0].plot(rhos, lam, "o-")
    axes[0].set_title("λ_{k+1} of the graph Laplacian (k = 10)")
    axes[1].plot(rhos, alpha, "o-", color="C1")
    axes[1].set_title("labelling error α")
    axes[2].plot(rhos, bound, "o-", color="C2")
    axes[2].set_title("Thm 4.4 bound √(2α) / λ_{k+1}")
    for ax in axes:
        ax.set_xlabel("mask ratio ρ")
        ax.grid(alpha=0.3)
    ctx.save_figure(fig, "mask_graph")
    rho_lam = float(spearmanr(rhos, lam).statistic)
    rho_alpha = float(spearmanr(rhos, alpha).statistic)
    best = int(np.argmin(bound))
    return Result(
        numbers={"ratios": cfg.ratios, "lambda_k1": lam, "label_error": alpha, "bound": bound,
                 "top_singular_values": top, "best_ratio": float(rhos[best])},
        claims=[
            Claim("λ_{k+1} grows with the mask ratio", rho_lam > 0.8,
                  f"Spearman ρ(ratio, λ_k+1) = {rho_lam:.2f}; λ_k+1 = {[round(v, 4) for v in lam]}"),
            Claim("the labelling error α grows with the mask ratio", rho_alpha > 0.8,
                  f"Spearman ρ(ratio, α) = {rho_alpha:.2f}; α = {[round(v, 4) for v in alpha]}"),
            Claim("the bound √(2α)/λ_{k+1} is minimised at an intermediate ratio", 0 < best < len(rhos) - 1,
                  f"minimum {bound[best]:.3f} at ρ = {rhos[best]:.3f}"),
        ],
        headline="best_ratio",
        notes=f"digits train split, patch {cfg.patch}, {cfg.views} views per side, {cfg.neighbours}-nearest-neighbour "
        "kernel.",
    )
