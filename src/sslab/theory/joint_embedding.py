"""Closed forms of linear SSL by reconstruction (RC) and joint embedding (JE), and the
irrelevant-features data model (Van Assel, Ibrahim, Biancalani, Regev, Balestriero, NeurIPS
2025; ``docs/theory/van-assel-2025-je-vs-recon.md``).

The paper writes samples as rows (X ∈ R^{n×d}); sslab keeps columns (X ∈ R^{d×n}) and view
moments from :mod:`sslab.views` (S_v = E[X′] (d×n), G_v = E[X′X′ᵀ] summed over samples).
The paper's moments are then

    S = (1/n) Σ_i E_τ[τ(x_i) τ(x_i)ᵀ] = G_v / n,      G = (1/n) X̄ᵀX̄ = S_v S_vᵀ / n,
    Σ = S − G (average view covariance).

RC (Thm 3.1): min_{E,D} (1/n) Σ_i E_τ ‖x_i − D E τ(x_i)‖². With the SVD
(1/n) X X̄ᵀ S^{-1/2} = R Φ Pᵀ (in column notation): E* = P_kᵀ S^{-1/2}, D* = R_k Φ_k,
optimum (1/n)‖X‖² − Σ_{i≤k} φ_i².
JE (Thm 3.2): min_W (1/n) Σ_i E‖W τ₁(x_i) − W τ₂(x_i)‖² s.t. W S Wᵀ = I_k. With
S^{-1/2} G S^{-1/2} = Q Ω Qᵀ: W* = Q_kᵀ S^{-1/2}, optimum 2(k − Σ_{i≤k} ω_i).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch

from sslab.errors import RankError
from sslab.theory.linalg import as_f64, check_width, principal_angles, psd_power, sym_eig, top_eig_lanczos


@dataclass
class ViewMoments:
    """Paper-normalised moments: X (d×n), X̄ = E[τ(X)] (d×n), S, G = X̄X̄ᵀ/n (d×d), and the
    cross moment A = X X̄ᵀ / n (computed once, on first use; it is G when X̄ is X)."""

    X: torch.Tensor
    Xbar: torch.Tensor
    S: torch.Tensor
    G: torch.Tensor

    @cached_property
    def A(self) -> torch.Tensor:
        if self.Xbar is self.X:
            return self.G
        return self.X @ self.Xbar.T / self.X.shape[1]

    @classmethod
    def from_view_moments(cls, X: torch.Tensor, s_view: torch.Tensor, g_view: torch.Tensor) -> ViewMoments:
        n = X.shape[1]
        Xbar = as_f64(s_view)
        return cls(as_f64(X), Xbar, as_f64(g_view) / n, Xbar @ Xbar.T / n)

    @classmethod
    def additive(cls, X: torch.Tensor, view_cov: torch.Tensor) -> ViewMoments:
        """τ(x) = x + ξ with E ξ = 0, Cov ξ = view_cov (e.g. θ + αγ′ of the data model)."""
        X = as_f64(X)
        n = X.shape[1]
        G = X @ X.T / n
        return cls(X, X, G + as_f64(view_cov), G)


@dataclass
class RCSolution:
    E: torch.Tensor  # k×d encoder
    D: torch.Tensor  # d×k decoder
    loss: float
    phi: torch.Tensor  # singular values, descending


@dataclass
class JESolution:
    W: torch.Tensor  # k×d encoder
    loss: float
    omega: torch.Tensor  # eigenvalues, descending


def _cholesky(S: torch.Tensor) -> torch.Tensor:
    L, info = torch.linalg.cholesky_ex(S)
    if int(info):
        raise RankError("the view second moment S is singular: the closed forms need S ≻ 0")
    return L


FORM_AFTER = 48
"""Products with A S⁻¹ Aᵀ that :class:`RCOperator` applies through triangular solves before it
forms M = L⁻¹ Aᵀ: ARPACK's first Lanczos cycle (40 vectors for k ≤ 19) and a few more. At
d = 3072 on 2 cores (``benchmarks/je_closed_forms.py``) a product costs ≈ 9.4 ms through the
solves and ≈ 6.5 ms with M, which takes ≈ 0.33 s to form; natural-image crops converge in ≈ 41
products, so they never form M, and a clustered random spectrum needs ≈ 180, so it forms M once
after paying ≈ 0.14 s more than forming it up front would."""


class RCOperator:
    """B ↦ A S⁻¹ Aᵀ B with S = L Lᵀ: the first ``form_after`` columns by two triangular solves
    (nothing d×d is formed), later ones by Mᵀ (M B) with M = L⁻¹ Aᵀ formed once (one d³ solve),
    so a Lanczos run that converges quickly never pays for M and a slow one pays for it once."""

    def __init__(self, A: torch.Tensor, L: torch.Tensor, form_after: int = FORM_AFTER) -> None:
        self.A, self.L, self.form_after = A, L, form_after
        self.M: torch.Tensor | None = None
        self.applied = 0

    def __call__(self, B: torch.Tensor) -> torch.Tensor:
        if self.M is None and self.applied >= self.form_after:
            self.M = torch.linalg.solve_triangular(self.L, self.A.T, upper=False)
        self.applied += B.shape[1]
        if self.M is not None:
            return self.M.T @ (self.M @ B)
        return self.A @ torch.linalg.solve_triangular(self.L.T, self.half(B), upper=True)

    def half(self, B: torch.Tensor) -> torch.Tensor:
        """M B = L⁻¹ Aᵀ B."""
        return self.M @ B if self.M is not None else torch.linalg.solve_triangular(self.L, self.A.T @ B, upper=False)


def solve_rc(m: ViewMoments, k: int, dense_below: int = 512) -> RCSolution:
    """Thm 3.1: the optimal linear reconstruction encoder/decoder (T = I).

    For d ≥ ``dense_below`` only the top-k triplets are computed, by Lanczos on
    A S⁻¹ Aᵀ = Mᵀ M (A = X X̄ᵀ / n, S = L Lᵀ, M = L⁻¹ Aᵀ; :class:`RCOperator`); then
    E* = Φ_k⁻¹ R_kᵀ A S⁻¹ (= P_kᵀ S^{-1/2}) and ``phi`` holds only the top k values.
    """
    d, n = m.X.shape
    check_width(k, d, "data dimension")
    if d >= dense_below:
        L = _cholesky(m.S)
        op = RCOperator(m.A, L, FORM_AFTER)
        try:
            mu, R = top_eig_lanczos(op, d, k, tol=1e-12)
        except RuntimeError:  # ARPACK did not converge: use the dense form below
            mu = None
        if mu is not None:
            phi = mu.clamp_min(0).sqrt()
            E = (torch.linalg.solve_triangular(L.T, op.half(R), upper=True) / phi).T
            return RCSolution(E, R * phi, float(m.X.pow(2).sum() / n - mu.sum()), phi)
    s_inv_half = psd_power(m.S, -0.5)
    M = m.A @ s_inv_half
    R, phi, Pt = torch.linalg.svd(M)
    E = Pt[:k] @ s_inv_half
    D = R[:, :k] * phi[:k]
    loss = float(m.X.pow(2).sum() / n - phi[:k].pow(2).sum())
    return RCSolution(E, D, loss, phi)


def solve_je(m: ViewMoments, k: int, dense_below: int = 512) -> JESolution:
    """Thm 3.2: the optimal linear joint-embedding encoder (U = I).

    For d ≥ ``dense_below`` only the top k are computed. The eigenvalues ω ∈ [0, 1) cluster
    near 1, so the iteration runs on the equivalent pencil G v = ν Σ v with Σ = S − G (the view
    covariance, Σ = L Lᵀ), whose eigenvalues ν = ω / (1 − ω) are spread like the data's; then
    v is rescaled so that vᵀ S v = 1 + ν becomes 1. Falls back to the dense form when Σ is
    singular or the iteration does not converge. ``omega`` then holds only the top k values.
    """
    d = m.S.shape[0]
    check_width(k, d, "data dimension")
    if d >= dense_below:
        L, info = torch.linalg.cholesky_ex(m.S - m.G)
        if int(info) == 0:

            def apply(B: torch.Tensor) -> torch.Tensor:
                Y = torch.linalg.solve_triangular(L.T, B, upper=True)
                return torch.linalg.solve_triangular(L, m.G @ Y, upper=False)

            try:
                nu, Qk = top_eig_lanczos(apply, d, k)
            except RuntimeError:
                nu = None
            if nu is not None:
                V = torch.linalg.solve_triangular(L.T, Qk, upper=True) / (1 + nu).sqrt()
                omega = nu / (1 + nu)
                return JESolution(V.T, float(2 * (k - omega.sum())), omega)
    s_inv_half = psd_power(m.S, -0.5)
    omega, Q = sym_eig(s_inv_half @ m.G @ s_inv_half, rtol=None)
    W = Q[:, :k].T @ s_inv_half
    return JESolution(W, float(2 * (k - omega[:k].sum())), omega)


def rc_loss(m: ViewMoments, E: torch.Tensor, D: torch.Tensor) -> torch.Tensor:
    """(1/n) Σ E‖x − D E τ(x)‖² = (1/n)‖X‖² − 2 tr(D E X̄Xᵀ)/n + tr(D E S Eᵀ Dᵀ)."""
    n = m.X.shape[1]
    DE = D @ E
    return m.X.pow(2).sum() / n - 2 * (DE * m.A).sum() + (DE @ m.S * DE).sum()


def je_invariance(m: ViewMoments, W: torch.Tensor) -> torch.Tensor:
    """(1/n) Σ E‖Wτ₁ − Wτ₂‖² = 2 tr(W (S − G) Wᵀ) for independent views τ₁, τ₂."""
    return 2 * (W @ (m.S - m.G) * W).sum()


def supervised_map(m: ViewMoments, Y: torch.Tensor) -> torch.Tensor:
    """Linear regression trained on augmented inputs: argmin_B (1/n) Σ E‖B τ(x_i) − y_i‖²
    = (Y X̄ᵀ / n) S⁻¹ (the baseline of Prop 4.2)."""
    n = m.X.shape[1]
    return (as_f64(Y) @ m.Xbar.T / n) @ torch.linalg.inv(m.S)


@dataclass
class IrrelevantFeatureModel:
    """Data model of Sec. 4.1: k relevant components with variances ``s`` and d − k irrelevant
    components carrying Gaussian noise of variances ``lam_gamma``; augmentations add
    θ ~ N(0, Θ) and α γ′ with γ′ ~ N(0, Γ), all diagonal in one orthonormal basis Q.
    The label is y = βᵀ z + ε (z the relevant coordinates, ε ~ N(0, label_noise²))."""

    s: torch.Tensor  # (k,)
    lam_gamma: torch.Tensor  # (d − k,)
    lam_theta: torch.Tensor  # (d,)
    Q: torch.Tensor  # d×d orthonormal
    beta: torch.Tensor  # (k,)
    label_noise: float = 0.1

    @classmethod
    def make(
        cls,
        d: int = 20,
        k: int = 4,
        signal: float = 1.0,
        gamma: float = 1.0,
        theta_relevant: float = 0.25,
        theta_irrelevant: float = 0.25,
        seed: int = 0,
        label_noise: float = 0.1,
    ) -> IrrelevantFeatureModel:
        g = torch.Generator().manual_seed(seed)
        Q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
        s = signal * torch.linspace(1.0, 0.5, k, dtype=torch.float64)
        lam_gamma = gamma * torch.linspace(1.0, 0.5, d - k, dtype=torch.float64)
        lam_theta = torch.cat([
            torch.full((k,), theta_relevant, dtype=torch.float64),
            torch.full((d - k,), theta_irrelevant, dtype=torch.float64),
        ])
        beta = torch.randn(k, generator=g, dtype=torch.float64)
        return cls(s, lam_gamma, lam_theta, Q, beta / beta.norm(), label_noise)

    @property
    def d(self) -> int:
        return int(self.Q.shape[0])

    @property
    def k(self) -> int:
        return int(self.s.numel())

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """X (d×n), y (n,), z (k×n) — clean relevant coordinates."""
        z = self.s.sqrt()[:, None] * torch.randn(self.k, n, generator=generator, dtype=torch.float64)
        eps = torch.randn(self.d - self.k, n, generator=generator, dtype=torch.float64)
        noise = self.lam_gamma.sqrt()[:, None] * eps
        X = self.Q @ torch.cat([z, noise])
        y = self.beta @ z + self.label_noise * torch.randn(n, generator=generator, dtype=torch.float64)
        return X, y, z

    def view_cov(self, alpha: float) -> torch.Tensor:
        """Cov of θ + αγ′ = Θ + α² Γ (Γ lives on the irrelevant components only)."""
        diag = self.lam_theta.clone()
        diag[self.k :] += alpha**2 * self.lam_gamma
        return (self.Q * diag) @ self.Q.T

    def population_moments(self, alpha: float) -> ViewMoments:
        """n → ∞ moments (X, X̄ are placeholders: only S, G and E[x x̄ᵀ] = G matter)."""
        cov = (self.Q * torch.cat([self.s, self.lam_gamma])) @ self.Q.T
        root = psd_power(cov, 0.5)  # any X with X Xᵀ / n = cov reproduces the population solvers
        n = self.d
        X = root * math.sqrt(n)
        return ViewMoments(X, X, cov + self.view_cov(alpha), cov)

    def thresholds(self) -> tuple[float, float]:
        """(α_RC, α_JE) of Props 4.3 / 4.4: SSL recovers the relevant subspace as n → ∞ iff
        α exceeds them (0 when the condition holds for every α ≥ 0)."""
        th_rel, th_irr = self.lam_theta[: self.k], self.lam_theta[self.k :]
        eta = (self.s / (self.s + th_rel).sqrt()).min()
        delta = (self.s / (self.s + th_rel)).min()
        a_rc = (self.lam_gamma / eta**2 - th_irr / self.lam_gamma - 1).max()
        a_je = ((1 - delta) / delta - th_irr / self.lam_gamma).max()
        return math.sqrt(max(float(a_rc), 0.0)), math.sqrt(max(float(a_je), 0.0))

    def relevant_basis(self) -> torch.Tensor:
        return self.Q[:, : self.k]

    def subspace_error(self, encoder: torch.Tensor) -> float:
        """Largest principal angle (radians) between the encoder's row space and the relevant subspace."""
        return float(principal_angles(encoder.T, self.relevant_basis()).max())
