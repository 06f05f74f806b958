"""The mask ratio through the lens of Zhang, Wang & Wang 2022 (Sec. 3-4, Fig. 2-3;
``docs/theory/zhang-2022-mask-graph.md``):

* `mask-distance` — average distances between masked views of intra-class, inter-class and all
  pairs vs ρ, and the intra/inter ratio (paper: minimum near ρ ≈ 0.7 on ImageNet-100), under
  the three distance conventions of :mod:`sslab.theory.mask_graph`;
* `mask-graph` — the bipartite augmentation graph, λ_{k+1} of its Laplacian and the labelling
  error α vs ρ, and the Thm 4.4 bound √(2α)/λ_{k+1};

Both run ≥ 3 seeds (each seed draws its own pairs, masks and views; ``--seed`` is the first) and
decide trends over all ratios: a rank correlation's 95 % t-interval over seeds, or the interval
of the per-seed fitted minimum (``TESTS``). `mask-ratio-probe` (MAE linear-probe accuracy vs ρ)
lives in :mod:`sslab.experiments.mask_ratio_probe`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from pydantic import Field

from sslab.config import ExperimentConfig, unused
from sslab.data import load_dataset
from sslab.experiments.base import Claim, Result, RunContext, register
from sslab.experiments.captions import seed_count
from sslab.experiments.common import ci_text, falls_then_rises, seeds_for
from sslab.progress import track
from sslab.stats import Summary, decide, spearman_ci
from sslab.theory.mask_graph import augmentation_graph, masked_distance_stats, ratio_ci

MODES = ("same", "independent", "min")

TESTS = {
    "distance": "per seed: the least-squares parabola through the intra/inter ratio at all ρ; its curvature "
                "(÷ mean) and where it is lowest on the ρ range. Held if the 95% t-CI of the curvature is > 0 and "
                "that of the minimum lies strictly inside the range; not held if the curvature CI is < 0, or > 0 "
                "with the minimum's CI at or beyond an end; inconclusive otherwise (e.g. a flat curve)",
    "lambda": "per seed: Spearman ρ(mask ratio, λ_k+1) over all ratios; held if the 95% t-CI over seeds is > 0, "
              "not held if < 0",
    "alpha": "per seed: Spearman ρ(mask ratio, α) over all ratios; held if the 95% t-CI over seeds is > 0, "
             "not held if < 0",
    "bound": "per seed: the parabola through √(2α)/λ_k+1 at all ratios; the same curvature and fitted-minimum "
             "rule as mask-distance",
}


class MaskDistanceConfig(ExperimentConfig):
    dataset: str = Field("digits", description="digits, or auto/cifar10/... with --data-dir")
    patch: int = Field(2, ge=1, le=32)
    ratios: list[float] = Field(default_factory=lambda: [round(0.05 * i, 2) for i in range(20)], min_length=2)
    pairs: int = Field(20000, ge=100, le=10_000_000, description="sampled pairs per kind and ratio")
    draws: int = Field(8, ge=1, le=256, description="mask pairs per image pair in mode 'min'")
    modes: list[str] = Field(default_factory=lambda: list(MODES), min_length=1)
    seeds: int = Field(5, ge=1, le=100, description="independent pair/mask draws (first seed: --seed)")

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


def decide_distance(rhos: list[float], curves: list[list[float]]) -> tuple[str, Summary, Summary]:
    """Verdict of "falls then rises" from one intra/inter-ratio curve per seed."""
    return falls_then_rises(rhos, curves)


@register(
    "mask-distance",
    paper="Zhang et al. 2022 (Fig. 3)",
    claim="the intra/inter-class distance ratio of masked views falls then rises, lowest near ρ ≈ 0.7",
    config=MaskDistanceConfig,
    quick={"pairs": 1000, "draws": 4, "seeds": 3, "ratios": [round(0.1 * i, 1) for i in range(10)]},
    quick_time="~1 s",
    full_time="~10 min (digits); ~50 min (CIFAR-10, 50k images)",
)
def run_distance(cfg: MaskDistanceConfig, ctx: RunContext) -> Result:
    for m in cfg.modes:
        if m not in MODES:
            from sslab.errors import ConfigError

            raise ConfigError(f"unknown distance mode {m!r}; choose from {', '.join(MODES)}")
    ds = load_dataset(cfg.dataset, ctx.data_dir).train
    seeds = seeds_for(ctx.seed, cfg.seeds)
    sweeps = [distance_sweep(ds.images, ds.labels, cfg, s) for s in seeds]
    sweep = sweeps[0]
    rhos = np.array(cfg.ratios)
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2), layout="constrained")
    for j, (key, title) in enumerate((("intra", "(a) intra-class"), ("inter", "(b) inter-class"),
                                      ("all", "(c) all pairs"), ("ratio", "(d) intra / inter"))):
        for i, mode in enumerate(cfg.modes):
            y, ci = np.array(sweep[mode][key]), np.array(sweep[mode][f"{key}_ci"])
            axes[j].plot(rhos, y, "o-", ms=3, color=f"C{i}", label=f"mode {mode}")
            axes[j].fill_between(rhos, y - ci, y + ci, color=f"C{i}", alpha=0.25)
        axes[j].set_title(title)
        axes[j].set_xlabel(r"mask ratio $\rho$")
        axes[j].grid(alpha=0.3)
    axes[0].set_ylabel("mean L2 distance of masked views")
    axes[3].set_ylabel("distance ratio intra / inter")
    axes[3].axvline(0.7, color="gray", ls=":", label=r"paper's sweet spot $\rho = 0.7$")
    fig.legend(*axes[3].get_legend_handles_labels(), loc="outside lower center", ncols=len(cfg.modes) + 1,
               fontsize=8)  # below the panels, off the curves
    ctx.save_figure(fig, "mask_distance", caption=(
        f"Mean L2 distance between masked views of {ds.name} training images ({len(ds)} images, patch "
        f"{cfg.patch}) against mask ratio ρ: (a) same-class pairs, (b) different-class pairs, (c) all pairs, "
        f"(d) the intra / inter ratio; one line per mask mode ({', '.join(cfg.modes)}), {cfg.pairs} pairs per kind "
        f"and ratio, {cfg.draws} mask draws per pair in mode min. Shown: seed {seeds[0]}, the first of "
        f"{seed_count(len(seeds))} (the claim fits all); shading: 95% interval over the sampled pairs of that "
        "seed. Dotted line: ρ = 0.7, the paper's sweet spot on ImageNet-100"))
    claims, spots = [], {}
    for mode in cfg.modes:
        curves = [sw[mode]["ratio"] for sw in sweeps]
        verdict, spot, curv = decide_distance(cfg.ratios, curves)
        spots[mode] = spot.record()
        argmins = [float(rhos[int(np.argmin(c))]) for c in curves]
        claims.append(Claim(
            f"[{mode}] the intra/inter ratio falls then rises (minimum at an interior ρ)", verdict,
            f"fitted minimum ρ* = {ci_text(spot, 2)}, relative curvature {ci_text(curv, 3)} (95% CIs, {len(seeds)} "
            f"seeds; range {rhos[0]:g}–{rhos[-1]:g}); "
            f"grid argmin per seed {argmins}; paper ≈ 0.7 on ImageNet-100",
            TESTS["distance"]))
    return Result(
        numbers={"ratios": cfg.ratios, "seeds": seeds, "sweep": sweep, "ratio_curves": {
            mode: [sw[mode]["ratio"] for sw in sweeps] for mode in cfg.modes}, "fitted_minimum": spots,
            "sweet_spot_min_mode": spots["min"]["mean"] if "min" in spots else None},
        claims=claims,
        headline="sweet_spot_min_mode" if "min" in spots else None,
        notes=f"{len(ds)} {ds.name} training images, patch {cfg.patch}, {cfg.pairs} pairs per kind and ratio, "
        f"seeds {seeds}.",
    )


class MaskGraphConfig(ExperimentConfig):
    patch: int = Field(2, ge=1, le=8)
    ratios: list[float] = Field(default_factory=lambda: [i / 16 for i in range(1, 16, 2)], min_length=3)
    views: int = Field(800, ge=50, le=5000, description="sampled (anchor, mask) draws = graph nodes per side")
    neighbours: int = Field(7, ge=1, le=100, description="k of the nearest-neighbour kernel")
    seeds: int = Field(5, ge=1, le=100, description="independent view draws (first seed: --seed)")


def decide_graph(rhos: list[float], lam: list[list[float]], alpha: list[list[float]],
                 bound: list[list[float]]) -> dict[str, tuple[str, Summary]]:
    """Verdicts of the three graph claims from one curve per seed."""
    r_lam, r_alpha = spearman_ci(rhos, lam), spearman_ci(rhos, alpha)
    v_bound, spot, _ = falls_then_rises(rhos, bound)
    return {"lambda": (decide(r_lam, 0.0), r_lam), "alpha": (decide(r_alpha, 0.0), r_alpha),
            "bound": (v_bound, spot)}


@register(
    "mask-graph",
    paper="Zhang et al. 2022 (Sec. 4, Thm 4.4)",
    claim="larger ρ raises λ_{k+1} (connectivity) and the labelling error α: the bound is best at an intermediate ρ",
    config=MaskGraphConfig,
    quick={"views": 300, "seeds": 3},
    quick_time="~1 s",
    full_time="~1.5 min",
)
def run_graph(cfg: MaskGraphConfig, ctx: RunContext) -> Result:
    import torch

    ds = load_dataset("digits").train
    seeds = seeds_for(ctx.seed, cfg.seeds)
    lam: list[list[float]] = [[] for _ in seeds]
    alpha: list[list[float]] = [[] for _ in seeds]
    top = []
    for i, s in enumerate(seeds):
        g = torch.Generator().manual_seed(s)
        for rho in track(cfg.ratios, f"mask ratios (seed {s})"):
            spec = augmentation_graph(
                ds.images, ds.labels, rho, cfg.patch, cfg.views, ds.num_classes, g, neighbours=cfg.neighbours
            )
            lam[i].append(spec.lambda_k1)
            alpha[i].append(spec.label_error)
            if i == 0:
                top.append(spec.singular_values[:15].tolist())
    bound = [[float(np.sqrt(2 * a) / max(lk, 1e-12)) for a, lk in zip(al, la, strict=True)]
             for al, la in zip(alpha, lam, strict=True)]
    rhos = np.array(cfg.ratios)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
    k = ds.num_classes
    for ax, curves, title in ((axes[0], lam, f"$\\lambda_{{k+1}}$ of the graph Laplacian ($k = {k}$)"),
                              (axes[1], alpha, r"labelling error $\alpha$"),
                              (axes[2], bound, r"Thm 4.4 bound $\sqrt{2\alpha}\,/\,\lambda_{k+1}$")):
        for i, (s, c) in enumerate(zip(seeds, curves, strict=True)):
            ax.plot(rhos, c, "o-", color=f"C{i}", alpha=0.7, ms=3, label=f"seed {s}")
        ax.set_title(title)
        ax.set_xlabel(r"mask ratio $\rho$")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    ctx.save_figure(fig, "mask_graph", caption=(
        f"Augmentation graph of masked digits 8×8 views (patch {cfg.patch}, {cfg.views} sampled views per side, "
        f"{cfg.neighbours}-nearest-neighbour kernel) against mask ratio ρ: (a) the (k+1)-th eigenvalue "
        f"λ_{{k+1}} of the normalised graph Laplacian, k = {k} classes (connectivity); (b) the labelling error α; "
        f"(c) the Thm 4.4 bound √(2α) / λ_{{k+1}}. One line per seed, {seed_count(len(seeds))} of independent view "
        "draws"))
    v = decide_graph(cfg.ratios, lam, alpha, bound)
    return Result(
        numbers={"ratios": cfg.ratios, "seeds": seeds, "lambda_k1": lam, "label_error": alpha, "bound": bound,
                 "top_singular_values": top, "fitted_best_ratio": v["bound"][1].record(),
                 "best_ratio": v["bound"][1].mean},
        claims=[
            Claim("λ_{k+1} grows with the mask ratio", v["lambda"][0],
                  f"Spearman ρ(ratio, λ_k+1) per seed {[round(r, 2) for r in v['lambda'][1].per_seed]}, "
                  f"{ci_text(v['lambda'][1], 2)}; λ_k+1 (seed {seeds[0]}) = {[round(x, 4) for x in lam[0]]}",
                  TESTS["lambda"]),
            Claim("the labelling error α grows with the mask ratio", v["alpha"][0],
                  f"Spearman ρ(ratio, α) per seed {[round(r, 2) for r in v['alpha'][1].per_seed]}, "
                  f"{ci_text(v['alpha'][1], 2)}; α (seed {seeds[0]}) = {[round(x, 4) for x in alpha[0]]}",
                  TESTS["alpha"]),
            Claim("the bound √(2α)/λ_{k+1} is minimised at an intermediate ratio", v["bound"][0],
                  f"fitted minimum ρ* = {ci_text(v['bound'][1], 3)} (95% CI, {len(seeds)} seeds; range "
                  f"{rhos[0]:.3f}–{rhos[-1]:.3f})", TESTS["bound"]),
        ],
        headline="best_ratio",
        notes=f"digits train split, patch {cfg.patch}, {cfg.views} views per side, {cfg.neighbours}-nearest-neighbour "
        f"kernel, seeds {seeds}.",
    )
