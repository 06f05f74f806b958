"""Benchmark: streaming data — bounded memory and input-pipeline throughput.

1. Peak RSS against dataset size. For each size (default 10k, 20k, 40k JPEGs at 96×96, i.e.
   1.1, 2.2 and 4.4 GB as float32) run ``sslab train mae --stream --workers 2 --max-steps S``
   (cpu-tiny ViT, patch 16, batch 16) on a synthetic image folder and sample the RSS of the
   whole process tree (trainer + DataLoader workers) every 0.2 s. Streaming memory must not
   grow with the dataset.
2. Pipeline supply: decoded-and-augmented images/s of one worker (one process, no DataLoader)
   at 96 (from 96×96 JPEGs, as STL-10) and 224 (from 320×320 JPEGs, about an ImageNet photo),
   with the MAE and the SimCLR augmentations.
3. Demand: images/s the training step consumes, at the quick configuration (cpu-tiny ViT, 96×96,
   patch 8, batch 64, measured here) and the full one (ViT-B/16 MAE at 224, mask 0.75: measured
   on CUDA when present, else estimated as analytic FLOPs / ``--gpu-tflops`` effective FLOP/s),
   and the ratio supply/demand per worker, i.e. how many workers keep the step fed.

    python benchmarks/data_memory.py [--sizes 10000,20000,40000] [--steps 60] [--steps-largest 200]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sslab.data.item_augment import mae_augment, simclr_augment
from sslab.data.streaming import FolderSource, scan_folder
from sslab.methods import build_method
from sslab.models import vit_config
from sslab.models.vit import decoder_flops, encoder_flops
from sslab.proc_memory import wait_and_sample
from synthetic_folder import write_synthetic_folder

GB = 1024**3
BASE_IMAGES, CLASSES = 40_000, 100


def subset_folder(base: Path, images: int, cache: Path) -> Path:
    """The first images/400 class folders of the 40k folder, as symlinks (no copy)."""
    if images == BASE_IMAGES:
        return base
    out = cache / f"sslab-synth-96-{images // 1000}k"
    out.mkdir(exist_ok=True)
    for c in range(images * CLASSES // BASE_IMAGES):
        link = out / f"class{c:03d}"
        if not link.exists():
            link.symlink_to(base / f"class{c:03d}")
    return out


def train_peak_rss(folder: Path, steps: int, workers: int, batch: int = 16) -> tuple[float, float]:
    """(peak tree RSS in bytes, seconds) of a streaming MAE run of ``steps`` steps on ``folder``."""
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "sslab", "train", "mae", "--dataset", "imagefolder", "--data-dir", str(folder),
               "--stream", "--workers", str(workers), "--max-steps", str(steps), "--image-size", "96",
               "--patch", "16", "--batch-size", str(batch), "--epochs", "10", "--eval-every", "0",
               "--eval-limit", "512", "--device", "cpu", "--out", out]
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        code, peak = wait_and_sample(proc)
        if code != 0:
            raise SystemExit(f"training run failed ({code}): {proc.stderr.read()[-2000:] if proc.stderr else ''}")
        return peak, time.perf_counter() - t


def per_worker_rate(folder: Path, size: int, augment: str, items: int) -> float:
    files, labels, classes = scan_folder(folder)
    aug = mae_augment(size) if augment == "mae" else simclr_augment(size)
    source = FolderSource(files, labels, classes, aug)
    picks = np.random.default_rng(0).choice(len(source), size=items, replace=len(source) < items)
    source.item(int(picks[0]))  # warm the file cache and the imports
    t = time.perf_counter()
    for i in picks:
        source.item(int(i))
    return items / (time.perf_counter() - t)


def quick_demand(steps: int = 5) -> float:
    """Images/s of the quick configuration's MAE step on this CPU (cpu-tiny, 96×96, patch 8, batch 64)."""
    torch.manual_seed(0)
    method = build_method("mae", vit_config("cpu-tiny", image_size=96, patch=8, channels=3))
    opt = torch.optim.AdamW(method.parameters(), lr=1e-4)
    x, g = torch.randn(64, 3, 96, 96), torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps + 1):
        t = time.perf_counter()
        out = method(x, g)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
        times.append(time.perf_counter() - t)
    return 64 / float(np.median(times[1:]))


