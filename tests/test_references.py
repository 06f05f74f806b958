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
from sslab.models import vit_config
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
    zn = F.normalize(feat, dim=1)
    by_hand = sum(float(zn[i] @ zn[j]) ** 2 for i in range(6) for j in range(6)) / 36
    assert out["uniformity_term"].item() == pytest.approx(by_hand, rel=1e-5)
    assert out["loss"].item() == pytest.approx(out["recon_loss"].item() + 0.01 * by_hand, rel=1e-6)


def test_umae_paper_eq9_on_mean_features_is_an_option():
    torch.manual_seed(0)
    m = build_method("umae", tiny(), uniformity_weight=0.5, uniformity_form="eq9", uniformity_feature="mean")
    x = torch.rand(5, 1, 8, 8)
    out = m(x, torch.Generator().manual_seed(0))
    ids_keep, _, _ = random_masking(5, 16, 0.75, torch.Generator().manual_seed(0))
    zn = F.normalize(m.encoder(x, ids_keep)[:, 1:].mean(1), dim=1)
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
