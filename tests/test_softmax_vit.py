import torch

from sslab.theory.softmax_vit import GlobalLocalData, cl_loss, mae_loss, random_visible, train_gd


def test_gradients_of_both_objectives_match_finite_differences():
    data = GlobalLocalData(grid=2, areas=4, classes=2, global_scale=2.0)
    g = torch.Generator().manual_seed(0)
    X, _ = data.sample(5, g)
    v1, v2 = random_visible(5, data.P, 0.5, g), random_visible(5, data.P, 0.5, g)
    D = data.d + data.P
    Q = (0.1 * torch.randn(D, D, generator=g, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda q: mae_loss(q, X, v1), (Q,))
    assert torch.autograd.gradcheck(lambda q: cl_loss(q, X, v1, v2), (Q,))


def test_generator_statistics_match_the_stated_norms():
    data = GlobalLocalData(global_scale=3.0, local_scale=1.0, noise=0.0)
    X, _ = data.sample(4000, torch.Generator().manual_seed(1))
    glob = X[..., data.global_dims()].sum(-1)  # g z, the same on every patch of an image
    loc = X[..., data.local_dims()].sum(-1)  # ℓ z_a
    assert torch.allclose(glob.std(1), torch.zeros(4000, dtype=torch.float64))
    assert abs(float(glob.mean()) - 3.0) < 0.03 and glob.min() >= 1.5 - 1e-9 and glob.max() <= 4.5 + 1e-9
    assert abs(float(loc.mean()) - 1.0) < 0.01 and loc.min() >= 0.5 - 1e-9
    # exactly one local and one global feature per patch; local features differ by area
    assert torch.all((X != 0).sum(-1) == 2)
    area = data.area_of()
    first = X[0, :, data.local_dims()].argmax(-1)
    assert len(set(first[area == 0].tolist())) == 1 and len(set(first.tolist())) == 4


def test_zero_imbalance_treats_all_areas_alike():
    data = GlobalLocalData(global_scale=0.0)
    for obj in ("mae", "cl"):
        snap = train_gd(data, obj, steps=60, lr=2.0, n=128, record_every=60).snapshots[-1]
        spread = snap.per_area_mass.std() / snap.per_area_mass.mean()
        assert spread < 0.1, (obj, snap.per_area_mass)


def test_mae_learns_area_wide_attention():
    tr = train_gd(GlobalLocalData(global_scale=4.0), "mae", steps=80, lr=2.0, n=128, record_every=80)
    first, last = tr.snapshots[0], tr.snapshots[-1]
    assert abs(first.same_area_mass - 3 / 15) < 1e-9  # Q = 0: uniform attention
    assert last.same_area_mass > 0.5 and last.local_error < first.local_error
