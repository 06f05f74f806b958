"""Fill the encoder cache with independent pre-trainings in parallel worker processes.

A deep experiment needs many small, independent pre-trainings (methods × seeds × arms). On a
CPU, a small ViT does not use two cores well from one process, but two single-threaded processes
do. :func:`prefetch` trains the runs that the cache does not hold yet in ``workers`` spawned
processes (one torch thread each) — in-memory data only: a streamed run decodes in its own
DataLoader workers; the experiment then asks :func:`sslab.train.pipeline.pretrain`
for each run as usual and is served from the cache. A run's result depends only on its cache key
(method, settings, data, seed), never on which process trained it, so the experiment's numbers are
those of a sequential run (up to the floating-point summation order of one vs two threads).
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch

from sslab.data import Splits
from sslab.models.vit import ViTConfig
from sslab.train.cache import CacheKey, EncoderCache, tensor_hash


@dataclass(frozen=True)
class Job:
    """One pre-training: method, its keyword arguments and the TrainConfig of its seed."""

    method: str
    kwargs: dict[str, Any]
    train_cfg: Any  # sslab.train.loop.TrainConfig


def _train_one(job: Job, vit: ViTConfig, splits: Splits, dataset: str, root: str) -> str:
    import torch

    torch.set_num_threads(1)
    from sslab.train.pipeline import pretrain

    pre = pretrain(job.method, vit, splits, job.train_cfg, job.kwargs, dataset=dataset, cache=EncoderCache(root))
    return pre.key.digest()


def default_workers() -> int:
    """``$SSLAB_PREFETCH_WORKERS``, else the number of usable CPUs (at most 4)."""
    env = os.environ.get("SSLAB_PREFETCH_WORKERS")
    if env:
        return max(0, int(env))
    return min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def prefetch(
    jobs: Sequence[Job], vit: ViTConfig, splits: Splits, dataset: str, cache: EncoderCache, workers: int | None = None
) -> list[str]:
    """Train the jobs whose result the cache lacks, ``workers`` at a time; returns the cache-key
    digests of the runs it trained.

    Does nothing without a cache directory, with fewer than two workers, or with fewer than two
    missing runs (the experiment then trains them itself, exactly as before)."""
    return prefetch_groups([(splits, dataset, jobs)], vit, cache, workers)


def prefetch_groups(
    groups: Sequence[tuple[Splits, str, Sequence[Job]]], vit: ViTConfig, cache: EncoderCache,
    workers: int | None = None,
) -> list[str]:
    """:func:`prefetch` for jobs on several training sets at once (each group: its splits, the
    dataset name of its cache key, its jobs), so that one pool of workers stays busy across them.
    Returns the cache-key digests of the runs it trained."""
    workers = default_workers() if workers is None else workers
    if cache.root is None or workers < 2:
        return []
    missing: dict[str, tuple[Job, Splits, str]] = {}
    for splits, dataset, jobs in groups:
        if not isinstance(splits.train.images, torch.Tensor):
            continue  # streamed data: each run's DataLoader workers already use the cores
        images = tensor_hash(splits.train.images)
        for j in jobs:
            key = _key(j, vit, images, dataset)
            where = cache.path(key)
            if where is not None and not where.is_dir():
                missing.setdefault(key.digest(), (j, splits, dataset))
    if len(missing) < 2:
        return []
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(missing)), mp_context=ctx) as pool:
        order = sorted(missing.values(), key=lambda t: -_cost(t[0]))  # longest first
        futures = [pool.submit(_train_one, j, vit, sp, ds, str(cache.root)) for j, sp, ds in order]
        for f in futures:
            f.result()
    return list(missing)


# Relative cost of one epoch (measured on 2 CPU cores, cpu-tiny ViT, batch 64: MAE 0.85 s, SimCLR
# 3.3 s, latent prediction 3.2 s); the longest runs start first so that no worker idles at the end.
_EPOCH_COST = {"simclr": 4.0, "latent": 4.0}


def _cost(job: Job) -> float:
    ratio = job.kwargs.get("mask_ratio", 0.75) if job.method in ("mae", "umae") else None
    per_epoch = _EPOCH_COST.get(job.method, 1.0) if ratio is None else 0.5 + 2.0 * (1.0 - ratio)  # 1 at ρ = 0.75
    return per_epoch * job.train_cfg.epochs


def _key(job: Job, vit: ViTConfig, images_hash: str, dataset: str) -> CacheKey:
    """The cache key :func:`sslab.train.pipeline.pretrain` uses for this job."""
    return CacheKey(job.method, dict(job.kwargs), vit.to_dict(), CacheKey.train_fields(job.train_cfg), dataset,
                    images_hash, job.train_cfg.seed)
