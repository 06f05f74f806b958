"""Linear read-outs of frozen features.

* :func:`least_squares_accuracy` — the linear-theory read-out: W, b = argmin ‖Wᵀf + b − y‖²
  on one-hot targets, prediction argmax. Invariant to any invertible linear map of the
  features, which is what makes Thm 3's corollary testable on accuracy.
* :func:`logistic_probe` — the deep-pipeline protocol: standardise with train statistics,
  pick the L2 strength on the validation split (never the test split), refit on train,
  report test accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits


def _np(x: torch.Tensor | np.ndarray) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def least_squares_accuracy(
    f_train: torch.Tensor, y_train: torch.Tensor, f_test: torch.Tensor, y_test: torch.Tensor
) -> float:
    """Accuracy of the least-squares linear classifier (with bias) fitted on train."""
    ftr, fte = _np(f_train).astype(np.float64), _np(f_test).astype(np.float64)
    ytr, yte = _np(y_train).astype(int), _np(y_test).astype(int)
    c = int(max(ytr.max(), yte.max()) + 1)
    A = np.hstack([ftr, np.ones((len(ftr), 1))])
    W, *_ = np.linalg.lstsq(A, np.eye(c)[ytr], rcond=None)
    pred = (np.hstack([fte, np.ones((len(fte), 1))]) @ W).argmax(1)
    return float((pred == yte).mean())


# The logistic probe's C grid, chosen on validation. It reaches C = 10 because the random-init
# encoder's features are often best fitted at C = 1, the top of a smaller grid: a grid that stops
# there would handicap the baseline the trained encoders are gated against.
DEFAULT_CS: tuple[float, ...] = (0.01, 0.1, 1.0, 10.0)


@dataclass
class ProbeResult:
    test_acc: float
    val_acc: float
    c: float


@dataclass
class FittedProbe:
    """A logistic probe fitted on train with C chosen on validation; scores any test set."""

    scaler: StandardScaler
    clf: LogisticRegression
    c: float
    val_acc: float

    def accuracy(self, features: torch.Tensor, labels: torch.Tensor) -> float:
        """Fraction of ``labels`` predicted from ``features`` (standardised with train statistics)."""
        with threadpool_limits(limits=1):
            return float(self.clf.score(self.scaler.transform(_np(features)), _np(labels).astype(int)))


def fit_logistic_probe(
    f_train: torch.Tensor,
    y_train: torch.Tensor,
    f_val: torch.Tensor,
    y_val: torch.Tensor,
    cs: Sequence[float] = DEFAULT_CS,
    max_iter: int = 500,
) -> FittedProbe:
    """Multinomial logistic regression on features standardised with train statistics; the inverse
    regularisation C is the first of the best on validation accuracy, and the fit at that C is kept
    (the fit is deterministic, so keeping it equals refitting at the chosen C).

    The fits run with one BLAS/OpenMP thread: the matrices are small (n × d with d ≤ a few
    hundred), and threaded OpenBLAS next to torch's OpenMP pool made the fits 15–80× slower on a
    2-core machine with other work running (benchmarks/probe_speed.py)."""
    scaler = StandardScaler().fit(_np(f_train))
    ftr, fva = scaler.transform(_np(f_train)), scaler.transform(_np(f_val))
    ytr, yva = _np(y_train).astype(int), _np(y_val).astype(int)
    best: tuple[float, float, LogisticRegression | None] = (-1.0, cs[0], None)
    with threadpool_limits(limits=1):
        for c in cs:
            clf = LogisticRegression(C=c, max_iter=max_iter).fit(ftr, ytr)
            acc = float(clf.score(fva, yva))
            if acc > best[0]:
                best = (acc, c, clf)
    assert best[2] is not None
    return FittedProbe(scaler, best[2], best[1], best[0])


def logistic_probe(
    f_train: torch.Tensor,
    y_train: torch.Tensor,
    f_val: torch.Tensor,
    y_val: torch.Tensor,
    f_test: torch.Tensor,
    y_test: torch.Tensor,
    cs: Sequence[float] = DEFAULT_CS,
    max_iter: int = 500,
) -> ProbeResult:
    """:func:`fit_logistic_probe`, then the test split scored once, after the choice of C, so its
    labels cannot influence it. Non-finite features (a diverged encoder) give NaN accuracies."""
    if not all(bool(torch.isfinite(f).all()) for f in (f_train, f_val, f_test)):
        return ProbeResult(float("nan"), float("nan"), float("nan"))
    probe = fit_logistic_probe(f_train, y_train, f_val, y_val, cs, max_iter)
    return ProbeResult(probe.accuracy(f_test, y_test), probe.val_acc, probe.c)
