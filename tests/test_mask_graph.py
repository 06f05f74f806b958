import math

import torch

from sslab.data import patchify
from sslab.theory.mask_graph import (
    asymmetric_factorization,
    augmentation_graph,
    pair_distances,
    patch_masks,
    sample_pairs,
)


def test_eckart_young_optimum_and_gradient_descent_reaches_it():
    """Thm 4.1: min ‖Ā − U Vᵀ‖²_F is the truncated SVD; L-BFGS on (U, V) reaches the same value."""
    g = torch.Generator().manual_seed(0)
    A = torch.rand(12, 9, generator=g, dtype=torch.float64)
    U0, V0, best = asymmetric_factorization(A, 3)
    assert abs(float((A - U0 @ V0.T).pow(2).sum()) - best) < 1e-10
    U = torch.randn(12, 3, generator=g, dtype=torch.float64, requires_grad=True)
    V = torch.randn(9, 3, generator=g, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([U, V], max_iter=3000, tolerance_grad=1e-14, tolerance_change=1e-16,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (A - U @ V.T).pow(2).sum()
        loss.backward()
        return loss

    for _ in range(5):
        opt.step(closure)
    gd = float((A - U @ V.T).pow(2).sum().detach())
    assert best <= gd * (1 + 1e-9) and abs(gd - best) / best < 1e-6


def test_batched_distances_equal_a_naive_loop():
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(50, 1, 8, 8, generator=g), torch.rand(50, 1, 8, 8, generator=g)
    ta, tb = patchify(a, 2), patchify(b, 2)
    for mode in ("same", "independent"):
        d = pair_distances(ta, tb, 0.5, mode, torch.Generator().manual_seed(3))
        g2 = torch.Generator().manual_seed(3)
        m1 = patch_masks(50, 16, 0.5, g2)
        m2 = m1 if mode == "same" else patch_masks(50, 16, 0.5, g2)
        for i in range(50):
            ref = (ta[i] * m1[i, :, None] - tb[i] * m2[i, :, None]).norm()
            assert math.isclose(float(d[i]), float(ref), rel_tol=1e-4, abs_tol=1e-5)
    dmin = pair_distances(ta, tb, 0.5, "min", torch.Generator().manual_seed(3), draws=6)
    dind = pair_distances(ta, tb, 0.5, "independent", torch.Generator().manual_seed(3))
    assert torch.all(dmin <= dind + 1e-6)  # the min over draws includes the first draw


def test_patch_masks_hide_the_requested_count():
    m = patch_masks(7, 16, 0.75, torch.Generator().manual_seed(0))
    assert torch.all(m.sum(1) == 4)


def test_pair_sampling_respects_labels():
    labels = torch.arange(100) % 5
    g = torch.Generator().manual_seed(0)
    intra = sample_pairs(labels, 300, "intra", g)
    inter = sample_pairs(labels, 300, "inter", g)
    assert torch.all(labels[intra[:, 0]] == labels[intra[:, 1]]) and torch.all(intra[:, 0] != intra[:, 1])
    assert torch.all(labels[inter[:, 0]] != labels[inter[:, 1]])


def test_graph_spectrum_is_a_valid_normalised_bipartite_graph():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(60, 1, 8, 8, generator=g)
    labels = torch.arange(60) % 3
    spec = augmentation_graph(images, labels, 0.5, 2, 80, 3, g)
    sv = spec.singular_values
    assert abs(float(sv[0]) - 1.0) < 1e-9  # the normalised adjacency has top singular value 1
    assert torch.all(sv <= 1 + 1e-9) and 0 < spec.label_error < 1
    # λ_{k+1}: the (k+1)-th smallest eigenvalue (k = 3 classes) of the bipartite graph's normalised
    # Laplacian I − [[0, Ā], [Āᵀ, 0]], computed here from the Laplacian itself
    n = spec.abar.shape[0]
    adjacency = torch.zeros(2 * n, 2 * n, dtype=spec.abar.dtype)
    adjacency[:n, n:], adjacency[n:, :n] = spec.abar, spec.abar.T
    eigenvalues = torch.linalg.eigvalsh(torch.eye(2 * n, dtype=spec.abar.dtype) - adjacency)
    assert abs(spec.lambda_k1 - float(eigenvalues[3])) < 1e-9
    # α is the graph weight between views of different labels: none when every image has one label
    same = augmentation_graph(images, torch.zeros_like(labels), 0.5, 2, 80, 3, torch.Generator().manual_seed(1))
    assert same.label_error == 0.0
