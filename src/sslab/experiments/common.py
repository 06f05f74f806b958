"""Helpers shared by the theory experiments: data matrices, seed sets and verdict combinators."""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import matplotlib.pyplot as plt
import numpy as np
import torch

from sslab.data import ImageDataset
from sslab.stats import Summary, Verdict, decide, summarize
from sslab.theory.linalg import center_rows, one_hot


def linear_matrices(ds: ImageDataset, center_labels: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Centred X (D×N, float64) and one-hot Y (C×N) of a dataset.

    The paper's linear model has no bias and uses Y as it is; X is centred per pixel. We centre Y
    too by default (the same as giving the read-out a bias), so the mean label, which no
    function of centred X can produce, does not enter the errors and the "full" alignment
    normalisation; ``center_labels=False`` gives the paper's Y. The measured effect of the
    choice is in ``docs/theory/balestriero-lecun-2024-reconstruction.md``."""
    X = center_rows(ds.flat().T)
    Y = one_hot(ds.labels, ds.num_classes)
    return X, (center_rows(Y) if center_labels else Y)


def centred_test_matrix(train: ImageDataset, test: ImageDataset) -> torch.Tensor:
    """Test images as a D×N float64 matrix, centred with the train split's pixel means."""
    return test.flat().T - train.flat().T.mean(1, keepdim=True)


def is_monotone(values: Sequence[float], tol: float = 1e-9) -> bool:
    return all(b >= a - tol for a, b in pairwise(values))


def strictly_decreasing(values: Sequence[float]) -> bool:
    return all(b < a for a, b in pairwise(values))


def fmt_list(values: Sequence[float], digits: int = 3) -> str:
    return "[" + ", ".join(f"{v:.{digits}f}" for v in values) + "]"


def new_axes(ncols: int = 1, width: float = 5.0, height: float = 3.6) -> tuple[plt.Figure, list[plt.Axes]]:
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False, layout="constrained")
    return fig, list(axes[0])


def seeds_for(seed: int, count: int) -> list[int]:
    return [seed + 1000 * i for i in range(count)]


def all_of(verdicts: Sequence[Verdict]) -> Verdict:
    """A conjunction of claims: held if every part is held, not held if any part is not held,
    inconclusive otherwise."""
    if any(v == "not held" for v in verdicts):
        return "not held"
    if verdicts and all(v == "held" for v in verdicts):
        return "held"
    return "inconclusive"


def at_most(values: Sequence[float], bound: float) -> tuple[Verdict, Summary]:
    """Pre-registered "the statistic is below ``bound``": the CI of bound − value must clear 0.
    Returns the verdict and the summary of the values themselves."""
    s = summarize(values)
    return decide(summarize([bound - v for v in values]), 0.0), s


def at_least(values: Sequence[float], bound: float) -> tuple[Verdict, Summary]:
    """Pre-registered "the statistic is above ``bound``": the CI of the values must clear it."""
    s = summarize(values)
    return decide(s, bound), s


def ci_text(s: Summary, digits: int = 3) -> str:
    """"m [lo, hi]" for evidence strings."""
    return f"{s.mean:.{digits}f} [{s.lo:.{digits}f}, {s.hi:.{digits}f}]"


def inside(s: Summary, lo: float, hi: float) -> Verdict:
    """Pre-registered "the statistic lies strictly between lo and hi": held if its CI does, not
    held if the CI lies at or beyond one end, inconclusive otherwise."""
    if not (math.isfinite(s.lo) and math.isfinite(s.hi)):
        return "inconclusive"
    eps = 1e-9 * (hi - lo)  # a mean of values all at an end may round just past it
    if lo + eps < s.lo and s.hi < hi - eps:
        return "held"
    if s.hi <= lo + eps or s.lo >= hi - eps:
        return "not held"
    return "inconclusive"


def fitted_minimum(x: Sequence[float], y: Sequence[float]) -> float:
    """Where the least-squares parabola through all points (x, y) is lowest on [min x, max x]
    (an end of the range when the fit is not convex)."""
    xs, ys = np.asarray(x, float), np.asarray(y, float)
    a, b, c = np.polyfit(xs, ys, 2)
    ends = (xs.min(), xs.max())
    if a > 0:
        return float(np.clip(-b / (2 * a), *ends))
    return float(min(ends, key=lambda t: a * t * t + b * t + c))


def falls_then_rises(x: Sequence[float], curves: Sequence[Sequence[float]]) -> tuple[Verdict, Summary, Summary]:
    """Pre-registered test of "y falls then rises in x" over all points, one curve per seed.

    Per seed: the least-squares parabola a·x² + b·x + c through every point; its curvature a
    (divided by the mean of y, so scale-free) and where it is lowest on the x range
    (:func:`fitted_minimum`). Held if the CI of the curvature is > 0 and the CI of the minimum lies
    strictly inside the range; not held if the CI of the curvature is < 0 (no interior minimum), or
    it is > 0 and the CI of the minimum lies at or beyond an end; inconclusive otherwise (for
    example a flat curve). Returns the verdict, the minimum's summary and the curvature's."""
    curv = summarize([float(np.polyfit(np.asarray(x, float), np.asarray(y, float), 2)[0] / np.mean(y))
                      for y in curves])
    spot = summarize([fitted_minimum(x, y) for y in curves])
    where = inside(spot, min(x), max(x))
    bend = decide(curv, 0.0)
    if bend == "not held":
        return "not held", spot, curv
    if bend == "held" and where != "inconclusive":
        return where, spot, curv
    return "inconclusive", spot, curv
