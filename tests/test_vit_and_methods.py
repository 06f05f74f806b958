import math as m

import pytest
import torch

from sslab.errors import ConfigError, ShapeError
from sslab.methods import METHODS, build_method, method_options
from sslab.models import ViTEncoder, sincos_2d, vit_config
from sslab.views import random_masking


def tiny(**kw):
    return vit_config("cpu-tiny", image_size=8, patch=2, channels=1, depth=2, **kw)


def test_random_masking_is_consistent_uniform_and_restorable():
    ids_keep, mask, ids_restore = random_masking(5, 16, 0.75, torch.Generator().manual_seed(0))
    assert ids_keep.shape == (5, 4) and mask.sum(1).eq(12).all()
    # kept ids are exactly the unmasked positions
    for b in range(5):
        assert set(ids_keep[b].tolist()) == set((mask[b] == 0).nonzero().squeeze(1).tolist())
    # ids_restore puts [visible tokens, mask tokens] back in patch order, as the decoder relies on
    visible = ids_keep.float()  # token value = its patch id
    seq = torch.cat([visible, torch.full((5, 12), -1.0)], dim=1)
    restored = torch.gather(seq, 1, ids_restore)
    assert torch.equal(restored == -1, mask.bool())
    assert torch.equal(restored[~mask.bool()], torch.arange(16.0).expand(5, -1)[~mask.bool()])
    # every patch is masked with probability 3/4 (4000 draws: standard error 0.007)
    _, many, _ = random_masking(4000, 16, 0.75, torch.Generator().manual_seed(1))
    assert (many.mean(0) - 0.75).abs().max() < 0.03
    assert len({tuple(r.tolist()) for r in mask}) > 1  # drawn per image
    with pytest.raises(ConfigError):
        random_masking(2, 16, 1.0)


def test_encoder_on_visible_tokens_equals_encoder_on_gathered_patches():
    """Dropping masked tokens = running the encoder on exactly the visible patches (with their positions)."""
    torch.manual_seed(0)
    enc = ViTEncoder(tiny()).eval()
    x = torch.rand(3, 1, 8, 8)
    ids = torch.tensor([[0, 5, 10, 15]]).expand(3, -1)
    out = enc(x, ids)
    # reference: embed all, gather, run blocks by hand
    from sslab.data import patchify

    tok = enc.patch_embed(patchify(x, 2)) + sincos_2d(64, 4)
    tok = torch.gather(tok, 1, ids.unsqueeze(-1).expand(-1, -1, tok.shape[-1]))
    tok = torch.cat([enc.cls_token.expand(3, -1, -1), tok], 1)
    for blk in enc.blocks:
        tok = blk(tok)
    assert torch.allclose(out, enc.norm(tok), atol=1e-6)
    assert out.shape == (3, 5, 64)


def test_sincos_table_has_the_official_mae_layout_by_hand():
    """dim 8 → ω = (1, 10000^{-1/2} = 0.01). Patch 5 of a 3×3 grid is row 1, column 2; the official
    table (util/pos_embed.py: meshgrid(w, h), first half from grid[0] = the column) reads
    [sin cω, cos cω | sin rω, cos rω] = [sin 2, sin .02, cos 2, cos .02, sin 1, sin .01, cos 1, cos .01]."""
    pe = sincos_2d(8, 3)
    want = [m.sin(2), m.sin(0.02), m.cos(2), m.cos(0.02), m.sin(1), m.sin(0.01), m.cos(1), m.cos(0.01)]
    assert pe[5].tolist() == pytest.approx(want, abs=1e-7)
    # patch 1 is row 0, column 1: the column half moves, the row half is the origin's
    assert pe[1, :4].tolist() == pytest.approx([m.sin(1), m.sin(0.01), m.cos(1), m.cos(0.01)], abs=1e-7)
    assert pe[1, 4:].tolist() == pytest.approx([0.0, 0.0, 1.0, 1.0], abs=1e-7)


