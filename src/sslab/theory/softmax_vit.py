"""One-layer softmax-attention ViT on the area model of Huang, Wen, Chi & Liang (ICLR 2025,
"A Theoretical Analysis of Self-Supervised Learning for Vision Transformers", arXiv 2403.02233).
Model, formulas and what is reconstructed: ``docs/theory/huang-2025-vit-mae-vs-cl.md``.

Data. K clusters. Cluster k splits the P positions into one global area of C_g positions and
M local areas of C_l positions each (C_g ≥ C_l); the split is drawn once per cluster, so local
areas sit at different positions in different clusters. Area j of cluster k has one feature
v_{k,j}; features are orthonormal and orthogonal to the one-hot position embeddings e_p. An image
of cluster k has, at a position p in area j,

    X_p = z_j v_{k,j},     z_j ~ U[z_low, z_high], drawn per image and per area,

so every patch of an area carries the same vector, and a masked patch's content is known
exactly from any visible patch of its own area.

Model. Tokens X̃_q = [X_q; e_q] ∈ R^{d+P}, one trainable Q ∈ R^{(d+P)×(d+P)} with Q(0) = 0.
MAE: the queries are the masked positions and carry only e_p, keys/values are the visible
patches, so the score is s_pq = e_pᵀ Q (X̃_q + e_q) and the prediction F_p = Σ_q softmax_q(s_pq) X_q
(value map: identity on features). Loss: mean over masked p of ‖F_p − X_p‖².
CL: two independently masked views; every visible patch queries with its full token
(s_pq = X̃_pᵀ Q X̃_q); the representation is the mean of F_p over visible p; InfoNCE with
cosine similarity, temperature τ and in-batch negatives, symmetrised over the two views.
Training: full-batch gradient descent on a fixed sample, fresh masks each step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from sslab.views.token_masks import visible_mask


@dataclass(frozen=True)
class AreaModel:
    """The data model above; ``layout_seed`` fixes every cluster's partition of the positions."""

    clusters: int = 2
    local_areas: int = 2  # M
    positions: int = 24  # P, the same for every C_g / C_l
    size_ratio: int = 4  # C_g / C_l; C_l = P / (C_g/C_l + M) must be a whole number
    z_low: float = 0.5
    z_high: float = 1.5
    layout_seed: int = 0
    layouts: torch.Tensor = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.clusters < 1 or self.local_areas < 1 or self.size_ratio < 1:
            raise ValueError("clusters, local_areas and size_ratio must all be ≥ 1")
        if self.positions % (self.size_ratio + self.local_areas) or self.local_size < 2:
            raise ValueError(f"P = {self.positions} must split into C_g = {self.size_ratio}·C_l and "
                             f"{self.local_areas} local areas of C_l ≥ 2 positions (P divisible by "
                             f"C_g/C_l + M = {self.size_ratio + self.local_areas}, quotient ≥ 2)")
        if not 0 < self.z_low <= self.z_high:
            raise ValueError(f"need 0 < z_low ≤ z_high, got {self.z_low}, {self.z_high}")
        g = torch.Generator().manual_seed(self.layout_seed)
        base = torch.cat([torch.zeros(self.global_size, dtype=torch.long),
                          torch.arange(1, self.local_areas + 1).repeat_interleave(self.local_size)])
        lay = torch.stack([base[torch.randperm(self.P, generator=g)] for _ in range(self.clusters)])
        object.__setattr__(self, "layouts", lay)  # (K, P): area index of each position, 0 = global

    @property
    def local_size(self) -> int:  # C_l
        return self.positions // (self.size_ratio + self.local_areas)

    @property
    def global_size(self) -> int:  # C_g
        return self.size_ratio * self.local_size

    @property
    def P(self) -> int:
        return self.positions

    @property
    def areas(self) -> int:
        return self.local_areas + 1

    @property
    def d(self) -> int:
        return self.clusters * self.areas

    def feature(self, k: torch.Tensor | int, j: torch.Tensor | int) -> torch.Tensor | int:
        """Index of v_{k,j} among the d feature coordinates."""
        return k * self.areas + j

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """X (n, P, d) float64 and cluster labels (n,)."""
        k = torch.randint(0, self.clusters, (n,), generator=generator)
        z = self.z_low + (self.z_high - self.z_low) * torch.rand(n, self.areas, generator=generator,
                                                                   dtype=torch.float64)
        area = self.layouts[k]  # (n, P)
        X = torch.zeros(n, self.P, self.d, dtype=torch.float64)
        X.scatter_(2, self.feature(k[:, None], area).unsqueeze(-1), z.gather(1, area).unsqueeze(-1))
        return X, k


