"""`je-vs-recon-deep`: irrelevant features on real textures, the deep counterpart of Van Assel et
al. 2025 and Balestriero & LeCun 2024.

Data: ``mnist-5k`` digits (or ``animal-mnist`` silhouettes) alpha-composited over crops of real
photographs, the background's contrast scaled by γ (:mod:`sslab.data.textured`; held-out
source images for validation and test). Three arms, each against the raw-pixel and random-init
encoders under the same linear probe, on the same seeds:

1. strength of the irrelevant features: MAE (reconstruction), SimCLR and latent prediction
   (joint embedding) pre-trained at each γ; beside them, Balestriero & LeCun's alignment of the
   top principal subspace with the labels on the same images (mean of alignment(k), k ≤ k_max);
2. augmentation alignment α: views that replace the background with probability α (swap with
   another image's, or re-crop; :mod:`sslab.views.background`) at a small and a large γ;
3. corruption robustness: encoders pre-trained at γ = 0, probed on clean features, scored on the
   clean test digits (full contrast) under Gaussian noise, blur and contrast
   (:mod:`sslab.eval.corruptions`), as a relative accuracy drop next to the paper's ImageNet-C figures.

All runs go through the shared content-addressed pre-training cache and are trained first, in
parallel single-threaded workers (:func:`sslab.train.prefetch.prefetch_groups`). The γ arm is keyed
by the composited training images (each γ its own entry; γ = 0 is the foreground dataset itself,
so those runs are shared with ``ssl-compare``); the α arm trains on packed (foreground, background)
tensors, its background views being method arguments (:mod:`sslab.methods.background`).

Claims are pre-registered below (``TEST_*``), decided on paired per-seed statistics with 95 %
t-intervals (:mod:`sslab.stats`) and gated on learning (each trained arm must beat the
random-init encoder at the γ it is compared at).
"""

from __future__ import annotations

import math
import time
from typing import Literal

import matplotlib.pyplot as plt
import numpy as np
import torch
from pydantic import Field, model_validator

from sslab.data import ImageDataset, Splits, load_dataset
from sslab.data.textured import textured_source
from sslab.eval.corruptions import CORRUPTIONS, PAPER_IMAGENET_C_DROP, corrupt
from sslab.experiments.base import Claim, Result, RunContext, register
from sslab.experiments.captions import count, seed_count, spread_text
from sslab.experiments.common import linear_matrices, seeds_for
from sslab.experiments.deep_common import (
    NOT_LEARNED,
    PIXELS,
    QUICK_RECIPE,
    RANDOM,
    DeepConfig,
    cache_root,
    method_kwargs,
    run_counts,
    train_config,
)
from sslab.experiments.textured_common import (
    ArmTable,
    combine,
    evaluate_into,
    fmt_per_seed,
    gate_pairs,
    random_init,
)
from sslab.methods.background import BACKGROUND_METHODS
from sslab.models.vit import vit_config
from sslab.stats import decide, gate, paired, summarize
from sslab.theory.alignment import alignment_curve
from sslab.train.cache import EncoderCache
from sslab.train.pipeline import pretrain as cached_pretrain
from sslab.train.prefetch import Job, prefetch_groups
from sslab.views.background import pack

RECON, JOINT = ("mae", "umae"), ("simclr", "latent")

TEST_GAMMA = ("per seed: d = mean over reconstruction methods of drop − mean over joint-embedding methods of drop, "
              "drop = linear test accuracy at γ = {lo:g} minus at γ = {hi:g} (points); 95% t-CI over seeds {seeds}; "
              "held if the CI lies above 0, not held if below 0, else inconclusive; gated: every method beats "
              "random-init (paired CI above 0) at γ = {lo:g} and at γ = {hi:g}")
TEST_ALPHA = ("per seed and γ: A(γ) = mean over α in {alphas} of [JE fraction − reconstruction fraction], fraction = "
              "linear accuracy with background views at α / the same method's accuracy at γ = 0; part 1: A(γ = {hi:g}) "
              "has a 95% CI above 0; part 2: the paired difference A({hi:g}) − A({lo:g}) has a CI above 0 (the order "
              "flips or vanishes at small γ); held if both hold, not held if either CI lies below 0, else "
              "inconclusive; gated: every method beats random-init at γ = 0 and at γ = {hi:g}, α = {amax:g}")
