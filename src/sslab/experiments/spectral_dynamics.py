"""`spectral-dynamics`: gradient descent on a linear autoencoder learns principal
directions at rates set by their eigenvalues, so the bottom subspace is learned
exponentially later (Balestriero & LeCun 2024, "ill-conditioned" section;
``docs/theory/balestriero-lecun-2024-reconstruction.md``).

Full-batch GD from a small random init ε on L(E, D) = (1/N) ‖D E X − X‖²_F with
E ∈ R^{K×D}, D ∈ R^{D×K} (K = D). With C = X Xᵀ / N = Σ_i c_i u_i u_iᵀ, direction i is
"captured" by m_i(t) = u_iᵀ D E u_i ∈ [0, 1]. In the small-init regime each m_i follows a
sigmoid whose time scale is ∝ 1/c_i, so the half-time t_i (m_i = ½) should satisfy
log(1/t_i) = log c_i + const (slope 1). Also measured: the test accuracy of a
least-squares read-out of the top-k versus bottom-k principal subspace (the paper notes
the bottom one can carry more label information). The GD runs start from ≥ 3 random small
initialisations (``--seed`` is the first); slope and ordering are decided on 95 % t-intervals.
"""

from __future__ import annotations

import numpy as np
import torch
from pydantic import Field, model_validator
from scipy.stats import spearmanr

from sslab.config import ExperimentConfig
from sslab.data import load_dataset
from sslab.eval.probes import least_squares_accuracy
from sslab.experiments.base import Claim, Result, RunContext, register
from sslab.experiments.captions import seed_count
from sslab.experiments.common import (
    at_least,
    centred_test_matrix,
    ci_text,
    inside,
    linear_matrices,
    new_axes,
    seeds_for,
)
from sslab.progress import track
from sslab.stats import summarize
from sslab.theory.linalg import sym_eig

TESTS = {
    "slope": "per seed: least-squares slope of log(1/t_half) on log c_i over the learned directions; held if "
             "the 95% t-CI over seeds lies inside (0.9, 1.1), not held if it lies outside",
    "order": "per seed: Spearman ρ(direction index, t_half) over the learned directions; held if the 95% t-CI "
             "over seeds is > 0.95, not held if < 0.95",
    "bottom": "exact (fixed data, no training): at some probed k the bottom-k principal subspace's least-squares "
              "test accuracy exceeds the top-k one's",
}


class SpectralDynamicsConfig(ExperimentConfig):
    steps: int = Field(20000, ge=100, le=10_000_000)
    init_scale: float = Field(1e-4, gt=0, le=1)
    lr_times_top_eig: float = Field(0.2, gt=0, le=0.5, description="step size × largest eigenvalue")
    record_every: int = Field(10, ge=1)
    probe_ks: list[int] = Field(default_factory=lambda: [5, 10, 20], min_length=1)
    seeds: int = Field(5, ge=1, le=100, description="random initialisations (first seed: --seed)")

    @model_validator(mode="after")
    def _records_during_training(self) -> SpectralDynamicsConfig:
        if self.record_every > self.steps:
            raise ValueError(f"record_every={self.record_every} is more than steps={self.steps}, so nothing "
                             "is recorded after the start")
        return self


def gd_linear_autoencoder(
    C: torch.Tensor, steps: int, lr: float, init_scale: float, record_every: int, seed: int, basis: torch.Tensor
) -> tuple[np.ndarray, np.ndarray]:
    """Full-batch GD on tr((I − DE) C (I − DE)ᵀ); returns record times and m_i(t) (T×D)."""
    g = torch.Generator().manual_seed(seed)
    d = C.shape[0]
    E = init_scale * torch.randn(d, d, generator=g, dtype=torch.float64)
    Dm = init_scale * torch.randn(d, d, generator=g, dtype=torch.float64)
    eye = torch.eye(d, dtype=torch.float64)
    times, caps = [], []
    for t in track(range(steps + 1), "GD steps"):
        if t % record_every == 0:
            M = basis.T @ (Dm @ E) @ basis
            times.append(t)
            caps.append(M.diagonal().clone())
        RC = (eye - Dm @ E) @ C
        gD = -2.0 * RC @ E.T
        gE = -2.0 * Dm.T @ RC
        Dm -= lr * gD
        E -= lr * gE
    return np.asarray(times), torch.stack(caps).numpy()


