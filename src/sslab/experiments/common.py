"""Helpers shared by the linear-theory experiments."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import matplotlib.pyplot as plt
import torch

from sslab.data import ImageDataset
from sslab.theory.linalg import center_rows, one_hot


def linear_matrices(ds: ImageDataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Centred X (D×N, float64) and centred one-hot Y (C×N) of a dataset (THEORY.md §1)."""
    X = center_rows(ds.flat().T)
    Y = center_rows(one_hot(ds.labels, ds.num_classes))
    return X, Y


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
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, list(axes[0])


def seeds_for(seed: int, count: int) -> list[int]:
    return [seed + 1000 * i for i in range(count)]