TEST_CORRUPT = ("per seed: d = reconstruction relative drop − joint-embedding relative drop (points), relative drop "
                "= 100 · (1 − mean over {kinds} at severities {sev} of corrupted accuracy / clean accuracy) on the "
                "γ = 0 test split, one probe per encoder fitted on clean features; held if the 95% t-CI lies above "
                "0, not held if below, else inconclusive; gated: every method beats random-init at γ = 0")

FULL_ALPHA_GAMMAS = (0.25, 2.0)
ALPHA_CLAIM = ("at large γ joint embedding reaches a given fraction of its clean accuracy at a smaller "
               "background-perturbation α than reconstruction; at small γ the advantage shrinks")


class JEDeepConfig(DeepConfig):
    dataset: str = Field("mnist-5k", description="foreground: mnist-5k, animal-mnist (digits: smoke tests)")
    epochs: int = Field(20, ge=1, le=100_000, description="full: 20 keeps 5 seeds × 5 γ × 3 methods near 1 h")
    seeds: int = Field(5, ge=1, le=100)
    finetune_epochs: int = Field(0, ge=0, le=0, description="unused: this experiment reports linear and kNN probes")
    gammas: list[float] = Field([0.0, 0.25, 0.5, 1.0, 2.0], min_length=2, description="background contrasts")
    methods: list[Literal["mae", "umae", "simclr", "latent"]] = Field(["mae", "simclr", "latent"], min_length=2)
    alpha_methods: list[Literal["mae", "simclr", "latent"]] | None = Field(
        None, min_length=2, description="methods of the α arm; default: those of methods that take background views")
    alpha_gammas: list[float] = Field(list(FULL_ALPHA_GAMMAS), description="small and large γ of α (empty: not run)")
    alphas: list[float] = Field([0.0, 0.5, 1.0], min_length=2, description="background perturbation strengths")
    alpha_mode: Literal["swap", "recrop"] = "swap"
    target_fraction: float = Field(0.9, gt=0, le=1, description="α* reaches this fraction of clean accuracy")
    severities: list[int] = Field([1, 3, 5], min_length=1)
    background_seed: int = Field(0, ge=0)
    k_max: int = Field(64, ge=1, le=4096, description="alignment(k) averaged over k ≤ k_max")

    @model_validator(mode="after")
    def _arms_fit(self) -> JEDeepConfig:
        if self.gammas[0] != 0 or sorted(self.gammas) != self.gammas:
            raise ValueError(f"gammas must be increasing from 0 (the clean reference), got {self.gammas}")
        if not set(self.alpha_gammas) <= set(self.gammas) or sorted(self.alpha_gammas) != self.alpha_gammas:
            raise ValueError(f"alpha_gammas {self.alpha_gammas} must be increasing values of gammas {self.gammas}")
        if not any(m in RECON for m in self.methods) or not any(m in JOINT for m in self.methods):
            raise ValueError("methods need a reconstruction method (mae/umae) and a joint-embedding one "
                             "(simclr/latent)")
        if self.alpha_methods is None:
            self.alpha_methods = [m for m in self.methods if m in BACKGROUND_METHODS]
        if not any(m in RECON for m in self.alpha_methods) or not any(m in JOINT for m in self.alpha_methods):
            raise ValueError(f"alpha_methods {self.alpha_methods} need mae (reconstruction) and simclr or latent")
        if not set(self.alpha_methods) <= set(self.methods):
            raise ValueError(f"alpha_methods {self.alpha_methods} must be among methods {self.methods}")
        if self.alphas[0] != 0 or not all(0 <= a <= 1 for a in self.alphas):
            raise ValueError(f"alphas must start at 0 and lie in [0, 1], got {self.alphas}")
        if not all(1 <= s <= 5 for s in self.severities):
            raise ValueError(f"severities must be 1..5, got {self.severities}")
        return self