def test_layer_norms_use_the_official_eps():
    enc = ViTEncoder(tiny())
    norms = [mod for mod in enc.modules() if isinstance(mod, torch.nn.LayerNorm)]
    assert len(norms) == 2 * 2 + 1 and all(n.eps == 1e-6 for n in norms)


def test_sincos_is_fixed_and_distinct():
    pe = sincos_2d(32, 4)
    assert pe.shape == (16, 32)
    d = torch.cdist(pe, pe) + torch.eye(16) * 10
    assert d.min() > 0.1  # all positions distinguishable
    enc = ViTEncoder(tiny())
    assert "pos" not in dict(enc.named_parameters())


def test_bad_shapes_and_configs():
    with pytest.raises(ShapeError, match="not divisible"):
        vit_config("cpu-tiny", image_size=8, patch=3)
    with pytest.raises(ConfigError, match="divisible by its number of heads"):
        vit_config("cpu-tiny", dim=30)
    with pytest.raises(ShapeError, match="ViT expects images"):
        ViTEncoder(tiny())(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ConfigError, match="unknown method"):
        build_method("byol", tiny())


@pytest.mark.parametrize("name", ["mae", "umae", "simclr", "latent"])
def test_methods_return_loss_and_embedding_and_train(name):
    torch.manual_seed(0)
    m = build_method(name, tiny())
    x = torch.rand(8, 1, 8, 8)
    out = m(x, torch.Generator().manual_seed(1))
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    assert out["embedding"].shape == (8, 64)
    out["loss"].backward()
    grads = [p.grad for p in m.encoder.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    # same generator seed → same loss (determinism)
    m.zero_grad()
    again = m(x, torch.Generator().manual_seed(1))["loss"]
    assert torch.allclose(again, out["loss"])


def test_umae_adds_the_weighted_signed_uniformity_term():
    torch.manual_seed(0)
    for form, sign in (("gram", 1.0), ("eq9", -1.0)):
        m = build_method("umae", tiny(), uniformity_weight=0.5, uniformity_form=form, uniformity_feature="mean")
        out = m(torch.rand(8, 1, 8, 8), torch.Generator().manual_seed(0))
        assert torch.allclose(out["loss"], out["recon_loss"] + 0.5 * out["uniformity_term"])
        assert sign * out["uniformity_term"] > 0
    # eq. 9 on the probe embedding (mean pooling) is exactly the logged uniformity
    assert torch.allclose(out["uniformity_term"], -out["uniformity"])


def test_mask_tokens_through_encoder_variant_runs():
    m = build_method("mae", tiny(), drop_masked=False)
    out = m(torch.rand(4, 1, 8, 8), torch.Generator().manual_seed(0))
    assert out["pred"].shape == (4, 16, 4)


def test_latent_prediction_ema_moves_target_towards_context():
    m = build_method("latent", tiny())
    with torch.no_grad():
        for p in m.encoder.parameters():
            p.add_(1.0)
    def gap() -> torch.Tensor:
        pairs = zip(m.target_encoder.parameters(), m.encoder.parameters(), strict=True)
        return sum((a - b).abs().sum() for a, b in pairs)

    before = gap()
    m.after_step(0, 10)
    after = gap()
    assert after < before


def test_method_options_route_shared_settings_to_the_methods_that_take_them():
    shared = {"mask_ratio": 0.6, "uniformity_weight": 0.1, "uniformity_form": "eq9"}
    assert method_options("mae", **shared) == {"mask_ratio": 0.6}
    assert method_options("umae", **shared) == shared
    assert method_options("umae", mask_ratio=0.5) == {"mask_ratio": 0.5}
    assert method_options("simclr", **shared) == {} and method_options("latent", **shared) == {}
    for name in METHODS:  # every routed option is one the method accepts
        m = build_method(name, tiny(), **method_options(name, **shared))
        assert getattr(m, "mask_ratio", 0.6) == 0.6
    with pytest.raises(ConfigError, match="unknown method"):
        method_options("byol", mask_ratio=0.5)
