"""Pre-train one method, then evaluate it with the one protocol of sslab:

frozen features extracted once → (a) logistic-regression linear probe whose L2 strength is
picked on the validation split carved from train (never on test), (b) weighted cosine kNN
(k = 20, T = 0.07), (c) optional end-to-end fine-tuning for a fixed budget, reporting the
last epoch. Every number is the test accuracy of one run with its seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sslab.data import Splits
from sslab.eval.features import extract_features
from sslab.eval.finetune import finetune
from sslab.eval.knn import knn_accuracy
from sslab.eval.probes import logistic_probe
from sslab.methods import build_method
from sslab.models.vit import ViTConfig
from sslab.train.loop import TrainConfig, train


@dataclass
class EvalResult:
    linear: float
    knn: float
    finetune: float | None
    history: list[dict[str, float]] = field(default_factory=list)
    features_test: torch.Tensor | None = None
    method: nn.Module | None = None

    def numbers(self) -> dict[str, Any]:
        return {"linear": self.linear, "knn": self.knn, "finetune": self.finetune}


def evaluate_encoder(encoder: nn.Module, splits: Splits, seed: int = 0) -> tuple[float, float, torch.Tensor]:
    ftr = extract_features(encoder, splits.train.images)
    fva = extract_features(encoder, splits.val.images)
    fte = extract_features(encoder, splits.test.images)
    probe = logistic_probe(ftr, splits.train.labels, fva, splits.val.labels, fte, splits.test.labels)
    knn = knn_accuracy(ftr, splits.train.labels, fte, splits.test.labels)
    return probe.test_acc, knn, fte


def online_knn(splits: Splits):
    """Callback for the training loop: kNN accuracy on the validation split."""

    def evaluate(method: nn.Module) -> dict[str, float]:
        ftr = extract_features(method.encoder, splits.train.images)
        fva = extract_features(method.encoder, splits.val.images)
        return {"val_knn": knn_accuracy(ftr, splits.train.labels, fva, splits.val.labels)}

    return evaluate


def pretrain_and_evaluate(
    method_name: str,
    vit: ViTConfig,
    splits: Splits,
    train_cfg: TrainConfig,
    method_kwargs: dict[str, Any] | None = None,
    out_dir: Path | None = None,
    finetune_epochs: int = 0,
    track_linear: bool = False,
) -> EvalResult:
    """Pre-train on the train split's images (on ``train_cfg.device``), evaluate with the
    protocol above on the CPU; the returned method lives on the CPU."""
    torch.manual_seed(train_cfg.seed)
    method = build_method(method_name, vit, **(method_kwargs or {}))
    run_config = {"method": method_name, "vit": vit.to_dict(), "method_kwargs": method_kwargs or {}}
    evaluate = None
    if track_linear:

        def evaluate(m: nn.Module) -> dict[str, float]:
            lin, knn, _ = evaluate_encoder(m.encoder, splits, train_cfg.seed)
            return {"linear": lin, "knn": knn}

    state = train(method, splits.train.images, train_cfg, out_dir, run_config=run_config, evaluate=evaluate)
    method.cpu()  # evaluation (and the experiments' own probes) run on CPU tensors
    linear, knn, fte = evaluate_encoder(method.encoder, splits, train_cfg.seed)
    ft = None
    if finetune_epochs > 0:
        ft = finetune(
            method.encoder,
            splits.train.num_classes,
            splits.train.images,
            splits.train.labels,
            splits.test.images,
            splits.test.labels,
            epochs=finetune_epochs,
            seed=train_cfg.seed,
        )
    return EvalResult(linear, knn, ft, state.history, fte, method)
