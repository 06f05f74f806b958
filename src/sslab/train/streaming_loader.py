"""Training batches from an in-memory tensor or from a streaming :class:`ImageSource`.

The data order is :class:`sslab.train.sampler.GlobalBatchSampler`'s in both cases: epoch e is
randperm(N) under seed (seed, e), rank r takes block r of each global batch (a
DistributedSampler whose shards tile the single-process batch, with ``set_epoch``), and a run
resumed at step i of an epoch starts from global batch i of the same permutation. For a source,
the batch sampler hands (epoch, index) pairs to ``DataLoader`` workers, which decode and
augment each sample with a generator seeded by (seed, epoch, index); batches, and hence a
resumed run, therefore depend neither on the number of workers nor on the number of ranks.

On CUDA the loader pins memory, copies without blocking and keeps its workers across epochs;
on the CPU the workers of an epoch end with it (or when the run stops inside it), so they never
outlive training into the evaluation.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from sslab.data.streaming import ImageSource
from sslab.errors import DataError
from sslab.train.sampler import GlobalBatchSampler

Data = torch.Tensor | ImageSource


class EpochBatchSampler(Sampler[list[tuple[int, int]]]):
    """This rank's (epoch, index) lists for global batches ``first``, ``first``+1, … of one epoch.

    Set with :meth:`start` before iterating; the wrapped sampler's permutation is read at
    iteration time, in the main process, so persistent workers see each new epoch."""

    def __init__(self, sampler: GlobalBatchSampler) -> None:
        self.sampler = sampler
        self.epoch, self.first = 0, 0

    def start(self, epoch: int, first: int = 0) -> None:
        if self.sampler.epoch != epoch:
            self.sampler.set_epoch(epoch)
        self.epoch, self.first = epoch, first

    def __len__(self) -> int:
        return max(len(self.sampler) - self.first, 0)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for i in range(self.first, len(self.sampler)):
            yield [(self.epoch, int(j)) for j in self.sampler.batch(i)]


class SourceItems(Dataset):
    """Map-style view of a source whose keys are (epoch, index) pairs."""

    def __init__(self, source: ImageSource) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: tuple[int, int]) -> torch.Tensor:
        epoch, index = key
        return self.source.item(index, epoch)


class BatchStream:
    """``stream.epoch(e, first)`` yields this rank's batches of epoch e from global batch
    ``first`` on, on ``device``; ``workers`` decoding processes for a source (0: in process)."""

    def __init__(
        self, data: Data, sampler: GlobalBatchSampler, device: torch.device, workers: int = 2, prefetch: int = 2
    ) -> None:
        self.data, self.sampler, self.device = data, sampler, device
        self.loader: DataLoader | None = None
        self._current: Generator[torch.Tensor, None, None] | None = None
        if not isinstance(data, torch.Tensor):
            cuda = device.type == "cuda"
            self.batches = EpochBatchSampler(sampler)
            self.loader = DataLoader(
                SourceItems(data),
                batch_sampler=self.batches,
                num_workers=workers,
                pin_memory=cuda,
                persistent_workers=cuda and workers > 0,
                prefetch_factor=prefetch if workers > 0 else None,
            )

    def epoch(self, epoch: int, first: int = 0) -> Iterator[torch.Tensor]:
        """This rank's batches of ``epoch`` from global batch ``first`` on (ends the previous epoch's)."""
        self.close()
        self._current = self._batches(epoch, first)
        return self._current

    def close(self) -> None:
        """End the current epoch's iterator, and with it the workers it started (CPU)."""
        if self._current is not None:
            self._current.close()
            self._current = None

    def _batches(self, epoch: int, first: int) -> Generator[torch.Tensor, None, None]:
        if self.loader is None:
            assert isinstance(self.data, torch.Tensor)
            if self.sampler.epoch != epoch:
                self.sampler.set_epoch(epoch)
            for i in range(first, len(self.sampler)):
                yield self.data[self.sampler.batch(i)].to(self.device, non_blocking=True)
            return
        self.batches.start(epoch, first)
        it = iter(self.loader)
        try:
            for batch in it:
                yield batch.to(self.device, non_blocking=True)
        finally:
            if not self.loader.persistent_workers:
                del it  # the iterator's finaliser stops its worker processes now, not at exit


def num_items(data: Data) -> int:
    return int(data.shape[0]) if isinstance(data, torch.Tensor) else len(data)


def preview(data: Data, count: int = 16) -> torch.Tensor:
    """The first ``count`` images as a tensor (the tensor itself when in memory): for the
    reconstruction grid, which only needs a few fixed images."""
    if isinstance(data, torch.Tensor):
        return data
    images = torch.stack([data.item(i) for i in range(min(count, len(data)))])
    return images[:, 0] if images.ndim == 5 else images  # the first view of view pairs


TWO_VIEW_METHODS = ("simclr",)


def method_data(data: Data, method: str) -> Data:
    """What ``method`` trains on: a two-view method (SimCLR) gets a source's items as view pairs
    (:class:`sslab.data.streaming.ViewPairs`, two independent per-sample augmentations); an
    in-memory tensor, or any other method, the data as it is."""
    from sslab.data.streaming import ViewPairs

    if method in TWO_VIEW_METHODS and not isinstance(data, (torch.Tensor, ViewPairs)):
        return ViewPairs(data)
    return data


@torch.no_grad()
def source_features(
    encoder: torch.nn.Module, source: ImageSource, batch_size: int = 256, workers: int = 2, limit: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, labels) of the encoder's pooled representation of ``source`` items (epoch 0),
    in order; ``limit`` takes that many evenly spaced items instead of all."""
    n = len(source)
    if n == 0:
        raise DataError(f"{source.name}: a split for the probes is empty; the dataset has too few images per class")
    picks = np.arange(n) if limit is None or limit >= n else np.linspace(0, n - 1, limit).round().astype(np.int64)
    chunks = [[(0, int(i)) for i in picks[s : s + batch_size]] for s in range(0, len(picks), batch_size)]
    loader = DataLoader(SourceItems(source), batch_sampler=chunks, num_workers=workers)
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    feats = [encoder.features(batch.to(device)).float().cpu() for batch in loader]
    encoder.train(was_training)
    return torch.cat(feats), source.labels[torch.from_numpy(picks)]
