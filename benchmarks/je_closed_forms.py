"""Benchmark: closed-form RC and JE solves vs gradient descent on the same objective.

Prints the time per closed-form solve at d = 100 and d = 3072 (targets: milliseconds and
under a second) given the moments, where the d = 3072 RC solve is broken down into its
Cholesky factorisation, triangular solve and Lanczos iteration (with its matrix-vector product
count), and, at d = 100, the ratio of the time L-BFGS needs to reach the closed-form optimum
within 1e-6 relative to the closed-form time.

    python benchmarks/je_closed_forms.py
"""

from __future__ import annotations

import time

import torch

from sslab.theory.joint_embedding import ViewMoments, rc_loss, solve_je, solve_rc
from sslab.theory.linalg import top_eig_lanczos


def problem(d: int, n: int) -> ViewMoments:
    g = torch.Generator().manual_seed(0)
    X = torch.randn(d, n, generator=g, dtype=torch.float64) * torch.logspace(0, -1, d, dtype=torch.float64)[:, None]
    return ViewMoments.additive(X, 0.1 * torch.eye(d, dtype=torch.float64))


def timed(fn, reps: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def breakdown(m: ViewMoments, k: int) -> None:
    t0 = time.perf_counter()
    L = torch.linalg.cholesky(m.S)
    t1 = time.perf_counter()
    M = torch.linalg.solve_triangular(L, m.A.T, upper=False)
    t2 = time.perf_counter()
    count = [0]

    def apply(B: torch.Tensor) -> torch.Tensor:
        count[0] += 1
        return M.T @ (M @ B)

    top_eig_lanczos(apply, M.shape[0], k)
    t3 = time.perf_counter()
    print(
        f"  RC at d={M.shape[0]}: Cholesky {t1 - t0:.2f} s + triangular solve {t2 - t1:.2f} s + Lanczos "
        f"{t3 - t2:.2f} s ({count[0]} products, {(t3 - t2) / count[0] * 1e3:.1f} ms each)"
    )


def main() -> None:
    k = 10
    for d, n, reps in ((100, 2000, 20), (3072, 4000, 1)):
        m = problem(d, n)
        t_rc = timed(lambda m=m: solve_rc(m, k), reps)
        t_je = timed(lambda m=m: solve_je(m, k), reps)
        print(f"d={d}: RC closed form {t_rc * 1000:.1f} ms, JE closed form {t_je * 1000:.1f} ms per solve")
    breakdown(problem(3072, 4000), k)
    m = problem(100, 2000)
    target = solve_rc(m, 10).loss
    g = torch.Generator().manual_seed(1)
    E = (0.1 * torch.randn(10, 100, generator=g, dtype=torch.float64)).requires_grad_()
    D = (0.1 * torch.randn(100, 10, generator=g, dtype=torch.float64)).requires_grad_()
    opt = torch.optim.LBFGS([E, D], max_iter=50, history_size=50, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = rc_loss(m, E, D)
        loss.backward()
        return loss

    t = time.perf_counter()
    for _ in range(400):
        opt.step(closure)
        if float(rc_loss(m, E, D).detach()) <= target * (1 + 1e-6):
            break
    t_gd = time.perf_counter() - t
    gap = float(rc_loss(m, E, D).detach()) / target - 1
    t_cf = timed(lambda: solve_rc(m, 10), 20)
    print(f"d=100 RC: L-BFGS {t_gd:.2f} s to relative gap {gap:.1e} vs closed form {t_cf * 1000:.1f} ms → "
          f"{t_gd / t_cf:.0f}x")


if __name__ == "__main__":
    main()
