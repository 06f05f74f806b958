"""`vit-global-local`: MAE vs contrastive learning on a one-layer softmax ViT, Huang, Wen, Chi &
Liang (ICLR 2025), in the area model of :mod:`sslab.theory.softmax_vit`
(``docs/theory/huang-2025-vit-mae-vs-cl.md``).

For each area-size ratio C_g/C_l (P fixed), Q is trained from 0 by full-batch GD with the MAE and
the CL objective, on ≥ 3 seeds (each seed draws its own cluster layouts, data and masks), and the
same runs at learning rate 0 form the untrained control. The claims and their pre-registered
tests are written next to them below (``TESTS``); every statistic is a mean over seeds with a
95 % t-interval, and a claim is held only when the whole interval clears its bound.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from pydantic import Field, field_validator

from sslab.config import ExperimentConfig, unused
from sslab.data.patches import patchify
from sslab.eval.features import extract_features
from sslab.eval.probes import logistic_probe
from sslab.experiments.base import Claim, Result, RunContext, register
from sslab.experiments.captions import count, seed_count, spread_text
from sslab.experiments.common import all_of, at_least, at_most, ci_text, seeds_for
from sslab.experiments.deep_common import (
    QUICK_RECIPE,
    ArmTable,
    DeepConfig,
    add_baselines,
    deep_setup,
    distinct_methods,
    gate_claim,
    learning_gate,
    method_kwargs,
    paired_claim,
    plot_arms,
    run_arm,
)
from sslab.methods import RANDOM_MASKING
from sslab.progress import track
from sslab.stats import Verdict, summarize
from sslab.theory.softmax_vit import AreaModel, Trajectory, mae_attention, train_gd

# Pre-registered bounds (fixed before any run; see the docs page).
OWN_MASS = 0.9  # (a) MAE own-area mass of local queries
GLOBAL_PULL = 0.5  # (b) CL moves ≥ half of the non-global mass of local queries onto the global area
ROW_GAP = 0.1  # (b) MAE rows differ more than CL rows by ≥ 0.1 in total variation
MAE_GAP = 0.1  # (c) MAE closes ≥ 90 % of the gap from the initial local error to the oracle
CL_GAP = 0.5  # (c) CL closes < half of it
PHASE = 0.05  # (d) rise and fall of the global FP correlation, relative to the final local one

TESTS = {
    "a": f"per C_g/C_l: 95% t-CI over seeds of the MAE own-area mass of masked local queries > {OWN_MASS}; "
         "held at every ratio",
    "b": f"per C_g/C_l: CI of CL's global pull (m − m₀)/(1 − m₀) > {GLOBAL_PULL} (m: global-area mass of local "
         f"queries, m₀: its value at Q = 0) and CI of the paired row spread MAE − CL > {ROW_GAP}; held at every ratio",
    "c": f"per C_g/C_l: CI of MAE's remaining gap (e − e*)/(e₀ − e*) < {MAE_GAP} and CI of CL's > {CL_GAP} "
         "(e: local error, e*: area-oracle error, e₀: error at Q = 0); held at every ratio",
    "d": f"at the largest C_g/C_l: CIs of the rise max_t g − g(0) and of the fall max_t g − g(T) of the global FP "
         f"correlation g, both relative to the final local correlation, > {PHASE}, and CI of "
         "t_local − t_peak > 0 (t_local: first step the local correlation reaches half its final value)",
    "control": "the lr = 0 runs, decided by the tests of (a), (b) and (c), are 'not held' on all three",
}


class VitGlobalLocalConfig(ExperimentConfig):
    size_ratios: list[int] = Field(default_factory=lambda: [1, 2, 4, 10], min_length=2,
                                   description="C_g / C_l; P / (C_g/C_l + local_areas) must be a whole number ≥ 2")
    positions: int = Field(24, ge=4, le=256)
    local_areas: int = Field(2, ge=1, le=16)
    clusters: int = Field(2, ge=1, le=16)
    seeds: int = Field(5, ge=1, le=100)
    steps: int = Field(300, ge=10, le=100_000)
    lr_mae: float = Field(30.0, gt=0, le=1000)
    lr_cl: float = Field(10.0, gt=0, le=1000)
    samples: int = Field(256, ge=8, le=100_000)
    mask_ratio: float = Field(0.5, gt=0, lt=1)
    temperature: float = Field(0.1, gt=0, le=10)
    record_every: int = Field(1, ge=1, description="steps between records of the FP correlations")


def _runs(cfg: VitGlobalLocalConfig, seeds: list[int]) -> dict[tuple[str, int, int], Trajectory]:
    """Trajectories keyed by (arm, C_g/C_l, seed); arms mae, cl, mae0, cl0 (the lr = 0 control)."""
    out = {}
    jobs = [(r, s) for r in cfg.size_ratios for s in seeds]
    for r, s in track(jobs, "C_g/C_l × seeds"):
        model = AreaModel(cfg.clusters, cfg.local_areas, cfg.positions, r, layout_seed=s)
        for arm, obj, lr in (("mae", "mae", cfg.lr_mae), ("cl", "cl", cfg.lr_cl), ("mae0", "mae", 0.0),
                             ("cl0", "cl", 0.0)):
            out[(arm, r, s)] = train_gd(model, obj, cfg.steps, lr, cfg.samples, cfg.mask_ratio, cfg.temperature,
                                        record_every=cfg.record_every, seed=s, n_eval=cfg.samples)
    return out


def _gap(tr: Trajectory) -> float:
    first, last = tr.first, tr.last
    return (last.local_error - last.oracle_local_error) / (first.local_error - first.oracle_local_error)


def _phases(tr: Trajectory) -> dict[str, float]:
    """Rise, fall (relative to the final local correlation), peak step and local half-time."""
    g = np.array(tr.global_fp)
    loc = np.array(tr.local_fp)
    steps = np.array(tr.steps)
    scale = abs(loc[-1]) if abs(loc[-1]) > 0 else 1.0
    i = int(np.argmax(g))
    reached = np.flatnonzero(loc >= 0.5 * loc[-1]) if loc[-1] > 0 else np.array([len(steps) - 1])
    return {"rise": float((g[i] - g[0]) / scale), "fall": float((g[i] - g[-1]) / scale),
            "t_peak": float(steps[i]), "t_local": float(steps[reached[0]])}


def _decide_abc(runs, cfg: VitGlobalLocalConfig, seeds: list[int], mae: str, cl: str) -> tuple[dict, dict]:
    """Verdicts of (a)-(c) for one pair of arms, and the per-ratio statistics behind them."""
    stats: dict[str, dict] = {}
    parts: dict[str, list[Verdict]] = {"a": [], "b": [], "c": []}
    for r in cfg.size_ratios:
        fin = {arm: [runs[(arm, r, s)].last for s in seeds] for arm in (mae, cl)}
        mass = [p.own_mass_mae for p in fin[mae]]
        pull = [(p.global_mass_cl - p.global_mass_uniform) / (1 - p.global_mass_uniform) for p in fin[cl]]
        spread = [m.row_spread_mae - c.row_spread_cl for m, c in zip(fin[mae], fin[cl], strict=True)]
        gap_m = [_gap(runs[(mae, r, s)]) for s in seeds]
        gap_c = [_gap(runs[(cl, r, s)]) for s in seeds]
        va, sa = at_least(mass, OWN_MASS)
        vp, sp = at_least(pull, GLOBAL_PULL)
        vs, ss = at_least(spread, ROW_GAP)
        vm, sm = at_most(gap_m, MAE_GAP)
        vc, sc = at_least(gap_c, CL_GAP)
        parts["a"].append(va)
        parts["b"].append(all_of([vp, vs]))
        parts["c"].append(all_of([vm, vc]))
        stats[str(r)] = {
            "own_mass_mae": sa.record(), "global_pull_cl": sp.record(), "row_spread_mae_minus_cl": ss.record(),
            "gap_mae": sm.record(), "gap_cl": sc.record(),
            "global_mass_cl": summarize([p.global_mass_cl for p in fin[cl]]).record(),
            "global_mass_uniform": summarize([p.global_mass_uniform for p in fin[cl]]).record(),
            "local_error_mae": summarize([p.local_error for p in fin[mae]]).record(),
            "local_error_cl": summarize([p.local_error for p in fin[cl]]).record(),
            "oracle_local_error": summarize([p.oracle_local_error for p in fin[mae]]).record(),
            "verdicts": {"a": va, "b_pull": vp, "b_rows": vs, "c_mae": vm, "c_cl": vc},
        }
    return {k: all_of(v) for k, v in parts.items()}, stats


def _fmt(stats: dict, key: str) -> str:
    return "; ".join(f"{r}: {ci_text(_summary(st[key]))}" for r, st in stats.items())


def _summary(rec: dict):
    from sslab.stats import Summary

    lo, hi = (float("nan") if v is None else v for v in rec["ci95"])
    return Summary(rec["mean"] if rec["mean"] is not None else float("nan"), lo, hi, tuple(rec["per_seed"]))


def _figures(runs, cfg: VitGlobalLocalConfig, seeds: list[int], stats: dict, ctx: RunContext) -> None:
    r_hi, s0 = max(cfg.size_ratios), seeds[0]
    model = AreaModel(cfg.clusters, cfg.local_areas, cfg.positions, r_hi, layout_seed=s0)
    X, k = model.sample(1, torch.Generator().manual_seed(s0 + 5))
    vis = torch.ones(1, model.P, dtype=torch.bool)
    order = torch.argsort(model.layouts[k[0]], stable=True)
    ratio = r"$C_g / C_l$"
    setting = (f"synthetic area model generated in code ({cfg.positions} positions, {cfg.clusters} clusters, "
               f"{cfg.local_areas} local areas, mask ratio {cfg.mask_ratio:g}, {cfg.samples} samples, "
               f"{cfg.steps} full-batch GD steps, lr {cfg.lr_mae:g} MAE / {cfg.lr_cl:g} CL, τ = {cfg.temperature:g})")
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 4.0), layout="constrained")
    maps = [mae_attention(runs[(arm, r_hi, s0)].Q, X, vis)[0][order][:, order].numpy() for arm in ("mae", "cl", "mae0")]
    top = max(float(A.max()) for A in maps)  # one colour scale for the three maps
    for ax, A, title in zip(axes, maps, ("MAE", "CL", "control (lr 0)"), strict=True):
        im = ax.imshow(A, cmap="magma", vmin=0, vmax=top)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("key (global area, then local areas)", fontsize=8)
    axes[0].set_ylabel("query (same order)", fontsize=8)
    fig.colorbar(im, ax=list(axes), shrink=0.9, label="attention weight\n(each row sums to 1)")
    fig.suptitle(f"position-only attention, {ratio} = {r_hi}, seed {s0}", fontsize=10)
    ctx.save_figure(fig, "attention_maps", caption=(
        f"Attention of position-only queries over keys after training, at C_g/C_l = {r_hi}, for MAE, contrastive "
        f"learning (CL) and the untrained lr = 0 control, one sample of seed {s0} (the first of "
        f"{seed_count(len(seeds))}); positions sorted: global area first, then each local area. One colour scale "
        f"for the three maps, 0 to the largest weight; {setting}"))
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.6), layout="constrained")
    for i, r in enumerate(cfg.size_ratios):
        tr = runs[("mae", r, s0)]
        axes[0].plot(tr.steps, tr.global_fp, "--", color=f"C{i}")
        axes[0].plot(tr.steps, tr.local_fp, "-", color=f"C{i}", label=f"{ratio} = {r}")
    axes[0].plot([], [], "-", color="gray", label="own local feature")
    axes[0].plot([], [], "--", color="gray", label="global feature")
    axes[0].set_title(f"(a) MAE FP correlations of local queries (seed {s0})", fontsize=9)
    axes[0].set_xlabel("GD step")
    axes[0].set_ylabel("FP correlation")
    axes[0].legend(fontsize=7)
    rs = cfg.size_ratios
    panels = (("own_mass_mae", "MAE own-area mass", axes[1]), ("global_pull_cl", "CL global pull", axes[1]),
              ("gap_mae", "MAE remaining error gap", axes[2]), ("gap_cl", "CL remaining error gap", axes[2]))
    for key, label, ax in panels:
        m = [stats["trained"][str(r)][key]["mean"] for r in rs]
        lo = [stats["trained"][str(r)][key]["ci95"][0] or np.nan for r in rs]
        hi = [stats["trained"][str(r)][key]["ci95"][1] or np.nan for r in rs]
        ax.errorbar(rs, m, yerr=[np.subtract(m, lo), np.subtract(hi, m)], marker="o", capsize=3, label=label)
        m0 = [stats["control"][str(r)][key]["mean"] for r in rs]
        ax.plot(rs, m0, ":", marker="x", label=f"{label} (lr 0)")
    axes[1].set_title("(b) attention mass after training", fontsize=9)
    axes[1].set_ylabel("own-area mass / global pull")
    axes[2].set_title("(c) local reconstruction error left", fontsize=9)
    axes[2].set_ylabel(r"remaining gap $(e - e^*) / (e_0 - e^*)$")
    for ax in axes[1:]:
        ax.set_xscale("log")
        ax.set_xticks(rs, [str(r) for r in rs])
        ax.minorticks_off()
        ax.set_xlabel(ratio)
        ax.legend(fontsize=7, ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.16))  # below, off the data
        ax.grid(alpha=0.3)
    ctx.save_figure(fig, "global_local_dynamics", caption=(
        "(a) MAE's feature-position (FP) correlations of local queries along GD, with their own local feature "
        f"(solid) and with the global feature (dashed), one line per C_g/C_l, seed {s0}; (b) MAE's own-area "
        "attention mass of masked local queries and CL's global pull (m − m₀)/(1 − m₀) of their global-area "
        "mass, (c) the remaining local-error gap "
        "(e − e*)/(e₀ − e*) of MAE and CL, against the global/local area-size ratio C_g/C_l: mean over "
        f"{seed_count(len(seeds))} ({spread_text(len(seeds))}); crosses: the untrained lr = 0 control (mean). "
        f"Data: {setting}"))


@register(
    "vit-global-local",
    paper="Huang, Wen, Chi & Liang, ICLR 2025",
    claim="MAE learns area-wide attention for local areas and reconstructs them near the oracle; CL pulls local "
          "queries onto the global area; an untrained (lr 0) control fails the same tests",
    config=VitGlobalLocalConfig,
    quick={"seeds": 3, "steps": 100, "samples": 128},
    quick_time="~8 s",
    full_time="~6 min",
)
def run(cfg: VitGlobalLocalConfig, ctx: RunContext) -> Result:
    for r in cfg.size_ratios:
        AreaModel(cfg.clusters, cfg.local_areas, cfg.positions, r)  # validates the split before any run
    seeds = seeds_for(ctx.seed, cfg.seeds)
    runs = _runs(cfg, seeds)
    verdicts, trained = _decide_abc(runs, cfg, seeds, "mae", "cl")
    control_v, control = _decide_abc(runs, cfg, seeds, "mae0", "cl0")
    phases = {str(r): {k: summarize([_phases(runs[("mae", r, s)])[k] for s in seeds]).record()
                       for k in ("rise", "fall", "t_peak", "t_local")} for r in cfg.size_ratios}
    r_hi = max(cfg.size_ratios)
    ph = [_phases(runs[("mae", r_hi, s)]) for s in seeds]
    v_rise, s_rise = at_least([p["rise"] for p in ph], PHASE)
    v_fall, s_fall = at_least([p["fall"] for p in ph], PHASE)
    v_order, s_order = at_least([p["t_local"] - p["t_peak"] for p in ph], 0.0)
    verdict_d = all_of([v_rise, v_fall, v_order])
    outputs = {f"{arm} {r}": {"first": summarize([runs[(arm, r, s)].losses[0] for s in seeds]).record(),
                              "last": summarize([runs[(arm, r, s)].losses[-1] for s in seeds]).record()}
               for arm in ("mae", "cl") for r in cfg.size_ratios}
    stats = {"trained": trained, "control": control}
    _figures(runs, cfg, seeds, stats, ctx)
    ctrl = all_of(["held" if v == "not held" else "not held" if v == "held" else "inconclusive"
                   for v in control_v.values()])
    n = f"{len(seeds)} seeds"
    claims = [
        Claim("(a) MAE: masked local queries put ≈ all their mass on their own area, at every C_g/C_l",
              verdicts["a"], f"own-area mass by C_g/C_l ({n}): {_fmt(trained, 'own_mass_mae')}; "
              f"lr-0 control: {_fmt(control, 'own_mass_mae')}", TESTS["a"]),
        Claim("(b) CL: local queries move their mass onto the global area and attention rows become alike; "
              "MAE's rows stay query-dependent", verdicts["b"],
              f"CL global pull: {_fmt(trained, 'global_pull_cl')}; row spread MAE − CL: "
              f"{_fmt(trained, 'row_spread_mae_minus_cl')}; control pull {_fmt(control, 'global_pull_cl')}, "
              f"spread {_fmt(control, 'row_spread_mae_minus_cl')}", TESTS["b"]),
        Claim("(c) MAE's local error goes to the area-oracle error; CL's stays near its initial value",
              verdicts["c"], f"remaining gap MAE: {_fmt(trained, 'gap_mae')}; CL: {_fmt(trained, 'gap_cl')}; "
              f"control MAE: {_fmt(control, 'gap_mae')}", TESTS["c"]),
        Claim(f"(d) MAE at C_g/C_l = {r_hi}: the global FP correlation of local queries rises then falls, and the "
              "local correlation rises later", verdict_d,
              f"rise {ci_text(s_rise)}, fall {ci_text(s_fall)}, t_local − t_peak {ci_text(s_order, 1)} steps; "
              "peak / half-time steps by C_g/C_l: " + "; ".join(
                  f"{r}: {p['t_peak']['mean']:.0f} / {p['t_local']['mean']:.0f}" for r, p in phases.items()),
              TESTS["d"]),
        Claim("the untrained control (lr 0) fails (a), (b) and (c)", ctrl,
              f"control verdicts: (a) {control_v['a']}, (b) {control_v['b']}, (c) {control_v['c']}",
              TESTS["control"]),
    ]
    return Result(
        numbers={"size_ratios": cfg.size_ratios, "seeds": seeds, "trained": trained, "control": control,
                 "control_verdicts": control_v, "phases": phases, "training_loss": outputs,
                 "min_own_mass_mae": min(trained[str(r)]["own_mass_mae"]["mean"] for r in cfg.size_ratios)},
        claims=claims,
        headline="min_own_mass_mae",
        notes=f"P = {cfg.positions} positions, {cfg.clusters} clusters, {cfg.local_areas} local areas, mask ratio "
        f"{cfg.mask_ratio}, {cfg.steps} full-batch GD steps (lr {cfg.lr_mae} MAE, {cfg.lr_cl} CL) on "
        f"{cfg.samples} samples, τ = {cfg.temperature}; seeds {seeds}.",
    )


class GlobalLocalDeepConfig(DeepConfig):
    methods: list[str] = Field(default_factory=lambda: ["mae", "simclr"], min_length=2)
    local_bins: int = Field(4, ge=2, le=10, description="quantile bins of the local label")

    @field_validator("methods")
    @classmethod
    def _each_once(cls, methods: list[str]) -> list[str]:
        return distinct_methods(methods)

    def conflicts(self, explicit: frozenset[str]) -> list[str]:
        return unused(self, explicit, "mask_ratio", any(m in RANDOM_MASKING for m in self.methods),
                      "only mae and umae mask their input and methods has neither; add one or drop mask_ratio")


def local_patch_labels(images: torch.Tensor, reference: torch.Tensor, patch: int, bins: int) -> torch.Tensor:
    """Quantile bin of the mean intensity of the patch with the largest variance across ``reference``."""
    grid = patchify(reference, patch).mean(-1)  # (N, L)
    which = int(grid.var(0).argmax())
    edges = torch.quantile(grid[:, which], torch.linspace(0, 1, bins + 1)[1:-1])
    return torch.bucketize(patchify(images, patch).mean(-1)[:, which].contiguous(), edges)


@register(
    "global-local-deep",
    paper="Huang, Wen, Chi & Liang, ICLR 2025 (deep echo)",
    claim="MAE features keep more local information (one patch's content) than SimCLR features",
    config=GlobalLocalDeepConfig,
    quick=QUICK_RECIPE,
    quick_time="~20 s when its MAE and SimCLR runs are cached (as in make demo); ~3 min alone",
    full_time="~27 min alone, ~1 min after ssl-compare (150 epochs, 5 seeds; estimated)",
)
def run_deep(cfg: GlobalLocalDeepConfig, ctx: RunContext) -> Result:
    setup = deep_setup(cfg, ctx)
    splits = setup.splits
    ref = splits.train.images
    local = {name: local_patch_labels(getattr(splits, name).images, ref, cfg.patch, cfg.local_bins)
             for name in ("train", "val", "test")}
    table = ArmTable()
    setup.prefetch([(m, method_kwargs(m, cfg)) for m in cfg.methods])  # both cores, one run per worker
    add_baselines(table, setup, ctx)
    for m in cfg.methods:
        for pre in run_arm(table, setup, ctx, m, m, method_kwargs(m, cfg)):
            enc = pre.method.encoder
            feats = {n: extract_features(enc, getattr(splits, n).images) for n in ("train", "val", "test")}
            table.add(m, "local", 100.0 * logistic_probe(feats["train"], local["train"], feats["val"], local["val"],
                                                         feats["test"], local["test"]).test_acc)
    fig, ax = plt.subplots(figsize=(7.5, 3.8), layout="constrained")
    n = len(setup.seeds)
    title = f"{cfg.dataset}, {seed_count(n)}, {count(cfg.epochs, 'epoch')}"
    plot_arms(ax, table, cfg.methods, ["linear", "local"], title)
    ax.axhline(100 / cfg.local_bins, color="gray", ls=":", label=f"chance, local label ({100 / cfg.local_bins:g}%)")
    ax.set_xticks([0.2, 1.2], ["global label (class)", f"local label ({cfg.local_bins} bins of one patch)"])
    ax.set_ylim(min(ax.get_ylim()[0], 100 / cfg.local_bins - 5), 100)  # keep the chance line in view
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ctx.save_figure(fig, "global_local_deep", caption=(
        f"Test accuracy of logistic probes on the frozen features of ViTs pre-trained with {', '.join(cfg.methods)} "
        f"on {cfg.dataset} ({cfg.image_size}×{cfg.image_size}, patch {cfg.patch}, {count(cfg.epochs, 'epoch')}): "
        f"the class label (global) and the {cfg.local_bins}-bin quantile of the mean intensity of the most variable "
        f"patch (local). Bars: mean over {seed_count(n)} ({spread_text(n)}); dotted line: chance for the local "
        "label"))
    g = learning_gate(table, cfg.methods)
    claims = [gate_claim(table, g, cfg.methods)]
    if "mae" in cfg.methods and "simclr" in cfg.methods:
        claims.append(paired_claim("MAE features predict the local label better than SimCLR features",
                                   table, "mae", "simclr", "local", 0.0, g, setup.seeds))
    gap = table.diff("mae", "simclr", "local").mean if {"mae", "simclr"} <= set(cfg.methods) else 0.0
    return Result(numbers={"arms": table.records(), "local_gap_mae_minus_simclr": gap,
                           "pretraining": setup.shared_runs()},
                  claims=claims, headline="local_gap_mae_minus_simclr")
