"""`umae-lambda`: Zhang et al. 2022 (seed 001) Fig. 5 and Fig. 4 at laptop scale.

(a) linear-probe accuracy of U-MAE for λ ∈ {0, 1e-4, 1e-3, 1e-2, 1e-1} (λ = 0 is MAE);
(b) linear accuracy along training for MAE and U-MAE (λ = ``curve_lambda``), same seed;
(c) t-SNE of the test features of both (Fig. 4).
"""

from __future__ import annotations

from typing import Literal

import matplotlib.pyplot as plt
from pydantic import Field

from sslab.eval.tsne import tsne_plot
from sslab.experiments.base import Claim, Result, RunContext, register
from sslab.experiments.common import seeds_for
from sslab.experiments.deep_common import DeepConfig, beats, deep_setup, mean_std, pm, train_config
from sslab.methods import UMAE_FORM, UMAE_WEIGHT
from sslab.progress import track
from sslab.train.pipeline import pretrain_and_evaluate


class UMAELambdaConfig(DeepConfig):
    lambdas: list[float] = Field(default_factory=lambda: [0.0, 1e-4, 1e-3, 1e-2, 1e-1], min_length=2)
    curve_lambda: float = Field(UMAE_WEIGHT, gt=0, le=10, description="U-MAE λ for the along-training curve")
    uniformity_form: Literal["gram", "eq9"] = UMAE_FORM
    eval_every: int = Field(5, ge=1, description="epochs between linear probes along training")


@register(
    "umae-lambda",
    paper="Zhang et al. 2022 (seed 001, Fig. 4-5)",
    claim="a suitable uniformity weight λ > 0 beats MAE (λ=0); U-MAE stays above MAE along training",
    config=UMAELambdaConfig,
    quick={"epochs": 6, "seeds": 1, "finetune_epochs": 0, "eval_every": 2},
    quick_time="~50 s",
    full_time="~8 min (digits)",
)
def run(cfg: UMAELambdaConfig, ctx: RunContext) -> Result:
    splits, vit = deep_setup(cfg, ctx)
    lambdas = sorted(set(cfg.lambdas) | {0.0, cfg.curve_lambda})
    acc: dict[float, list[float]] = {lam: [] for lam in lambdas}
    curves: dict[float, list[tuple[int, float]]] = {}
    features = {}
    jobs = [(s, lam) for s in seeds_for(ctx.seed, cfg.seeds) for lam in lambdas]
    for seed, lam in track(jobs, "λ sweep"):
        tracked = seed == ctx.seed and lam in (0.0, cfg.curve_lambda)
        kwargs = {"mask_ratio": cfg.mask_ratio, "uniformity_weight": lam, "uniformity_form": cfg.uniformity_form}
        tcfg = train_config(cfg, seed, eval_every=cfg.eval_every if tracked else 0)
        res = pretrain_and_evaluate("mae", vit, splits, tcfg, kwargs, track_linear=tracked)
        acc[lam].append(res.linear)
        if tracked:
            curves[lam] = [(int(h["epoch"]), h["linear"]) for h in res.history if "linear" in h]
            curves[lam].append((cfg.epochs, res.linear))
            features[lam] = res.features_test
        ctx.log.info("λ=%g seed=%d linear=%.4f knn=%.4f", lam, seed, res.linear, res.knn)

    means = {lam: mean_std(v)[0] for lam, v in acc.items()}
    best = max(means, key=means.get)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    xs = [max(lam, 1e-5) for lam in lambdas]
    ax1.errorbar(xs, [100 * means[lam] for lam in lambdas], yerr=[100 * mean_std(acc[lam])[1] for lam in lambdas],
                 fmt="o-", capsize=3)
    ax1.set_xscale("log")
    ax1.set_xlabel("uniformity weight λ (λ=0 drawn at 1e-5)")
    ax1.set_ylabel("linear-probe test accuracy (%)")
    ax1.set_title(f"(a) λ sweep, {cfg.seeds} seed(s), {cfg.epochs} epochs")
    ax1.grid(alpha=0.3)
    for lam, label in ((0.0, "MAE"), (cfg.curve_lambda, f"U-MAE λ={cfg.curve_lambda:g}")):
        ep, val = zip(*curves[lam], strict=True)
        ax2.plot(ep, [100 * v for v in val], "o-", label=label)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("linear-probe accuracy (%)")
    ax2.set_title("(b) along training")
    ax2.legend()
    ax2.grid(alpha=0.3)
    ctx.save_figure(fig, "umae_lambda")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.4))
    labels = splits.test.labels
    tsne_plot(axes[0], features[0.0], labels, "MAE (λ=0)", ctx.seed)
    tsne_plot(axes[1], features[cfg.curve_lambda], labels, f"U-MAE (λ={cfg.curve_lambda:g})", ctx.seed)
    ctx.save_figure(fig, "tsne_mae_vs_umae")

    mae_curve = dict(curves[0.0])
    umae_curve = dict(curves[cfg.curve_lambda])
    common = sorted(set(mae_curve) & set(umae_curve))
    above = sum(umae_curve[e] >= mae_curve[e] for e in common)
    return Result(
        numbers={
            "linear_by_lambda": {str(k): v for k, v in acc.items()},
            "best_lambda": best,
            "best_minus_mae": means[best] - means[0.0],
            "curves": {str(k): v for k, v in curves.items()},
        },
        claims=[
            Claim(
                "some λ > 0 gives higher linear accuracy than MAE (λ = 0), by more than one test image",
                best > 0 and beats(means[best], means[0.0], len(labels)),
                "linear accuracy by λ: " + ", ".join(f"{lam:g}: {pm(acc[lam])}" for lam in lambdas),
            ),
            Claim(
                f"U-MAE (λ={cfg.curve_lambda:g}) is at or above MAE at most probed epochs",
                above > len(common) / 2,
                f"U-MAE ≥ MAE at {above}/{len(common)} probe points (epochs {common})",
            ),
        ],
        headline="best_minus_mae",
    )
