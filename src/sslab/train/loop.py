"""The training loop shared by every method.

AdamW; learning rate with linear warmup then cosine decay to ``min_lr``
(lr_t = base · t/warmup for t < warmup, else min + (base − min)·½(1 + cos(π·progress)));
gradient-norm clipping; TensorBoard scalars; atomic checkpoints every N epochs; exact
resume. Randomness is a pure function of (seed, epoch, step) (:mod:`sslab.train.sampler`):
the data order of epoch e is randperm(N) under seed (seed, e), and the views of step s use a
generator seeded with (seed, s). A resumed run therefore replays exactly what the
uninterrupted run would have done, whatever the moment it was killed.

Data parallel (under ``torchrun``, see :mod:`sslab.distributed`): ``batch_size`` is the
global batch; the epoch order is the same permutation on every rank and rank r takes the
contiguous block r of each global batch (:class:`GlobalBatchSampler`). The model is wrapped in
DistributedDataParallel; only rank 0 writes TensorBoard logs and checkpoints (atomically,
followed by a barrier); every rank resumes from the same file. Because the data order,
masks and views are functions of the global step, a run may resume on a different number of
processes and continue the same trajectory (up to floating-point summation order).

Runtime options that do not change the maths — ``device``, ``precision`` (bf16 autocast)
and ``compile`` (``torch.compile`` of the model parts) — are not compared on resume.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from sslab import distributed
from sslab.errors import ConfigError, NonFiniteLossError
from sslab.methods.losses import effective_rank
from sslab.progress import console, note, track
from sslab.train import artifacts
from sslab.train.checkpoint import CHECKPOINT, check_same_config, load_checkpoint, save_checkpoint
from sslab.train.sampler import GlobalBatchSampler, step_generator


@dataclass
class TrainConfig:
    epochs: int = 20
    batch_size: int = 128
    lr: float = 1.5e-3
    min_lr: float = 1e-5
    weight_decay: float = 0.05
    warmup_epochs: int = 2
    clip_grad: float | None = 1.0
    seed: int = 0
    checkpoint_every: int = 5
    eval_every: int = 0  # 0: never; else online kNN accuracy every N epochs
    on_nan: Literal["stop", "skip"] = "stop"
    tensorboard: bool = True
    device: str = "cpu"  # cpu, cuda, cuda:N or auto
    precision: Literal["fp32", "bf16"] = "fp32"
    compile: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ConfigError(f"need epochs >= 1 and batch_size >= 2, got {self.epochs}, {self.batch_size}")
        if self.on_nan not in ("stop", "skip"):
            raise ConfigError(f"on_nan must be 'stop' or 'skip', got {self.on_nan!r}")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}")


RUNTIME_KEYS = ("train.device", "train.precision", "train.compile")  # free to change on resume


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    step: int = 0  # optimiser steps completed
    history: list[dict[str, float]] = field(default_factory=list)
    skipped_steps: int = 0
    partial: dict[str, float] = field(default_factory=dict)  # running sums of an unfinished epoch


def lr_at(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    total = cfg.epochs * steps_per_epoch
    warm = cfg.warmup_epochs * steps_per_epoch
    if step < warm:
        return cfg.lr * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def compile_parts(method: nn.Module) -> None:
    """``torch.compile`` each trainable part (encoder, decoder, projector, predictor) in place;
    the method's own forward keeps the seeded, data-dependent mask and view drawing eager."""
    for child in method.children():
        if any(p.requires_grad for p in child.parameters()):
            child.compile()


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim < 2 or name.endswith("token") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def train(
    method: nn.Module,
    images: torch.Tensor,
    cfg: TrainConfig,
    out_dir: Path | None = None,
    *,
    resume: bool = False,
    run_config: dict[str, Any] | None = None,
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    stop_after_steps: int | None = None,
) -> TrainState:
    """Pre-train ``method`` on ``images`` (N, C, H, W); returns the final state.

    ``run_config`` (method + data settings) is stored in checkpoints and compared on resume.
    ``evaluate(method)`` is called every ``cfg.eval_every`` epochs (online probe).
    ``stop_after_steps`` ends the call early (tests of resume).
    """
    world = distributed.world()
    sampler = GlobalBatchSampler(images.shape[0], cfg.batch_size, cfg.seed, world)
    steps_per_epoch = len(sampler)
    device = distributed.resolve_device(cfg.device)
    method.to(device)
    full_config = {"train": asdict(cfg), "run": run_config or {}}
    opt = torch.optim.AdamW(_param_groups(method, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95))
    state = TrainState()
    ckpt_path = out_dir / CHECKPOINT if out_dir else None
    if ckpt_path is not None and world.is_main:
        for stale in ckpt_path.parent.glob(f".{CHECKPOINT}.*.tmp"):  # left by a kill mid-write
            stale.unlink(missing_ok=True)
    if resume and ckpt_path is not None and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path)
        check_same_config(ck["config"], full_config, ignore=RUNTIME_KEYS)
        method.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["torch_rng"])
        state = TrainState(ck["epoch"], ck["step"], ck["history"], ck.get("skipped_steps", 0), ck.get("partial", {}))
        if state.epoch >= cfg.epochs:
            if world.is_main:
                console.print(f"run in {out_dir} already finished {state.epoch} epochs; nothing to resume")
            return state
    writer = None
    if cfg.tensorboard and out_dir is not None and world.is_main:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out_dir / "tensorboard"), purge_step=state.step)

    def checkpoint() -> None:
        if ckpt_path is None:
            return
        if world.is_main:
            save_checkpoint(
                ckpt_path,
                {
                    "model": method.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": {"kind": "warmup-cosine", "step": state.step},
                    "torch_rng": torch.get_rng_state(),
                    "epoch": state.epoch,
                    "step": state.step,
                    "history": state.history,
                    "skipped_steps": state.skipped_steps,
                    "partial": state.partial,
                    "config": full_config,
                    "world_size": world.size,
                },
            )
        distributed.barrier()  # nobody moves on (or exits) before the file is complete

    if cfg.compile:
        compile_parts(method)
    model: nn.Module = method
    if world.size > 1:
        model = distributed.data_parallel(method, device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
    method.train()
    total_steps = cfg.epochs * steps_per_epoch
    epochs = range(state.epoch, cfg.epochs)
    for epoch in track(epochs, "epochs", total=len(epochs)) if world.is_main else epochs:
        sampler.set_epoch(epoch)
        first = max(state.step - epoch * steps_per_epoch, 0)  # > 0 only when resuming mid-epoch
        sums: dict[str, float] = dict(state.partial) if first else {}
        t0 = time.perf_counter()
        for i in range(first, steps_per_epoch):
            step = epoch * steps_per_epoch + i
            lr = lr_at(cfg, step, steps_per_epoch)
            for group in opt.param_groups:
                group["lr"] = lr
            batch = images[sampler.batch(i)].to(device, non_blocking=True)
            with autocast:
                out = model(batch, step_generator(cfg.seed, step))
            loss = out["loss"]
            scalars = {k: v.detach().float() for k, v in out.items() if v.ndim == 0}
            names = sorted(scalars)
            averaged = distributed.mean_across_ranks(torch.stack([scalars[k] for k in names])).tolist()
            scalars = dict(zip(names, averaged, strict=True))
            if not math.isfinite(scalars["loss"]):
                where = f"epoch {epoch} step {step}"
                last = f"last good checkpoint {ckpt_path}" if ckpt_path and ckpt_path.exists() else "no checkpoint yet"
                if cfg.on_nan == "stop":
                    raise NonFiniteLossError(
                        f"loss became {scalars['loss']} at {where} ({last}); "
                        "lower the learning rate or use --on-nan skip"
                    )
                state.skipped_steps += 1
                opt.zero_grad(set_to_none=True)
                state.step = step + 1
                continue
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.clip_grad:
                nn.utils.clip_grad_norm_(method.parameters(), cfg.clip_grad)
            opt.step()
            if hasattr(method, "after_step"):
                method.after_step((step + 1) / total_steps)
            state.step = step + 1
            for k, v in scalars.items():
                sums[k] = sums.get(k, 0.0) + v
            if writer is not None:
                writer.add_scalar("train/loss", scalars["loss"], step)
                writer.add_scalar("train/lr", lr, step)
            if stop_after_steps is not None and state.step >= stop_after_steps:
                state.partial = sums
                checkpoint()
                return state
        state.partial = {}
        record = {k: v / steps_per_epoch for k, v in sums.items()}
        record.update(epoch=epoch + 1, lr=lr_at(cfg, state.step - 1, steps_per_epoch), seconds=time.perf_counter() - t0)
        with torch.no_grad():
            emb = out["embedding"].detach()
            record["effective_rank"] = float(effective_rank(emb))
        if evaluate is not None and cfg.eval_every and (epoch + 1) % cfg.eval_every == 0:
            if world.is_main:
                method.eval()
                record.update(evaluate(method))
                method.train()
            distributed.barrier()
        state.history.append(record)
        state.epoch = epoch + 1
        done = cfg.batch_size * (steps_per_epoch - first)  # images this epoch, all ranks together
        note(loss=record.get("loss", math.nan), img_s=done / max(record["seconds"], 1e-9))
        if writer is not None:
            for k, v in record.items():
                if k != "epoch":
                    writer.add_scalar(f"epoch/{k}", v, epoch + 1)
            artifacts.epoch_end(writer, method, images, epoch + 1, cfg.epochs)  # MAE/U-MAE reconstruction grid
        if state.epoch % cfg.checkpoint_every == 0 or state.epoch == cfg.epochs:
            checkpoint()
    if writer is not None:
        writer.close()
    method.eval()
    return state
