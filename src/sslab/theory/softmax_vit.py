"""One-layer softmax-attention ViT on the global/local feature model (Huang, Wen, Chi, Liang,
ICLR 2025, "A Theoretical Analysis of Self-Supervised Learning for Vision Transformers";
seed 000). The model and data follow the reconstruction in THEORY-VIT.md, written from the
equations there:

Data. P patches on a √P × √P grid partitioned into ``areas`` equal square blocks. Features are
orthonormal (coordinate axes of R^d, d = C(1 + areas)): a global feature u_c per class and a local
feature w_{c,a} per class and area. A sample of class c has, at patch p in area a(p),

    X_p = g · z · u_c + ℓ · z_{a(p)} · w_{c,a(p)} + σ ξ_p,   z, z_a ~ U[0.5, 1.5],  ξ_p ~ N(0, I_d),

so a masked patch's local content is predictable only from unmasked patches of its own area,
while its global content is predictable from any patch. Imbalance κ = g / ℓ (ℓ = 1).

Model. Tokens X̃_q = [X_q; e_q] ∈ R^{d+P} (features and one-hot positions). With trainable
Q ∈ R^{(d+P)×(d+P)}, initialised at 0 (uniform attention), the output at query position p is

    F_p = Σ_{q visible} softmax_q(x̃_pᵀ Q X̃_q) X_q,

the value map being the identity on features. A masked query carries only its position,
x̃_p = [0; e_p]; a visible one carries X̃_p.

MAE: random masks of ratio ρ; loss = mean over masked p of ‖F_p − X_p‖².
CL: two independently masked views; representation r = mean over visible p of F_p; InfoNCE
with cosine similarity and temperature τ over the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sslab.views.token_masks import visible_mask


@dataclass
class GlobalLocalData:
    grid: int = 4
    areas: int = 4
    classes: int = 2
    global_scale: float = 4.0  # g (κ = g / ℓ)
    local_scale: float = 1.0  # ℓ
    noise: float = 0.05  # σ

    def __post_init__(self) -> None:
        side = math.isqrt(self.areas)
        if side * side != self.areas or self.grid % side:
            raise ValueError(f"areas={self.areas} must be a square number whose side divides grid={self.grid}")

    @property
    def P(self) -> int:
        return self.grid * self.grid

    @property
    def d(self) -> int:
        return self.classes * (1 + self.areas)

    def area_of(self) -> torch.Tensor:
        """(P,) area index of every patch (row-major grid, square blocks)."""
        side = math.isqrt(self.areas)
        block = self.grid // side
        r = torch.arange(self.grid)[:, None] // block
        c = torch.arange(self.grid)[None, :] // block
        return (r * side + c).reshape(-1)

    def global_dims(self) -> torch.Tensor:
        return torch.arange(self.classes)

    def local_dims(self) -> torch.Tensor:
        return torch.arange(self.classes, self.d)

    def sample(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """X (n, P, d) float64 and labels (n,)."""
        c = torch.randint(0, self.classes, (n,), generator=generator)
        z = 0.5 + torch.rand(n, generator=generator, dtype=torch.float64)
        za = 0.5 + torch.rand(n, self.areas, generator=generator, dtype=torch.float64)
        area = self.area_of()
        X = torch.zeros(n, self.P, self.d, dtype=torch.float64)
        rows = torch.arange(n)
        X[rows, :, c] = (self.global_scale * z)[:, None].expand(n, self.P)
        local_dim = self.classes + c[:, None] * self.areas + area[None, :]  # (n, P)
        X.scatter_(2, local_dim.unsqueeze(-1), (self.local_scale * za[:, area]).unsqueeze(-1))
        X += self.noise * torch.randn(X.shape, generator=generator, dtype=torch.float64)
        return X, c


def tokens(X: torch.Tensor) -> torch.Tensor:
    """[X; e] (n, P, d + P) with one-hot position embeddings."""
    n, P, _ = X.shape
    return torch.cat([X, torch.eye(P, dtype=X.dtype).expand(n, P, P)], dim=-1)


def attention(Q: torch.Tensor, queries: torch.Tensor, keys: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """softmax over visible keys of queryᵀ Q key: queries (n, P, D), keys (n, P, D), visible (n, P) bool."""
    scores = queries @ Q @ keys.transpose(1, 2)
    scores = scores.masked_fill(~visible[:, None, :], float("-inf"))
    return torch.softmax(scores, dim=-1)


def random_visible(n: int, P: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    return visible_mask(n, P, round(ratio * P), generator)


def mae_predictions(Q: torch.Tensor, X: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """F_p for every p, with masked queries carrying only their position."""
    tok = tokens(X)
    keep_content = visible[..., None].expand_as(X).to(X.dtype)
    queries = tok * torch.cat([keep_content, torch.ones_like(tok[..., X.shape[-1] :])], -1)
    A = attention(Q, queries, tok, visible)
    return A @ X


def mae_loss(Q: torch.Tensor, X: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    pred = mae_predictions(Q, X, visible)
    masked = (~visible).to(X.dtype)
    return ((pred - X).pow(2).sum(-1) * masked).sum() / masked.sum()


def cl_representation(Q: torch.Tensor, X: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    tok = tokens(X)
    A = attention(Q, tok, tok, visible)
    out = A @ X
    w = visible.to(X.dtype)
    return (out * w[..., None]).sum(1) / w.sum(1, keepdim=True)


def cl_loss(
    Q: torch.Tensor, X: torch.Tensor, vis1: torch.Tensor, vis2: torch.Tensor, temperature: float = 0.1
) -> torch.Tensor:
    r1 = F.normalize(cl_representation(Q, X, vis1), dim=-1)
    r2 = F.normalize(cl_representation(Q, X, vis2), dim=-1)
    logits = r1 @ r2.T / temperature
    target = torch.arange(X.shape[0])
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


@dataclass
class Probe:
    """Measurements of a trained Q on fresh data (MAE-style leave-one-out queries)."""

    attention: torch.Tensor  # (P, P) mean attention of position-only query p over keys q ≠ p
    same_area_mass: float  # mean over p of attention on same-area patches
    per_area_mass: torch.Tensor  # (areas,)
    global_error: float
    local_error: float
    optimal_local_error: float


def probe(Q: torch.Tensor, data: GlobalLocalData, X: torch.Tensor, ratio: float, generator: torch.Generator) -> Probe:
    n, P, _ = X.shape
    area = data.area_of()
    same = area[:, None] == area[None, :]
    with torch.no_grad():
        tok = tokens(X)
        eye = torch.eye(P, dtype=torch.bool)
        # leave-one-out attention maps: query p (position only) over all q ≠ p
        q_only = torch.cat([torch.zeros_like(X), tok[..., X.shape[-1]:]], -1)
        scores = q_only @ Q @ tok.transpose(1, 2)
        A = torch.softmax(scores.masked_fill(eye, float("-inf")), dim=-1).mean(0)
        mass = (A * (same & ~eye)).sum(1)
        per_area = torch.stack([mass[area == a].mean() for a in range(data.areas)])
        visible = random_visible(n, P, ratio, generator)
        pred = mae_predictions(Q, X, visible)
        err = (pred - X).pow(2)
        masked = (~visible).to(X.dtype)
        g_err = float((err[..., data.global_dims()].sum(-1) * masked).sum() / masked.sum())
        l_err = float((err[..., data.local_dims()].sum(-1) * masked).sum() / masked.sum())
        # oracle: uniform attention over the visible patches of the query's own area (all visible if none)
        vis_same = same[None] & visible[:, None, :]
        has = vis_same.any(-1, keepdim=True)
        w = torch.where(has, vis_same, visible[:, None, :].expand(n, P, P)).to(X.dtype)
        oracle = (w / w.sum(-1, keepdim=True)) @ X
        o_err = float(((oracle - X).pow(2)[..., data.local_dims()].sum(-1) * masked).sum() / masked.sum())
    return Probe(A, float(mass.mean()), per_area, g_err, l_err, o_err)


@dataclass
class Trajectory:
    Q: torch.Tensor
    steps: list[int]
    snapshots: list[Probe]
    losses: list[float]


def train_gd(
    data: GlobalLocalData,
    objective: str,
    steps: int = 300,
    lr: float = 1.0,
    n: int = 256,
    ratio: float = 0.5,
    temperature: float = 0.1,
    record_every: int = 25,
    seed: int = 0,
) -> Trajectory:
    """Full-batch gradient descent on Q from Q = 0 (fresh masks each step, fixed samples)."""
    g = torch.Generator().manual_seed(seed)
    X, _ = data.sample(n, g)
    X_eval, _ = data.sample(512, torch.Generator().manual_seed(seed + 1))
    D = data.d + data.P
    Q = torch.zeros(D, D, dtype=torch.float64, requires_grad=True)
    snaps, at, losses = [], [], []
    for t in range(steps + 1):
        if t % record_every == 0 or t == steps:
            snaps.append(probe(Q.detach(), data, X_eval, ratio, torch.Generator().manual_seed(seed + 2)))
            at.append(t)
        if t == steps:
            break
        if objective == "mae":
            loss = mae_loss(Q, X, random_visible(n, data.P, ratio, g))
        elif objective == "cl":
            loss = cl_loss(Q, X, random_visible(n, data.P, ratio, g), random_visible(n, data.P, ratio, g), temperature)
        else:
            raise ValueError(f"objective must be 'mae' or 'cl', got {objective!r}")
        (grad,) = torch.autograd.grad(loss, Q)
        with torch.no_grad():
            Q -= lr * grad
        losses.append(float(loss.detach()))
    return Trajectory(Q.detach(), at, snaps, losses)
