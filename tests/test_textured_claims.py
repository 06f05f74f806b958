"""Pre-registered claims of je-vs-recon-deep and attention-locality on hand-made per-seed tables:
held / not held when the CI clears 0, inconclusive when the runs did not learn."""

import math

import pytest
import torch

from sslab.errors import ConfigError
from sslab.eval.corruptions import corrupt, gaussian_blur
from sslab.experiments.attention_locality import locality_effect
from sslab.experiments.deep_common import PIXELS, RANDOM
from sslab.experiments.je_vs_recon_deep import (
    JEDeepConfig,
    alpha_claim,
    alpha_star,
    alpha_star_text,
    arm,
    corruption_claim,
    gamma_claim,
)
from sslab.experiments.textured_common import ArmTable, combine

SEEDS = [0, 1000, 2000]


def cfg(**kw) -> JEDeepConfig:
    base = {"gammas": [0.0, 1.0], "methods": ["mae", "simclr"], "alpha_gammas": [1.0], "alphas": [0.0, 1.0],
            "severities": [3], "seeds": 3}
    return JEDeepConfig(**{**base, **kw})


def gamma_table(mae_hi, simclr_hi, random_hi=(50.0, 51.0, 50.5)) -> ArmTable:
    t = ArmTable()
    rows = {arm("mae", 0): (90, 91, 92), arm("mae", 1): mae_hi, arm("simclr", 0): (90, 90.5, 91),
            arm("simclr", 1): simclr_hi, arm(RANDOM, 0): (70, 71, 70.5), arm(RANDOM, 1): random_hi,
            arm(PIXELS, 0): (95, 95, 95), arm(PIXELS, 1): (85, 85, 85)}
    for a, vals in rows.items():
        for v in vals:
            t.add(a, "linear", v)
    return t


def test_gamma_claim_held_not_held_and_gated():
    c = cfg()
    held = gamma_claim(c, gamma_table((60, 62, 61), (85, 86, 85.5)), SEEDS, {})
    assert held.verdict == "held" and "γ = 0" in held.test
    reversed_ = gamma_claim(c, gamma_table((85, 86, 85.5), (60, 62, 61)), SEEDS, {})
    assert reversed_.verdict == "not held"
    # the same drops, but MAE at γ = 1 no longer beats random init there: the runs did not learn
    gated = gamma_claim(c, gamma_table((60, 62, 61), (85, 86, 85.5), random_hi=(61, 61, 61)), SEEDS, {})
    assert gated.verdict == "inconclusive" and "did not learn" in gated.evidence
    noisy = gamma_claim(c, gamma_table((60, 90, 70), (85, 61, 80)), SEEDS, {})
    assert noisy.verdict == "inconclusive"


def test_alpha_claim_needs_both_gammas_and_learning():
    c = cfg(gammas=[0.0, 0.25, 1.0], alpha_gammas=[0.25, 1.0])
    t = gamma_table((60, 62, 61), (85, 86, 85.5))
    for a, vals in {arm("mae", 0.25): (88, 89, 90), arm("simclr", 0.25): (89, 89, 90),
                    arm(RANDOM, 0.25): (60, 61, 60)}.items():
        for v in vals:
            t.add(a, "linear", v)
    # α arms: at γ = 1 SimCLR keeps ~95 % of its clean accuracy, MAE ~70 %; at γ = 0.25 both ~98 %
    for g, mae_vals, sim_vals in ((0.25, (89, 89.5, 90.5), (88.5, 89, 89.5)), (1.0, (64, 65, 63), (86, 87, 86.5))):
        for a in (0.0, 1.0):
            for v in mae_vals:
                t.add(arm("mae", g, a), "linear", v)
            for v in sim_vals:
                t.add(arm("simclr", g, a), "linear", v)
    numbers: dict = {}
    assert alpha_claim(c, t, numbers).verdict == "held"
    assert set(numbers["alpha_star"]) == {"mae", "simclr"}
    # only the large γ run (quick mode): part 2 cannot be decided
    c1 = cfg(gammas=[0.0, 0.25, 1.0], alpha_gammas=[1.0])
    assert alpha_claim(c1, t, {}).verdict == "inconclusive"


