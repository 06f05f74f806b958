"""`ssl-compare`: MAE, U-MAE, SimCLR and latent prediction (I-JEPA style) with the same ViT,
epochs, batch size and optimiser, evaluated by the same protocol (linear probe with C picked
on val, kNN, optional fine-tune). Checks the thesis of Balestriero & LeCun (seed 002) that
features learned by reconstruction are less informative for perception than those of
joint-embedding methods, at this scale."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from pydantic import Field, field_validator

from sslab.config import unused
from sslab.experiments.base import Claim, Result, RunContext, register
from sslab.experiments.common import seeds_for
from sslab.experiments.deep_common import (
    DeepConfig,
    beats,
    deep_setup,
    distinct_methods,
    mean_std,
    pm,
    train_config,
)
from sslab.methods import METHODS, RANDOM_MASKING, UMAE_WEIGHT, method_options
from sslab.models.vit import ViTEncoder
from sslab.progress import track
from sslab.train.pipeline import evaluate_encoder, pretrain_and_evaluate


class SSLCompareConfig(DeepConfig):
    methods: list[str] = Field(default_factory=lambda: list(METHODS), min_length=2)
    uniformity_weight: float = Field(UMAE_WEIGHT, ge=0, le=10)

    @field_validator("methods")
    @classmethod
    def _each_once(cls, methods: list[str]) -> list[str]:
        return distinct_methods(methods)

    def conflicts(self, explicit: frozenset[str]) -> list[str]:
        return unused(self, explicit, "uniformity_weight", "umae" in self.methods,
                      "it weights U-MAE's uniformity term and methods has no umae; add umae to methods or drop it") \
            + unused(self, explicit, "mask_ratio", any(m in RANDOM_MASKING for m in self.methods),
                     "only mae and umae mask their input and methods has neither; add one or drop mask_ratio")


@register(
    "ssl-compare",
    paper="Balestriero & LeCun 2024; Zhang et al. 2022; Assran et al. 2023",
    claim="under one budget, joint embedding (SimCLR, latent prediction) beats reconstruction (MAE) on linear probing",
    config=SSLCompareConfig,
    quick={"epochs": 8, "seeds": 1, "finetune_epochs": 0},
    quick_time="~50 s",
    full_time="~10 min (digits)",
)
def run(cfg: SSLCompareConfig, ctx: RunContext) -> Result:
    unknown = [m for m in cfg.methods if m not in METHODS]
    if unknown:
        from sslab.errors import ConfigError

        raise ConfigError(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    splits, vit = deep_setup(cfg, ctx)
    kwargs = {m: method_options(m, mask_ratio=cfg.mask_ratio, uniformity_weight=cfg.uniformity_weight) for m in METHODS}
    res: dict[str, dict[str, list[float]]] = {m: {"linear": [], "knn": [], "finetune": []} for m in cfg.methods}
    for seed, m in track([(s, m) for s in seeds_for(ctx.seed, cfg.seeds) for m in cfg.methods], "methods"):
        r = pretrain_and_evaluate(
            m, vit, splits, train_config(cfg, seed), kwargs[m], ctx.out_dir / f"{m}-seed{seed}", cfg.finetune_epochs
        )
        for k, v in r.numbers().items():
            if v is not None:
                res[m][k].append(v)
        ctx.log.info("%s seed %d: %s", m, seed, r.numbers())
    torch.manual_seed(ctx.seed)
    random_linear, random_knn, _ = evaluate_encoder(ViTEncoder(vit), splits, ctx.seed)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    metrics = [k for k in ("linear", "knn", "finetune") if res[cfg.methods[0]][k]]
    width = 0.8 / len(cfg.methods)
    for j, m in enumerate(cfg.methods):
        ax.bar(
            [i + j * width for i in range(len(metrics))],
            [100 * mean_std(res[m][k])[0] for k in metrics],
            width,
            yerr=[100 * mean_std(res[m][k])[1] for k in metrics],
            label=m,
            capsize=2,
        )
    ax.axhline(100 * random_linear, color="gray", ls=":", label="random-init encoder (linear)")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(metrics))], metrics)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{cfg.dataset}, {cfg.epochs} epochs, {cfg.seeds} seed(s), ViT {vit.dim}x{vit.depth}")
    ax.legend(fontsize=8)
    ctx.save_figure(fig, "ssl_compare")
    lin = {m: mean_std(res[m]["linear"])[0] for m in cfg.methods}
    n_test = len(splits.test.labels)
    je = [m for m in ("simclr", "latent") if m in lin]
    claims = []
    if "mae" in lin and je:
        best_je = max(je, key=lin.get)
        claims.append(
            Claim(
                "the best joint-embedding method beats MAE on linear probing (by more than one test image)",
                beats(lin[best_je], lin["mae"], n_test),
                "linear: " + _listing(res, "linear"),
            )
        )
    claims.append(
        Claim(
            "every method's linear probe beats the same ViT left at random initialisation (by > one test image)",
            beats(min(lin.values()), random_linear, n_test),
            f"random-init encoder: linear {100 * random_linear:.1f}, kNN {100 * random_knn:.1f}; "
            "linear: " + _listing(res, "linear") + "; kNN: " + _listing(res, "knn"),
        )
    )
    return Result(
        numbers={"per_method": res, "summary": {m: {k: pm(v) for k, v in r.items() if v} for m, r in res.items()},
                 "best_linear": max(lin.values()), "random_init": {"linear": random_linear, "knn": random_knn}},
        claims=claims,
        headline="best_linear",
    )


def _listing(res: dict[str, dict[str, list[float]]], metric: str) -> str:
    return ", ".join(f"{m} {pm(r[metric])}" for m, r in res.items())
