"""`attention-locality`: do MAE-trained ViTs attend more locally, and more differently per query,
than contrastive ones? (Huang et al., ICLR 2025: masked reconstruction learns area-wide local
attention; contrastive learning collapses onto one global pattern shared by all queries.)

MAE, U-MAE and SimCLR encoders are pre-trained on ``mnist-5k`` with the same budget and seeds,
through the shared content-addressed cache (so the same runs of other deep experiments serve here);
the untrained encoder of each seed is the control. On test images, per layer (averaged over heads
and images; :mod:`sslab.eval.attention`): mean attention distance (patches), attention entropy
(nats) and query dependence (mean pairwise total variation between query rows).
"""

from __future__ import annotations

import math
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from sslab.eval.attention import attention_maps, layer_metrics, patch_rows
from sslab.experiments.base import Claim, Result, RunContext, register
from sslab.experiments.captions import deep_setting, seed_count, spread_text
from sslab.experiments.deep_common import NOT_LEARNED, QUICK_RECIPE, RANDOM, DeepConfig, deep_setup, method_kwargs
from sslab.experiments.textured_common import (
    ArmTable,
    combine,
    evaluate_into,
    gate_pairs,
    random_init,
)
from sslab.models.vit import ViTEncoder
from sslab.stats import Summary, decide, gate, summarize

METRICS = {"distance": "mean attention distance (patches)", "entropy": "attention entropy (nats)",
           "tv": "query dependence (mean pairwise TV)"}
TEST_MAIN = ("per seed s, with each metric averaged over the layers: Δdist = distance(SimCLR) − distance(MAE) and "
             "Δtv = tv(MAE) − tv(SimCLR); 95% t-CI over seeds {seeds}; held if both CIs lie above 0, not held if "
             "either lies below 0, else inconclusive; decided only when MAE and SimCLR each beat random-init on "
             "linear probing (paired CI above 0) and the control (the same test with the untrained encoder in "
             "MAE's place) does not hold")
TEST_CONTROL = ("the main test with the untrained encoder of each seed in MAE's place: distance(SimCLR) − "
                "distance(untrained) and tv(untrained) − tv(SimCLR); the control passes (held) if that effect is "
                "not held, fails (not held) if it holds, and is inconclusive otherwise")


class AttentionConfig(DeepConfig):
    dataset: str = Field("mnist-5k", description="mnist-5k, animal-mnist, textured (digits: smoke tests)")
    epochs: int = Field(30, ge=1, le=100_000)
    seeds: int = Field(5, ge=1, le=100)
    finetune_epochs: int = Field(0, ge=0, le=0, description="unused: linear probes gate the claim")
    methods: list[str] = Field(["mae", "umae", "simclr"], min_length=2, description="must include mae and simclr")
    n_images: int = Field(256, ge=2, le=100_000, description="test images the attention metrics average over")
    figure_images: int = Field(2, ge=1, le=8)