def test_alpha_star_interpolates_and_reports_unreached():
    assert alpha_star([0.95, 0.99], [0.0, 1.0], 0.9) == 0.0
    assert alpha_star([0.5, 0.7, 1.0], [0.0, 0.5, 1.0], 0.9) == pytest.approx(0.5 + 0.5 * (0.2 / 0.3))
    assert math.isnan(alpha_star([0.5, 0.6], [0.0, 1.0], 0.9))
    assert alpha_star_text([math.nan, math.nan], 1.0) == "not reached with α ≤ 1 on any seed"
    assert alpha_star_text([0.25, math.nan], 1.0) == "[0.25, not reached]"


def test_corruption_claim_compares_relative_drops():
    c = cfg()
    t = gamma_table((60, 62, 61), (85, 86, 85.5))
    corrupted = {"mae": (45, 46, 45.5), "simclr": (80, 81, 80.5), RANDOM: (40, 41, 40), PIXELS: (60, 60, 60)}
    for name, vals in corrupted.items():
        for k in ("noise", "blur", "contrast"):
            for v in vals:
                t.add(arm(name, 0), f"linear-{k}3", v)
    numbers: dict = {}
    claim = corruption_claim(c, t, numbers)
    assert claim.verdict == "held"
    assert numbers["corruption_relative_drop"]["mae"]["mean"] == pytest.approx(100 * (1 - 45.5 / 91), rel=1e-3)
    assert numbers["paper_imagenet_c_relative_drop"]["MAE"] == 25.1


def test_config_rejects_inconsistent_arms():
    with pytest.raises(ValueError, match="alpha_gammas"):
        cfg(alpha_gammas=[0.5])
    with pytest.raises(ValueError, match="reconstruction"):
        cfg(methods=["simclr", "latent"], alpha_methods=["simclr", "simclr"])
    with pytest.raises(ValueError, match="increasing from 0"):
        cfg(gammas=[0.5, 1.0], alpha_gammas=[1.0])


def test_locality_effect_verdicts():
    t = ArmTable()
    for name, dist, tv in (("mae", (1.0, 1.1, 1.05), (0.5, 0.55, 0.52)), ("simclr", (2.0, 2.1, 2.05), (0.1, 0.12, 0.1)),
                           (RANDOM, (2.0, 2.05, 2.1), (0.1, 0.11, 0.12))):
        for d, v in zip(dist, tv, strict=True):
            t.add(name, "distance", d)
            t.add(name, "tv", v)
    assert locality_effect(t, "mae", "simclr")[0] == "held"
    assert locality_effect(t, "simclr", "mae")[0] == "not held"
    assert locality_effect(t, RANDOM, "simclr")[0] == "inconclusive"


def test_combine_is_a_conjunction():
    assert combine(["held", "held"]) == "held"
    assert combine(["held", "not held"]) == "not held"
    assert combine(["held", "inconclusive"]) == "inconclusive"
    assert combine(["inconclusive", "not held"]) == "not held"


def test_corruptions_hand_values():
    x = torch.full((2, 1, 8, 8), 0.5)
    x[1, 0, :4] = 0.9
    assert torch.allclose(gaussian_blur(torch.full((1, 1, 8, 8), 0.3), 1.0), torch.full((1, 1, 8, 8), 0.3))
    c = corrupt(x, "contrast", 1)  # c = 0.4 around the per-image mean
    m = x[1].mean()
    assert torch.allclose(c[1], (x[1] - m) * 0.4 + m)
    n1, n2 = corrupt(x, "noise", 5), corrupt(x, "noise", 5)
    assert torch.equal(n1, n2) and (n1 - x).std() > 0.2 and n1.min() >= 0 and n1.max() <= 1
    with pytest.raises(ConfigError):
        corrupt(x, "fog", 1)
    with pytest.raises(ConfigError):
        corrupt(x, "noise", 6)