def arm(name: str, gamma: float, alpha: float | None = None) -> str:
    return f"{name} γ={gamma:g}" + ("" if alpha is None else f" α={alpha:g}")


@register(
    "je-vs-recon-deep",
    paper="Van Assel et al. 2025; Balestriero & LeCun 2024; deep counterpart",
    claim="with strong irrelevant background features, reconstruction loses more accuracy than joint embedding, "
    "needs more background-aligned views, and is less robust to corruptions",
    config=JEDeepConfig,
    quick={**QUICK_RECIPE, "gammas": [0.0, 1.0], "methods": ["mae", "simclr"], "alpha_gammas": [],
           "alphas": [0.0, 1.0], "severities": [3], "k_max": 32},
    quick_time="~3 min (190 s measured in make demo; no α arm in quick mode)",
    full_time="~55 min (3,316 s measured on 2 idle cores; 5 seeds, 5 γ, α arm at γ 0.25 and 2)",
)
def run(cfg: JEDeepConfig, ctx: RunContext) -> Result:
    t_start = time.perf_counter()
    fg = load_dataset(cfg.dataset, image_size=cfg.image_size)
    source = textured_source(fg, cfg.dataset, cfg.background_seed)
    overrides = {} if cfg.depth is None else {"depth": cfg.depth}
    vit = vit_config(cfg.preset, image_size=cfg.image_size, patch=cfg.patch, channels=1, **overrides)
    seeds = seeds_for(ctx.seed, cfg.seeds)
    table, align, splits, view_stats = ArmTable(), {}, {}, {}
    corrupted: dict[str, torch.Tensor] = {}
    for g in cfg.gammas:
        raw = source.splits(g)
        align[g] = float(alignment_curve(*linear_matrices(raw.train), cfg.k_max).mean())
        std_splits = raw.standardized()
        view_stats[g] = (std_splits.info["pixel_mean"][0], std_splits.info["pixel_std"][0])
        # γ = 0 composites are 0.5 + 0.5 f, so standardised they equal the standardised foregrounds f (to
        # 7e-7 on mnist-5k): the γ = 0 arm trains on the foreground dataset itself, under its own name,
        # so its runs are the other deep experiments' runs of the same recipe, shared through the cache.
        splits[g] = fg.standardized() if g == 0 else std_splits
    data_name = {g: cfg.dataset if g == 0 else f"textured-{cfg.dataset}-g{g:g}" for g in cfg.gammas}
    # Corrupt the clean digits at their full contrast (the scale ImageNet-C's severities assume), standardise
    # with the train foregrounds' statistics, and feed the encoders exactly the clean split when uncorrupted.
    mean, std = fg.train.images.mean().item(), fg.train.images.std().item()
    for kind in CORRUPTIONS:
        for s in cfg.severities:
            corrupted[f"{kind}{s}"] = (corrupt(fg.test.images, kind, s) - mean) / std

    def extra(g: float) -> dict[str, torch.Tensor]:
        return corrupted if g == 0 else {}

    for g in cfg.gammas:  # deterministic: one evaluation, repeated so that paired differences line up
        pix = ArmTable()
        evaluate_into(pix, PIXELS, None, splits[g], extra(g), cs=cfg.probe_cs)
        for metric, v in pix.values[PIXELS].items():
            for _ in seeds:
                table.add(arm(PIXELS, g), metric, v[0])
    cache = EncoderCache(cache_root(ctx) if cfg.cache else None)
    # The α arm trains on packed (foreground, background) images with background-perturbing views; the
    # views' settings are method arguments, so these runs are cached and prefetched like the γ arm's.
    packed_name = f"textured-{cfg.dataset}-packed-b{cfg.background_seed}"
    packed = Splits(ImageDataset(pack(fg.train.images, source.backgrounds["train"]), fg.train.labels,
                                 fg.train.classes, packed_name), fg.val, fg.test)

    def opts(m: str, g: float | None = None, a: float = 0.0) -> dict:
        kw = method_kwargs(m, cfg)
        if g is not None:
            kw["background"] = {"gamma": g, "strength": a, "mode": cfg.alpha_mode, "mean": view_stats[g][0],
                                "std": view_stats[g][1]}
        return kw

    alpha_runs = [(m, g, a) for g in cfg.alpha_gammas for m in cfg.alpha_methods for a in cfg.alphas if a > 0]
    jobs = {g: [Job(m, opts(m), train_config(cfg, s)) for m in cfg.methods for s in seeds] for g in cfg.gammas}
    prefetched = prefetch_groups([(splits[g], data_name[g], jobs[g]) for g in cfg.gammas]
                                 + [(packed, packed_name, [Job(m, opts(m, g, a), train_config(cfg, s))
                                                           for m, g, a in alpha_runs for s in seeds])], vit, cache)
    walls: dict[str, float] = {}
    runs: list[dict] = []

    def trained(m: str, data: Splits, name: str, kw: dict, seed: int, label: str) -> torch.nn.Module:
        pre = cached_pretrain(m, vit, data, train_config(cfg, seed), kw, dataset=name, cache=cache)
        walls[label] = walls.get(label, 0.0) + pre.seconds
        runs.append(pre.record(label, prefetched))
        return pre.method.encoder

    for seed in seeds:
        for g in cfg.gammas:
            evaluate_into(table, arm(RANDOM, g), random_init(vit, seed), splits[g], extra(g), cs=cfg.probe_cs)
            for m in cfg.methods:
                encoder = trained(m, splits[g], data_name[g], opts(m), seed, m)
                evaluate_into(table, arm(m, g), encoder, splits[g], extra(g), cs=cfg.probe_cs)
                ctx.log.info("seed %d γ=%g %s: linear %.1f%%", seed, g, m, table.get(arm(m, g))[-1])
        for g in cfg.alpha_gammas:
            for m in cfg.alpha_methods:
                for a in cfg.alphas:
                    if a == 0:  # α = 0 views are the clean composites: the γ arm's run of this seed
                        for metric, v in table.values[arm(m, g)].items():
                            table.add(arm(m, g, a), metric, v[-1])
                        continue
                    encoder = trained(m, packed, packed_name, opts(m, g, a), seed, f"{m} α")
                    evaluate_into(table, arm(m, g, a), encoder, splits[g], cs=cfg.probe_cs)
                    ctx.log.info("seed %d γ=%g α=%g %s: linear %.1f%%", seed, g, a, m, table.get(arm(m, g, a))[-1])

    numbers: dict[str, object] = {"alignment": {f"{g:g}": align[g] for g in cfg.gammas}, "seeds": seeds}
    claims = [gamma_claim(cfg, table, seeds, numbers),
              alpha_claim(cfg, table, numbers) if cfg.alpha_gammas else alpha_not_run(cfg),
              corruption_claim(cfg, table, numbers)]
    plot_gamma(ctx, cfg, table, align)
    if cfg.alpha_gammas:
        plot_alpha(ctx, cfg, table)
    plot_corruption(ctx, cfg, table)
    plot_samples(ctx, source, cfg.gammas, _images(cfg))
    numbers["arms"] = table.records()
    numbers["pretrain_wall_s"] = walls  # training seconds of each run, summed per arm (cache hits included)
    numbers["pretraining"] = {"runs": runs, **run_counts(runs)}
    numbers["wall_s"] = time.perf_counter() - t_start
    return Result(numbers=numbers, claims=claims, headline="drop_difference", notes=corruption_note(cfg, table))


