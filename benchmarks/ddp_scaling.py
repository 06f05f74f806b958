"""Benchmark: data-parallel scaling on the CPU (gloo) at a fixed global batch.

One U-MAE step (masks for the global batch, gathered uniformity term, DDP gradient
all-reduce, AdamW) on 32×32×3 images, patch 4, a d=192 × 6 encoder, global batch 128.
Prints, from one run on this machine:
  * seconds per step for 1 process × 1 thread, 1 process × W threads and W processes × 1 thread;
  * strong-scaling efficiency  E = t(1 proc, 1 thread) / (W · t(W procs, 1 thread each)),
    and the ratio against one process using the same W cores through intra-op threads;
  * communication per step and rank, estimated: ring all-reduce of the P fp32 gradients sends
    and receives 2(W−1)/W · 4P bytes; the U-MAE all-gather moves (W−1)/W · 4·B·d bytes; the
    scalar logging all-reduce is negligible — and the time of one such gradient all-reduce,
    measured in the same run.

    python benchmarks/ddp_scaling.py [--procs 2] [--steps 6] [--batch 128]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist

from sslab import distributed
from sslab.methods import build_method
from sslab.models.vit import ViTConfig
from sslab.train.loop import step_generator

VIT = ViTConfig(image_size=32, patch=4, channels=3, dim=192, depth=6, heads=3, decoder_dim=128, decoder_depth=2)


def _setup(batch: int) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    method = build_method("umae", VIT, mask_ratio=0.75)
    images = torch.randn(batch, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    return method, images


def time_steps(batch: int, steps: int) -> dict[str, float]:
    """Seconds per training step on this rank's shard (median after one warm-up step)."""
    method, images = _setup(batch)
    w = distributed.world()
    model = distributed.data_parallel(method, torch.device("cpu")) if w.size > 1 else method
    opt = torch.optim.AdamW(method.parameters(), lr=1e-4)
    local = batch // w.size
    x = images[w.rank * local : (w.rank + 1) * local]
    times = []
    for step in range(steps + 1):
        distributed.barrier()
        t = time.perf_counter()
        out = model(x, step_generator(0, step))
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        distributed.barrier()
        times.append(time.perf_counter() - t)
    result = {"step_s": statistics.median(times[1:])}
    if w.size > 1:  # one all-reduce of a gradient-sized buffer
        buf = torch.zeros(sum(p.numel() for p in method.parameters()))
        dist.all_reduce(buf)
        t = time.perf_counter()
        for _ in range(3):
            dist.all_reduce(buf)
        result["allreduce_s"] = (time.perf_counter() - t) / 3
    return result


def _worker(batch: int, steps: int, out: str) -> None:
    result = time_steps(batch, steps)
    if dist.get_rank() == 0:
        Path(out).write_text(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    w, b = args.procs, args.batch
    cores = os.cpu_count() or 1
    torch.set_num_threads(1)
    one_thread = time_steps(b, args.steps)["step_s"]
    torch.set_num_threads(min(w, cores))
    one_proc_w_threads = time_steps(b, args.steps)["step_s"]
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "r.json")
        os.environ["OMP_NUM_THREADS"] = "1"
        distributed.run_local(_worker, w, b, args.steps, out)
        multi = json.loads(Path(out).read_text())
    params = sum(p.numel() for p in _setup(b)[0].parameters())
    grad_bytes = 2 * (w - 1) / w * 4 * params
    gather_bytes = (w - 1) / w * 4 * b * VIT.dim
    print(f"U-MAE step, global batch {b}, {params / 1e6:.2f} M parameters, {cores} cores, W = {w}")
    print(f"  1 process  × 1 thread : {one_thread:.3f} s/step")
    print(f"  1 process  × {min(w, cores)} threads: {one_proc_w_threads:.3f} s/step")
    print(f"  {w} processes × 1 thread: {multi['step_s']:.3f} s/step")
    print(f"  strong-scaling efficiency t1 / (W · tW) = {one_thread / (w * multi['step_s']):.2f}")
    print(f"  W processes vs 1 process on the same cores: {one_proc_w_threads / multi['step_s']:.2f}× the speed")
    print(
        f"  communication per step and rank (estimate): gradients {grad_bytes / 1e6:.2f} MB + "
        f"embedding gather {gather_bytes / 1e3:.1f} kB; one gradient all-reduce took "
        f"{multi['allreduce_s'] * 1e3:.1f} ms = {multi['allreduce_s'] / multi['step_s']:.1%} of the step"
    )


if __name__ == "__main__":
    main()