def half_times(times: np.ndarray, caps: np.ndarray, level: float = 0.5) -> np.ndarray:
    """First time each m_i reaches ``level`` (linear interpolation); NaN if never."""
    out = np.full(caps.shape[1], np.nan)
    for i in range(caps.shape[1]):
        above = np.flatnonzero(caps[:, i] >= level)
        if above.size == 0:
            continue
        j = above[0]
        if j == 0:
            out[i] = times[0]
            continue
        a, b = caps[j - 1, i], caps[j, i]
        out[i] = times[j - 1] + (level - a) / max(b - a, 1e-300) * (times[j] - times[j - 1])
    return out


def direction_statistics(ev: np.ndarray, times: np.ndarray, caps: np.ndarray) -> tuple[float, float, np.ndarray]:
    """One run's statistics over its learned directions (half-time reached after step 0): the
    least-squares slope of log(1/t_half) on log c_i, Spearman ρ(direction index, t_half), and the
    half-times themselves (NaN where never reached)."""
    th = half_times(times, caps)
    ok = ~np.isnan(th) & (th > 0)
    slope = float(np.polyfit(np.log(ev[ok]), np.log(1.0 / th[ok]), 1)[0])
    rho = float(spearmanr(np.arange(int(ok.sum())), th[ok]).statistic)
    return slope, rho, th


def _learned(t_half: np.ndarray) -> np.ndarray:
    return ~np.isnan(t_half) & (t_half > 0)


def decide_slope(slopes: list[float], learned: list[int], steps: int) -> Claim:
    """Rate ∝ eigenvalue: held if the 95% t-CI of the per-seed slopes lies inside (0.9, 1.1)."""
    s = summarize(slopes)
    return Claim(
        "convergence rate ∝ eigenvalue (log-log slope of 1/t_half vs c_i within 1 ± 0.1)",
        inside(s, 0.9, 1.1),
        f"slope {ci_text(s)} (95% CI, {len(slopes)} seeds) over {learned} directions learned within {steps} steps",
        TESTS["slope"],
    )


def decide_order(rhos: list[float], t_half: np.ndarray, seed: int) -> Claim:
    """Eigenvalue order: held if the 95% t-CI of the per-seed Spearman ρ(index, t_half) is > 0.95.
    ``t_half`` (the first seed's half-times, ``seed``) only fills the evidence."""
    v, s = at_least(rhos, 0.95)
    ok = _learned(t_half)
    top_q, bottom_q = float(np.nanmedian(t_half[:10])), float(np.nanmax(t_half[ok]))
    return Claim(
        "directions are learned in eigenvalue order (Spearman ρ(index, t_half) > 0.95); the bottom last",
        v,
        f"Spearman ρ = {ci_text(s)} (95% CI, {len(rhos)} seeds); seed {seed}: median t_half of top-10 "
        f"{top_q:.0f} steps vs {bottom_q:.0f} for the slowest learned; {len(t_half) - int(ok.sum())} bottom "
        "directions not learned",
        TESTS["order"],
    )


def decide_bottom(probes: dict[int, dict[str, float]]) -> Claim:
    """Held iff at some probed k the bottom-k subspace's test accuracy exceeds the top-k one's."""
    return Claim(
        "the bottom principal subspace can carry more label information than the top one",
        any(p["bottom"] > p["top"] for p in probes.values()),
        "least-squares test accuracy top/bottom: "
        + ", ".join(f"k={k}: {p['top']:.3f}/{p['bottom']:.3f}" for k, p in probes.items()),
        TESTS["bottom"],
    )


