import pytest
import torch

from sslab.experiments.common import at_least
from sslab.experiments.vit_global_local import PHASE, _phases
from sslab.theory.softmax_vit import (
    AreaModel,
    area_oracle_error,
    cl_loss,
    mae_attention,
    mae_loss,
    mae_predictions,
    probe,
    random_visible,
    train_gd,
)


def test_gradients_of_both_objectives_match_finite_differences():
    model = AreaModel(clusters=2, local_areas=2, positions=8, size_ratio=2)
    g = torch.Generator().manual_seed(0)
    X, _ = model.sample(5, g)
    v1, v2 = random_visible(5, model.P, 0.5, g), random_visible(5, model.P, 0.5, g)
    D = model.d + model.P
    Q = (0.1 * torch.randn(D, D, generator=g, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda q: mae_loss(q, X, v1), (Q,))
    assert torch.autograd.gradcheck(lambda q: cl_loss(q, X, v1, v2), (Q,))


@pytest.mark.parametrize("ratio", [1, 2, 4, 10])
def test_area_model_layout_and_features(ratio):
    model = AreaModel(size_ratio=ratio)
    assert model.global_size == ratio * model.local_size and model.P == 24
    for k in range(model.clusters):
        counts = torch.bincount(model.layouts[k], minlength=model.areas)
        assert counts.tolist() == [model.global_size] + [model.local_size] * model.local_areas
    # layouts are specific to each cluster: the local areas sit at different positions
    assert not torch.equal(model.layouts[0] > 0, model.layouts[1] > 0)
    X, k = model.sample(300, torch.Generator().manual_seed(1))
    assert torch.all((X != 0).sum(-1) == 1)  # one feature per patch
    area = model.layouts[k]
    feat = X.abs().argmax(-1)
    assert torch.equal(feat, model.feature(k[:, None], area))  # X_p = z_j v_{k,j}
    z = X.norm(dim=-1)
    for j in range(model.areas):  # z_j shared by the area's patches, within [0.5, 1.5]
        zj = torch.where(area == j, z, torch.nan)
        assert torch.allclose(torch.nanmean(zj, 1)[:, None].expand_as(zj)[area == j], zj[area == j])
    assert z.min() >= 0.5 and z.max() <= 1.5


def test_bad_split_is_refused():
    with pytest.raises(ValueError, match="must split"):
        AreaModel(positions=25, size_ratio=4)


def test_oracle_is_a_lower_bound_and_exact_when_the_own_area_is_visible():
    model = AreaModel(size_ratio=4)
    g = torch.Generator().manual_seed(2)
    X, k = model.sample(64, g)
    vis = random_visible(64, model.P, 0.5, g)
    oracle = area_oracle_error(model, X, k, vis)
    D = model.d + model.P
    for _ in range(5):
        Q = 3 * torch.randn(D, D, generator=g, dtype=torch.float64)
        err = (mae_predictions(Q, X, vis) - X).pow(2).sum(-1)
        assert torch.all(err >= oracle - 1e-12)
    # hand case: an image whose masked query has a visible same-area key reaches 0 with one-hot attention
    area = model.layouts[k]
    same_vis = ((area[:, :, None] == area[:, None, :]) & vis[:, None, :]).any(-1)
    assert torch.all(oracle[same_vis] == 0) and torch.all(oracle[~same_vis] > 0)


def test_zero_q_gives_uniform_attention_over_visible_keys():
    model = AreaModel(size_ratio=2)
    g = torch.Generator().manual_seed(3)
    X, k = model.sample(16, g)
    vis = random_visible(16, model.P, 0.5, g)
    D = model.d + model.P
    A = mae_attention(torch.zeros(D, D, dtype=torch.float64), X, vis)
    assert torch.allclose(A, vis[:, None, :].double().expand_as(A) / vis.sum(-1)[:, None, None])
    p = probe(torch.zeros(D, D, dtype=torch.float64), model, X, k, vis)
    assert abs(p.global_mass_cl - p.global_mass_uniform) < 1e-12
    assert p.row_spread_mae == 0.0 and p.row_spread_cl == 0.0


def test_mae_learns_own_area_attention_and_control_does_not():
    model = AreaModel(size_ratio=4)
    tr = train_gd(model, "mae", steps=60, lr=30.0, n=96, record_every=10, seed=0, n_eval=96)
    ctrl = train_gd(model, "mae", steps=60, lr=0.0, n=96, record_every=10, seed=0, n_eval=96)
    assert tr.last.own_mass_mae > 0.8 and tr.last.local_fp > 0.5
    assert ctrl.last.own_mass_mae == ctrl.first.own_mass_mae < 0.3
    assert torch.count_nonzero(ctrl.Q) == 0
    # the phase test of claim (d) on the control: no rise, so "not held"
    assert at_least([_phases(ctrl)["rise"]] * 3, PHASE)[0] == "not held"


def test_mae_outputs_differ_across_area_size_ratios():
    finals = {}
    for r in (1, 4, 10):
        tr = train_gd(AreaModel(size_ratio=r, layout_seed=0), "mae", steps=30, lr=30.0, n=64, record_every=30,
                      seed=0, n_eval=64)
        finals[r] = (tr.losses[-1], tr.last.own_mass_mae, tr.last.global_mass_mae, tr.first.global_mass_mae)
    vals = list(finals.values())
    for i in range(len(vals)):
        for j in range(i + 1, len(vals)):
            assert all(abs(a - b) > 1e-3 for a, b in zip(vals[i], vals[j], strict=True)), finals
    # more global area: a local query's initial (uniform) attention lies more on the global area
    assert finals[1][3] < finals[4][3] < finals[10][3]
