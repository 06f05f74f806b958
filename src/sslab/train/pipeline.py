"""Pre-train one method (through the encoder cache), then evaluate it with the one protocol of sslab:

frozen features extracted once → (a) logistic-regression linear probe on features standardised
with train statistics, whose L2 strength C is picked on the validation split carved from train
(never on test), (b) weighted cosine kNN (k = 20, T = 0.07), (c) optional end-to-end
fine-tuning for a fixed budget, reporting the last epoch. Every number is the accuracy of one
run with its seed; validation accuracies are returned next to test ones so that any choice an
experiment makes (an arm, a hyper-parameter) can be made on validation alone.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sslab.data import Splits
from sslab.data.lazy import is_lazy
from sslab.eval.features import extract_features
from sslab.eval.finetune import finetune
from sslab.eval.knn import knn_accuracy
from sslab.eval.probes import DEFAULT_CS, logistic_probe
from sslab.methods import build_method
from sslab.models.vit import ViTConfig
from sslab.train.cache import LOG_DIR, CacheKey, EncoderCache, data_hash
from sslab.train.loop import TrainConfig, train


@dataclass
class Evaluation:
    """Accuracies (fractions) of one encoder under the protocol; ``c`` is the val-chosen C."""

    linear: float
    val_linear: float
    knn: float
    val_knn: float
    c: float
    features_test: torch.Tensor | None = None


def evaluate_features(
    ftr: torch.Tensor, fva: torch.Tensor, fte: torch.Tensor, splits: Splits, cs: Sequence[float] = DEFAULT_CS
) -> Evaluation:
    """Linear probe (C on val) and kNN of given train/val/test features."""
    probe = logistic_probe(ftr, splits.train.labels, fva, splits.val.labels, fte, splits.test.labels, cs=cs)
    knn = knn_accuracy(ftr, splits.train.labels, fte, splits.test.labels)
    val_knn = knn_accuracy(ftr, splits.train.labels, fva, splits.val.labels)
    return Evaluation(probe.test_acc, probe.val_acc, knn, val_knn, probe.c, fte)


def evaluate(encoder: nn.Module, splits: Splits, cs: Sequence[float] = DEFAULT_CS) -> Evaluation:
    feats = [extract_features(encoder, d.images) for d in (splits.train, splits.val, splits.test)]
    return evaluate_features(*feats, splits, cs)


def evaluate_encoder(encoder: nn.Module, splits: Splits, seed: int = 0) -> tuple[float, float, torch.Tensor]:
    """(linear test accuracy, kNN test accuracy, test features): the short form for the CLI."""
    ev = evaluate(encoder, splits)
    return ev.linear, ev.knn, ev.features_test


def online_knn(splits: Splits):
    """Callback for the training loop: kNN accuracy on the validation split."""

    def evaluate_knn(method: nn.Module) -> dict[str, float]:
        ftr = extract_features(method.encoder, splits.train.images)
        fva = extract_features(method.encoder, splits.val.images)
        return {"val_knn": knn_accuracy(ftr, splits.train.labels, fva, splits.val.labels)}

    return evaluate_knn


def snapshot_epochs(epochs: int, points: int = 4) -> list[int]:
    """Epochs at which the encoder is snapshotted for curves: ``points`` evenly spaced, the last
    one being the end of training (a fixed rule, so every cached run has the same points)."""
    return sorted({max(1, round(epochs * (i + 1) / points)) for i in range(points)})


@dataclass
class Pretrained:
    """A pre-trained method (on the CPU) and where it came from."""

    method: nn.Module
    history: list[dict[str, float]]
    snapshots: dict[int, dict[str, torch.Tensor]]  # epoch -> encoder state dict
    key: CacheKey
    cache_hit: bool
    seconds: float  # training wall time (of the original run when served from the cache)
    run_config: dict[str, Any] = field(default_factory=dict)
    log_dir: Path | None = None  # the run's TensorBoard log (`tensorboard --logdir` it), if one was written

    def encoder_at(self, epoch: int) -> nn.Module:
        enc = copy.deepcopy(self.method.encoder)
        enc.load_state_dict(self.snapshots[epoch])
        return enc.eval()

    def record(self, arm: str, prefetched: Collection[str] = ()) -> dict[str, Any]:
        """The run as ``numbers.pretraining.runs[]``: ``trained_here`` when this experiment trained it
        (itself, or in its prefetch workers: ``prefetched`` digests), ``shared`` when it came from the
        cache filled by an earlier experiment or run."""
        digest = self.key.digest()
        here = not self.cache_hit or digest in prefetched
        return {"arm": arm, "method": self.key.method, "seed": self.key.seed, "key": digest,
                "cache_hit": self.cache_hit, "trained_here": here, "shared": not here,
                "train_seconds": round(self.seconds, 2),
                "tensorboard": None if self.log_dir is None else str(self.log_dir)}


def pretrain(
    method_name: str,
    vit: ViTConfig,
    splits: Splits,
    train_cfg: TrainConfig,
    method_kwargs: dict[str, Any] | None = None,
    *,
    dataset: str,
    cache: EncoderCache | None = None,
    out_dir: Path | None = None,
    log_dir: Path | None = None,
) -> Pretrained:
    """Pre-train on the train split's images, or load the identical run from ``cache``.

    Streamed splits (:class:`sslab.data.lazy.LazyImages`) pre-train on their pre-training source
    with per-sample augmentation (two views per sample for SimCLR); in-memory ones on the tensor.

    ``dataset`` (the name given to :func:`sslab.data.load_dataset`) is part of the cache key and
    of the checkpoint's run config, so ``sslab eval`` reloads the same data.

    With ``train_cfg.tensorboard`` the run gets a TensorBoard log: the trainer's own in
    ``out_dir/tensorboard`` when ``out_dir`` is given; else, after training,
    :func:`sslab.train.pretrain_log.write_pretraining_log` writes one into the cache entry
    (``<entry>/tb``), or into ``log_dir`` without a cache. A cache hit returns the entry's log.
    Neither the key nor any number depends on it."""
    kwargs = dict(method_kwargs or {})
    torch.manual_seed(train_cfg.seed)
    method = build_method(method_name, vit, **kwargs)
    images = splits.train.images
    key = CacheKey(method_name, kwargs, vit.to_dict(), CacheKey.train_fields(train_cfg), dataset,
                   data_hash(images), train_cfg.seed)
    run_config = {"method": method_name, "vit": vit.to_dict(), "method_kwargs": kwargs, "dataset": dataset,
                  "cache_key": key.digest(), **({"stream": True} if is_lazy(images) else {})}
    cache = cache or EncoderCache(None)
    hit = cache.load(key, method)
    if hit is not None:
        method.cpu().eval()
        return Pretrained(method, hit.history, hit.snapshots, key, True, hit.seconds, run_config,
                          cache.log_dir(key))
    points = set(snapshot_epochs(train_cfg.epochs))
    snaps: dict[int, dict[str, torch.Tensor]] = {}
    epoch = 0

    def snapshot(m: nn.Module) -> dict[str, float]:  # called after every epoch (eval_every=1)
        nonlocal epoch
        epoch += 1
        if epoch in points:
            snaps[epoch] = {k: v.detach().cpu().clone() for k, v in m.encoder.state_dict().items()}
        return {}

    cfg = replace(train_cfg, eval_every=1)
    start = time.perf_counter()
    if is_lazy(images):  # decoded and augmented per sample in DataLoader workers
        data, workers = images.pretraining(method_name, train_cfg.seed), images.workers
    else:
        data, workers = images, 2
    state = train(method, data, cfg, out_dir, run_config=run_config, evaluate=snapshot, workers=workers)
    seconds = time.perf_counter() - start
    method.cpu().eval()  # evaluation (and the experiments' own probes) run on CPU tensors
    log, staged = (out_dir / "tensorboard" if train_cfg.tensorboard and out_dir is not None else None), None
    if train_cfg.tensorboard and out_dir is None and (cache.root is not None or log_dir is not None):
        from sslab.train.pretrain_log import write_pretraining_log

        hparams = {"method": method_name, **kwargs, **CacheKey.train_fields(train_cfg), "dataset": dataset,
                   "cache_key": key.digest()}
        staged = cache.staging_dir(key)  # moved into the entry by store(); None without a cache
        log = write_pretraining_log(staged or log_dir, method, state.history, hparams, images)
    cache.store(key, method, state.history, snaps, seconds, attach={LOG_DIR: staged} if staged else None)
    if staged is not None:
        log = cache.log_dir(key)
    return Pretrained(method, state.history, snaps, key, False, seconds, run_config, log)


@dataclass
class EvalResult:
    linear: float
    knn: float
    finetune: float | None
    history: list[dict[str, float]] = field(default_factory=list)
    features_test: torch.Tensor | None = None
    method: nn.Module | None = None
    val_linear: float = float("nan")

    def numbers(self) -> dict[str, Any]:
        return {"linear": self.linear, "knn": self.knn, "finetune": self.finetune}


def finetune_encoder(encoder: nn.Module, splits: Splits, epochs: int, seed: int) -> float:
    """Fine-tune a copy of ``encoder`` with a linear head on train; test accuracy after the last epoch."""
    return finetune(encoder, splits.train.num_classes, splits.train.images, splits.train.labels,
                    splits.test.images, splits.test.labels, epochs=epochs, seed=seed)


def pretrain_and_evaluate(
    method_name: str,
    vit: ViTConfig,
    splits: Splits,
    train_cfg: TrainConfig,
    method_kwargs: dict[str, Any] | None = None,
    out_dir: Path | None = None,
    finetune_epochs: int = 0,
    track_linear: bool = False,
    *,
    dataset: str = "unknown",
    cache: EncoderCache | None = None,
) -> EvalResult:
    """:func:`pretrain` then :func:`evaluate` (and fine-tune when ``finetune_epochs`` > 0).
    ``track_linear`` adds the linear/kNN test accuracy at the snapshot epochs to the history."""
    pre = pretrain(method_name, vit, splits, train_cfg, method_kwargs, dataset=dataset, cache=cache,
                   out_dir=out_dir)
    ev = evaluate(pre.method.encoder, splits)
    history = [dict(h) for h in pre.history]
    if track_linear:
        for h in history:
            e = int(h["epoch"])
            if e in pre.snapshots:
                at = evaluate(pre.encoder_at(e), splits)
                h.update(linear=at.linear, knn=at.knn)
    ft = finetune_encoder(pre.method.encoder, splits, finetune_epochs, train_cfg.seed) if finetune_epochs > 0 else None
    return EvalResult(ev.linear, ev.knn, ft, history, ev.features_test, pre.method, ev.val_linear)
