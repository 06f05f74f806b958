"""Defaults pinned to the reference implementations with hand-computed values.

U-MAE: zhangq327/U-MAE (loss_func.py, engine_pretrain.py, pretrain.sh, models_mae.py).
MAE: facebookresearch/mae (models_mae.py, util/pos_embed.py).
"""

import math

import pytest
import torch
import torch.nn.functional as F

from sslab.errors import ConfigError
from sslab.methods import UMAE_WEIGHT, build_method
from sslab.methods.mae import uniformity_term
from sslab.models import load_official, vit_config
from sslab.views import kept_patches, random_masking


def tiny(**kw):
    return vit_config("cpu-tiny", image_size=8, patch=2, channels=1, depth=2, **kw)


def test_umae_uniformity_term_official_and_eq9_forms_by_hand():
    """ẑ = (1, 0) and (1, 1)/√2: cosines 1, 1/√2, 1/√2, 1 → official mean of squares over all
    4 entries (diagonal included) = (1 + ½ + ½ + 1)/4 = 3/4; eq. 9 subtracts the mean off-diagonal
    squared distance 2 − 2/√2 = 2 − √2."""
    z = torch.tensor([[3.0, 0.0], [2.0, 2.0]], dtype=torch.float64)
    assert uniformity_term(z, "gram").item() == pytest.approx(0.75, rel=1e-12)
    assert uniformity_term(z, "eq9").item() == pytest.approx(-(2 - math.sqrt(2)), rel=1e-12)


def test_umae_default_is_the_official_weight_form_and_cls_feature():
    """loss = recon + 0.01 · mean_{ij} cos²(f_i, f_j), f = final LayerNorm applied (again) to the
    [cls] output of the masked view, as ``self.norm(latent)[:, 0]`` in the authors' code."""
    assert UMAE_WEIGHT == 0.01
    torch.manual_seed(0)
    m = build_method("umae", tiny())
    assert (m.uniformity_weight, m.uniformity_form, m.uniformity_feature) == (0.01, "gram", "cls")
    x = torch.rand(6, 1, 8, 8)
    out = m(x, torch.Generator().manual_seed(0))
    ids_keep, _, _ = random_masking(6, 16, 0.75, torch.Generator().manual_seed(0))
    feat = m.encoder.norm(m.encoder(x, ids_keep)[:, 0])
    zn = F.normalize(feat.detach(), dim=1)
    by_hand = sum(float(zn[i] @ zn[j]) ** 2 for i in range(6) for j in range(6)) / 36
    assert out["uniformity_term"].item() == pytest.approx(by_hand, rel=1e-5)
    assert out["loss"].item() == pytest.approx(out["recon_loss"].item() + 0.01 * by_hand, rel=1e-6)


def test_umae_paper_eq9_on_mean_features_is_an_option():
    torch.manual_seed(0)
    m = build_method("umae", tiny(), uniformity_weight=0.5, uniformity_form="eq9", uniformity_feature="mean")
    x = torch.rand(5, 1, 8, 8)
    out = m(x, torch.Generator().manual_seed(0))
    ids_keep, _, _ = random_masking(5, 16, 0.75, torch.Generator().manual_seed(0))
    zn = F.normalize(m.encoder(x, ids_keep)[:, 1:].mean(1).detach(), dim=1)
    dist = sum(float((zn[i] - zn[j]).pow(2).sum()) for i in range(5) for j in range(5) if i != j) / 20
    assert out["loss"].item() == pytest.approx(out["recon_loss"].item() - 0.5 * dist, rel=1e-5)


def test_mae_keeps_int_of_l_times_one_minus_r_patches_like_the_official_code():
    assert kept_patches(16, 0.75) == 4
    assert kept_patches(16, 0.9) == 1  # int(1.6): masks 15/16 = 93.75 %, not 14/16
    assert kept_patches(49, 0.75) == 12  # int(12.25)
    assert kept_patches(196, 0.75) == 49
    assert kept_patches(16, 0.0) == 16
    m = build_method("mae", tiny(), mask_ratio=0.9)
    out = m(torch.rand(3, 1, 8, 8), torch.Generator().manual_seed(0))
    assert out["mask"].sum(1).tolist() == [15.0, 15.0, 15.0]


@pytest.mark.parametrize("ratio", [0.95, 0.94, 1.0, -0.1])
def test_mask_ratios_that_keep_no_patch_are_rejected(ratio):
    with pytest.raises(ConfigError, match=r"keeps no patch|must be in"):
        kept_patches(16, ratio)
    with pytest.raises(ConfigError):
        build_method("mae", tiny(), mask_ratio=ratio)