@register(
    "attention-locality",
    paper="Huang et al., ICLR 2025 (MAE learns local attention, contrastive learning global)",
    claim="MAE attention is more local and more query-dependent than contrastive (SimCLR) attention; an "
    "untrained encoder does not show the effect",
    config=AttentionConfig,
    quick={**QUICK_RECIPE, "n_images": 128},
    quick_time="~4 min (245 s measured in make demo, training its 9 runs; seconds once they are cached)",
    full_time="~33 min alone, ~2 min after ssl-compare (150 epochs, 5 seeds; estimated from per-epoch costs)",
)
def run(cfg: AttentionConfig, ctx: RunContext) -> Result:
    t_start = time.perf_counter()
    if not {"mae", "simclr"} <= set(cfg.methods):
        raise ValueError(f"attention-locality compares mae with simclr; methods={cfg.methods} lacks one")
    setup = deep_setup(cfg, ctx)  # the shared splits, ViT, seeds and pre-training cache
    splits, vit, seeds = setup.splits, setup.vit, setup.seeds
    images = splits.test.images[: cfg.n_images]
    table = ArmTable()
    setup.prefetch([(m, method_kwargs(m, cfg)) for m in cfg.methods])
    metrics: dict[str, dict[str, list[list[float]]]] = {}  # arm → metric → per seed, per layer
    shown: dict[str, ViTEncoder] = {}
    for seed in seeds:
        encoders = {RANDOM: random_init(vit, seed)}
        for m in cfg.methods:
            encoders[m] = setup.pretrain(m, m, method_kwargs(m, cfg), seed, ctx).method.encoder.eval()
        for name, enc in encoders.items():
            evaluate_into(table, name, enc, splits, cs=cfg.probe_cs)
            for k, per_layer in layer_metrics(enc, images).items():
                metrics.setdefault(name, {}).setdefault(k, []).append(per_layer)
                table.add(name, k, float(np.mean(per_layer)))
            ctx.log.info("seed %d %s: linear %.1f%%, distance %.3f, tv %.3f", seed, name, table.get(name)[-1],
                         table.get(name, "distance")[-1], table.get(name, "tv")[-1])
        if seed == seeds[0]:
            shown = encoders
    learned = gate_pairs(table, [(m, RANDOM) for m in ("mae", "simclr")])
    effect, effect_ev = locality_effect(table, "mae", "simclr")
    control, control_ev = locality_effect(table, RANDOM, "simclr")
    control_verdict = {"held": "not held", "not held": "held"}.get(control, "inconclusive")
    decided = learned.learned and control != "held"
    why = "" if decided else ("; " + (f"{NOT_LEARNED}: {learned.evidence}" if not learned.learned
                                      else "the untrained control shows the effect"))
    claims = [
        Claim("MAE attention is more local and more query-dependent than SimCLR attention",
              gate(effect, decided), effect_ev + "; " + other_arms(table, cfg.methods) + why,
              test=TEST_MAIN.format(seeds=seeds)),
        Claim("control: the untrained encoder is not more local and query-dependent than SimCLR",
              control_verdict, control_ev, test=TEST_CONTROL),
    ]
    setting = deep_setting(setup)
    plot_layers(ctx, cfg, metrics, f"{len(images)} {cfg.dataset} test images; {setting}")
    plot_maps(ctx, cfg, shown, splits.test.images[: cfg.figure_images], splits.info, setting)
    per_layer = {arm: {k: [summarize(col).record() for col in zip(*v, strict=True)] for k, v in ms.items()}
                 for arm, ms in metrics.items()}
    d_dist = table.diff("simclr", "mae", "distance")
    numbers = {"arms": table.records(), "per_layer": per_layer, "seeds": seeds, "pretraining": setup.shared_runs(),
               "distance_simclr_minus_mae": d_dist.mean, "wall_s": time.perf_counter() - t_start}
    return Result(numbers=numbers, claims=claims, headline="distance_simclr_minus_mae")


def locality_effect(table: ArmTable, local: str, contrastive: str) -> tuple[str, str]:
    """Verdict and evidence of "``local`` attends more locally and more query-dependently than ``contrastive``"."""
    d_dist: Summary = table.diff(contrastive, local, "distance")
    d_tv: Summary = table.diff(local, contrastive, "tv")
    verdict = combine([decide(d_dist, 0.0), decide(d_tv, 0.0)])
    ev = (f"distance {contrastive} − {local} {d_dist.text(digits=3, unit=' patches')}; "
          f"tv {local} − {contrastive} {d_tv.text(digits=3)}")
    return verdict, ev


def other_arms(table: ArmTable, methods: list[str]) -> str:
    return "; ".join(f"{a}: linear {table.summary(a).text(unit='%')}, distance "
                     f"{table.summary(a, 'distance').text(digits=3)}, entropy "
                     f"{table.summary(a, 'entropy').text(digits=3)}, tv {table.summary(a, 'tv').text(digits=3)}"
                     for a in [*methods, RANDOM])