def _recon_joint(methods: list[str]) -> tuple[list[str], list[str]]:
    return [m for m in methods if m in RECON], [m for m in methods if m in JOINT]


def _mean_over(rows: list[list[float]]) -> list[float]:
    return [float(np.mean(col)) for col in zip(*rows, strict=True)]


def gamma_claim(cfg: JEDeepConfig, table: ArmTable, seeds: list[int], numbers: dict) -> Claim:
    lo, hi = cfg.gammas[0], cfg.gammas[-1]
    rc, je = _recon_joint(cfg.methods)
    drop = {m: [a - b for a, b in zip(table.get(arm(m, lo)), table.get(arm(m, hi)), strict=True)]
            for m in cfg.methods}
    d = [r - j for r, j in zip(_mean_over([drop[m] for m in rc]), _mean_over([drop[m] for m in je]), strict=True)]
    stat = summarize(d)
    g = gate_pairs(table, [(arm(m, x), arm(RANDOM, x)) for x in (lo, hi) for m in cfg.methods])
    numbers["drop"] = {m: summarize(v).record() for m, v in drop.items()}
    numbers["drop_difference"] = stat.mean
    evidence = (f"recon − JE drop {stat.text(unit=' pt')} per seed {fmt_per_seed(d)}; "
                + "; ".join(f"{m}: {table.summary(arm(m, lo)).text(unit='%')} → "
                            f"{table.summary(arm(m, hi)).text(unit='%')}" for m in cfg.methods)
                + f"; random-init {table.summary(arm(RANDOM, hi)).text(unit='%')} and pixels "
                f"{table.summary(arm(PIXELS, hi)).mean:.1f}% at γ = {hi:g}"
                + ("" if g.learned else f"; {NOT_LEARNED}: {g.evidence}"))
    return Claim(f"reconstruction's linear accuracy drops more than joint embedding's from γ = {lo:g} to {hi:g}",
                 gate(decide(stat, 0.0), g.learned), evidence, test=TEST_GAMMA.format(lo=lo, hi=hi, seeds=seeds))


