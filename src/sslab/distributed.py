"""Data-parallel training on ``torch.distributed``: the process group, autograd-correct
collectives and the global-batch bookkeeping that make N processes compute what one process
computes on the concatenated batch.

Conventions (every method and the trainer follow them):

* ``TrainConfig.batch_size`` is the *global* batch B; each of the W ranks holds the contiguous
  block ``[r·B/W, (r+1)·B/W)`` of it (:func:`global_rows`).
* Randomness that belongs to a sample (MAE masks, augmentation parameters) is drawn for the
  whole global batch from the step's generator, which is seeded identically on every rank,
  and each rank keeps its rows (:func:`local_rows`). Hence masks and views do not depend on W.
* Per-rank losses are chosen so that their mean over ranks is the single-process loss, and
  DistributedDataParallel averages gradients over ranks. A term that needs the whole batch
  is computed on gathered tensors. With DDP's 1/W averaging, gradients are correct when
  the gather's backward *sums* the incoming gradients over ranks and keeps this rank's
  slice: rank r's loss L_r, mean objective L = (1/W)Σ_r L_r, and
  ∂L/∂θ = (1/W) Σ_r Σ_{r'} ∂L_{r'}/∂z_r · ∂z_r/∂θ, which is exactly DDP's mean of the
  per-rank gradients once each rank's ∂/∂z_r is Σ_{r'} ∂L_{r'}/∂z_r (:func:`gather_rows`).

Outside a process group every function is the identity, so single-process code is unchanged.
"""

from __future__ import annotations

import datetime
import os
import sys
from dataclasses import dataclass
from typing import NoReturn

import torch
import torch.distributed as dist
from torch import nn

from sslab.errors import ConfigError


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def world() -> World:
    if not active():
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def launched_by_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ


def init_from_env(device: str = "auto", timeout_s: float = 1800.0) -> tuple[World, torch.device]:
    """Join the process group described by torchrun's environment variables (if any).

    Backend: NCCL when the chosen device is CUDA, gloo otherwise. Returns the world and the
    device this rank computes on (``cuda:LOCAL_RANK`` on GPUs).
    """
    dev = resolve_device(device)
    if launched_by_torchrun() and not active():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=datetime.timedelta(seconds=timeout_s))
    return world(), dev


def shutdown() -> None:
    """Leave the process group cleanly: a barrier first, so that no rank destroys the group
    while a peer still has collectives in flight, then ``destroy_process_group``."""
    if active():
        if dist.get_world_size() > 1:
            dist.barrier()
        dist.destroy_process_group()


def hard_exit(code: int = 0) -> NoReturn:
    """End a worker process now: flush stdio, then ``os._exit`` without interpreter shutdown.

    The C++ destructors of the communication backend's threads (gloo) run during interpreter
    shutdown and can abort the process ("terminate called without an active exception",
    SIGABRT) when such a thread still works. A worker that has written and closed its results
    skips that phase entirely; the operating system reclaims sockets, memory and threads.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed or broken pipe: nothing left to deliver
            pass
    os._exit(code)


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; a CUDA device without an index becomes
    ``cuda:LOCAL_RANK`` (one GPU per local process under torchrun, ``cuda:0`` otherwise)."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device} asked for CUDA but this torch build sees no GPU; use --device cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    return dev


def die_with_parent(sig: int = 15) -> None:
    """Ask Linux to send ``sig`` (SIGTERM) to this process when its parent dies, even by SIGKILL
    (``prctl(PR_SET_PDEATHSIG)``), so that no worker outlives its launcher as an orphan. If the
    parent is already gone (we were re-parented to init), exit now. No-op off Linux."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, sig, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
    if os.getppid() == 1:
        os._exit(128 + sig)


def barrier() -> None:
    if active():
        dist.barrier()


def global_rows(local_batch: int) -> tuple[int, int]:
    """(first row of this rank in the global batch, global batch size); equal shards assumed."""
    w = world()
    return w.rank * local_batch, w.size * local_batch


def local_rows(t: torch.Tensor, local_batch: int) -> torch.Tensor:
    """Rows of a global-batch tensor that belong to this rank."""
    start, total = global_rows(local_batch)
    if t.shape[0] != total:
        raise ValueError(f"expected {total} rows for the global batch, got {t.shape[0]}")
    return t[start : start + local_batch]