def official_table(dim: int, grid: int) -> torch.Tensor:
    """util/pos_embed.py, written out: a zero [cls] row, then for patch (r, c) the column's
    [sin(c ω_k), cos(c ω_k)] followed by the row's, ω_k = 1 / 10000^(k / (dim/4))."""
    omega = [1 / 10000 ** (k / (dim / 4)) for k in range(dim // 4)]

    def one(t: int) -> list[float]:
        return [math.sin(t * w) for w in omega] + [math.cos(t * w) for w in omega]

    rows = [[0.0] * dim] + [one(c) + one(r) for r in range(grid) for c in range(grid)]
    return torch.tensor(rows, dtype=torch.float64)[None]


def official_state(dim=32, depth=2, dec_dim=16, dec_depth=1, patch=2, chans=3, grid=4, seed=0) -> dict:
    g = torch.Generator().manual_seed(seed)

    def r(*shape):
        return 0.2 * torch.randn(*shape, generator=g, dtype=torch.float64)

    sd = {"cls_token": r(1, 1, dim), "pos_embed": official_table(dim, grid)}
    sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"] = r(dim, chans, patch, patch), r(dim)

    def blocks(prefix: str, d: int, n: int) -> None:
        for i in range(n):
            p = f"{prefix}.{i}."
            shapes = {"norm1": (d,), "norm2": (d,), "attn.qkv": (3 * d, d), "attn.proj": (d, d),
                      "mlp.fc1": (4 * d, d), "mlp.fc2": (d, 4 * d)}
            for name, shape in shapes.items():
                sd[p + name + ".weight"] = (1 + r(*shape)) if name.startswith("norm") else r(*shape)
                sd[p + name + ".bias"] = r(shape[0])

    blocks("blocks", dim, depth)
    sd["norm.weight"], sd["norm.bias"] = 1 + r(dim), r(dim)
    sd["decoder_embed.weight"], sd["decoder_embed.bias"] = r(dec_dim, dim), r(dec_dim)
    sd["mask_token"], sd["decoder_pos_embed"] = r(1, 1, dec_dim), official_table(dec_dim, grid)
    blocks("decoder_blocks", dec_dim, dec_depth)
    sd["decoder_norm.weight"], sd["decoder_norm.bias"] = 1 + r(dec_dim), r(dec_dim)
    sd["decoder_pred.weight"], sd["decoder_pred.bias"] = r(patch * patch * chans, dec_dim), r(patch * patch * chans)
    return sd


def reference_forward(sd: dict, imgs: torch.Tensor, ids_keep, ids_restore, heads: int, dec_heads: int):
    """The official MAE forward (models_mae.py with timm's Block), written out with the weights."""

    def ln(t, name):
        return F.layer_norm(t, t.shape[-1:], sd[name + ".weight"], sd[name + ".bias"], eps=1e-6)

    def lin(t, name):
        return t @ sd[name + ".weight"].T + sd[name + ".bias"]

    def block(x, p, h):
        b, n, d = x.shape
        q, k, v = lin(ln(x, p + "norm1"), p + "attn.qkv").reshape(b, n, 3, h, d // h).permute(2, 0, 3, 1, 4)
        att = ((q @ k.transpose(-2, -1)) * (d // h) ** -0.5).softmax(-1)
        x = x + lin((att @ v).transpose(1, 2).reshape(b, n, d), p + "attn.proj")
        return x + lin(F.gelu(lin(ln(x, p + "norm2"), p + "mlp.fc1")), p + "mlp.fc2")

    p = sd["patch_embed.proj.weight"].shape[-1]
    x = F.conv2d(imgs, sd["patch_embed.proj.weight"], sd["patch_embed.proj.bias"], stride=p).flatten(2).transpose(1, 2)
    x = x + sd["pos_embed"][:, 1:]
    x = torch.gather(x, 1, ids_keep[..., None].expand(-1, -1, x.shape[-1]))
    x = torch.cat([(sd["cls_token"] + sd["pos_embed"][:, :1]).expand(x.shape[0], -1, -1), x], 1)
    for i in range(sum(k.endswith("norm1.weight") and k.startswith("blocks.") for k in sd)):
        x = block(x, f"blocks.{i}.", heads)
    latent = ln(x, "norm")
    y = lin(latent, "decoder_embed")
    n_mask = ids_restore.shape[1] + 1 - y.shape[1]
    y_ = torch.cat([y[:, 1:], sd["mask_token"].expand(y.shape[0], n_mask, -1)], 1)
    y_ = torch.gather(y_, 1, ids_restore[..., None].expand(-1, -1, y.shape[-1]))
    y = torch.cat([y[:, :1], y_], 1) + sd["decoder_pos_embed"]
    for i in range(sum(k.endswith("norm1.weight") and k.startswith("decoder_blocks.") for k in sd)):
        y = block(y, f"decoder_blocks.{i}.", dec_heads)
    return latent, lin(ln(y, "decoder_norm"), "decoder_pred")[:, 1:]


def test_load_official_reproduces_the_official_forward_on_official_names_and_shapes():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        sd = official_state()
        encoder, decoder = load_official(sd, heads=4, decoder_heads=4)
        cfg = encoder.cfg
        assert (cfg.image_size, cfg.patch, cfg.channels, cfg.dim, cfg.depth, cfg.decoder_dim) == (8, 2, 3, 32, 2, 16)
        imgs = torch.randn(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
        ids_keep, _, ids_restore = random_masking(3, 16, 0.75, torch.Generator().manual_seed(2))
        latent, pred = reference_forward(sd, imgs, ids_keep, ids_restore, 4, 4)
        ours = encoder(imgs, ids_keep)
        assert torch.allclose(ours, latent, atol=1e-10)
        assert torch.allclose(decoder(ours, ids_restore), pred, atol=1e-10)
        # the whole image through the encoder alone (a timm ViT without decoder and with a head)
        enc_only = {k: v for k, v in sd.items() if not k.startswith(("decoder", "mask_token"))}
        enc_only["head.weight"], enc_only["head.bias"] = torch.zeros(10, 32), torch.zeros(10)
        encoder2, none = load_official(enc_only, heads=4)
        all_ids = torch.arange(16).expand(3, -1)
        assert none is None
        assert torch.allclose(encoder2(imgs), reference_forward(sd, imgs, all_ids, all_ids, 4, 4)[0], atol=1e-10)
    finally:
        torch.set_default_dtype(previous)


def test_load_official_rejects_what_it_cannot_load():
    sd = official_state()
    learned = dict(sd, pos_embed=sd["pos_embed"] + 0.1)
    with pytest.raises(ConfigError, match="learned ones are not supported"):
        load_official(learned, heads=4, decoder_heads=4)
    with pytest.raises(ConfigError, match=r"unexpected keys.*fc_norm"):
        load_official(dict(sd, **{"fc_norm.weight": torch.ones(32)}), heads=4, decoder_heads=4)
    with pytest.raises(ConfigError, match="pass heads="):
        load_official(sd)
    assert load_official(official_state(dim=192, dec_dim=32, depth=1))[0].cfg.heads == 3


def test_latent_prediction_defaults_follow_ijepa():
    m = build_method("latent", tiny())
    assert m.loss == "smooth_l1"
    masks = m.masks
    assert (masks.num_targets, masks.target_scale, masks.target_aspect, masks.context_scale) == (
        4, (0.15, 0.2), (0.75, 1.5), (0.85, 1.0)
    )


def test_ema_momentum_follows_ijepa_schedule_not_one_step_ahead():
    """ijepa src/train.py: the update after step i uses m_i = 0.996 + i·0.004/T, so the first
    update (i = 0) uses 0.996 and the one after step 5 of 10 uses 0.998."""
    m = build_method("latent", tiny())
    assert m.momentum(0, 10) == pytest.approx(0.996, abs=1e-15)
    assert m.momentum(5, 10) == pytest.approx(0.998, abs=1e-15)
    assert m.momentum(9, 10) == pytest.approx(0.9996, abs=1e-15)
    online, target = m.encoder.norm.bias, m.target_encoder.norm.bias
    with torch.no_grad():
        online.fill_(1.0)
        target.fill_(0.5)
    m.after_step(0, 10)
    assert target[0].item() == pytest.approx(0.996 * 0.5 + 0.004 * 1.0, abs=1e-7)


def test_simclr_temperature_defaults_to_the_small_image_reference():
    """τ = 0.5 (SimCLR's CIFAR-10 setting, lightly's NTXentLoss default). Two pairs with unit
    embeddings a = (1, 0), a' = (0.6, 0.8), b = (0, 1), b' = (0.8, 0.6): the anchor a scores its
    positive cos 0.6 against b (0) and b' (0.8): ℓ_a = −log e^{1.2} / (e^{1.2} + e^0 + e^{1.6})."""
    from sslab.methods.losses import SIMCLR_TEMPERATURE, nt_xent

    assert SIMCLR_TEMPERATURE == 0.5
    assert build_method("simclr", tiny()).temperature == 0.5
    z1 = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    z2 = torch.tensor([[0.6, 0.8], [0.8, 0.6]], dtype=torch.float64)
    e = math.exp

    def ell(pos: float, negs: list[float]) -> float:
        return -math.log(e(pos / 0.5) / (e(pos / 0.5) + sum(e(n / 0.5) for n in negs)))

    # rows a, b, a', b': positive cosine and the cosines to the two other non-self rows
    want = (ell(0.6, [0.0, 0.8]) + ell(0.6, [0.0, 0.8]) + ell(0.6, [0.96, 0.8]) + ell(0.6, [0.96, 0.8])) / 4
    assert nt_xent(z1, z2).item() == pytest.approx(want, rel=1e-12)
    with pytest.raises(ConfigError, match="temperature"):
        build_method("simclr", tiny(), temperature=0.0)
