"""Benchmark: the logistic probe with BLAS/OpenMP limited to one thread vs the libraries' default.

The deep experiments fit a multinomial logistic regression (sklearn, L-BFGS) on n × 64 features
for every arm, seed and snapshot. After torch has run (its OpenMP pool is live), OpenBLAS's own
threads compete with it for the same cores; on 2 cores each L-BFGS iteration became far slower.
:func:`sslab.eval.probes.logistic_probe` therefore fits with one thread. This prints both times
on features of a random-init ViT over mnist-5k-sized data (3,500 × 64, 10 classes; synthetic
here, so no dataset is needed), the ratio, and whether the two fits agree.

    python benchmarks/probe_speed.py [--n 3500] [--dim 64] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits


def features(n: int, dim: int, classes: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian class clusters pushed through a random tanh layer: correlated, not separable."""
    g = np.random.default_rng(seed)
    y = g.integers(0, classes, n)
    x = g.normal(size=(classes, dim))[y] * 0.7 + g.normal(size=(n, dim))
    x = np.tanh(x @ g.normal(size=(dim, dim)) / np.sqrt(dim))
    return (x - x.mean(0)) / x.std(0), y


def fit_seconds(x: np.ndarray, y: np.ndarray, c: float) -> tuple[float, np.ndarray]:
    t = time.perf_counter()
    clf = LogisticRegression(C=c, max_iter=500).fit(x, y)
    return time.perf_counter() - t, clf.coef_


def main(argv: list[str] | None = None) -> list[tuple[str, str, str, bool | None]]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3500)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    x, y = features(args.n, args.dim)
    torch.randn(512, 512) @ torch.randn(512, 512)  # start torch's OpenMP pool, as an experiment has
    t_def, t_one = [], []
    for _ in range(args.rounds):  # interleaved, so a change in load hits both alike
        sec, w_def = fit_seconds(x, y, 1.0)
        t_def.append(sec)
        with threadpool_limits(limits=1):
            sec, w_one = fit_seconds(x, y, 1.0)
        t_one.append(sec)
    d, o = statistics.median(t_def), statistics.median(t_one)
    agree = float(np.abs(w_def - w_one).max() / np.abs(w_def).max())
    print(f"logistic probe ({args.n}×{args.dim}, C=1): default threads {d:.3f} s, one thread {o:.3f} s "
          f"→ {d / o:.1f}x; max relative coefficient difference {agree:.1e}")
    return [("logistic probe: default threads / one thread", f"{d / o:.1f}x", "≥ 1x", d / o >= 1.0)]


if __name__ == "__main__":
    main()
