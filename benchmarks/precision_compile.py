"""Benchmark: MAE training-step throughput under the trainer's runtime options.

ViT-Tiny-like encoder (d=192 × 12) on 32×32×3 images, patch 4, mask ratio 0.75, on the
default device (a GPU when there is one). Variants: fp32; bf16 autocast; fp32 with
``torch.compile`` of the model parts; bf16 + compile (the options of ``sslab train
--precision bf16 --compile``). Prints, from one run: ms/step, images/s, the speed ratio
against fp32 eager, the achieved FLOP/s against a dense matmul peak measured in the same run
in the same precision, and the final-loss gap of bf16 vs fp32 after the same steps.

    python benchmarks/precision_compile.py [--batch 256] [--steps 20] [--no-compile]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from mae_step import matmul_peak, sync  # benchmarks/ is on sys.path when a script here runs
from sslab.methods import build_method
from sslab.models import vit_config
from sslab.models.vit import decoder_flops, encoder_flops
from sslab.train.loop import compile_parts, step_generator


def run_variant(vit, x: torch.Tensor, bf16: bool, compiled: bool, steps: int) -> tuple[float, float]:
    """(median seconds per step after warm-up, final loss)."""
    torch.manual_seed(0)
    method = build_method("mae", vit, mask_ratio=0.75).to(x.device)
    if compiled:
        compile_parts(method)
    opt = torch.optim.AdamW(method.parameters(), lr=1e-4)
    times, loss = [], float("nan")
    for step in range(steps + 3):  # 3 warm-up steps (compilation happens there)
        sync(x.device)
        t = time.perf_counter()
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16):
            out = method(x, step_generator(0, step))
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        sync(x.device)
        times.append(time.perf_counter() - t)
        loss = float(out["loss"].detach())
    return statistics.median(times[3:]), loss


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32
    vit = vit_config("vit-tiny", image_size=32, patch=4, channels=3)
    x = torch.randn(args.batch, 3, 32, 32, generator=torch.Generator().manual_seed(1)).to(device)
    variants = [("fp32", False, False), ("bf16", True, False)]
    if not args.no_compile:
        variants += [("fp32+compile", False, True), ("bf16+compile", True, True)]
    results = {name: run_variant(vit, x, bf16, comp, args.steps) for name, bf16, comp in variants}
    flops = 3 * args.batch * (encoder_flops(vit, round(vit.num_patches * 0.25)) + decoder_flops(vit))
    n, reps = (4096, 10) if device.type == "cuda" else (1024, 3)  # CPU bf16 matmul runs at ~1 GFLOP/s
    peaks = {False: matmul_peak(n, reps, device, torch.float32), True: matmul_peak(n, reps, device, torch.bfloat16)}
    name_dev = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"MAE step, ViT-Tiny-like, batch {args.batch}, {name_dev}, torch {torch.__version__}")
    print(f"dense matmul peak measured here: fp32 {peaks[False] / 1e12:.2f} TFLOP/s, bf16 {peaks[True] / 1e12:.2f}")
    base = results["fp32"][0]
    for name, bf16, _ in variants:
        sec, loss = results[name]
        achieved = flops / sec
        print(
            f"{name:14s} {sec * 1e3:8.2f} ms/step {args.batch / sec:10.0f} img/s  {base / sec:5.2f}× fp32  "
            f"{achieved / 1e12:6.2f} TFLOP/s = {achieved / peaks[bf16]:6.1%} of {'bf16' if bf16 else 'fp32'} peak  "
            f"final loss {loss:.4f}"
        )
    gap = abs(results["bf16"][1] - results["fp32"][1]) / abs(results["fp32"][1])
    print(f"bf16 vs fp32 final loss after {args.steps + 3} steps: relative gap {gap:.2%}")


if __name__ == "__main__":
    main()
