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

Non-finite losses (the loss averaged over ranks, so every rank decides alike):
``on_nan="stop"`` raises at once; ``"skip"`` drops the step (no update) and raises once more
than ``max_skip_frac`` of all steps were dropped; ``"rollback"`` reloads the last checkpoint
(or the initial state before the first one), halves the learning rate (a factor kept in the
checkpoint, so a resumed run continues at the reduced rate) and replays from there, at most
``max_rollbacks`` times. Every such error leaves the last checkpoint as it was.
"""

from __future__ import annotations

import copy
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
from sslab.train.checkpoint import CHECKPOINT, check_same_config, load_checkpoint, plain, save_checkpoint
from sslab.train.sampler import GlobalBatchSampler, step_generator
from sslab.train.streaming_loader import BatchStream, Data, num_items, preview


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
    on_nan: Literal["stop", "skip", "rollback"] = "stop"
    max_skip_frac: float = 0.01  # on_nan="skip": at most this fraction of all steps may be dropped
    max_rollbacks: int = 3  # on_nan="rollback": at most this many reloads (LR × 1/2 each)
    tensorboard: bool = True
    device: str = "cpu"  # cpu, cuda, cuda:N or auto
    precision: Literal["fp32", "bf16"] = "fp32"
    compile: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2:
            raise ConfigError(f"need epochs >= 1 and batch_size >= 2, got {self.epochs}, {self.batch_size}")
        if self.on_nan not in ("stop", "skip", "rollback"):
            raise ConfigError(f"on_nan must be 'stop', 'skip' or 'rollback', got {self.on_nan!r}")
        if not 0.0 <= self.max_skip_frac <= 1.0:
            raise ConfigError(f"max_skip_frac must be in [0, 1], got {self.max_skip_frac}")
        if self.max_rollbacks < 0:
            raise ConfigError(f"max_rollbacks must be >= 0, got {self.max_rollbacks}")
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision must be 'fp32' or 'bf16', got {self.precision!r}")


# free to change on resume (the NaN limits only act once a loss is non-finite)
RUNTIME_KEYS = ("train.device", "train.precision", "train.compile", "train.max_skip_frac", "train.max_rollbacks")


@dataclass
class TrainState:
    epoch: int = 0  # epochs completed
    step: int = 0  # optimiser steps completed
    history: list[dict[str, float]] = field(default_factory=list)
    skipped_steps: int = 0
    partial: dict[str, float] = field(default_factory=dict)  # running sums of an unfinished epoch
    lr_scale: float = 1.0  # halved by each rollback
    rollbacks: int = 0


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


STEP_DONE, STEP_SKIPPED, ROLLED_BACK = "done", "skipped", "rolled back"


class _Run:
    """One call of :func:`train`: the model, optimiser, state and the checkpoint file."""

    def __init__(self, method: nn.Module, images: Data, cfg: TrainConfig, out_dir: Path | None,
                 run_config: dict[str, Any] | None, evaluate: Callable[[nn.Module], dict[str, float]] | None,
                 workers: int = 2) -> None:
        self.method, self.images, self.cfg, self.evaluate = method, images, cfg, evaluate
        self.world = distributed.world()
        self.sampler = GlobalBatchSampler(num_items(images), cfg.batch_size, cfg.seed, self.world)
        self.steps_per_epoch = len(self.sampler)
        self.total_steps = cfg.epochs * self.steps_per_epoch
        self.device = distributed.resolve_device(cfg.device)
        self.stream = BatchStream(images, self.sampler, self.device, workers)  # tensor rows or worker batches
        method.to(self.device)
        self.full_config = plain({"train": asdict(cfg), "run": run_config or {}})  # as stored in checkpoints
        self.opt = torch.optim.AdamW(_param_groups(method, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.95))
        self.state = TrainState()
        self.ckpt_path = out_dir / CHECKPOINT if out_dir else None
        self.saved = False  # whether ckpt_path holds this run's state (rollback target)
        self.initial: dict[str, Any] | None = None  # rollback target before the first checkpoint
        self.writer = None
        self.out: dict[str, torch.Tensor] = {}

    def payload(self) -> dict[str, Any]:
        s = self.state
        return {
            "model": self.method.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": {"kind": "warmup-cosine", "step": s.step},
            "torch_rng": torch.get_rng_state(),
            "epoch": s.epoch,
            "step": s.step,
            "history": s.history,
            "skipped_steps": s.skipped_steps,
            "partial": s.partial,
            "lr_scale": s.lr_scale,
            "rollbacks": s.rollbacks,
            "config": self.full_config,
            "world_size": self.world.size,
        }

    def restore(self, ck: dict[str, Any]) -> None:
        self.method.load_state_dict(ck["model"])
        self.opt.load_state_dict(ck["optimizer"])
        torch.set_rng_state(ck["torch_rng"])
        self.state = TrainState(
            ck["epoch"], ck["step"], copy.deepcopy(ck["history"]), ck.get("skipped_steps", 0),
            dict(ck.get("partial", {})), ck.get("lr_scale", 1.0), ck.get("rollbacks", 0),
        )

    def checkpoint(self) -> None:
        if self.ckpt_path is None:
            if self.cfg.on_nan == "rollback":
                self.initial = copy.deepcopy(self.payload())  # no file: keep the rollback target in memory
            return
        if self.world.is_main:
            save_checkpoint(self.ckpt_path, self.payload())
        distributed.barrier()  # nobody moves on (or exits) before the file is complete
        self.saved, self.initial = True, None

    def last_good(self) -> str:
        return f"last good checkpoint {self.ckpt_path}" if self.saved else "no checkpoint yet"

    def on_nonfinite(self, loss: float, epoch: int, step: int) -> str:
        """Stop, skip or roll back after a non-finite loss; raises NonFiniteLossError past the limits."""
        cfg, s = self.cfg, self.state
        where = f"epoch {epoch} step {step}"
        if cfg.on_nan == "stop":
            raise NonFiniteLossError(
                f"loss became {loss} at {where} ({self.last_good()}); lower the learning rate or use --on-nan skip"
            )
        if cfg.on_nan == "skip":
            cap = math.floor(cfg.max_skip_frac * self.total_steps)
            if s.skipped_steps + 1 > cap:
                raise NonFiniteLossError(
                    f"loss became {loss} at {where}: {s.skipped_steps + 1} of {self.total_steps} steps non-finite, "
                    f"more than --max-skip-frac {cfg.max_skip_frac:g} allows ({cap}); {self.last_good()} is "
                    "intact; lower the learning rate or raise --max-skip-frac"
                )
            s.skipped_steps += 1
            self.opt.zero_grad(set_to_none=True)
            s.step = step + 1
            return STEP_SKIPPED
        if s.rollbacks >= cfg.max_rollbacks:
            raise NonFiniteLossError(
                f"loss became {loss} at {where} after {s.rollbacks} rollbacks (learning rate × {s.lr_scale:g}); "
                f"{self.last_good()} is intact; lower the learning rate or raise --max-rollbacks"
            )
        rollbacks, lr_scale = s.rollbacks + 1, s.lr_scale * 0.5
        if self.saved:
            assert self.ckpt_path is not None
            self.restore(load_checkpoint(self.ckpt_path))
        else:
            assert self.initial is not None
            self.restore(self.initial)
        self.state.rollbacks, self.state.lr_scale = rollbacks, lr_scale
        if self.world.is_main:
            console.print(f"non-finite loss at {where}: rolled back to step {self.state.step}, lr × {lr_scale:g}")
        return ROLLED_BACK

    def train_step(self, model: nn.Module, autocast: Any, epoch: int, i: int) -> tuple[str, dict[str, float]]:
        cfg, s = self.cfg, self.state
        step = epoch * self.steps_per_epoch + i
        lr = lr_at(cfg, step, self.steps_per_epoch) * s.lr_scale
        for group in self.opt.param_groups:
            group["lr"] = lr
        batch = next(self.batches)
        with autocast:
            self.out = model(batch, step_generator(cfg.seed, step))
        scalars = {k: v.detach().float() for k, v in self.out.items() if v.ndim == 0}
        names = sorted(scalars)
        averaged = distributed.mean_across_ranks(torch.stack([scalars[k] for k in names])).tolist()
        values = dict(zip(names, averaged, strict=True))
        if not math.isfinite(values["loss"]):
            return self.on_nonfinite(values["loss"], epoch, step), values
        self.opt.zero_grad(set_to_none=True)
        self.out["loss"].backward()
        if cfg.clip_grad:
            nn.utils.clip_grad_norm_(self.method.parameters(), cfg.clip_grad)
        self.opt.step()
        if hasattr(self.method, "after_step"):
            self.method.after_step(step, self.total_steps)
        s.step = step + 1
        if self.writer is not None:
            self.writer.add_scalar("train/loss", values["loss"], step)
            self.writer.add_scalar("train/lr", lr, step)
        return STEP_DONE, values

    def run_epoch(self, model: nn.Module, autocast: Any, epoch: int, stop_after_steps: int | None) -> str | None:
        """One epoch (or its rest); ROLLED_BACK, None when stopped early, else STEP_DONE."""
        s, spe = self.state, self.steps_per_epoch
        self.sampler.set_epoch(epoch)
        first = max(s.step - epoch * spe, 0)  # > 0 only when resuming mid-epoch
        self.batches = self.stream.epoch(epoch, first)
        sums: dict[str, float] = dict(s.partial) if first else {}
        t0 = time.perf_counter()
        stop = False
        for i in range(first, spe):
            outcome, values = self.train_step(model, autocast, epoch, i)
            if outcome == ROLLED_BACK:
                return ROLLED_BACK
            if outcome == STEP_DONE:
                for k, v in values.items():
                    sums[k] = sums.get(k, 0.0) + v
            stop = stop_after_steps is not None and self.state.step >= stop_after_steps
            if stop and i < spe - 1:
                self.state.partial = sums
                self.checkpoint()
                return None
        if not self.finish_epoch(epoch, sums, time.perf_counter() - t0, spe - first) and stop:
            self.checkpoint()
        return None if stop else STEP_DONE

    def finish_epoch(self, epoch: int, sums: dict[str, float], seconds: float, steps: int) -> bool:
        """Record the epoch's means (and online evaluation); checkpoint when due (returns whether).
        ``steps``: the steps this call ran (fewer than an epoch after a mid-epoch resume)."""
        s, cfg = self.state, self.cfg
        s.partial = {}
        record = {k: v / self.steps_per_epoch for k, v in sums.items()}
        lr = lr_at(cfg, s.step - 1, self.steps_per_epoch) * s.lr_scale
        record.update(epoch=epoch + 1, lr=lr, seconds=seconds)
        with torch.no_grad():
            record["effective_rank"] = float(effective_rank(self.out["embedding"].detach()))  # NaN if it is
        if self.evaluate is not None and cfg.eval_every and (epoch + 1) % cfg.eval_every == 0:
            if self.world.is_main:
                self.method.eval()
                record.update(self.evaluate(self.method))
                self.method.train()
            distributed.barrier()
        s.history.append(record)
        s.epoch = epoch + 1
        done = cfg.batch_size * steps  # images this call, all ranks together
        note(loss=record.get("loss", math.nan), img_s=done / max(seconds, 1e-9))
        if self.writer is not None:
            for k, v in record.items():
                if k != "epoch":
                    self.writer.add_scalar(f"epoch/{k}", v, epoch + 1)
            # the MAE reconstruction grid
            artifacts.epoch_end(self.writer, self.method, preview(self.images), epoch + 1, cfg.epochs)
        due = s.epoch % cfg.checkpoint_every == 0 or s.epoch == cfg.epochs
        if due:
            self.checkpoint()
        return due


def train(
    method: nn.Module,
    images: Data,
    cfg: TrainConfig,
    out_dir: Path | None = None,
    *,
    resume: bool = False,
    run_config: dict[str, Any] | None = None,
    evaluate: Callable[[nn.Module], dict[str, float]] | None = None,
    stop_after_steps: int | None = None,
    workers: int = 2,
) -> TrainState:
    """Pre-train ``method`` on ``images`` (N, C, H, W) — a tensor, or a streaming source read by
    ``workers`` DataLoader processes (:mod:`sslab.train.streaming_loader`); returns the final state.

    ``run_config`` (method + data settings) is stored in checkpoints and compared on resume.
    ``evaluate(method)`` is called every ``cfg.eval_every`` epochs (online probe).
    ``stop_after_steps`` ends the call early (tests of resume).
    """
    run = _Run(method, images, cfg, out_dir, run_config, evaluate, workers)
    world, ckpt_path = run.world, run.ckpt_path
    if ckpt_path is not None and world.is_main:
        for stale in ckpt_path.parent.glob(f".{CHECKPOINT}.*.tmp"):  # left by a kill mid-write
            stale.unlink(missing_ok=True)
    if resume and ckpt_path is not None and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path)
        check_same_config(ck["config"], run.full_config, ignore=RUNTIME_KEYS)
        run.restore(ck)
        run.saved = True
        if run.state.epoch >= cfg.epochs:
            if world.is_main:
                console.print(f"run in {out_dir} already finished {run.state.epoch} epochs; nothing to resume")
            return run.state
    if cfg.on_nan == "rollback" and not run.saved:
        run.initial = copy.deepcopy(run.payload())
    if cfg.tensorboard and out_dir is not None and world.is_main:
        from torch.utils.tensorboard import SummaryWriter

        run.writer = SummaryWriter(str(out_dir / "tensorboard"), purge_step=run.state.step)
    if cfg.compile:
        compile_parts(method)
    model: nn.Module = method
    if world.size > 1:
        model = distributed.data_parallel(method, run.device)
    autocast = torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")
    method.train()

    def epochs_left():
        while run.state.epoch < cfg.epochs:
            yield run.state.epoch

    epochs = epochs_left()
    try:
        for epoch in track(epochs, "epochs", total=cfg.epochs - run.state.epoch) if world.is_main else epochs:
            if run.run_epoch(model, autocast, epoch, stop_after_steps) is None:
                return run.state
    finally:
        run.stream.close()  # the data workers stop now, not at interpreter exit
        if run.writer is not None:
            run.writer.close()  # flushed before a worker's hard exit, also when stopped early
    method.eval()
    return run.state