def plot_layers(ctx: RunContext, cfg: AttentionConfig, metrics: dict[str, dict[str, list[list[float]]]],
                setting: str) -> None:
    """The three attention metrics per layer for every arm; ``setting`` says the data for the caption."""
    n = len(next(iter(next(iter(metrics.values())).values())))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.0), layout="constrained")
    for ax, (k, label) in zip(axes, METRICS.items(), strict=True):
        for arm, ms in metrics.items():
            cols = [summarize(col) for col in zip(*ms[k], strict=True)]
            layers = np.arange(1, len(cols) + 1)
            err = [0.0 if not math.isfinite(s.lo) else (s.hi - s.lo) / 2 for s in cols]
            ax.errorbar(layers, [s.mean for s in cols], yerr=err, fmt="o-" if arm != RANDOM else "s--",
                        capsize=3, label=arm)
        ax.set_xlabel("layer")
        ax.set_xticks(layers)
        ax.set_ylabel(label, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"attention per layer on {cfg.dataset} test images ({seed_count(n)})", fontsize=10)
    ctx.save_figure(fig, "attention_locality_layers", caption=(
        "Per encoder layer, head-averaged: mean attention distance (in patches), attention entropy (nats) and "
        "query dependence (mean pairwise total variation between attention rows), for each pre-trained method "
        f"and the untrained random-init encoder; points: mean over {seed_count(n)} ({spread_text(n)}). "
        f"Data: {setting}"))


def plot_maps(ctx: RunContext, cfg: AttentionConfig, encoders: dict[str, ViTEncoder], images: torch.Tensor,
              info: dict, setting: str) -> None:
    """Last-layer, head-averaged attention of a 2×2 grid of query patches, over each image."""
    grid = encoders[RANDOM].cfg.grid
    qs = sorted({grid // 4, (3 * grid) // 4})
    queries = [(r, c) for r in qs for c in qs]
    names = list(encoders)
    rows = [(i, n) for i in range(len(images)) for n in names]
    size = (1.6 * (1 + len(queries)) + 1.2, 1.6 * len(rows) + 0.4)
    fig, axes = plt.subplots(len(rows), 1 + len(queries), figsize=size, squeeze=False, layout="constrained")
    mean, std = info.get("pixel_mean", [0.0])[0], info.get("pixel_std", [1.0])[0]
    p = cfg.patch
    for r, (i, name) in enumerate(rows):
        img = (images[i, 0] * std + mean).numpy()
        a = patch_rows(attention_maps(encoders[name], images[i : i + 1])[-1]).mean(1)[0]  # (L, L)
        axes[r][0].imshow(img, cmap="gray")
        axes[r][0].set_ylabel(name, fontsize=8)
        top = float(max(a[qr * grid + qc].max() for qr, qc in queries))  # one colour scale per row
        for j, (qr, qc) in enumerate(queries):
            ax = axes[r][1 + j]
            amap = a[qr * grid + qc].reshape(1, 1, grid, grid)
            up = F.interpolate(amap, scale_factor=p, mode="nearest")[0, 0].numpy()
            ax.imshow(img, cmap="gray")
            im = ax.imshow(up, cmap="magma", alpha=0.6, vmin=0.0, vmax=top)
            ax.add_patch(plt.Rectangle((qc * p - 0.5, qr * p - 0.5), p, p, fill=False, ec="cyan", lw=1.2))
            if r == 0:
                ax.set_title(f"query ({qr},{qc})", fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(im, ax=axes[r].tolist(), shrink=0.9, label="attention", aspect=10)
    fig.suptitle("last-layer attention (head mean) of the query patches (cyan)", fontsize=9)
    ctx.save_figure(fig, "attention_locality_maps", caption=(
        f"Last-layer attention (mean over heads) of {len(queries)} query patches (cyan squares) over the "
        f"patches of {len(images)} {cfg.dataset} test image(s), for each encoder of the first seed (1 seed shown): "
        "one row per image and encoder, the image itself first; the attention is overlaid on the image, colour "
        f"from 0 to the largest weight in the row (its colour bar). Data: {setting}"))