def alpha_star(fracs: list[float], alphas: list[float], target: float) -> float:
    """Smallest α (linear interpolation on the grid) whose fraction of clean accuracy reaches
    ``target``; NaN when no α of the grid reaches it."""
    if fracs[0] >= target:
        return alphas[0]
    for (a0, f0), (a1, f1) in zip(zip(alphas, fracs, strict=True), zip(alphas[1:], fracs[1:], strict=True),
                                  strict=False):
        if f1 >= target > f0:
            return a0 + (a1 - a0) * (target - f0) / (f1 - f0)
    return math.nan


def alpha_star_text(values: list[float], alpha_max: float) -> str:
    """Per-seed α* as text; an α* that the grid never reaches reads 'not reached' (NaN in the numbers)."""
    if not any(math.isfinite(v) for v in values):
        return f"not reached with α ≤ {alpha_max:g} on any seed"
    return fmt_per_seed(values, 2, missing="not reached")


def _fractions(cfg: JEDeepConfig, table: ArmTable, m: str, g: float) -> list[list[float]]:
    """Per α, per seed: accuracy with α-views at γ / the method's accuracy at γ = 0."""
    clean = table.get(arm(m, 0.0))
    return [[a / c for a, c in zip(table.get(arm(m, g, al)), clean, strict=True)] for al in cfg.alphas]


def alpha_not_run(cfg: JEDeepConfig) -> Claim:
    """The α arm is optional (quick mode leaves it out to fit the demo's budget): without it the
    claim is inconclusive, and says how to run it."""
    return Claim(ALPHA_CLAIM, "inconclusive",
                 "the α arm was not run (alpha_gammas is empty, as in quick mode); the full mode runs it at "
                 f"γ = {FULL_ALPHA_GAMMAS[0]:g} and {FULL_ALPHA_GAMMAS[1]:g}, or pass --set alpha_gammas=[...] with "
                 "values from gammas",
                 test=TEST_ALPHA.format(alphas=cfg.alphas, hi=FULL_ALPHA_GAMMAS[-1], lo=FULL_ALPHA_GAMMAS[0],
                                        amax=cfg.alphas[-1]))


