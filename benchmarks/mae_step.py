"""Benchmark: one MAE pre-training step on a ViT-Tiny-like config.

32×32×3 images, patch 4 (64 patches), encoder d=192 × 12 blocks (3 heads), decoder 128 × 4,
batch 256, mask ratio 0.75. Prints from one run on this machine:
  * images/s and achieved FLOP/s of the step (analytic matmul FLOPs × 3 for fwd + bwd),
    as a fraction of the dense fp32 matmul FLOP/s measured in the same run;
  * speed-up of dropping masked tokens vs feeding mask tokens through the encoder;
  * peak RSS of the step and the U-MAE (eq. 9) overhead over MAE.

    python benchmarks/mae_step.py [--batch 256] [--steps 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

from sslab.methods import build_method
from sslab.models import vit_config
from sslab.models.vit import decoder_flops, encoder_flops
from sslab.views import kept_patches


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(
    n: int = 2048, reps: int = 5, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> float:
    """Dense n×n matmul FLOP/s measured here (the reference for achieved-FLOP/s ratios)."""
    device = device or torch.device("cpu")
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    t = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t)


def make_step(method, x: torch.Tensor):
    opt = torch.optim.AdamW(method.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)

    def one() -> float:
        t = time.perf_counter()
        out = method(x, g)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        return time.perf_counter() - t

    return one


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    vit = vit_config("vit-tiny", image_size=32, patch=4, channels=3)
    x = torch.randn(args.batch, 3, 32, 32)
    peak = matmul_peak()
    variants = {
        "mae": ("mae", {}),
        "umae": ("umae", {}),  # the default λ and form
        "mae-mask-tokens-in-encoder": ("mae", {"drop_masked": False}),
    }
    steps = {}
    for name, (base, kw) in variants.items():
        steps[name] = make_step(build_method(base, vit, mask_ratio=0.75, **kw), x)
        steps[name]()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.steps):  # interleaved, so drifts in machine speed hit all variants alike
        for name, step in steps.items():
            times[name].append(step())
    results = {name: statistics.median(v) for name, v in times.items()}
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for name, sec in results.items():
        print(f"{name:28s} {sec * 1000:8.1f} ms/step  {args.batch / sec:8.1f} img/s")
    print(f"peak RSS of the process (all three variants built): {rss:.0f} MiB")
    visible = kept_patches(vit.num_patches, 0.75)
    flops = 3 * args.batch * (encoder_flops(vit, visible) + decoder_flops(vit))
    achieved = flops / results["mae"]
    print(f"dense fp32 matmul peak measured here: {peak / 1e9:.1f} GFLOP/s")
    print(f"MAE step: {flops / 1e9:.1f} GFLOP → {achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.1%} of matmul peak "
          f"(goal ≥ 50%)")
    print(f"dropping masked tokens: {results['mae-mask-tokens-in-encoder'] / results['mae']:.2f}x faster than mask "
          f"tokens through the encoder (goal ≥ 2.5x)")
    print(f"U-MAE overhead over MAE: {results['umae'] / results['mae'] - 1:+.1%} (goal < 5%)")


if __name__ == "__main__":
    main()
