"""`umae-vs-mae`: Zhang, Wang & Wang 2022, Table 1 and §4 at laptop scale.

MAE and U-MAE (MAE plus the uniformity term with weight λ; the official code's weight 0.01 by
default) pre-trained with the same ViT, budget and seeds, next to the raw-pixel and random-init
baselines; evaluated by the one protocol (linear probe with C picked on validation, kNN,
fine-tuning for a fixed budget). Paper (CIFAR-10, ViT-Tiny, 2000 epochs, batch 4096): linear
52.0 → 69.4, fine-tune 89.6 vs 89.4.

Dimensional collapse (the paper's §3-4): the singular values σ of the centred test features of
each encoder and their effective rank exp(H(σ/Σσ)); the uniformity term should spread the
spectrum, i.e. raise the effective rank.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from pydantic import Field

from sslab.data.patches import patchify, unpatchify
from sslab.experiments.base import Result, RunContext, register
from sslab.experiments.captions import count, deep_setting, seed_count, spread_text
from sslab.experiments.deep_common import (
    PIXELS,
    QUICK_RECIPE,
    RANDOM,
    ArmTable,
    DeepConfig,
    add_baselines,
    deep_setup,
    effective_rank_of,
    features_of,
    gate_claim,
    learning_gate,
    method_kwargs,
    paired_claim,
    plot_arms,
    run_arm,
)
from sslab.stats import summarize

PAPER = {"cifar10_vit_tiny": {"mae_linear": 52.0, "umae_linear": 69.4, "mae_finetune": 89.6, "umae_finetune": 89.4}}
FINETUNE_MARGIN = -1.0  # pt: "does not hurt fine-tuning" = paired CI above −1 pt (pre-registered)


class UMAEvsMAEConfig(DeepConfig):
    finetune_epochs: int = Field(10, ge=0, le=10_000, description="full mode: 10 (quick: 3); 0 drops the "
                                 "fine-tuning claims")


def reconstruction_grid(
    method, images: torch.Tensor, ctx: RunContext, name: str, seed: int, mean: float, std: float, data: str
) -> None:
    """Rows: input / masked input / reconstruction (visible patches pasted back), in pixel units;
    ``data`` names the images for the caption."""
    method.eval()
    with torch.no_grad():
        out = method(images, torch.Generator().manual_seed(seed))
    vit = method.vit
    shape = (vit.channels, vit.image_size, vit.image_size)
    target = patchify(images, vit.patch)
    mask = out["mask"].unsqueeze(-1)
    pred = out["pred"]
    if getattr(method, "norm_pix_loss", False):  # undo the per-patch normalisation for display
        mu, sd = target.mean(-1, keepdim=True), target.var(-1, keepdim=True).add(1e-6).sqrt()
        pred = pred * sd + mu
    masked = unpatchify(target * (1 - mask), vit.patch, shape)
    recon = unpatchify(target * (1 - mask) + pred * mask, vit.patch, shape)
    hidden = unpatchify(mask.expand_as(target), vit.patch, shape).bool()
    rows = [images * std + mean, (masked * std + mean).masked_fill(hidden, 0.0), recon * std + mean]
    k = images.shape[0]
    fig, axes = plt.subplots(3, k, figsize=(1.1 * k, 3.7), squeeze=False, layout="constrained")
    for r, row in enumerate(rows):
        for c in range(k):
            img = row[c].permute(1, 2, 0).clamp(0, 1).numpy()
            axes[r][c].imshow(img.squeeze(-1) if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=1)
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
    for r, label in enumerate(["input", "masked", "recon"]):
        axes[r][0].set_ylabel(label, fontsize=8)
    ratio = getattr(method, "mask_ratio", "?")
    fig.suptitle(f"{name.upper()}: mask ratio {ratio}, seed {seed}", fontsize=10)
    ctx.save_figure(fig, f"reconstructions_{name}", caption=(
        f"{name.upper()} reconstructions of the first {k} {data}, seed {seed} (1 seed shown), mask ratio {ratio}: "
        "top row the input, middle the visible patches (hidden ones black), bottom the prediction for the hidden "
        "patches with the visible ones pasted back; pixel values clipped to [0, 1]"))


@register(
    "umae-vs-mae",
    paper="Zhang, Wang & Wang 2022 (Table 1)",
    claim="U-MAE improves linear accuracy over MAE, spreads the feature spectrum, and does not hurt fine-tuning",
    config=UMAEvsMAEConfig,
    quick={**QUICK_RECIPE, "finetune_epochs": 3},
    quick_time="~30 s (26 s measured in make demo; pre-training shared)",
    full_time="~15 min alone (mnist-5k, 150 epochs, 5 seeds, 10 fine-tuning epochs; estimated from per-epoch costs)",
)
def run(cfg: UMAEvsMAEConfig, ctx: RunContext) -> Result:
    setup = deep_setup(cfg, ctx)
    table = ArmTable()
    add_baselines(table, setup, ctx)
    setup.prefetch([(m, method_kwargs(m, cfg)) for m in ("mae", "umae")])
    runs = {m: run_arm(table, setup, ctx, m, m, method_kwargs(m, cfg)) for m in ("mae", "umae")}
    spectra: dict[str, list[list[float]]] = {}
    for m, pres in runs.items():
        for pre in pres:
            erank, sv = effective_rank_of(features_of(pre, setup.splits.test.images))
            table.values[m].setdefault("effective_rank", []).append(erank)
            spectra.setdefault(m, []).append(sv)
    pix_std = setup.splits.info["pixel_mean"][0], setup.splits.info["pixel_std"][0]
    for m, pres in runs.items():
        reconstruction_grid(pres[0].method, setup.splits.test.images[:10], ctx, m, setup.seeds[0], *pix_std,
                            data=f"{cfg.dataset} test images ({cfg.image_size}×{cfg.image_size})")
    g = learning_gate(table, ["mae", "umae"])
    lam = f"λ={cfg.uniformity_weight:g}"
    claims = [
        gate_claim(table, g, ["mae", "umae"]),
        paired_claim(f"U-MAE ({lam}) improves linear-probe accuracy over MAE", table, "umae", "mae", "linear", 0.0,
                     g, setup.seeds, extra="paper CIFAR-10 ViT-T 52.0 → 69.4"),
        paired_claim(f"U-MAE ({lam}) improves kNN accuracy over MAE", table, "umae", "mae", "knn", 0.0, g,
                     setup.seeds),
        paired_claim(f"the uniformity term ({lam}) raises the effective rank of the test features (less "
                     "dimensional collapse)", table, "umae", "mae", "effective_rank", 0.0, g, setup.seeds,
                     unit="dimensions"),
    ]
    if cfg.finetune_epochs:
        claims.append(paired_claim(f"U-MAE does not hurt fine-tuning (paired loss under {-FINETUNE_MARGIN:g} pt)",
                                   table, "umae", "mae", "finetune", FINETUNE_MARGIN, g, setup.seeds,
                                   extra="paper 89.6 vs 89.4"))
        for m in ("mae", "umae"):
            claims.append(paired_claim(f"fine-tuning the {m.upper()} encoder ends above its linear probe",
                                       _with_pair(table, m), f"{m}:finetune", f"{m}:linear", "accuracy", 0.0, g,
                                       setup.seeds))
    n = len(setup.seeds)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.0), layout="constrained")
    plot_arms(ax1, table, [PIXELS, RANDOM, "mae", "umae"], ["linear", "knn", "finetune"],
              f"{cfg.dataset}: MAE vs U-MAE ({seed_count(n)}, {count(cfg.epochs, 'epoch')})")
    for m, svs in spectra.items():
        k = len(svs[0])
        mean = [summarize([sv[i] for sv in svs]).mean for i in range(k)]
        erank = table.summary(m, "effective_rank")
        ax2.semilogy(range(1, k + 1), mean, label=f"{m.upper()} (effective rank {erank.text()})")
    ax2.set_xlabel("index $i$")
    ax2.set_ylabel(r"$\sigma_i / \sigma_1$ of centred test features")
    ax2.set_title(f"feature spectrum (mean over {seed_count(n)})")
    ax2.legend(fontsize=7)
    ax2.grid(alpha=0.3)
    finetune = f", fine-tuning ({count(cfg.finetune_epochs, 'epoch')})" if cfg.finetune_epochs else ""
    ctx.save_figure(fig, "umae_vs_mae", caption=(
        f"Left: test accuracy of linear and kNN probes{finetune} for MAE and U-MAE (λ = {cfg.uniformity_weight:g}) "
        f"and the raw-pixel and random-init baselines; bars: mean over {seed_count(n)} ({spread_text(n)}). "
        "Right: singular values σ_i / σ_1 of the centred test-set features (log scale), mean over seeds; the "
        f"legend gives each method's effective rank. Data: {deep_setting(setup)}"))
    gain = table.diff("umae", "mae", "linear")
    return Result(
        numbers={"arms": table.records(), "linear_gain": gain.mean, "linear_gain_ci95": [gain.lo, gain.hi],
                 "spectra": {m: [summarize([sv[i] for sv in svs]).mean for i in range(len(svs[0]))]
                             for m, svs in spectra.items()},
                 "pretraining": setup.shared_runs(), "vit": setup.vit.to_dict(), "paper_reference": PAPER},
        claims=claims,
        headline="linear_gain",
    )


def _with_pair(table: ArmTable, m: str) -> ArmTable:
    """A two-arm view ``m:finetune`` / ``m:linear`` (metric ``accuracy``) for a within-encoder comparison."""
    view = ArmTable()
    view.values = {f"{m}:finetune": {"accuracy": table.get(m, "finetune")},
                   f"{m}:linear": {"accuracy": table.get(m, "linear")}}
    return view