def full_demand(gpu_tflops: float) -> tuple[float, str]:
    """Images/s of the ViT-B/16 MAE step at 224: measured on CUDA, else FLOPs / effective FLOP/s."""
    vit = vit_config("vit-base", image_size=224, patch=16, channels=3)
    if torch.cuda.is_available():
        dev = torch.device("cuda")
        method = build_method("mae", vit).to(dev)
        opt = torch.optim.AdamW(method.parameters(), lr=1e-4)
        x, g = torch.randn(256, 3, 224, 224, device=dev), torch.Generator().manual_seed(0)
        for k in range(6):
            if k == 1:
                torch.cuda.synchronize()
                t = time.perf_counter()
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = method(x, g)
            opt.zero_grad(set_to_none=True)
            out["loss"].backward()
            opt.step()
        torch.cuda.synchronize()
        return 5 * 256 / (time.perf_counter() - t), f"measured on {torch.cuda.get_device_name()} (bf16)"
    visible = round(vit.num_patches * 0.25)
    flops = 3 * (encoder_flops(vit, visible) + decoder_flops(vit))  # forward + backward ≈ 3× forward
    return gpu_tflops * 1e12 / flops, f"estimated: {flops / 1e9:.1f} GFLOP/image at {gpu_tflops:g} TFLOP/s effective"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,20000,40000")
    parser.add_argument("--steps", type=int, default=60, help="training steps per size (RSS plateaus early)")
    parser.add_argument("--steps-largest", type=int, default=200, help="training steps at the largest size")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--items", type=int, default=400, help="items timed per throughput measurement")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--gpu-tflops", type=float, default=125.0,
                        help="effective bf16 FLOP/s for the estimate (A100: 312 peak × 40%% utilisation)")
    parser.add_argument("--skip-memory", action="store_true")
    args = parser.parse_args()
    base = write_synthetic_folder(args.cache / "sslab-synth-96-40k", BASE_IMAGES, 96, CLASSES)
    big = write_synthetic_folder(args.cache / "sslab-synth-320-400", 400, 320, 4)
    print(f"[data_memory] {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
    if not args.skip_memory:
        print("images  float32 GB  peak RSS GB (trainer + workers)  steps  seconds", flush=True)
        sizes = [int(s) for s in args.sizes.split(",")]
        for n in sizes:
            steps = args.steps_largest if n == max(sizes) else args.steps
            peak, secs = train_peak_rss(subset_folder(base, n, args.cache), steps, args.workers)
            print(f"{n:6d}  {n * 3 * 96 * 96 * 4 / GB:10.2f}  {peak / GB:30.3f}  {steps:5d}  {secs:7.0f}", flush=True)
    rates = {}
    for size, folder in ((96, base), (224, big)):
        for aug in ("mae", "simclr"):
            rates[size, aug] = per_worker_rate(folder, size, aug, args.items)
            print(f"pipeline {size}px {aug:6s}: {rates[size, aug]:7.0f} images/s per worker")
    quick = quick_demand()
    full, how = full_demand(args.gpu_tflops)
    print(f"demand quick (cpu-tiny 96px, this CPU): {quick:7.0f} images/s; "
          f"supply/demand per worker {rates[96, 'mae'] / quick:.2f}")
    print(f"demand full (ViT-B/16 MAE 224px, {how}): {full:7.0f} images/s; supply/demand per worker "
          f"{rates[224, 'mae'] / full:.3f} → {full / rates[224, 'mae']:.0f} workers keep one GPU fed")


if __name__ == "__main__":
    main()
