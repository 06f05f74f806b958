"""Exact linear theory: closed forms, alignment, and (in sibling modules) JE vs RC,
augmentation-graph spectra and one-layer softmax-ViT dynamics."""

from sslab.theory.alignment import alignment_curve
from sslab.theory.linalg import ThinSVD, center_rows, one_hot, sym_eig, thin_svd
from sslab.theory.reconstruction import (
    LinearSolution,
    denoising_loss,
    joint_loss,
    ols_map,
    pca_projector,
    solve_denoising,
    solve_denoising_gram,
    solve_joint,
    supervised_error_curve,
)

__all__ = [
    "LinearSolution",
    "ThinSVD",
    "alignment_curve",
    "center_rows",
    "denoising_loss",
    "joint_loss",
    "ols_map",
    "one_hot",
    "pca_projector",
    "solve_denoising",
    "solve_denoising_gram",
    "solve_joint",
    "supervised_error_curve",
    "sym_eig",
    "thin_svd",
]
