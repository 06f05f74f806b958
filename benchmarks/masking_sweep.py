"""Benchmark: the full `masking-alignment` sweep at CIFAR size, and exact vs Monte Carlo moments.

Prints, from one run on this machine:
  * wall time of the experiment's sweep (3 patch shapes × 11 drop probabilities × K ∈ {2..32}) on
    synthetic data shaped like CIFAR (D = 3·32·32 = 3072, N = 50,000, 100 classes), split into
    the Gram pass over the data and the solves (target: < 2 minutes in all on 2 cores);
  * exact moments vs a 100-draw Monte Carlo estimate: speed ratio and max relative difference.
No N×N matrix is formed: everything after the Gram pass is D×D.

    python benchmarks/masking_sweep.py [--n 50000] [--draws 100]
"""

from __future__ import annotations

import argparse
import time

import torch

from sslab.experiments.masking_alignment import MaskingAlignmentConfig
from sslab.theory.masking import masking_sweep
from sslab.views import PatchMask, monte_carlo_moments


def cifar_like(n: int, classes: int = 100, seed: int = 0, chunk: int = 5000):
    """Yield (X_chunk (D×n_c), labels) of smooth 3×32×32 images: 1/f noise + class means."""
    g = torch.Generator().manual_seed(seed)
    fy = torch.fft.fftfreq(32)[:, None]
    fx = torch.fft.rfftfreq(32)[None, :]
    spectrum = 1.0 / (1e-2 + (fx**2 + fy**2).sqrt())
    means = torch.randn(classes, 3, 32, 32, generator=g) * 0.3
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        noise = torch.randn(m, 3, 32, 17, generator=g, dtype=torch.complex64) * spectrum
        img = torch.fft.irfft2(noise, s=(32, 32)) * 8
        labels = torch.randint(0, classes, (m,), generator=g)
        img = img + means[labels]
        yield img.reshape(m, -1).T.double(), labels


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--mc-n", type=int, default=256)
    args = ap.parse_args()
    torch.manual_seed(0)
    shape = (3, 32, 32)
    d = 3 * 32 * 32

    t_syn = time.perf_counter()
    chunks = list(cifar_like(args.n, args.classes))  # synthesising the data is not part of the sweep
    t_syn = time.perf_counter() - t_syn
    t0 = time.perf_counter()
    sigma = torch.zeros(d, d, dtype=torch.float64)
    sx = torch.zeros(d, dtype=torch.float64)
    xy = torch.zeros(d, args.classes, dtype=torch.float64)
    counts = torch.zeros(args.classes, dtype=torch.float64)
    for X, labels in chunks:
        sigma += X @ X.T
        sx += X.sum(1)
        Yc = torch.nn.functional.one_hot(labels, args.classes).double()
        xy += X @ Yc
        counts += Yc.sum(0)
    n = args.n
    mean = sx / n
    sigma -= n * torch.outer(mean, mean)  # centred Gram
    py = counts / n
    xy -= torch.outer(mean, counts)  # X_c Y_cᵀ = X Yᵀ − n μ pᵀ
    yy = float(n * (1 - (py**2).sum()))  # ‖Y − p1ᵀ‖²
    t_gram = time.perf_counter() - t0

    t1 = time.perf_counter()
    defaults = MaskingAlignmentConfig()  # the experiment's own sweep: patches × drop probabilities × K
    sweep = masking_sweep(sigma, xy, yy, shape, defaults.patches, defaults.drop_probs, defaults.ks)
    t_solve = time.perf_counter() - t1
    cells = len(sweep.patches) * len(sweep.drop_probs)
    print(f"(synthesising the {n} images took {t_syn:.1f} s, not counted)")
    solves = cells - len(sweep.patches) + 1  # the p = 0 cells share one plain-reconstruction solve
    print(f"masking sweep at D={d}, N={n}: Gram pass {t_gram:.1f} s + {cells} cells ({solves} solves) "
          f"{t_solve:.1f} s = {t_gram + t_solve:.1f} s total (target < 120 s); {t_solve / solves:.2f} s per solve")
    print(f"  plain-reconstruction err(K): {[round(v, 4) for v in sweep.err_plain.tolist()]}")
    print(f"  best Δ_align {float(sweep.delta_align.max()):+.3%}, worst {float(sweep.delta_align.min()):+.3%}")

    # exact vs Monte Carlo moments on a slice of the data
    X, _ = next(cifar_like(args.mc_n, args.classes, seed=1, chunk=args.mc_n))
    view = PatchMask(shape, 0.5, (4, 4))
    t2 = time.perf_counter()
    _, G0 = view.moments(X)
    t_exact = time.perf_counter() - t2
    t3 = time.perf_counter()
    _, G1 = monte_carlo_moments(view, X, args.draws, torch.Generator().manual_seed(0))
    t_mc = time.perf_counter() - t3
    rel = float((G1 - G0).abs().max() / G0.abs().max())
    rel_fro = float((G1 - G0).norm() / G0.norm())
    print(f"moments at D={d}, N={args.mc_n}: exact {t_exact:.3f} s vs Monte Carlo ({args.draws} draws) "
          f"{t_mc:.2f} s → speed ratio {t_mc / t_exact:.0f}x; max |ΔG| / max|G| = {rel:.3e}, "
          f"‖ΔG‖_F/‖G‖_F = {rel_fro:.3e} (expected ≈ 1/√draws scale)")


if __name__ == "__main__":
    main()
