"""`linear-limits`: the λ → 0 and λ → ∞ limits of Thm 1 (Balestriero & LeCun 2024, Cor. of Thm 1;
``docs/theory/balestriero-lecun-2024-reconstruction.md``).

Sweeping λ over 1e-6 … 1e6 on digits: the supervised map W*ᵀV*ᵀ approaches the OLS map
Y Xᵀ Σ⁺ as λ → 0 (needs K ≥ rank of the OLS map, C − 1 after centring) and the
reconstruction map Z*ᵀV*ᵀ approaches the top-K PCA projector as λ → ∞. Also shown: the
test accuracy of the least-squares read-out and the reconstruction error along the path.
Everything is a deterministic closed form on fixed data, so the claims are exact checks.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator
from scipy.stats import spearmanr

from sslab.config import ExperimentConfig
from sslab.data import load_dataset
from sslab.eval.probes import least_squares_accuracy
from sslab.experiments.base import Claim, Result, RunContext, register
from sslab.experiments.common import centred_test_matrix, linear_matrices, new_axes
from sslab.theory.reconstruction import ols_map, pca_projector, solve_joint

TESTS = {
    "ols": "exact: ‖WᵀVᵀ − OLS‖/‖OLS‖ at the smallest λ < tolerance",
    "pca": "exact: ‖ZᵀVᵀ − P_K‖/‖P_K‖ at the largest λ < tolerance",
    "accuracy": "exact: Spearman ρ(λ, test accuracy) over all λ of the path < 0 (a trend over every point, "
                "not the two ends)",
}


class LinearLimitsConfig(ExperimentConfig):
    k: int = Field(16, ge=9, le=61, description="encoder width (>= C-1 = 9 for the OLS limit)")
    log10_lambda_min: float = Field(-6.0, ge=-12, le=0)
    log10_lambda_max: float = Field(6.0, ge=0, le=12)
    points: int = Field(25, ge=3, le=500)
    tolerance: float = Field(1e-3, gt=0, lt=1, description="relative distance counted as 'reached'")

    @model_validator(mode="after")
    def _range_not_empty(self) -> LinearLimitsConfig:
        if self.log10_lambda_min >= self.log10_lambda_max:
            raise ValueError(f"log10_lambda_min={self.log10_lambda_min} must be below "
                             f"log10_lambda_max={self.log10_lambda_max}, or the λ sweep has one value")
        return self


def accuracy_trend(lams: list[float], acc: list[float]) -> float:
    """Spearman ρ(λ, test accuracy) over every point of the path (0 when the accuracy is constant)."""
    return float(spearmanr(lams, acc).statistic) if len(set(acc)) > 1 else 0.0


def decide_accuracy(lams: list[float], acc: list[float]) -> Claim:
    """The pre-registered accuracy-trend claim: held iff ρ(λ, accuracy) < 0 over all λ."""
    rho = accuracy_trend(lams, acc)
    return Claim(
        "test accuracy falls from the OLS end to the PCA end",
        rho < 0,
        f"Spearman ρ(λ, accuracy) = {rho:.2f} over {len(lams)} λ; accuracy {acc[0]:.4f} at "
        f"λ={lams[0]:g} vs {acc[-1]:.4f} at λ={lams[-1]:g}",
        TESTS["accuracy"],
    )


@register(
    "linear-limits",
    paper="Balestriero & LeCun 2024 (Thm 1)",
    claim="λ→0 recovers the OLS map, λ→∞ the PCA projector",
    config=LinearLimitsConfig,
    quick={"points": 13},
    quick_time="~1 s",
    full_time="~5 s",
)
def run(cfg: LinearLimitsConfig, ctx: RunContext) -> Result:
    splits = load_dataset("digits")
    X, Y = linear_matrices(splits.train)
    X_test = centred_test_matrix(splits.train, splits.test)
    ols, proj = ols_map(X, Y), pca_projector(X, cfg.k)
    lams = np.logspace(cfg.log10_lambda_min, cfg.log10_lambda_max, cfg.points).tolist()
    d_ols, d_pca, acc, rec = [], [], [], []
    for lam in lams:
        sol = solve_joint(X, Y, lam, cfg.k)
        d_ols.append(float((sol.W.T @ sol.V.T - ols).norm() / ols.norm()))
        d_pca.append(float((sol.Z.T @ sol.V.T - proj).norm() / proj.norm()))
        acc.append(
            least_squares_accuracy((sol.V.T @ X).T, splits.train.labels, (sol.V.T @ X_test).T, splits.test.labels)
        )
        rec.append(float((sol.Z.T @ (sol.V.T @ X) - X).pow(2).sum() / X.pow(2).sum()))
    fig, (ax1, ax2) = new_axes(2)
    ax1.loglog(lams, d_ols, "o-", label=r"$\|W^\top V^\top - \mathrm{OLS}\| / \|\mathrm{OLS}\|$")
    ax1.loglog(lams, d_pca, "s-", label=r"$\|Z^\top V^\top - P_K\| / \|P_K\|$")
    ax1.axhline(cfg.tolerance, color="gray", ls=":", label=f"tolerance {cfg.tolerance:g} ('reached')")
    ax1.set_xlabel(r"$\lambda$ (weight of reconstruction)")
    ax1.set_ylabel("relative distance")
    ax1.set_title(f"digits, $K = {cfg.k}$: distance to the limits")
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.3)
    ax2.semilogx(lams, acc, "o-", label="test accuracy (least squares)")
    ax2.semilogx(lams, rec, "s-", label="relative reconstruction error")
    ax2.set_xlabel(r"$\lambda$ (weight of reconstruction)")
    ax2.set_title("accuracy and reconstruction along the path")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.3)
    ctx.save_figure(fig, "linear_limits", caption=(
        f"Digits 8×8 (train split for the maps, test split for accuracy), encoder width K = {cfg.k}, "
        f"{cfg.points} values of λ from 1e{cfg.log10_lambda_min:g} to 1e{cfg.log10_lambda_max:g}; deterministic "
        "closed forms, no seeds. Left (log-log): relative distance of the supervised map WᵀVᵀ to the OLS map and "
        "of the reconstruction map ZᵀVᵀ to the top-K PCA projector P_K; dotted line: the tolerance "
        f"{cfg.tolerance:g} below which a limit counts as reached. Right: least-squares test accuracy of the K "
        "features and the relative reconstruction error ‖ZᵀVᵀX − X‖²/‖X‖² along the same path"))
    rho_acc = accuracy_trend(lams, acc)
    return Result(
        numbers={
            "lambdas": lams,
            "rel_dist_ols": d_ols,
            "rel_dist_pca": d_pca,
            "test_accuracy": acc,
            "recon_error": rec,
            "ols_dist_at_min_lambda": d_ols[0],
            "pca_dist_at_max_lambda": d_pca[-1],
            "spearman_lambda_accuracy": rho_acc,
        },
        claims=[
            Claim(
                "λ → 0 gives the OLS map",
                d_ols[0] < cfg.tolerance,
                f"relative distance {d_ols[0]:.2e} at λ={lams[0]:g}",
                TESTS["ols"],
            ),
            Claim(
                "λ → ∞ gives the PCA projector",
                d_pca[-1] < cfg.tolerance,
                f"relative distance {d_pca[-1]:.2e} at λ={lams[-1]:g}",
                TESTS["pca"],
            ),
            decide_accuracy(lams, acc),
        ],
        headline="pca_dist_at_max_lambda",
    )