def alpha_claim(cfg: JEDeepConfig, table: ArmTable, numbers: dict) -> Claim:
    rc, je = _recon_joint(cfg.alpha_methods)
    lo, hi, amax = cfg.alpha_gammas[0], cfg.alpha_gammas[-1], cfg.alphas[-1]
    adv: dict[float, list[float]] = {}
    stars: dict[str, dict[str, list[float]]] = {}
    for g in cfg.alpha_gammas:
        fr = {m: _fractions(cfg, table, m, g) for m in cfg.alpha_methods}
        per_alpha = [[j - r for j, r in zip(_mean_over([fr[m][i] for m in je]), _mean_over([fr[m][i] for m in rc]),
                                            strict=True)] for i in range(len(cfg.alphas))]
        adv[g] = [100.0 * float(np.mean(col)) for col in zip(*per_alpha, strict=True)]
        for m in cfg.alpha_methods:
            per_seed = list(zip(*fr[m], strict=True))
            stars.setdefault(m, {})[f"{g:g}"] = [alpha_star(list(f), cfg.alphas, cfg.target_fraction) for f in per_seed]
    part1 = decide(summarize(adv[hi]), 0.0)
    part2 = decide(paired(adv[hi], adv[lo]), 0.0) if len(cfg.alpha_gammas) > 1 else "inconclusive"
    g_ = gate_pairs(table, [(arm(m, 0.0), arm(RANDOM, 0.0)) for m in cfg.alpha_methods]
                    + [(arm(m, hi, amax), arm(RANDOM, hi)) for m in cfg.alpha_methods])
    numbers["alpha_advantage_pt"] = {f"{g:g}": summarize(v).record() for g, v in adv.items()}
    numbers["alpha_star"] = stars
    two = len(cfg.alpha_gammas) > 1
    evidence = (f"JE − recon fraction of clean accuracy, mean over α: at γ = {hi:g} "
                f"{summarize(adv[hi]).text(unit=' pt')}"
                + (f", at γ = {lo:g} {summarize(adv[lo]).text(unit=' pt')}, difference "
                   f"{paired(adv[hi], adv[lo]).text(unit=' pt')}" if two else "; small-γ arm not run (part 2 "
                                                                               "inconclusive)")
                + "; α* to reach " + f"{100 * cfg.target_fraction:g}% of clean: "
                + ", ".join(f"{m} γ={g}: {alpha_star_text(v, max(cfg.alphas))}" for m, d in stars.items()
                            for g, v in d.items())
                + ("" if g_.learned else f"; {NOT_LEARNED}: {g_.evidence}"))
    return Claim(f"at large γ ({hi:g}) joint embedding reaches a given fraction of its clean accuracy at a smaller "
                 f"background-perturbation α than reconstruction; at small γ ({lo:g}) the advantage shrinks",
                 gate(combine([part1, part2]), g_.learned), evidence,
                 test=TEST_ALPHA.format(alphas=cfg.alphas, hi=hi, lo=lo, amax=amax))


def relative_drops(cfg: JEDeepConfig, table: ArmTable, name: str) -> list[float]:
    a = arm(name, 0.0)
    clean = table.get(a)
    corr = _mean_over([table.get(a, f"linear-{k}{s}") for k in CORRUPTIONS for s in cfg.severities])
    return [100.0 * (1 - c / cl) for c, cl in zip(corr, clean, strict=True)]


def corruption_claim(cfg: JEDeepConfig, table: ArmTable, numbers: dict) -> Claim:
    rc, je = _recon_joint(cfg.methods)
    rel = {m: relative_drops(cfg, table, m) for m in [*cfg.methods, RANDOM, PIXELS]}
    d = [r - j for r, j in zip(_mean_over([rel[m] for m in rc]), _mean_over([rel[m] for m in je]), strict=True)]
    g = gate_pairs(table, [(arm(m, 0.0), arm(RANDOM, 0.0)) for m in cfg.methods])
    numbers["corruption_relative_drop"] = {m: summarize(v).record() for m, v in rel.items()}
    numbers["paper_imagenet_c_relative_drop"] = PAPER_IMAGENET_C_DROP
    evidence = (f"recon − JE relative drop {summarize(d).text(unit=' pt')}; "
                + ", ".join(f"{m} {summarize(v).text(unit='%')}" for m, v in rel.items())
                + "; paper (ImageNet-C): " + ", ".join(f"{k} {v}%" for k, v in PAPER_IMAGENET_C_DROP.items())
                + ("" if g.learned else f"; {NOT_LEARNED}: {g.evidence}"))
    return Claim("under noise, blur and contrast corruptions reconstruction loses a larger fraction of its accuracy "
                 "than joint embedding", gate(decide(summarize(d), 0.0), g.learned), evidence,
                 test=TEST_CORRUPT.format(kinds=", ".join(CORRUPTIONS), sev=cfg.severities))