def data_parallel(module: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel without per-forward buffer broadcasts (batch-norm statistics
    are already global, see :class:`GlobalBatchNorm1d`)."""
    import inspect

    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    params = inspect.signature(DistributedDataParallel.__init__).parameters
    no_sync = {"forward_sync_buffers": False} if "forward_sync_buffers" in params else {"broadcast_buffers": False}
    return DistributedDataParallel(module, device_ids=ids, **no_sync)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _local_entry(rank: int, fn, nproc: int, port: int, args: tuple) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(nproc)
    )
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // nproc))
    die_with_parent()
    dist.init_process_group("gloo", rank=rank, world_size=nproc, timeout=datetime.timedelta(seconds=300))
    fn(*args)  # an exception propagates to torch.multiprocessing, which reports it to the parent
    shutdown()
    hard_exit(0)


def run_local(fn, nproc: int, *args) -> None:
    """Run ``fn(*args)`` in ``nproc`` fresh CPU processes joined in a gloo group on this host
    (tests and benchmarks; training uses torchrun). ``fn`` must be importable (module level)
    and must have written (and closed) whatever it produces before it returns: each worker
    then meets the others at a barrier, destroys the group and leaves with :func:`hard_exit`."""
    import torch.multiprocessing as mp

    mp.start_processes(_local_entry, args=(fn, nproc, free_port(), args), nprocs=nproc, start_method="spawn")


class _GatherRows(torch.autograd.Function):
    """all_gather along dim 0; backward = all_reduce(SUM) of the gradient, then this rank's slice."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.rows = x.shape[0]
        ctx.rank = dist.get_rank()
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


class _SumAcrossRanks(torch.autograd.Function):
    """all_reduce(SUM); every rank's result feeds its own loss, so backward is all_reduce(SUM)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        y = x.clone()
        dist.all_reduce(y, op=dist.ReduceOp.SUM)
        return y

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's ``x`` (equal shapes) in rank order, differentiably."""
    return _GatherRows.apply(x) if active() and dist.get_world_size() > 1 else x


def sum_across_ranks(x: torch.Tensor) -> torch.Tensor:
    """Σ over ranks of ``x``, differentiably."""
    return _SumAcrossRanks.apply(x) if active() and dist.get_world_size() > 1 else x


@torch.no_grad()
def mean_across_ranks(x: torch.Tensor) -> torch.Tensor:
    """Mean over ranks of a detached tensor (logging, NaN decisions)."""
    if not active() or dist.get_world_size() == 1:
        return x
    y = x.detach().clone()
    dist.all_reduce(y, op=dist.ReduceOp.SUM)
    return y / dist.get_world_size()


class GlobalBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics are those of the global batch.

    μ = Σ_r Σ_i x_ri / N, σ² = Σ_r Σ_i (x_ri − μ)² / N over all N rows of all ranks (Ioffe &
    Szegedy 2015, eq. in Alg. 1), with gradients through the sums. Running statistics use the
    unbiased N/(N−1) variance, as ``nn.BatchNorm1d``. Unlike ``nn.SyncBatchNorm`` it runs on
    CPU (gloo). Single process: plain ``nn.BatchNorm1d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and active() and dist.get_world_size() > 1):
            return super().forward(x)
        if x.ndim != 2:
            raise ValueError(f"GlobalBatchNorm1d expects (B, C) inputs, got {tuple(x.shape)}")
        n = x.shape[0] * dist.get_world_size()
        mean = sum_across_ranks(x.sum(0)) / n
        var = sum_across_ranks((x - mean).pow(2).sum(0)) / n
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                m = self.momentum if self.momentum is not None else 0.1
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / max(n - 1, 1), alpha=m)
                if self.num_batches_tracked is not None:
                    self.num_batches_tracked.add_(1)
        y = (x - mean) / torch.sqrt(var + self.eps)
        return y * self.weight + self.bias if self.affine else y


__all__ = [
    "GlobalBatchNorm1d",
    "World",
    "active",
    "barrier",
    "data_parallel",
    "die_with_parent",
    "gather_rows",
    "global_rows",
    "hard_exit",
    "init_from_env",
    "local_rows",
    "mean_across_ranks",
    "resolve_device",
    "run_local",
    "shutdown",
    "sum_across_ranks",
    "world",
]
