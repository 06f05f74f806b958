"""`je-vs-recon-phase` and `je-vs-recon-samples`: Van Assel et al. 2025 in the linear model with
irrelevant features (``docs/theory/van-assel-2025-je-vs-recon.md``).

Phase: at the population level (n → ∞) the closed-form RC and JE encoders are computed by
the general solvers for every (irrelevant magnitude γ, alignment α) and scored by the exact
downstream excess risk of the best linear probe on their features,
    excess = (βᵀ diag(s) β − cᵀ (E C Eᵀ)⁻¹ c) / βᵀ diag(s) β,  c = E Q_k diag(s) β,
which is 0 iff the encoder spans the relevant subspace. The measured recovery boundary is
compared with the thresholds α_RC, α_JE of Props 4.3-4.4.

Samples: finite n, exact augmentation moments given the samples, a least-squares probe on
the train samples and a large fresh test set; the relative excess test MSE over the oracle
probe on the true relevant coordinates, vs n, for α below / between / above the thresholds,
with supervised regression on augmented inputs as the baseline (its encoder regresses the k
relevant targets, then goes through the same probe).

Parameters (not given by the paper's sources; documented and configurable): d = 20, k = 4,
relevant variances 1.0 … 0.5, irrelevant variances γ·(1.0 … 0.5), augmentation variance
θ = 0.25 on relevant and 0.01 on irrelevant components. A small θ on irrelevant components
makes α_JE > 0 for weak irrelevant features, so the weak-regime comparison is not vacuous.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.patches import Rectangle
from pydantic import Field

from sslab.config import ExperimentConfig
from sslab.experiments.base import Claim, Result, RunContext, register
from sslab.experiments.captions import seed_count
from sslab.experiments.common import all_of, at_least, at_most, ci_text
from sslab.progress import track
from sslab.theory.joint_embedding import IrrelevantFeatureModel, ViewMoments, solve_je, solve_rc, supervised_map

PHASE_TESTS = {
    "boundary": "exact (population closed forms): at every γ the first α with relative excess < 1e-8 lies within "
                "one α grid step above the theoretical threshold, and recovery persists for every larger α",
    "strong": "exact: at every γ ≥ γ_max/3 the measured recovery boundary of JE is below that of RC",
    "weak": "exact: at every γ ≤ 3 γ_min the measured recovery boundary of RC is below that of JE",
}
SAMPLE_TESTS = {
    "supervised": "per seed: relative excess test MSE at the largest n, for every α; held if the 95% t-CI over "
                  "seeds is below the tolerance at every α, not held if above it at any α",
    "ssl": "per seed, for RC and JE at each α: relative excess at the largest n; the CI must be below the "
           "tolerance where α exceeds the method's threshold and above it where it does not",
    "between": "α between the thresholds: CI of JE's excess below the tolerance and CI of RC's above it",
}


RECOVERED = 1e-8  # relative excess below which an encoder counts as recovering the relevant subspace
RECOVERED_COLOUR = "#d9d9d9"  # phase figure: the cells below RECOVERED


class ModelConfig(ExperimentConfig):
    d: int = Field(20, ge=2, le=2000)
    k: int = Field(4, ge=1, le=100)
    theta_relevant: float = Field(0.25, ge=0, le=100, description="augmentation variance on relevant comps")
    theta_irrelevant: float = Field(0.01, ge=0, le=100, description="augmentation variance on irrelevant comps")


class PhaseConfig(ModelConfig):
    gammas: int = Field(25, ge=3, le=400, description="number of irrelevant magnitudes (log grid 0.1..100)")
    alphas: int = Field(41, ge=3, le=400, description="number of alignments (grid 0..alpha_max)")
    alpha_max: float = Field(8.0, gt=0, le=100)


def population_excess(model: IrrelevantFeatureModel, encoder: torch.Tensor) -> float:
    cov = (model.Q * torch.cat([model.s, model.lam_gamma])) @ model.Q.T
    c = encoder @ model.relevant_basis() @ (model.s * model.beta)
    total = float(model.beta @ (model.s * model.beta))
    fc = encoder @ cov @ encoder.T
    explained = float(c @ torch.linalg.solve(fc, c))
    return max(0.0, (total - explained) / total)


def _model(cfg: ModelConfig, gamma: float, seed: int) -> IrrelevantFeatureModel:
    return IrrelevantFeatureModel.make(
        cfg.d, cfg.k, 1.0, gamma, cfg.theta_relevant, cfg.theta_irrelevant, seed=seed
    )


def recovery_boundaries(
    alphas: np.ndarray, err: np.ndarray, theory: list[float]
) -> tuple[list[float], bool]:
    """For one method's excess-risk grid ``err`` (γ × α): the first α with relative excess < 1e-8
    at each γ (∞ if none), and whether every boundary lies within one α grid step above the
    theoretical threshold with recovery persisting for every larger α (a threshold, not a window)."""
    step = alphas[1] - alphas[0]
    ok = err < RECOVERED
    first = [float(alphas[np.argmax(row)]) if row.any() else math.inf for row in ok]
    monotone = all(row[np.argmax(row):].all() for row in ok if row.any())
    agree = monotone and all(
        (f - t <= step + 1e-9 and t <= f + 1e-9) if math.isfinite(f) else t > alphas[-1]
        for f, t in zip(first, theory, strict=True)
    )
    return first, agree


def decide_phase(
    gammas: np.ndarray, alphas: np.ndarray, err: dict[str, np.ndarray], theory: dict[str, list[float]]
) -> list[Claim]:
    """The three pre-registered phase claims (boundary, strong, weak) from the RC and JE excess-risk
    grids ``err[name]`` (γ × α) and the theoretical thresholds ``theory[name]`` (one per γ)."""
    measured, agree = {}, {}
    for name in ("RC", "JE"):
        measured[name], agree[name] = recovery_boundaries(alphas, err[name], theory[name])
    step = alphas[1] - alphas[0]
    th_rc, th_je = np.array(theory["RC"]), np.array(theory["JE"])
    strong, weak = gammas >= gammas[-1] / 3, gammas <= gammas[0] * 3
    m_rc, m_je = np.array(measured["RC"]), np.array(measured["JE"])
    return [
        Claim(
            "the closed-form solvers recover the relevant subspace exactly above the theoretical thresholds",
            agree["RC"] and agree["JE"],
            f"measured recovery boundaries within one α grid step ({step:.2f}) of α_RC, α_JE at all "
            f"{len(gammas)} magnitudes: RC {agree['RC']}, JE {agree['JE']}",
            PHASE_TESTS["boundary"],
        ),
        Claim(
            "strong irrelevant features: JE needs less alignment than RC (α_JE < α_RC)",
            bool(np.all(m_je[strong] < m_rc[strong])),
            f"at γ ≥ {gammas[strong][0]:.1f}: measured α_JE {_fmt(m_je[strong])} vs α_RC {_fmt(m_rc[strong])} "
            f"(∞: not recovered for α ≤ {alphas[-1]:g}; theory α_RC {_fmt(th_rc[strong])})",
            PHASE_TESTS["strong"],
        ),
        Claim(
            "weak irrelevant features: RC needs less alignment than JE (α_RC < α_JE)",
            bool(np.all(m_rc[weak] < m_je[weak])),
            f"at γ ≤ {gammas[weak][-1]:.2f}: measured α_RC {_fmt(m_rc[weak])} vs α_JE {_fmt(m_je[weak])} "
            f"(theory {_fmt(th_rc[weak])} vs {_fmt(th_je[weak])})",
            PHASE_TESTS["weak"],
        ),
    ]


@register(
    "je-vs-recon-phase",
    paper="Van Assel et al. 2025 (Props 4.3-4.4)",
    claim="JE needs less augmentation alignment than RC when irrelevant features are strong, more when weak",
    config=PhaseConfig,
    quick={"gammas": 9, "alphas": 25},
    quick_time="~1 s",
    full_time="~15 s",
)
def run_phase(cfg: PhaseConfig, ctx: RunContext) -> Result:
    gammas = np.logspace(-1, 2, cfg.gammas)
    alphas = np.linspace(0, cfg.alpha_max, cfg.alphas)
    err = {"RC": np.zeros((len(gammas), len(alphas))), "JE": np.zeros((len(gammas), len(alphas)))}
    theory = {"RC": [], "JE": []}
    for i, gamma in enumerate(track(gammas, "irrelevant magnitudes")):
        model = _model(cfg, float(gamma), ctx.seed)
        a_rc, a_je = model.thresholds()
        theory["RC"].append(a_rc)
        theory["JE"].append(a_je)
        for j, alpha in enumerate(alphas):
            m = model.population_moments(float(alpha))
            err["RC"][i, j] = population_excess(model, solve_rc(m, cfg.k).E)
            err["JE"][i, j] = population_excess(model, solve_je(m, cfg.k).W)
    m_rc = recovery_boundaries(alphas, err["RC"], theory["RC"])[0]
    m_je = recovery_boundaries(alphas, err["JE"], theory["JE"])[0]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, layout="constrained")
    # recovered cells (the claims' cutoff) in one flat colour; the others on a log scale set by their own range,
    # so the sizes of the failures stay visible instead of saturating against the recovered ones
    failed = np.concatenate([err[name][err[name] >= RECOVERED] for name in ("RC", "JE")])
    lo, hi = (float(failed.min()), float(failed.max())) if failed.size else (RECOVERED, 1.0)
    norm = LogNorm(vmin=min(lo, hi / 10), vmax=hi)
    for ax, name in zip(axes, ("RC", "JE"), strict=True):
        ok = err[name] < RECOVERED
        ax.pcolormesh(alphas, gammas, np.ma.masked_where(~ok, np.ones_like(err[name])), shading="auto",
                      cmap=ListedColormap([RECOVERED_COLOUR]))
        im = ax.pcolormesh(alphas, gammas, np.ma.masked_where(ok, err[name]), shading="auto", cmap="YlOrRd",
                           norm=norm)
        for other, style in (("RC", "k--"), ("JE", "b-")):
            th = np.array(theory[other])
            ax.plot(np.where(th <= alphas[-1], th, np.nan), gammas, style, lw=2,
                    label=f"theory threshold $\\alpha_{{\\mathrm{{{other}}}}}$")
        ax.add_patch(Rectangle((0, 0), 0, 0, color=RECOVERED_COLOUR, label=f"recovered (excess < {RECOVERED:g})"))
        ax.set_yscale("log")
        ax.set_xlabel(r"alignment $\alpha$")
        ax.set_title(f"{name}: relative excess risk ($n \\to \\infty$)")
        ax.legend(fontsize=8, loc="lower right")
    axes[0].set_ylabel(r"irrelevant-feature magnitude $\gamma$")
    fig.colorbar(im, ax=list(axes), label="relative excess risk where not recovered\n(log scale over its range)")
    ctx.save_figure(fig, "je_vs_recon_phase", caption=(
        "Exact population (n → ∞) relative excess risk of the best linear probe on the closed-form RC (left) and "
        f"JE (right) encoders, on a {cfg.gammas} × {cfg.alphas} grid of irrelevant-feature magnitude γ "
        f"(log grid 0.1…100, y axis) and alignment α (0…{cfg.alpha_max:g}, x axis); synthetic linear model "
        f"generated in code, d = {cfg.d}, k = {cfg.k}, θ = {cfg.theta_relevant:g} (relevant) / "
        f"{cfg.theta_irrelevant:g} (irrelevant), 1 seed ({ctx.seed}) draws the model. Grey: cells where the "
        f"encoder recovers the relevant subspace (excess < {RECOVERED:g}, the claims' cutoff); elsewhere colour "
        "shows the excess risk on a log scale spanning the failed cells' own range. Lines: the theoretical "
        "thresholds α_RC (black dashed) and α_JE (blue), drawn where they fall inside the α range"))
    th_rc, th_je = np.array(theory["RC"]), np.array(theory["JE"])
    return Result(
        numbers={
            "gammas": gammas.tolist(),
            "alphas": alphas.tolist(),
            "theory_alpha_rc": th_rc.tolist(),
            "theory_alpha_je": th_je.tolist(),
            "measured_alpha_rc": [float(v) for v in m_rc],
            "measured_alpha_je": [float(v) for v in m_je],
            "crossover_gamma": float(gammas[np.argmax(th_je < th_rc)]) if (th_je < th_rc).any() else None,
            "excess_rc": err["RC"].tolist(),
            "excess_je": err["JE"].tolist(),
        },
        claims=decide_phase(gammas, alphas, err, theory),
        headline="crossover_gamma",
    )


def _fmt(values) -> str:
    return "[" + ", ".join("∞" if not math.isfinite(v) else f"{v:.2f}" for v in values) + "]"


class SamplesConfig(ModelConfig):
    gamma: float = Field(20.0, gt=0, le=1e4, description="irrelevant magnitude (strong regime by default)")
    ns: list[int] = Field(default_factory=lambda: [100, 300, 1000, 3000, 10000, 30000, 100000], min_length=3)
    n_test: int = Field(20000, ge=100, le=10**7)
    seeds: int = Field(5, ge=1, le=100, description="sample draws per n (first seed: --seed)")
    tolerance: float = Field(0.05, gt=0, lt=1, description="relative excess counted as optimal")


def _probe_excess(F_tr, y_tr, F_te, y_te, oracle_mse) -> float:
    A = torch.cat([F_tr.T, torch.ones(F_tr.shape[1], 1, dtype=F_tr.dtype)], 1)
    coef = torch.linalg.lstsq(A, y_tr[:, None]).solution
    pred = torch.cat([F_te.T, torch.ones(F_te.shape[1], 1, dtype=F_te.dtype)], 1) @ coef
    return float(((pred[:, 0] - y_te) ** 2).mean() / oracle_mse - 1)


@register(
    "je-vs-recon-samples",
    paper="Van Assel et al. 2025 (finite samples)",
    claim="SSL (RC, JE) is asymptotically optimal only above its alignment threshold; supervised always",
    config=SamplesConfig,
    quick={"ns": [100, 1000, 10000, 30000], "seeds": 3, "n_test": 10000},
    quick_time="~1 s",
    full_time="~30 s",
)
def run_samples(cfg: SamplesConfig, ctx: RunContext) -> Result:
    model = _model(cfg, cfg.gamma, ctx.seed)
    a_rc, a_je = model.thresholds()
    lo, hi = sorted((a_rc, a_je))
    alphas = {"below both": 0.0, "between": 0.5 * (lo + hi), "above both": 1.5 * hi + 0.5}
    g_test = torch.Generator().manual_seed(ctx.seed + 99)
    X_te, y_te, _ = model.sample(cfg.n_test, g_test)
    oracle = float(model.label_noise**2)
    curves: dict[str, list[float]] = {}
    finals: dict[str, list[float]] = {}
    for label, alpha in alphas.items():
        for method in ("RC", "JE", "supervised"):
            curves[f"{method} | α {label}"] = []
        for n in track(cfg.ns, f"n sweep (α {label})"):
            vals = {"RC": [], "JE": [], "supervised": []}
            for s in range(cfg.seeds):
                X, y, z = model.sample(n, torch.Generator().manual_seed(ctx.seed + 1000 * s + n))
                m = ViewMoments.additive(X, model.view_cov(alpha))
                for name, enc in (("RC", solve_rc(m, cfg.k).E), ("JE", solve_je(m, cfg.k).W)):
                    vals[name].append(_probe_excess(enc @ X, y, enc @ X_te, y_te, oracle))
                # supervised encoder: regression of the k relevant targets on augmented inputs, then the
                # same probe protocol (a k-dim representation, like RC and JE)
                B = supervised_map(m, z)
                vals["supervised"].append(_probe_excess(B @ X, y, B @ X_te, y_te, oracle))
            for name, v in vals.items():
                curves[f"{name} | α {label}"].append(float(np.mean(v)))
                finals[f"{name} | α {label}"] = v  # overwritten until the largest n
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.0), sharey=True, layout="constrained")
    for ax, (label, alpha) in zip(axes, alphas.items(), strict=True):
        for name, style in (("RC", "o-"), ("JE", "s-"), ("supervised", "^--")):
            ax.loglog(cfg.ns, np.maximum(curves[f"{name} | α {label}"], 1e-4), style, label=name)
        ax.axhline(cfg.tolerance, color="gray", ls=":", label=f"tolerance {cfg.tolerance:g} (optimal below)")
        ax.set_title(f"$\\alpha = {alpha:.2f}$ ({label})")
        ax.set_xlabel("$n$ (training samples)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("relative excess test MSE")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"$\\gamma = {cfg.gamma:g}$: thresholds $\\alpha_{{\\mathrm{{RC}}}} = {a_rc:.2f}$, "
                 f"$\\alpha_{{\\mathrm{{JE}}}} = {a_je:.2f}$", fontsize=10)
    ctx.save_figure(fig, "je_vs_recon_samples", caption=(
        "Relative excess test MSE over the oracle probe of a least-squares probe on RC, JE and supervised "
        f"encoders against the number of training samples n ({', '.join(map(str, cfg.ns))}; log-log), at three "
        f"alignments α: below both thresholds, between them and above both. Synthetic linear model generated in "
        f"code, d = {cfg.d}, k = {cfg.k}, γ = {cfg.gamma:g}, {cfg.n_test} test samples; each point is the mean "
        f"over {seed_count(cfg.seeds)} of training samples (values below 1e-4 drawn at 1e-4). Dotted line: the "
        f"tolerance {cfg.tolerance:g} under which a method counts as optimal"))

    def final(name: str, label: str):
        return finals[f"{name} | α {label}"]

    def below(name: str, label: str):
        return at_most(final(name, label), cfg.tolerance)

    above = {label: (a > a_rc, a > a_je) for label, a in alphas.items()}
    v_sup = all_of([below("supervised", lab)[0] for lab in alphas])
    parts = []
    for lab, oks in above.items():
        for name, ok in zip(("RC", "JE"), oks, strict=True):
            parts.append(below(name, lab)[0] if ok else at_least(final(name, lab), cfg.tolerance)[0])
    v_ssl = all_of(parts)
    v_between = all_of([below("JE", "between")[0], at_least(final("RC", "between"), cfg.tolerance)[0]]) \
        if a_je < a_rc else "not held"

    def txt(name: str, lab: str) -> str:
        return ci_text(below(name, lab)[1])

    return Result(
        numbers={
            "alpha_rc": a_rc,
            "alpha_je": a_je,
            "alphas": alphas,
            "ns": cfg.ns,
            "curves": curves,
            "final_per_seed": finals,
            "supervised_final_max": max(float(np.mean(final("supervised", lab))) for lab in alphas),
        },
        claims=[
            Claim(
                "supervised learning approaches the optimum as n grows, for every α",
                v_sup,
                f"relative excess at n={cfg.ns[-1]} ({cfg.seeds} seeds): "
                + ", ".join(f"α {lab}: {txt('supervised', lab)}" for lab in alphas),
                SAMPLE_TESTS["supervised"],
            ),
            Claim(
                "RC and JE reach the optimum at large n exactly when α exceeds their threshold",
                v_ssl,
                "; ".join(
                    f"α={alphas[lab]:.2f}: RC {txt('RC', lab)} (α>α_RC: {above[lab][0]}), "
                    f"JE {txt('JE', lab)} (α>α_JE: {above[lab][1]})"
                    for lab in alphas
                ),
                SAMPLE_TESTS["ssl"],
            ),
            Claim(
                "between the thresholds (strong irrelevant features) JE is optimal while RC is not",
                v_between,
                f"α_JE={a_je:.2f} < α={alphas['between']:.2f} < α_RC={a_rc:.2f}: "
                f"JE {txt('JE', 'between')}, RC {txt('RC', 'between')}",
                SAMPLE_TESTS["between"],
            ),
        ],
        headline="supervised_final_max",
    )
