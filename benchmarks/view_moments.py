"""Benchmark: exact view moments vs a 100-draw Monte Carlo estimate at CIFAR size (D = 3072).

Patch masking (p = 0.5, 4×4 patches) of N = 256 smooth 3×32×32 images. Exact and Monte Carlo
runs are interleaved (exact, MC, exact, MC, …; medians), so a change in machine load hits both
alike. Prints the speed ratio (target ≥ 100×), the Monte Carlo error against the exact G and
the exact G's error against the reference (X Xᵀ) ⊙ Q with Q formed densely.

    python benchmarks/view_moments.py [--n 256] [--draws 100] [--rounds 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from sslab.views import PatchMask, monte_carlo_moments


def smooth_images(n: int, seed: int = 1) -> torch.Tensor:
    """X (3072×n): 1/f noise images, like natural images' spectrum."""
    g = torch.Generator().manual_seed(seed)
    fy = torch.fft.fftfreq(32)[:, None]
    fx = torch.fft.rfftfreq(32)[None, :]
    spectrum = 1.0 / (1e-2 + (fx**2 + fy**2).sqrt())
    noise = torch.randn(n, 3, 32, 17, generator=g, dtype=torch.complex64) * spectrum
    return (torch.fft.irfft2(noise, s=(32, 32)) * 8).reshape(n, -1).T.double()


def main(argv: list[str] | None = None) -> list[tuple[str, str, str, bool | None]]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args(argv)
    X = smooth_images(args.n)
    view = PatchMask((3, 32, 32), 0.5, (4, 4))
    view.moments(X)  # warm-up (and the cached same-patch index)
    t_ex, t_mc = [], []
    for r in range(args.rounds):
        for _ in range(3):
            t = time.perf_counter()
            _, G0 = view.moments(X)
            t_ex.append(time.perf_counter() - t)
        t = time.perf_counter()
        _, G1 = monte_carlo_moments(view, X, args.draws, torch.Generator().manual_seed(r))
        t_mc.append(time.perf_counter() - t)
    ex, mc = statistics.median(t_ex), statistics.median(t_mc)
    ratio = mc / ex
    ref = (X @ X.T) * view.mask_matrix()
    err_exact = float((G0 - ref).norm() / ref.norm())
    err_mc = float((G1 - ref).norm() / ref.norm())
    print(f"moments at D={view.dim}, N={args.n}: exact {ex * 1e3:.1f} ms vs Monte Carlo ({args.draws} draws) "
          f"{mc:.2f} s → {ratio:.0f}x (target ≥ 100x); ‖ΔG‖_F/‖G‖_F: exact {err_exact:.1e}, "
          f"Monte Carlo {err_mc:.1e}")
    return [("exact moments vs 100-draw MC (D=3072)", f"{ratio:.0f}x", "≥ 100x", ratio >= 100)]


if __name__ == "__main__":
    main()
