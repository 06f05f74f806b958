"""The sample-space masking sweep (N − 1 < D) equals the D-space sweep of Thm 3 cell by cell,
and the dispatcher keeps the D-space route when it does not apply."""

from __future__ import annotations

import torch

from sslab.theory.linalg import center_rows, one_hot
from sslab.theory.masking import masking_sweep
from sslab.theory.masking_dual import gram_upper, masking_sweep_samples, sample_space_sweep

F64 = torch.float64
SHAPE = (3, 8, 8)
PATCHES = [(1, 1), (2, 2), (4, 4)]
PROBS = [0.0, 0.1, 0.5, 0.9, 0.99]
KS = [2, 4, 8, 16]


def data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Centred correlated images (D = 192) and centred one-hot labels of 5 classes."""
    g = torch.Generator().manual_seed(seed)
    d = 3 * 8 * 8
    X = torch.randn(d, n, generator=g, dtype=F64) * torch.linspace(1, 0.2, d, dtype=F64)[:, None]
    X = X + torch.randn(d, 2, generator=g, dtype=F64) @ torch.randn(2, n, generator=g, dtype=F64)
    Y = one_hot(torch.randint(0, 5, (n,), generator=g), 5)
    return center_rows(X), center_rows(Y)


def d_space(X: torch.Tensor, Y: torch.Tensor):
    return masking_sweep(X @ X.T, X @ Y.T, float(Y.pow(2).sum()), SHAPE, PATCHES, PROBS, KS)


def test_sample_space_sweep_equals_the_d_space_sweep():
    X, Y = data(120, 0)  # N − 1 < D: every D×D matrix of the D-space route is singular
    ref, ours = d_space(X, Y), sample_space_sweep(X, Y, SHAPE, PATCHES, PROBS, KS)
    assert ours is not None
    assert float((ours.err_plain - ref.err_plain).abs().max()) < 1e-10
    assert float((ours.err - ref.err).abs().max()) < 1e-10
    assert float((ours.delta_align - ref.delta_align).abs().max()) < 1e-9
    assert float(ref.delta_align.abs().max()) > 1e-2  # the cells really differ from plain reconstruction


def test_dispatch_keeps_the_d_space_route_when_samples_outnumber_pixels():
    X, Y = data(400, 1)
    assert sample_space_sweep(X, Y, SHAPE, PATCHES, PROBS, KS) is None
    assert torch.equal(masking_sweep_samples(X, Y, SHAPE, PATCHES, PROBS, KS).err, d_space(X, Y).err)


def test_uncentred_data_is_not_taken_to_sample_space():
    X, Y = data(120, 2)
    assert sample_space_sweep(X + 1.0, Y, SHAPE, PATCHES, PROBS, KS) is None


def test_gram_upper_is_the_full_gram():
    W = torch.randn(50, 37, generator=torch.Generator().manual_seed(3), dtype=F64)
    assert torch.allclose(gram_upper(W, parts=4), W.T @ W, rtol=0, atol=1e-12)


def test_experiment_sweep_takes_the_sample_space_route_for_large_images(monkeypatch):
    from types import SimpleNamespace

    import sslab.theory.masking_dual as dual
    from sslab.experiments.masking_alignment import MaskingAlignmentConfig, _sweep

    def no_d_space(*args, **kw):
        raise AssertionError("the D-space route was taken")

    monkeypatch.setattr(dual, "masking_sweep", no_d_space)

    g = torch.Generator().manual_seed(4)
    n = 60
    images = torch.randn(n, 192, generator=g, dtype=F64) * torch.linspace(1, 0.2, 192, dtype=F64)
    labels = torch.randint(0, 5, (n,), generator=g)
    ds = SimpleNamespace(image_shape=SHAPE, flat=lambda: images, labels=labels, num_classes=5)
    cfg = MaskingAlignmentConfig(patches=PATCHES, drop_probs=PROBS, ks=[2, 4, 8, 16, 64])
    ours = _sweep(ds, cfg)
    assert ours.ks == [2, 4, 8, 16]  # K = 64 exceeds rank(Σ) = N − 1 = 59 and is dropped
    X, Y = center_rows(images.T), center_rows(one_hot(labels, 5))
    assert float((ours.err - d_space(X, Y).err).abs().max()) < 1e-10
