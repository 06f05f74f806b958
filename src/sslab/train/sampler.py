"""Seeded data order and its split over data-parallel ranks.

Randomness is a pure function of (seed, epoch, step): the data order of epoch e is
randperm(N) under seed (seed, e) — the same permutation on every rank — and global batch i
of the epoch is its rows [iB, (i+1)B). :class:`GlobalBatchSampler` hands rank r the
contiguous block r of each global batch: a DistributedSampler whose per-epoch seed is
(seed, epoch) and whose shards tile the single-process batch exactly, so the batches (and
hence a resumed run) do not depend on the number of processes.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from sslab.distributed import World
from sslab.distributed import world as current_world
from sslab.errors import ConfigError

EPOCH_OFFSET = 10**9  # epoch streams never collide with step streams


def step_generator(seed: int, step: int) -> torch.Generator:
    """The generator of step ``step`` (views, masks) — identical on every rank."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) % (2**63 - 1))


class GlobalBatchSampler(Sampler[list[int]]):
    """Batch sampler over ``n`` samples: this rank's indices of each global batch of size
    ``batch_size`` (incomplete last batch dropped); call :meth:`set_epoch` before each epoch.
    Works as ``DataLoader(dataset, batch_sampler=...)``."""

    def __init__(self, n: int, batch_size: int, seed: int = 0, world: World | None = None) -> None:
        self.world = world or current_world()
        if batch_size % self.world.size:
            raise ConfigError(
                f"batch_size={batch_size} (the global batch) must be divisible by the {self.world.size} processes"
            )
        if n // batch_size < 1:
            raise ConfigError(f"batch_size={batch_size} is larger than the {n} training images")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.local = batch_size // self.world.size
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.order = torch.randperm(self.n, generator=step_generator(self.seed, EPOCH_OFFSET + epoch))

    def __len__(self) -> int:
        return self.n // self.batch_size

    def batch(self, i: int) -> torch.Tensor:
        """This rank's indices of global batch ``i`` of the current epoch."""
        start = i * self.batch_size + self.world.rank * self.local
        return self.order[start : start + self.local]

    def __iter__(self) -> Iterator[list[int]]:
        for i in range(len(self)):
            yield self.batch(i).tolist()