def corruption_note(cfg: JEDeepConfig, table: ArmTable) -> str:
    """One paragraph (the report shows notes as text): clean and corrupted accuracy, relative drop."""
    parts = []
    for m in [*cfg.methods, RANDOM, PIXELS]:
        per = ", ".join(f"{k}: " + "/".join(f"{summarize(table.get(arm(m, 0.0), f'linear-{k}{s}')).mean:.1f}"
                                               for s in cfg.severities) for k in CORRUPTIONS)
        parts.append(f"{m}: clean {table.summary(arm(m, 0.0)).mean:.1f}% ({per}); relative drop "
                     f"{summarize(relative_drops(cfg, table, m)).text(unit='%')}")
    paper = ", ".join(f"{k} {v}%" for k, v in PAPER_IMAGENET_C_DROP.items())
    return (f"Corruption robustness, linear probe on the clean test digits (accuracy % at severities "
            f"{'/'.join(map(str, cfg.severities))}): " + "; ".join(parts)
            + f". The paper's relative drops on ImageNet-C: {paper}.")


def _errorbar(ax, x, s_list, label, **kw) -> None:
    means = [s.mean for s in s_list]
    err = [0.0 if not math.isfinite(s.lo) else (s.hi - s.lo) / 2 for s in s_list]
    ax.errorbar(x, means, yerr=err, capsize=3, label=label, **kw)


def _images(cfg: JEDeepConfig) -> str:
    return (f"{cfg.dataset} foregrounds on textured backgrounds (background seed {cfg.background_seed}) at "
            f"{cfg.image_size}×{cfg.image_size}")


def _setting(cfg: JEDeepConfig) -> str:
    """The data, encoder and budget of the figures, for their captions."""
    return (f"{_images(cfg)}; ViT preset {cfg.preset}, patch {cfg.patch}; "
            f"{count(cfg.epochs, 'pre-training epoch')}, batch {cfg.batch_size}; {seed_count(cfg.seeds)}")


def plot_gamma(ctx: RunContext, cfg: JEDeepConfig, table: ArmTable, align: dict[float, float]) -> None:
    fig, ax = plt.subplots(figsize=(8.4, 4.2), layout="constrained")
    for name in [*cfg.methods, RANDOM, PIXELS]:
        style = {"fmt": "o-"} if name in cfg.methods else {"fmt": "s--", "alpha": 0.7}
        _errorbar(ax, cfg.gammas, [table.summary(arm(name, g)) for g in cfg.gammas], name, **style)
    ax.set_xlabel(r"background contrast $\gamma$")
    ax.set_ylabel("linear-probe test accuracy (%)")
    ax.grid(alpha=0.3)
    ax2 = ax.twinx()
    ax2.plot(cfg.gammas, [align[g] for g in cfg.gammas], "k:", marker="x", label="alignment (right axis)")
    ax2.set_ylabel(f"mean alignment(k), $k \\leq {cfg.k_max}$")
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="upper left", bbox_to_anchor=(1.12, 1.0))
    ax.set_title(f"{cfg.dataset} on textures: accuracy and alignment vs $\\gamma$ ({seed_count(cfg.seeds)})")
    ctx.save_figure(fig, "je_vs_recon_deep_gamma", caption=(
        "Linear-probe test accuracy of each pre-trained method and of the random-init and raw-pixel baselines "
        f"against the background contrast γ ({', '.join(f'{g:g}' for g in cfg.gammas)}); mean over "
        f"{seed_count(cfg.seeds)} ({spread_text(cfg.seeds)}). Dotted black line, right axis: the mean "
        f"alignment(k) over k ≤ {cfg.k_max} of the composited training images (Balestriero & LeCun), "
        f"deterministic. Data: {_setting(cfg)}"))


