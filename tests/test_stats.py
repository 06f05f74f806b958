"""Seed statistics and the three-valued decision rule, against hand-computed values."""

import math

import pytest

from sslab.experiments.base import Claim
from sslab.stats import decide, gate, paired, spearman_ci, summarize


def test_t_interval_matches_hand_computation():
    # values 1, 2, 3: mean 2, s = 1, t_{0.975, 2} = 4.302652729911275 → half-width 4.3027 / √3
    s = summarize([1.0, 2.0, 3.0])
    half = 4.302652729911275 / math.sqrt(3)
    assert s.mean == pytest.approx(2.0)
    assert (s.lo, s.hi) == pytest.approx((2 - half, 2 + half), rel=1e-9)
    assert s.record() == {"mean": 2.0, "ci95": [pytest.approx(2 - half), pytest.approx(2 + half)],
                          "per_seed": [1.0, 2.0, 3.0], "n_seeds": 3}


def test_one_seed_has_no_interval_and_says_so():
    s = summarize([0.8231])
    assert math.isnan(s.lo) and math.isnan(s.hi)
    assert s.text(scale=100) == "82.3 (1 seed)"
    assert "±" not in s.text(scale=100)
    assert decide(s, 0.0) == "inconclusive"
    assert s.record()["ci95"] == [None, None]


def test_a_deterministic_arm_says_so_instead_of_plus_minus_zero():
    s = summarize([91.4, 91.4, 91.4])
    assert s.text(unit="%") == "91.4% (same for all 3 seeds)"
    assert summarize([91.4, 91.5, 91.4]).text().startswith("91.4 ± ")


def test_nan_seed_poisons_the_summary():
    s = summarize([0.5, float("nan"), 0.6])
    assert math.isnan(s.mean) and decide(s) == "inconclusive"


def test_paired_removes_shared_seed_variance():
    a = [0.70, 0.80, 0.90]
    b = [0.69, 0.79, 0.89]  # same seeds, a is always 1 point better
    d = paired(a, b)
    assert d.mean == pytest.approx(0.01)
    assert d.hi - d.lo == pytest.approx(0.0, abs=1e-12)
    # unpaired, the two arms' intervals overlap almost entirely
    assert summarize(a).lo < summarize(b).hi
    with pytest.raises(ValueError, match="one value per seed"):
        paired([1.0], [1.0, 2.0])


@pytest.mark.parametrize(
    ("values", "margin", "verdict"),
    [
        ([0.05, 0.06, 0.07], 0.0, "held"),
        ([-0.05, -0.06, -0.07], 0.0, "not held"),
        ([-0.05, 0.0, 0.05], 0.0, "inconclusive"),
        ([0.05, 0.06, 0.07], 0.1, "not held"),  # clearly positive but below the margin
    ],
)
def test_decide(values, margin, verdict):
    assert decide(summarize(values), margin) == verdict


def test_gate_turns_any_verdict_inconclusive_when_runs_did_not_learn():
    assert gate("held", learned=False) == "inconclusive"
    assert gate("not held", learned=False) == "inconclusive"
    assert gate("held", learned=True) == "held"


def test_spearman_over_seeds():
    x = [0, 1, 2, 3]
    up = spearman_ci(x, [[1, 2, 3, 4], [1, 2, 4, 5], [0, 2, 3, 9]])
    assert up.mean == pytest.approx(1.0) and decide(up, 0.0) == "held"  # every seed rises monotonically
    mixed = spearman_ci(x, [[1, 2, 3, 4], [4, 3, 2, 1], [1, 3, 2, 4]])
    assert decide(mixed, 0.0) == "inconclusive"


def test_claim_verdicts():
    assert Claim("c", True, "e").verdict == "held"
    assert Claim("c", False, "e").record()["held"] is False
    c = Claim("c", "inconclusive", "e", test="paired CI > 0")
    assert not c.held and c.record()["test"] == "paired CI > 0"
    with pytest.raises(ValueError, match="verdict"):
        Claim("c", "maybe", "e")
