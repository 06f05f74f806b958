"""`noise-invariance`: additive Gaussian noise does not change what a linear denoising
autoencoder gives a supervised read-out (Balestriero & LeCun 2024, corollary of Thm 3;
``docs/theory/balestriero-lecun-2024-reconstruction.md``).

With X′ = X + σE: S = X and G = Σ + Nσ²I, so H = diag(d²/(d + Nσ²)) in the eigenbasis of
Σ keeps its order and the learned subspace is the PCA subspace for every σ.
Checked two ways on digits: (1) closed form — the least-squares map WᵀV*ᵀ for every σ
equals the σ = 0 one; (2) trained — linear autoencoders trained by Adam on freshly sampled
noisy views; their features' least-squares test accuracy and principal angles to the
closed-form subspace are compared across σ, on ≥ 3 seeds (initialisation, batches and noise;
``--seed`` is the first), decided on the 95 % t-interval of the per-seed accuracy spread.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field

from sslab.config import ExperimentConfig
from sslab.data import load_dataset
from sslab.eval.probes import least_squares_accuracy
from sslab.experiments.base import Claim, Result, RunContext, register
from sslab.experiments.captions import count, seed_count
from sslab.experiments.common import (
    at_most,
    centred_test_matrix,
    ci_text,
    fmt_list,
    linear_matrices,
    new_axes,
    seeds_for,
)
from sslab.progress import track
from sslab.theory.linalg import center_rows, principal_angles
from sslab.theory.reconstruction import solve_denoising
from sslab.views import GaussianNoise

TESTS = {
    "closed": "exact: max over σ of ‖WᵀV*ᵀ(σ) − WᵀV*ᵀ(0)‖ / ‖WᵀV*ᵀ(0)‖ < 1e-8",
    "trained": "per seed: max − min over σ of the trained DAE's least-squares test accuracy; held if the 95% "
               "t-CI over seeds lies below the tolerance, not held if above it",
}


class NoiseInvarianceConfig(ExperimentConfig):
    sigmas: list[float] = Field(default_factory=lambda: [0.0, 0.1, 1.0, 10.0], min_length=2)
    trained_sigmas: list[float] = Field(default_factory=lambda: [0.0, 0.1, 0.3, 1.0], min_length=2)
    k: int = Field(10, ge=1, le=61, description="embedding width")
    epochs: int = Field(300, ge=1, le=100_000)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(3e-3, gt=0, le=1.0)
    accuracy_tolerance: float = Field(0.03, ge=0, le=1, description="max accuracy spread for the trained claim")
    seeds: int = Field(5, ge=1, le=100, description="trained runs per σ (first seed: --seed)")


def _max_principal_angle(A: torch.Tensor, B: torch.Tensor) -> float:
    """Largest principal angle (degrees) between the column spans of A and B."""
    return float(torch.rad2deg(principal_angles(A, B).max()))


def train_linear_dae(X: torch.Tensor, sigma: float, k: int, cfg: NoiseInvarianceConfig, seed: int) -> torch.Tensor:
    """Adam on E‖Zᵀ Vᵀ (x + σε) − x‖² with fresh noise each step; returns V (D×k)."""
    g = torch.Generator().manual_seed(seed)
    d, n = X.shape
    V = (torch.randn(d, k, generator=g, dtype=torch.float64) / math.sqrt(d)).requires_grad_()
    Z = (torch.randn(k, d, generator=g, dtype=torch.float64) / math.sqrt(k)).requires_grad_()
    opt = torch.optim.Adam([V, Z], lr=cfg.lr)
    Xt = X.T
    for _ in range(cfg.epochs):
        perm = torch.randperm(n, generator=g)
        for start in range(0, n, cfg.batch_size):
            xb = Xt[perm[start : start + cfg.batch_size]]
            noisy = xb + sigma * torch.randn(xb.shape, generator=g, dtype=torch.float64)
            loss = ((noisy @ V @ Z) - xb).pow(2).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return V.detach()


def map_differences(maps: list[torch.Tensor]) -> list[float]:
    """‖M(σ) − M(σ₀)‖ / ‖M(σ₀)‖ for each supervised map M(σ) = WᵀV*ᵀ(σ), σ₀ the first σ."""
    return [float((m - maps[0]).norm() / maps[0].norm()) for m in maps]


def decide_closed_form(sigmas: list[float], maps: list[torch.Tensor], acc: list[float]) -> Claim:
    """The pre-registered closed-form claim: held iff every map is within 1e-8 (relative) of the first."""
    diff = max(map_differences(maps))
    return Claim(
        "closed form: WᵀV*ᵀ is the same for every σ",
        diff < 1e-8,
        f"max relative difference {diff:.2e} over σ={sigmas}; accuracies {fmt_list(acc, 4)}",
        TESTS["closed"],
    )


@register(
    "noise-invariance",
    paper="Balestriero & LeCun 2024 (Thm 3 corollary)",
    claim="additive Gaussian noise leaves the supervised performance of the learned linear features unchanged",
    config=NoiseInvarianceConfig,
    quick={"epochs": 20, "seeds": 3},
    quick_time="~4 s",
    full_time="~5 min",
)
def run(cfg: NoiseInvarianceConfig, ctx: RunContext) -> Result:
    splits = load_dataset("digits")
    X, Y = linear_matrices(splits.train)
    X_test = centred_test_matrix(splits.train, splits.test)
    shape = splits.train.image_shape
    maps, acc_cf, V_cf = [], [], {}
    for sigma in cfg.sigmas:
        S, G = GaussianNoise(shape, sigma).moments(X)
        V = solve_denoising(X, S, G, cfg.k).V
        V_cf[sigma] = V
        F = V.T @ X
        W = torch.linalg.lstsq(F.T, Y.T).solution
        maps.append(W.T @ V.T)
        acc_cf.append(least_squares_accuracy((V.T @ X).T, splits.train.labels, (V.T @ X_test).T, splits.test.labels))
    map_diff = map_differences(maps)

    seeds = seeds_for(ctx.seed, cfg.seeds)
    acc_runs, angle_runs = [], []
    jobs = [(s, i, sigma) for s in seeds for i, sigma in enumerate(cfg.trained_sigmas)]
    for s, i, sigma in track(jobs, "training linear DAEs"):
        if i == 0:
            acc_runs.append([])
            angle_runs.append([])
        V = train_linear_dae(center_rows(X), sigma, cfg.k, cfg, s + i)
        acc_runs[-1].append(
            least_squares_accuracy((V.T @ X).T, splits.train.labels, (V.T @ X_test).T, splits.test.labels))
        S, G = GaussianNoise(shape, sigma).moments(X)
        angle_runs[-1].append(_max_principal_angle(V, solve_denoising(X, S, G, cfg.k).V))
        ctx.log.info("seed %d sigma=%g acc=%.4f max angle %.2f deg", s, sigma, acc_runs[-1][-1], angle_runs[-1][-1])
    acc_tr = [float(sum(a[j] for a in acc_runs) / len(acc_runs)) for j in range(len(cfg.trained_sigmas))]
    angles = [max(a[j] for a in angle_runs) for j in range(len(cfg.trained_sigmas))]

    fig, (ax1, ax2) = new_axes(2)
    ax1.semilogx([max(s, 1e-3) for s in cfg.sigmas], acc_cf, "o-", label="closed form (Thm 3)")
    ax1.semilogx([max(s, 1e-3) for s in cfg.trained_sigmas], acc_tr, "s--",
                 label=f"trained (Adam), mean of {seed_count(len(seeds))}")
    ax1.set_xlabel(r"noise $\sigma$ ($\sigma = 0$ drawn at $10^{-3}$)")
    ax1.set_ylabel("least-squares test accuracy")
    ax1.set_title(f"digits, $K = {cfg.k}$")
    ax1.legend()
    ax1.grid(alpha=0.3)
    ax2.semilogx([max(s, 1e-3) for s in cfg.sigmas], [max(d, 1e-17) for d in map_diff], "o-")
    ax2.set_yscale("log")
    ax2.set_xlabel(r"noise $\sigma$ ($\sigma = 0$ drawn at $10^{-3}$)")
    ax2.set_ylabel(r"$\|W^\top V^\top(\sigma) - W^\top V^\top(0)\| \,/\, \|W^\top V^\top(0)\|$")
    ax2.set_title(r"closed form: supervised map vs $\sigma$")
    ax2.grid(alpha=0.3)
    ctx.save_figure(fig, "noise_invariance", caption=(
        f"Digits 8×8, embedding width K = {cfg.k}. Left: least-squares test accuracy of the linear denoising "
        f"autoencoder's features against additive Gaussian noise σ: the Thm 3 closed form at σ = "
        f"{', '.join(f'{v:g}' for v in cfg.sigmas)} (deterministic) and Adam-trained encoders "
        f"({count(cfg.epochs, 'epoch')}, batch {cfg.batch_size}) at σ = "
        f"{', '.join(f'{v:g}' for v in cfg.trained_sigmas)}, mean of "
        f"{seed_count(len(seeds))}. Right: relative change of the closed-form supervised map WᵀVᵀ(σ) from its "
        "σ = 0 value (log scale; 0 drawn at 1e-17). σ = 0 is drawn at 1e-3 on both log axes"))

    spreads = [max(a) - min(a) for a in acc_runs]
    v_spread, s_spread = at_most(spreads, cfg.accuracy_tolerance)
    spread = s_spread.mean
    return Result(
        numbers={
            "sigmas": cfg.sigmas,
            "closed_form_accuracy": acc_cf,
            "closed_form_map_rel_diff": map_diff,
            "trained_sigmas": cfg.trained_sigmas,
            "trained_accuracy": acc_tr,
            "trained_max_angle_deg": angles,
            "trained_accuracy_spread": spread,
            "trained_accuracy_per_seed": acc_runs,
            "trained_accuracy_spread_per_seed": s_spread.record(),
            "seeds": seeds,
        },
        claims=[
            decide_closed_form(cfg.sigmas, maps, acc_cf),
            Claim(
                f"trained linear DAEs: test accuracy varies by at most {cfg.accuracy_tolerance:.0%} across σ",
                v_spread,
                f"mean accuracies {fmt_list(acc_tr, 4)} for σ={cfg.trained_sigmas}; spread {ci_text(s_spread)} "
                f"(95% CI, {len(seeds)} seeds); max principal angle to the closed form {max(angles):.1f}° after "
                f"{cfg.epochs} epochs",
                TESTS["trained"],
            ),
        ],
        headline="trained_accuracy_spread",
    )