def plot_alpha(ctx: RunContext, cfg: JEDeepConfig, table: ArmTable) -> None:
    fig, axes = plt.subplots(1, len(cfg.alpha_gammas), figsize=(4.8 * len(cfg.alpha_gammas), 3.9), squeeze=False,
                             layout="constrained")
    for ax, g in zip(axes[0], cfg.alpha_gammas, strict=True):
        for m in cfg.alpha_methods:
            fr = _fractions(cfg, table, m, g)
            _errorbar(ax, cfg.alphas, [summarize([100 * f for f in row]) for row in fr], m, fmt="o-")
        ax.axhline(100 * cfg.target_fraction, color="grey", ls=":", lw=1,
                   label=f"target {100 * cfg.target_fraction:g}% of clean")
        ax.set_title(f"$\\gamma = {g:g}$ ({cfg.alpha_mode} views)")
        ax.set_xlabel(r"background perturbation $\alpha$")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("% of the method's clean accuracy")
    ctx.save_figure(fig, "je_vs_recon_deep_alpha", caption=(
        "Linear-probe test accuracy of methods pre-trained with background-perturbed views of strength α "
        f"({', '.join(f'{a:g}' for a in cfg.alphas)}; {cfg.alpha_mode} views), as a percentage of the same method's "
        f"accuracy at γ = 0, one panel per background contrast γ; mean over {seed_count(cfg.seeds)} "
        f"({spread_text(cfg.seeds)}). Dotted line: the target fraction {cfg.target_fraction:g} that defines α*. "
        f"Data: {_setting(cfg)}"))


def plot_corruption(ctx: RunContext, cfg: JEDeepConfig, table: ArmTable) -> None:
    names = [*cfg.methods, RANDOM, PIXELS]
    fig, ax = plt.subplots(figsize=(8.0, 3.9), layout="constrained")
    stats = [summarize(relative_drops(cfg, table, m)) for m in names]
    err = [0.0 if not math.isfinite(s.lo) else (s.hi - s.lo) / 2 for s in stats]
    ax.bar(names, [s.mean for s in stats], yerr=err, capsize=3, color=[f"C{i}" for i in range(len(names))])
    for i, (k, v) in enumerate(PAPER_IMAGENET_C_DROP.items()):
        ax.axhline(v, color="grey", ls=["-", "--", ":"][i % 3], lw=1, label=f"paper ImageNet-C: {k} {v}%")
    ax.set_ylabel("relative accuracy drop (%)")
    ax.set_title("corruptions of the clean test split (noise, blur, contrast)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ctx.save_figure(fig, "je_vs_recon_deep_corruption", caption=(
        "Relative drop of linear-probe accuracy from the clean test split to its corrupted copies (Gaussian "
        f"noise, blur and contrast at severities {', '.join(map(str, cfg.severities))}, averaged), for each method "
        f"at γ = 0 and the baselines; bars: mean over {seed_count(cfg.seeds)} ({spread_text(cfg.seeds)}). "
        f"Horizontal lines: the paper's relative drops on ImageNet-C, for reference. Data: {_setting(cfg)}"))


def plot_samples(ctx: RunContext, source, gammas: list[float], data: str, n: int = 8) -> None:
    fig, axes = plt.subplots(len(gammas), n, figsize=(n * 0.9, len(gammas) * 1.0 + 0.2), squeeze=False,
                             layout="constrained")
    for r, g in enumerate(gammas):
        imgs = source.dataset("test", g).images[:n]
        for j in range(n):
            axes[r][j].imshow(imgs[j, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            axes[r][j].set_xticks([])
            axes[r][j].set_yticks([])
        axes[r][0].set_ylabel(f"$\\gamma = {g:g}$", fontsize=8)
    ctx.save_figure(fig, "textured_samples", caption=(
        f"The first {n} test images at each background contrast γ ({', '.join(f'{g:g}' for g in gammas)}; one row "
        f"each), pixel values 0 (black) to 1 (white); no training involved. Data: {data}"))
