"""Benchmark: what the TensorBoard log of an experiment's pre-training costs.

:func:`sslab.train.pipeline.pretrain` writes the log after training
(:mod:`sslab.train.pretrain_log`), so its cost is the time of that write (plus, once per
process, importing TensorBoard) next to the training time. This pre-trains MAE and U-MAE
(the experiments' recipe: batch 64, cpu-tiny ViT) for ``--epochs`` epochs on ``--dataset``
with the log off and on, into fresh caches, and prints per run the training seconds, the
whole pretrain() call's seconds, what follows training (cache store, and the log when on) in
percent of the training time, and the log's own cost (on minus off).

    python benchmarks/pretrain_log_cost.py [--dataset mnist-5k] [--epochs 2]
"""

from __future__ import annotations

import argparse
import importlib
import tempfile
import time
from pathlib import Path

import torch

from sslab.data import load_dataset
from sslab.models import vit_config
from sslab.train.cache import EncoderCache
from sslab.train.loop import TrainConfig
from sslab.train.pipeline import pretrain

SIZES = {"mnist-5k": (28, 7), "digits": (8, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist-5k", choices=sorted(SIZES))
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    size, patch = SIZES[args.dataset]
    splits = load_dataset(args.dataset, None, size).standardized()
    vit = vit_config("cpu-tiny", image_size=size, patch=patch, channels=splits.train.image_shape[0])
    t0 = time.perf_counter()
    importlib.import_module("torch.utils.tensorboard")  # the one-off import, timed on its own

    print(f"import tensorboard: {time.perf_counter() - t0:.2f} s (once per process)")
    for method, kwargs in (("mae", {"mask_ratio": 0.75}), ("umae", {"mask_ratio": 0.75})):
        after: dict[bool, float] = {}
        for tensorboard in (False, True):
            cfg = TrainConfig(epochs=args.epochs, batch_size=64, warmup_epochs=1, tensorboard=tensorboard)
            with tempfile.TemporaryDirectory() as root:
                start = time.perf_counter()
                pre = pretrain(method, vit, splits, cfg, kwargs, dataset=args.dataset, cache=EncoderCache(root))
                total = time.perf_counter() - start
                size_kb = sum(f.stat().st_size for f in Path(pre.log_dir).iterdir()) / 1024 if pre.log_dir else 0
            extra = after[tensorboard] = total - pre.seconds
            print(f"{method:5s} tensorboard={'on ' if tensorboard else 'off'}  train {pre.seconds:6.2f} s  "
                  f"pretrain() {total:6.2f} s  after training {extra:5.3f} s "
                  f"({100 * extra / pre.seconds:4.1f} % of training)  log {size_kb:.0f} KiB")
        cost = after[True] - after[False]
        print(f"{method:5s} the log's own cost: {cost:.3f} s = {100 * cost / pre.seconds:.1f} % of its training")


if __name__ == "__main__":
    main()