@register(
    "spectral-dynamics",
    paper="Balestriero & LeCun 2024 (GD dynamics)",
    claim="GD learns eigen-directions at rates ∝ their eigenvalue; the bottom subspace is learned last",
    config=SpectralDynamicsConfig,
    quick={"steps": 6000, "seeds": 3},
    quick_time="~2 s",
    full_time="~2 min",
)
def run(cfg: SpectralDynamicsConfig, ctx: RunContext) -> Result:
    splits = load_dataset("digits")
    X, _ = linear_matrices(splits.train)
    n = X.shape[1]
    C = X @ X.T / n
    evals, U = sym_eig(C)  # kept range only (digits: 61 of 64 pixels vary)
    lr = cfg.lr_times_top_eig / float(evals[0])
    ev = evals.numpy()
    seeds = seeds_for(ctx.seed, cfg.seeds)
    slopes, rhos, learned = [], [], []
    for i, s in enumerate(seeds):
        t_i, c_i = gd_linear_autoencoder(C, cfg.steps, lr, cfg.init_scale, cfg.record_every, s, U)
        slope_i, rho_i, th = direction_statistics(ev, t_i, c_i)
        slopes.append(slope_i)
        rhos.append(rho_i)
        learned.append(int(_learned(th).sum()))
        if i == 0:
            times, caps, t_half, ok = t_i, c_i, th, _learned(th)
    slope, intercept = np.polyfit(np.log(ev[ok]), np.log(1.0 / t_half[ok]), 1)
    s_slope, s_order = summarize(slopes), summarize(rhos)

    # label information of top vs bottom principal subspaces
    Xte = centred_test_matrix(splits.train, splits.test)
    probes = {}
    for k in cfg.probe_ks:
        top, bottom = U[:, :k], U[:, -k:]
        probes[k] = {
            name: least_squares_accuracy((B.T @ X).T, splits.train.labels, (B.T @ Xte).T, splits.test.labels)
            for name, B in (("top", top), ("bottom", bottom))
        }

    fig, (ax1, ax2, ax3) = new_axes(3, width=4.6, height=4.0)
    idx = np.linspace(0, len(ev) - 1, 8).astype(int)
    for j, i in enumerate(idx):
        ax1.semilogx(np.maximum(times, 1), caps[:, i], color=f"C{j}", label=f"$i = {i + 1}$ ($c_i$ = {ev[i]:.1e})")
    ax1.set_xlabel("GD step")
    ax1.set_ylabel(r"captured fraction $m_i(t)$")
    ax1.set_title(f"per-eigendirection learning (seed {seeds[0]})")
    ax1.legend(fontsize=6, loc="upper left")
    ax1.grid(alpha=0.3)
    ax2.loglog(ev[ok], 1.0 / t_half[ok], "o", ms=3, label=r"measured $1/t_{1/2}$")
    xs = np.array([ev[ok].min(), ev[ok].max()])
    ax2.loglog(xs, np.exp(intercept) * xs**slope, "-", label=f"least-squares fit, slope {slope:.3f}")
    ax2.set_xlabel(r"eigenvalue $c_i$")
    ax2.set_ylabel(r"rate $1/t_{1/2}$")
    ax2.set_title(f"{int(ok.sum())}/{len(ev)} directions learned in {cfg.steps} steps")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    ks = list(probes)
    ax3.plot(ks, [probes[k]["top"] for k in ks], "o-", label="top-$k$ principal subspace")
    ax3.plot(ks, [probes[k]["bottom"] for k in ks], "s-", label="bottom-$k$ principal subspace")
    ax3.set_xlabel("$k$")
    ax3.set_ylabel("least-squares test accuracy")
    ax3.set_title("label information by subspace")
    ax3.legend(fontsize=8)
    ax3.grid(alpha=0.3)
    ctx.save_figure(fig, "spectral_dynamics", caption=(
        f"Gradient descent on a linear autoencoder of digits 8×8 ({cfg.steps} steps, step size "
        f"{cfg.lr_times_top_eig:g} / top eigenvalue, initial scale {cfg.init_scale:g}). Left: fraction m_i(t) of "
        "eigendirection i of the pixel covariance captured along training, 8 directions spread over the spectrum; "
        "middle: learning rate 1/t_half (t_half: the step where m_i reaches one half) against the eigenvalue c_i, "
        f"log-log, with its least-squares line; both for seed {seeds[0]}, the first of {seed_count(len(seeds))} "
        "(the claims use all). Right: least-squares test accuracy of the top-k and bottom-k principal subspaces "
        f"for k = {', '.join(map(str, cfg.probe_ks))} (deterministic)"))

    rho = s_order.mean
    return Result(
        numbers={
            "eigenvalues": ev.tolist(),
            "half_times": [None if np.isnan(t) else float(t) for t in t_half],
            "rate_vs_eigenvalue_loglog_slope": float(slope),
            "directions_learned": int(ok.sum()),
            "probe_accuracy": {str(k): v for k, v in probes.items()},
            "lr": lr,
            "spearman_index_vs_half_time": rho,
            "seeds": seeds,
            "slope_per_seed": s_slope.record(),
            "spearman_per_seed": s_order.record(),
            "directions_learned_per_seed": learned,
        },
        claims=[decide_slope(slopes, learned, cfg.steps), decide_order(rhos, t_half, seeds[0]), decide_bottom(probes)],
        headline="rate_vs_eigenvalue_loglog_slope",
    )
