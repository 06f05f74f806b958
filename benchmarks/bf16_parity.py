"""Benchmark: does bf16 autocast train MAE as well as fp32? A short mnist-5k run, paired by seed.

The deep experiments' quick recipe (mnist-5k, cpu-tiny ViT, 30 epochs, batch 64, 3 seeds
0/1000/2000; docs/recipes.md) is pre-trained twice per seed, once in fp32 and once with
``precision="bf16"`` (``torch.autocast`` on the CPU), and each encoder is scored by the
protocol's linear probe (C chosen on validation) on the test split. Runs go through the encoder
cache (``$SSLAB_CACHE_DIR``, else ``runs/cache``), so fp32 runs that ``make demo`` already
trained are shared.

Pre-registered test (fixed before any run): bf16 is "within noise" of fp32 when the paired
bf16 − fp32 difference in test linear accuracy has a 95 % t-interval containing 0 and a mean
whose size is at most the fp32 arm's seed-to-seed standard deviation. The training curves are
compared by the largest relative gap between the two runs' per-epoch mean losses. The speed
lever that bf16 is (``mae_step.py``) counts only where this test holds.

    python benchmarks/bf16_parity.py [--epochs 30] [--seeds 3] [--preset cpu-tiny]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from sslab.data import load_dataset
from sslab.experiments.common import seeds_for
from sslab.experiments.deep_common import QUICK_RECIPE, DeepConfig, method_kwargs, train_config
from sslab.models.vit import vit_config
from sslab.stats import paired, summarize
from sslab.train.cache import EncoderCache
from sslab.train.pipeline import evaluate, pretrain

PARITY_ROW = "bf16 vs fp32 MAE probe (mnist-5k)"


def within_noise(diff_lo: float, diff_hi: float, diff_mean: float, fp32_sd: float) -> bool:
    """The pre-registered parity test: the paired CI contains 0 and |mean| ≤ the fp32 seed SD."""
    return diff_lo <= 0.0 <= diff_hi and abs(diff_mean) <= fp32_sd


def main(argv: list[str] | None = None) -> list[tuple[str, str, str, bool | None]]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=QUICK_RECIPE["epochs"])
    ap.add_argument("--seeds", type=int, default=QUICK_RECIPE["seeds"])
    ap.add_argument("--preset", default="cpu-tiny", help="the ViT (vit-tiny: the width of mae_step's model)")
    args = ap.parse_args(argv)
    cfg = DeepConfig(epochs=args.epochs, seeds=args.seeds, preset=args.preset)
    splits = load_dataset(cfg.dataset, None, cfg.image_size).standardized()
    vit = vit_config(cfg.preset, image_size=cfg.image_size, patch=cfg.patch, channels=splits.train.image_shape[0])
    cache = EncoderCache(Path(os.environ.get("SSLAB_CACHE_DIR", "runs/cache")))
    acc: dict[str, list[float]] = {"fp32": [], "bf16": []}
    gaps: list[float] = []
    seconds: dict[str, list[float]] = {"fp32": [], "bf16": []}
    t0 = time.perf_counter()
    for seed in seeds_for(0, args.seeds):
        losses = {}
        for precision in ("fp32", "bf16"):
            tc = train_config(cfg.model_copy(update={"precision": precision}), seed)
            pre = pretrain("mae", vit, splits, tc, method_kwargs("mae", cfg), dataset=cfg.dataset, cache=cache)
            acc[precision].append(100.0 * evaluate(pre.method.encoder, splits, cfg.probe_cs).linear)
            losses[precision] = [h["loss"] for h in pre.history]
            seconds[precision].append(pre.seconds)
        gaps.append(max(abs(b - a) / abs(a) for a, b in zip(losses["fp32"], losses["bf16"], strict=True)))
        print(f"  seed {seed}: test linear fp32 {acc['fp32'][-1]:.1f}%, bf16 {acc['bf16'][-1]:.1f}%; "
              f"final loss fp32 {losses['fp32'][-1]:.4f}, bf16 {losses['bf16'][-1]:.4f}; largest per-epoch "
              f"loss gap {gaps[-1]:.2%}", flush=True)
    diff = paired(acc["bf16"], acc["fp32"])
    sd = statistics.stdev(acc["fp32"]) if len(acc["fp32"]) > 1 else float("nan")
    held = within_noise(diff.lo, diff.hi, diff.mean, sd)
    print(f"bf16 parity on mnist-5k ({args.preset}, {args.epochs} epochs, {args.seeds} seeds, "
          f"{time.perf_counter() - t0:.0f} s with the cache): fp32 {summarize(acc['fp32']).text(unit='%')}, "
          f"bf16 {summarize(acc['bf16']).text(unit='%')}; "
          f"bf16 − fp32 {diff.text(unit=' pt')}, fp32 seed SD {sd:.1f} pt → within noise: {'yes' if held else 'NO'}; "
          f"largest per-epoch loss gap {max(gaps):.2%}; training time per run fp32 "
          f"{statistics.median(seconds['fp32']):.0f} s, bf16 {statistics.median(seconds['bf16']):.0f} s (median)")
    return [(PARITY_ROW, f"{diff.mean:+.1f} ± {(diff.hi - diff.lo) / 2:.1f} pt", "within noise", held),
            ("bf16 vs fp32 MAE loss curve, largest gap", f"{max(gaps):.2%}", "", None)]


if __name__ == "__main__":
    main()
