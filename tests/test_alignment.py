import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sslab.theory import alignment_curve, center_rows, one_hot, thin_svd


def _x(d, n, seed):
    g = torch.Generator().manual_seed(seed)
    scales = torch.logspace(0, -2, d, dtype=torch.float64)[:, None]
    return center_rows(torch.randn(d, n, generator=g, dtype=torch.float64) * scales)


@settings(max_examples=40, deadline=None)
@given(d=st.integers(2, 12), n=st.integers(15, 60), c=st.integers(2, 5), seed=st.integers(0, 10_000))
def test_alignment_in_unit_interval_and_non_decreasing(d, n, c, seed):
    X = _x(d, n, seed)
    Y = center_rows(one_hot(torch.randint(0, c, (n,), generator=torch.Generator().manual_seed(seed)), c))
    for norm in ("thin", "full"):
        a = alignment_curve(X, Y, normalization=norm)
        assert torch.all(a >= -1e-12) and torch.all(a <= 1 + 1e-12)  # unclamped: rounding only
        assert torch.all(a[1:] >= a[:-1] - 1e-12)
    assert abs(float(alignment_curve(X, Y)[-1]) - 1.0) < 1e-9 or float(alignment_curve(X, Y)[-1]) == 0.0


@settings(max_examples=30, deadline=None)
@given(d=st.integers(4, 10), n=st.integers(20, 50), k=st.integers(1, 3), seed=st.integers(0, 10_000))
def test_labels_from_top_directions_align_exactly(d, n, k, seed):
    X = _x(d, n, seed)
    V = thin_svd(X).right_vectors(X)  # N×r, columns sorted by singular value
    g = torch.Generator().manual_seed(seed + 1)
    Y_top = torch.randn(3, k, generator=g, dtype=torch.float64) @ V[:, :k].T
    a = alignment_curve(X, Y_top)
    assert abs(float(a[k - 1]) - 1.0) < 1e-9
    Y_bottom = torch.randn(3, 2, generator=g, dtype=torch.float64) @ V[:, -2:].T
    b = alignment_curve(X, Y_bottom)
    r = V.shape[1]
    assert float(b[r - 3]) < 1e-9  # orthogonal to the top r−2 directions
    assert abs(float(b[-1]) - 1.0) < 1e-9
    # labels orthogonal to the whole row space of X: 0 under both normalisations
    P = torch.eye(n, dtype=torch.float64) - V @ V.T
    Y_orth = torch.randn(2, n, generator=g, dtype=torch.float64) @ P
    assert float(alignment_curve(X, Y_orth, normalization="full").max()) < 1e-9
