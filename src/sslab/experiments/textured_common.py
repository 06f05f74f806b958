"""Evidence helpers of the textured-data experiments (``je-vs-recon-deep``, ``attention-locality``).

A minimal, self-contained form of the deep-experiment protocol: per-seed arm tables recorded as
``numbers.arms.<arm>.<metric>`` = {mean, ci95, per_seed, n_seeds} (:mod:`sslab.stats`), the
linear probe of :func:`sslab.eval.probes.logistic_probe` fitted once and scored on several test
sets, the random-init encoder of each seed, and the learning gate (a trained arm must beat
random init, paired over seeds, with a 95 % CI above 0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from torch import nn

from sslab.eval.features import extract_features
from sslab.eval.knn import knn_accuracy
from sslab.eval.probes import DEFAULT_CS
from sslab.models.vit import ViTConfig, ViTEncoder
from sslab.stats import Summary, decide, paired, summarize
from sslab.train.loop import TrainConfig, train

PROBE_CS = DEFAULT_CS  # the probe's grid (logistic_probe's default); C is chosen on validation


class ArmTable:
    """Per-seed values of each arm and metric (accuracies in %), seeds in one fixed order."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, list[float]]] = {}

    def add(self, arm: str, metric: str, value: float) -> None:
        self.values.setdefault(arm, {}).setdefault(metric, []).append(float(value))

    def get(self, arm: str, metric: str = "linear") -> list[float]:
        return self.values[arm][metric]

    def summary(self, arm: str, metric: str = "linear") -> Summary:
        return summarize(self.get(arm, metric))

    def diff(self, a: str, b: str, metric: str = "linear") -> Summary:
        return paired(self.get(a, metric), self.get(b, metric))

    def records(self) -> dict[str, dict[str, dict[str, object]]]:
        return {arm: {m: summarize(v).record() for m, v in ms.items()} for arm, ms in self.values.items()}

    def text(self, arm: str, metric: str = "linear", unit: str = "%") -> str:
        return f"{arm} {self.summary(arm, metric).text(unit=unit)}"


@dataclass
class Probe:
    """Standardise with train statistics, logistic regression with C chosen on validation."""

    scaler: StandardScaler
    clf: LogisticRegression
    val_acc: float

    def accuracy(self, features: torch.Tensor, labels: torch.Tensor) -> float:
        """Accuracy in %."""
        f = self.scaler.transform(features.numpy())
        return 100.0 * float(self.clf.score(f, labels.numpy().astype(int)))


def fit_probe(ftr: torch.Tensor, ytr: torch.Tensor, fva: torch.Tensor, yva: torch.Tensor,
              cs: Sequence[float] = PROBE_CS, max_iter: int = 500) -> Probe:
    """The protocol of :func:`sslab.eval.probes.logistic_probe`, kept so it can score many test sets."""
    scaler = StandardScaler().fit(ftr.numpy())
    xtr, xva = scaler.transform(ftr.numpy()), scaler.transform(fva.numpy())
    ytr_, yva_ = ytr.numpy().astype(int), yva.numpy().astype(int)
    best: tuple[float, LogisticRegression | None] = (-1.0, None)
    for c in cs:  # the fit for the chosen C is kept (a refit on the same data would be identical)
        clf = LogisticRegression(C=c, max_iter=max_iter).fit(xtr, ytr_)
        acc = float(clf.score(xva, yva_))
        if acc > best[0]:
            best = (acc, clf)
    return Probe(scaler, best[1], 100.0 * best[0])


def encode(encoder: nn.Module | None, images: torch.Tensor) -> torch.Tensor:
    """Pooled encoder features, or the raw pixels when ``encoder`` is None."""
    if encoder is None:
        return images.reshape(len(images), -1).float()
    return extract_features(encoder, images)


def evaluate_into(
    table: ArmTable, arm: str, encoder: nn.Module | None, splits, extra_tests: Mapping[str, torch.Tensor] = (),
    cs: Sequence[float] = PROBE_CS,
) -> Probe:
    """Linear (C on val) and kNN test accuracy of ``encoder`` into ``table``; each extra test set
    (same labels as the test split) is scored by the same probe as metric ``linear-<name>``."""
    ftr, fva, fte = (encode(encoder, d.images) for d in (splits.train, splits.val, splits.test))
    probe = fit_probe(ftr, splits.train.labels, fva, splits.val.labels, cs)
    table.add(arm, "linear", probe.accuracy(fte, splits.test.labels))
    table.add(arm, "val_linear", probe.val_acc)
    table.add(arm, "knn", 100.0 * knn_accuracy(ftr, splits.train.labels, fte, splits.test.labels))
    for name, images in dict(extra_tests).items():
        table.add(arm, f"linear-{name}", probe.accuracy(encode(encoder, images), splits.test.labels))
    return probe


def random_init(vit: ViTConfig, seed: int) -> ViTEncoder:
    """The untrained encoder of a seed: the initialisation its trained runs start from."""
    torch.manual_seed(seed)
    return ViTEncoder(vit).eval()


def pretrain(build: Callable[[], nn.Module], images: torch.Tensor, cfg: TrainConfig) -> nn.Module:
    """Seed, build, pre-train on ``images``; the method comes back on the CPU."""
    torch.manual_seed(cfg.seed)
    method = build()
    train(method, images, cfg, None)
    return method.cpu().eval()


@dataclass(frozen=True)
class Gate:
    learned: bool
    evidence: str
    test: str


def gate_pairs(table: ArmTable, pairs: Sequence[tuple[str, str]]) -> Gate:
    """Every (trained, untrained) pair: paired linear-accuracy difference with a 95 % CI above 0."""
    parts, ok = [], True
    for a, b in pairs:
        d = table.diff(a, b)
        held = decide(d, 0.0) == "held"
        ok &= held
        parts.append(f"{a} − {b} {d.text(unit=' pt')}{'' if held else ' (not above 0)'}")
    test = ("learning gate: for each of " + ", ".join(f"{a} vs {b}" for a, b in pairs)
            + ", the paired linear-accuracy difference over seeds has a 95% CI above 0; otherwise inconclusive")
    return Gate(ok, "; ".join(parts), test)


def combine(verdicts: Sequence[str]) -> str:
    """A conjunction of pre-registered parts: held if all hold, not held if any fails, else inconclusive."""
    if all(v == "held" for v in verdicts):
        return "held"
    return "not held" if any(v == "not held" for v in verdicts) else "inconclusive"


def fmt_per_seed(values: Sequence[float], digits: int = 1) -> str:
    return "[" + ", ".join(f"{v:.{digits}f}" if np.isfinite(v) else "nan" for v in values) + "]"
