"""A TensorBoard log of a finished pre-training, written from what the run already recorded.

The experiments' pre-trainings (:func:`sslab.train.pipeline.pretrain`) keep no per-step
TensorBoard writer: their numbers must not depend on logging, and the training code defines the
encoder cache's key. After training, :func:`write_pretraining_log` turns the run's per-epoch
history into scalars (``epoch/<name>`` at step = epoch, the tags the standalone trainer uses),
adds the hyper-parameters with the final epoch's values (HPARAMS tab, ``final/<name>``) and, for
methods that predict pixels (MAE, U-MAE), one reconstruction grid of the first
:data:`~sslab.train.artifacts.RECON_IMAGES` training images at the last epoch.

Nothing here touches the weights or the global random state (the grid draws its masks from its
own generator, inside :func:`torch.random.fork_rng`), so a run's result is the same with the log
on or off. The cost is a few milliseconds per run, plus the one-off import of TensorBoard.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from sslab.train import artifacts

SKIPPED = ("epoch",)  # the step itself, not a scalar


def write_pretraining_log(
    log_dir: Path, method: nn.Module, history: list[dict[str, float]], hparams: dict[str, Any], images: torch.Tensor
) -> Path:
    """Write the log of one finished run into ``log_dir`` (created); returns it.

    ``history``: one record per epoch as kept by :func:`sslab.train.loop.train` (``epoch`` counts
    from 1); ``images``: the training images (the first few make the reconstruction grid)."""
    from torch.utils.tensorboard import SummaryWriter

    log_dir.mkdir(parents=True, exist_ok=True)
    with SummaryWriter(str(log_dir)) as writer:
        for record in history:
            step = int(record["epoch"])
            for name, value in record.items():
                if name not in SKIPPED and isinstance(value, int | float):
                    writer.add_scalar(f"epoch/{name}", float(value), step)
        last = history[-1] if history else {}
        if last:
            with torch.random.fork_rng(devices=[]):
                artifacts.log_reconstructions(writer, method, images[: artifacts.RECON_IMAGES], int(last["epoch"]))
        finals = {k: v for k, v in last.items() if k not in SKIPPED}
        artifacts.log_hparams(writer, hparams, finals)
    return log_dir
