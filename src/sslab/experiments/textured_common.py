"""Evidence helpers of the textured-data experiments (``je-vs-recon-deep``, ``attention-locality``).

The deep experiments' protocol (:mod:`sslab.experiments.deep_common`: its per-seed
:class:`ArmTable`, recorded as ``numbers.arms.<arm>.<metric>`` = {mean, ci95, per_seed, n_seeds},
and its :class:`Gate`), with what these experiments add: one linear probe
(:func:`sslab.eval.probes.fit_logistic_probe`) fitted once and scored on several test sets, the
random-init encoder of each seed, and a learning gate over arbitrary (trained, untrained) pairs
(a paired 95 % CI above 0).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from sslab.eval.features import extract_features
from sslab.eval.knn import knn_accuracy
from sslab.eval.probes import DEFAULT_CS, FittedProbe, fit_logistic_probe
from sslab.experiments.deep_common import ArmTable, Gate
from sslab.models.vit import ViTConfig, ViTEncoder
from sslab.stats import decide

__all__ = ["ArmTable", "Gate", "combine", "evaluate_into", "fit_probe", "fmt_per_seed", "gate_pairs", "random_init"]

PROBE_CS = DEFAULT_CS  # the probe's grid (logistic_probe's default); C is chosen on validation


def fit_probe(ftr: torch.Tensor, ytr: torch.Tensor, fva: torch.Tensor, yva: torch.Tensor,
              cs: Sequence[float] = PROBE_CS) -> FittedProbe:
    """The protocol's probe (:func:`sslab.eval.probes.fit_logistic_probe`), kept to score many test sets."""
    return fit_logistic_probe(ftr, ytr, fva, yva, cs)


def encode(encoder: nn.Module | None, images: torch.Tensor) -> torch.Tensor:
    """Pooled encoder features, or the raw pixels when ``encoder`` is None."""
    if encoder is None:
        return images.reshape(len(images), -1).float()
    return extract_features(encoder, images)


def evaluate_into(
    table: ArmTable, arm: str, encoder: nn.Module | None, splits, extra_tests: Mapping[str, torch.Tensor] = (),
    cs: Sequence[float] = PROBE_CS,
) -> FittedProbe:
    """Linear (C on val) and kNN test accuracy of ``encoder`` into ``table``; each extra test set
    (same labels as the test split) is scored by the same probe as metric ``linear-<name>``."""
    ftr, fva, fte = (encode(encoder, d.images) for d in (splits.train, splits.val, splits.test))
    probe = fit_probe(ftr, splits.train.labels, fva, splits.val.labels, cs)
    table.add(arm, "linear", 100.0 * probe.accuracy(fte, splits.test.labels))
    table.add(arm, "val_linear", 100.0 * probe.val_acc)
    table.add(arm, "knn", 100.0 * knn_accuracy(ftr, splits.train.labels, fte, splits.test.labels))
    for name, images in dict(extra_tests).items():
        table.add(arm, f"linear-{name}", 100.0 * probe.accuracy(encode(encoder, images), splits.test.labels))
    return probe


def random_init(vit: ViTConfig, seed: int) -> ViTEncoder:
    """The untrained encoder of a seed: the initialisation its trained runs start from."""
    torch.manual_seed(seed)
    return ViTEncoder(vit).eval()


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


def fmt_per_seed(values: Sequence[float], digits: int = 1, missing: str = "nan") -> str:
    """Per-seed values as a list; a non-finite value is written as ``missing``."""
    return "[" + ", ".join(f"{v:.{digits}f}" if np.isfinite(v) else missing for v in values) + "]"