def tokens(X: torch.Tensor) -> torch.Tensor:
    """X̃ = [X; e] (n, P, d + P) with one-hot position embeddings."""
    n, P, _ = X.shape
    return torch.cat([X, torch.eye(P, dtype=X.dtype).expand(n, P, P)], dim=-1)


def random_visible(n: int, P: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """(n, P) bool, True = visible; exactly round(ratio · P) positions hidden per image."""
    return visible_mask(n, P, round(ratio * P), generator)


def mae_attention(Q: torch.Tensor, X: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """(n, P, P) softmax over visible keys q of e_pᵀ Q (X̃_q + e_q) for every query position p."""
    d = X.shape[-1]
    scores = Q[d:] @ tokens(X).transpose(1, 2)  # (P, D) @ (n, D, P): row p is e_pᵀ Q
    return torch.softmax(scores.masked_fill(~visible[:, None, :], float("-inf")), dim=-1)


def mae_predictions(Q: torch.Tensor, X: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """F_p = Σ_q A_pq X_q for every position p (read at the masked ones)."""
    return mae_attention(Q, X, visible) @ X


def mae_loss(Q: torch.Tensor, X: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    masked = (~visible).to(X.dtype)
    err = (mae_predictions(Q, X, visible) - X).pow(2).sum(-1)
    return (err * masked).sum() / masked.sum()


def cl_attention(Q: torch.Tensor, X: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """(n, P, P) softmax over visible keys of X̃_pᵀ Q X̃_q (queries: the visible tokens)."""
    tok = tokens(X) * visible[..., None].to(X.dtype)
    scores = tok @ Q @ tok.transpose(1, 2)
    return torch.softmax(scores.masked_fill(~visible[:, None, :], float("-inf")), dim=-1)


def cl_representation(Q: torch.Tensor, X: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Mean over visible p of F_p (n, d)."""
    out = cl_attention(Q, X, visible) @ X
    w = visible.to(X.dtype)
    return (out * w[..., None]).sum(1) / w.sum(1, keepdim=True)


def cl_loss(Q: torch.Tensor, X: torch.Tensor, vis1: torch.Tensor, vis2: torch.Tensor,
            temperature: float = 0.1) -> torch.Tensor:
    """Symmetric InfoNCE between the two views' normalised representations, in-batch negatives."""
    r1 = F.normalize(cl_representation(Q, X, vis1), dim=-1)
    r2 = F.normalize(cl_representation(Q, X, vis2), dim=-1)
    logits = r1 @ r2.T / temperature
    target = torch.arange(X.shape[0])
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def area_oracle_error(model: AreaModel, X: torch.Tensor, labels: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """(n, P) smallest error ‖F_p − X_p‖² any attention over the visible keys can reach.

    If a key of p's own area is visible, attending to it alone reproduces X_p: error 0. Otherwise
    X_p = z_j v_{k,j} is orthogonal to every visible key, so the error is z_j² + ‖F‖², and the
    convex combination of the visible areas' vectors z_a v_{k,a} with the least norm has
    ‖F‖² = 1 / Σ_a z_a⁻² (weights ∝ z_a⁻²) over the areas a with a visible key."""
    area = model.layouts[labels]  # (n, P)
    z = X.norm(dim=-1)  # (n, P): z of each position's area
    same = (area[:, :, None] == area[:, None, :]) & visible[:, None, :]
    areas = torch.arange(model.areas)
    vis_area = ((area[:, None, :] == areas[None, :, None]) & visible[:, None, :]).any(-1)  # (n, areas)
    z_area = torch.zeros(X.shape[0], model.areas, dtype=X.dtype).scatter_(1, area, z)
    inv = (vis_area.to(X.dtype) / z_area.clamp_min(1e-300).pow(2)).sum(-1, keepdim=True)  # (n, 1)
    fallback = z.pow(2) + 1.0 / inv
    return torch.where(same.any(-1), torch.zeros_like(z), fallback)


@dataclass
class Probe:
    """Measurements of one Q on a fixed evaluation set (fresh data and masks).

    Local queries are positions of a local area of the image's cluster. MAE numbers use masked
    position-only queries; CL numbers use visible full-token queries (the model CL trains)."""

    own_mass_mae: float  # MAE: mass on own-area keys, masked local queries with a visible own-area key
    global_mass_cl: float  # CL: mass of visible local queries on global-area keys
    global_mass_uniform: float  # the same under Q = 0 (share of visible global keys)
    row_spread_mae: float  # mean total-variation distance between attention rows of two queries
    row_spread_cl: float
    local_error: float  # MAE prediction error on masked local patches, ‖F_p − X_p‖²
    oracle_local_error: float  # the least error any attention reaches on the same patches
    global_fp: float  # mean e_pᵀ Q v_{k,0} over clusters k and local positions p of k
    local_fp: float  # mean e_pᵀ Q v_{k,j(p)} (the target local correlation)
    global_mass_mae: float  # MAE: mass of masked local queries on global-area keys


def _row_spread(A: torch.Tensor, rows: torch.Tensor) -> float:
    """Mean over images and over pairs of selected rows (the same count per image) of ½‖A_p − A_p'‖₁."""
    n, P, _ = A.shape
    m = int(rows[0].sum())
    if m < 2:
        return 0.0
    R = A[rows].reshape(n, m, P)
    D = 0.5 * (R[:, :, None, :] - R[:, None, :, :]).abs().sum(-1)
    return float(D.sum() / (n * m * (m - 1)))


def fp_correlations(Q: torch.Tensor, model: AreaModel) -> tuple[float, float]:
    """Feature–position correlations of local queries: the means, over clusters k and positions p
    in a local area j(p) of k, of e_pᵀ Q v_{k,0} (global) and of e_pᵀ Q v_{k,j(p)} (target local)."""
    lay = model.layouts
    kk = torch.arange(model.clusters)[:, None].expand(-1, model.P)
    rows = model.d + torch.arange(model.P)[None].expand(model.clusters, -1)
    loc = lay > 0
    g = Q[rows, model.feature(kk, torch.zeros_like(lay))][loc]
    tgt = Q[rows, model.feature(kk, lay)][loc]
    return float(g.mean()), float(tgt.mean())


def probe(Q: torch.Tensor, model: AreaModel, X: torch.Tensor, labels: torch.Tensor,
          visible: torch.Tensor) -> Probe:
    with torch.no_grad():
        area = model.layouts[labels]
        local, glob = area > 0, area == 0
        same = area[:, :, None] == area[:, None, :]
        A = mae_attention(Q, X, visible)
        q_mae = local & ~visible  # masked local queries
        has_own = (same & visible[:, None, :] & ~torch.eye(model.P, dtype=torch.bool)).any(-1)
        sel = q_mae & has_own
        own = (A * same).sum(-1)
        g_mae = (A * glob[:, None, :]).sum(-1)
        err = (A @ X - X).pow(2).sum(-1)
        oerr = area_oracle_error(model, X, labels, visible)
        Acl = cl_attention(Q, X, visible)
        q_cl = local & visible
        g_cl = (Acl * glob[:, None, :]).sum(-1)
        uni = glob[:, None, :] & visible[:, None, :]
        g_uni = uni.sum(-1).to(X.dtype) / visible.sum(-1, keepdim=True)
        gfp, lfp = fp_correlations(Q, model)
        return Probe(
            own_mass_mae=float(own[sel].mean()),
            global_mass_cl=float(g_cl[q_cl].mean()),
            global_mass_uniform=float(g_uni.expand_as(g_cl)[q_cl].mean()),
            row_spread_mae=_row_spread(A, ~visible),
            row_spread_cl=_row_spread(Acl, visible),
            local_error=float(err[q_mae].mean()),
            oracle_local_error=float(oerr[q_mae].mean()),
            global_fp=gfp,
            local_fp=lfp,
            global_mass_mae=float(g_mae[q_mae].mean()),
        )


@dataclass
class Trajectory:
    Q: torch.Tensor
    first: Probe  # at Q(0) = 0
    last: Probe  # after the last step
    steps: list[int]  # record steps of the correlations
    global_fp: list[float]
    local_fp: list[float]
    losses: list[float]


def train_gd(
    model: AreaModel,
    objective: str,
    steps: int = 300,
    lr: float = 1.0,
    n: int = 256,
    ratio: float = 0.5,
    temperature: float = 0.1,
    record_every: int = 25,
    seed: int = 0,
    n_eval: int = 256,
) -> Trajectory:
    """Full-batch gradient descent on Q from Q = 0 (fixed sample, fresh masks each step).
    ``lr = 0`` is the untrained control: the same code path, Q stays 0. Runs on one intra-op
    thread: the tensors are tiny, and more threads only add synchronisation (10× slower on a
    busy machine)."""
    if objective not in ("mae", "cl"):
        raise ValueError(f"objective must be 'mae' or 'cl', got {objective!r}")
    if lr < 0:
        raise ValueError(f"learning rate must be ≥ 0, got {lr}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train(model, objective, steps, lr, n, ratio, temperature, record_every, seed, n_eval)
    finally:
        torch.set_num_threads(threads)


def _train(model: AreaModel, objective: str, steps: int, lr: float, n: int, ratio: float, temperature: float,
           record_every: int, seed: int, n_eval: int) -> Trajectory:
    g = torch.Generator().manual_seed(seed)
    X, _ = model.sample(n, g)
    ge = torch.Generator().manual_seed(seed + 1)
    X_eval, k_eval = model.sample(n_eval, ge)
    vis_eval = random_visible(n_eval, model.P, ratio, ge)
    D = model.d + model.P
    Q = torch.zeros(D, D, dtype=torch.float64, requires_grad=True)
    first = probe(Q.detach(), model, X_eval, k_eval, vis_eval)
    at: list[int] = []
    gfp: list[float] = []
    lfp: list[float] = []
    losses: list[float] = []
    for t in range(steps + 1):
        if t % record_every == 0 or t == steps:
            at.append(t)
            for out, v in zip((gfp, lfp), fp_correlations(Q.detach(), model), strict=True):
                out.append(v)
        if t == steps:
            break
        if lr == 0 and t > 0:  # the control: Q − 0·∇ = Q, so every later step repeats step 0
            losses.append(losses[0])
            continue
        if objective == "mae":
            loss = mae_loss(Q, X, random_visible(n, model.P, ratio, g))
        else:
            loss = cl_loss(Q, X, random_visible(n, model.P, ratio, g), random_visible(n, model.P, ratio, g),
                           temperature)
        (grad,) = torch.autograd.grad(loss, Q)
        with torch.no_grad():
            Q -= lr * grad
        losses.append(float(loss.detach()))
    last = probe(Q.detach(), model, X_eval, k_eval, vis_eval)
    return Trajectory(Q.detach(), first, last, at, gfp, lfp, losses)
