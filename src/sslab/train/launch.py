"""The torchrun command line of ``sslab train --nproc/--nnodes/...``.

* one machine: ``torchrun --standalone --nproc-per-node P``;
* several machines, dynamic rendezvous (recommended): ``--nnodes N --rdzv-backend c10d
  --rdzv-endpoint HOST:PORT --rdzv-id ID`` — the same command on every machine; node ranks are
  assigned by the rendezvous and HOST:PORT is served by the agent on HOST;
* several machines, static rendezvous: ``--nnodes N --node-rank R --master-addr A --master-port P``
  with R = 0 … N−1 given by hand, the master on A.

Every process then joins the process group from torchrun's environment
(:func:`sslab.distributed.init_from_env`); the global batch is split over N·P processes.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from sslab.errors import ConfigError

LAUNCH_OPTIONS = ("nproc", "nnodes", "node_rank", "master_addr", "master_port", "rdzv_endpoint", "rdzv_id")


@dataclass(frozen=True)
class Launch:
    nproc: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str | None = None
    master_port: int = 29500
    rdzv_endpoint: str | None = None
    rdzv_id: str = "sslab"

    def __post_init__(self) -> None:
        if self.nproc < 1 or self.nnodes < 1:
            raise ConfigError(f"bad value --nproc={self.nproc} / --nnodes={self.nnodes}: both must be >= 1")
        if not 0 <= self.node_rank < self.nnodes:
            raise ConfigError(f"bad value --node-rank={self.node_rank}: must be in 0..{self.nnodes - 1}")
        if self.nnodes > 1 and not (self.rdzv_endpoint or self.master_addr):
            raise ConfigError(
                f"--nnodes {self.nnodes} needs --rdzv-endpoint HOST:PORT (c10d rendezvous) or --master-addr HOST "
                "(static, with --node-rank)"
            )
        if self.rdzv_endpoint is not None:
            host, _, port = self.rdzv_endpoint.rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(f"bad value --rdzv-endpoint={self.rdzv_endpoint!r}: use HOST:PORT")

    @property
    def world_size(self) -> int:
        return self.nproc * self.nnodes

    @property
    def needs_launcher(self) -> bool:
        return self.world_size > 1

    def torchrun(self) -> list[str]:
        """``python -m torch.distributed.run`` with the rendezvous options (without the script)."""
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={self.nproc}"]
        if self.rdzv_endpoint is not None:
            return [*cmd, f"--nnodes={self.nnodes}", "--rdzv-backend=c10d", f"--rdzv-endpoint={self.rdzv_endpoint}",
                    f"--rdzv-id={self.rdzv_id}"]
        if self.master_addr is not None:
            return [*cmd, f"--nnodes={self.nnodes}", f"--node-rank={self.node_rank}",
                    f"--master-addr={self.master_addr}", f"--master-port={self.master_port}"]
        return [*cmd, "--standalone"]
