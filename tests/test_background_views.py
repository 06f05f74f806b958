"""Background-perturbing views and the MAE trained through them."""

import pytest
import torch

from sslab.data.textured import composite
from sslab.errors import ConfigError
from sslab.methods import build_method
from sslab.methods.background import ViewTargetMAE, build_background_method
from sslab.models.vit import vit_config
from sslab.views.background import BackgroundViews, derangement, pack


def packed_batch(b: int = 6, size: int = 8) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    fg = (torch.rand(b, 1, size, size, generator=g) > 0.7).float()
    bg = torch.rand(b, 1, size, size, generator=g)
    return pack(fg, bg)


def test_derangement_has_no_fixed_point():
    g = torch.Generator().manual_seed(1)
    for n in (2, 3, 10):
        for _ in range(20):
            p = derangement(n, g)
            assert sorted(p.tolist()) == list(range(n)) and bool((p != torch.arange(n)).all())


def test_zero_strength_is_the_clean_standardised_composite():
    x = packed_batch()
    views = BackgroundViews(gamma=1.5, strength=0.0, mean=0.3, std=2.0)
    expected = (composite(x[:, :1], x[:, 1:], 1.5) - 0.3) / 2.0
    assert torch.equal(views(x, torch.Generator().manual_seed(0)), expected)
    assert torch.equal(views.clean(x), expected)


def test_full_swap_gives_every_image_another_images_background():
    x = packed_batch()
    bg = x[:, 1:]
    out = BackgroundViews(gamma=1.0, strength=1.0).perturb_background(bg, torch.Generator().manual_seed(2))
    for i in range(len(bg)):
        matches = [j for j in range(len(bg)) if torch.equal(out[i], bg[j])]
        assert matches and i not in matches
    # the multiset of backgrounds is unchanged (a permutation): marginals are kept
    assert torch.allclose(out.sum(0), bg.sum(0))


def test_recrop_is_a_circular_shift_of_the_same_crop():
    x = packed_batch()
    bg = x[:, 1:]
    views = BackgroundViews(gamma=1.0, strength=1.0, mode="recrop")
    out = views.perturb_background(bg, torch.Generator().manual_seed(3))
    for i in range(len(bg)):
        assert not torch.equal(out[i], bg[i])
        assert torch.equal(out[i].flatten().sort().values, bg[i].flatten().sort().values)


def test_partial_strength_replaces_about_alpha_of_the_backgrounds():
    g = torch.Generator().manual_seed(4)
    bg = torch.rand(4000, 1, 2, 2, generator=g)
    out = BackgroundViews(gamma=1.0, strength=0.3).perturb_background(bg, g)
    changed = (out != bg).flatten(1).any(1).float().mean().item()
    assert changed == pytest.approx(0.3, abs=0.03)  # 4000 Bernoulli(0.3) draws: sd 0.007


def test_bad_view_settings_are_refused():
    with pytest.raises(ConfigError):
        BackgroundViews(gamma=1.0, strength=1.5)
    with pytest.raises(ConfigError):
        BackgroundViews(gamma=1.0, mode="mix")
    with pytest.raises(ConfigError):
        pack(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 5))


def test_view_target_mae_at_zero_strength_is_plain_mae():
    """Same weights, same step generator: the loss of MAE on the clean composites."""
    vit = vit_config("cpu-tiny", image_size=8, patch=2, channels=1)
    x = packed_batch()
    views = BackgroundViews(gamma=1.0, strength=0.0, mean=0.5, std=0.2)
    torch.manual_seed(0)
    mae = build_method("mae", vit)
    wrapped = ViewTargetMAE(mae, views)
    plain = mae(views.clean(x), torch.Generator().manual_seed(9))["loss"]
    via_views = wrapped(x, torch.Generator().manual_seed(9))["loss"]
    assert torch.allclose(plain, via_views)
    swapped = ViewTargetMAE(mae, BackgroundViews(gamma=1.0, strength=1.0, mean=0.5, std=0.2))
    assert not torch.allclose(plain, swapped(x, torch.Generator().manual_seed(9))["loss"])


def test_background_simclr_trains_one_step_on_packed_images():
    vit = vit_config("cpu-tiny", image_size=8, patch=2, channels=1)
    m = build_background_method("simclr", vit, BackgroundViews(gamma=1.0, strength=1.0))
    out = m(packed_batch(), torch.Generator().manual_seed(0))
    out["loss"].backward()
    assert torch.isfinite(out["loss"]) and m.encoder.patch_embed.weight.grad is not None
    with pytest.raises(ConfigError):
        build_background_method("umae", vit, BackgroundViews(gamma=1.0))


def test_background_simclr_at_zero_strength_is_plain_simclr():
    """Why the α = 0 arm can reuse the γ arm's SimCLR run: same views, same random draws."""
    vit = vit_config("cpu-tiny", image_size=8, patch=2, channels=1)
    x = packed_batch()
    views = BackgroundViews(gamma=1.0, strength=0.0, mean=0.5, std=0.2)
    torch.manual_seed(0)
    wrapped = build_background_method("simclr", vit, views)
    torch.manual_seed(0)
    plain = build_method("simclr", vit)
    a = wrapped(x, torch.Generator().manual_seed(5))["loss"]
    b = plain(views.clean(x), torch.Generator().manual_seed(5))["loss"]
    assert torch.allclose(a, b)


def test_view_target_latent_at_zero_strength_is_plain_latent_prediction():
    """α = 0: the latent-prediction loss on the clean composites (so the α = 0 arm may reuse the γ
    arm's run); α = 1: the context sees swapped backgrounds while the targets stay clean, so the loss
    differs, and the EMA update reaches the wrapped model's target encoder."""
    vit = vit_config("cpu-tiny", image_size=8, patch=2, channels=1)
    x = packed_batch()
    views = BackgroundViews(gamma=1.0, strength=0.0, mean=0.5, std=0.2)
    torch.manual_seed(0)
    wrapped = build_background_method("latent", vit, views)
    torch.manual_seed(0)
    plain = build_method("latent", vit)
    a = wrapped(x, torch.Generator().manual_seed(5))["loss"]
    b = plain(views.clean(x), torch.Generator().manual_seed(5))["loss"]
    assert torch.allclose(a, b)
    swapped = build_background_method("latent", vit, BackgroundViews(gamma=1.0, strength=1.0, mean=0.5, std=0.2))
    swapped.latent.load_state_dict(plain.state_dict())
    c = swapped(x, torch.Generator().manual_seed(5))["loss"]
    assert not torch.allclose(b, c)
    before = [p.clone() for p in swapped.latent.target_encoder.parameters()]
    with torch.no_grad():
        for p in swapped.encoder.parameters():
            p.add_(1.0)
    swapped.after_step(0, 10)
    after = list(swapped.latent.target_encoder.parameters())
    assert all(not torch.equal(p0, p1) for p0, p1 in zip(before, after, strict=True))
