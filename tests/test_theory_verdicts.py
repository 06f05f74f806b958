"""Every theory claim can fail: on inputs where it is false it is reported as not held, and its
verdicts do not depend on which seed starts the seed set."""

import numpy as np
import pytest
import torch

from sslab.experiments.alignment import AlignmentConfig
from sslab.experiments.alignment import decide_claims as alignment_claims
from sslab.experiments.common import all_of, at_least, at_most, fitted_minimum, inside
from sslab.experiments.je_vs_recon import decide_phase
from sslab.experiments.linear_limits import decide_accuracy
from sslab.experiments.mask_ratio import decide_distance, decide_graph
from sslab.experiments.masking_alignment import decide_claims as masking_claims
from sslab.experiments.noise_invariance import decide_closed_form, map_differences
from sslab.experiments.runner import run_experiment
from sslab.experiments.spectral_dynamics import decide_bottom, decide_order, decide_slope, direction_statistics
from sslab.stats import summarize
from sslab.theory.masking import MaskingSweep

PATCHES = [(1, 1), (2, 2)]
PROBS = [0.0, 0.5, 0.9]
KS = [2, 4, 8]


def _sweep(delta: float | torch.Tensor, plain: float = 0.5) -> MaskingSweep:
    """A sweep whose Δ_align is ``delta`` in every p > 0 cell (broadcast over patch, p, K)."""
    err_plain = torch.full((len(KS),), plain, dtype=torch.float64)
    d = torch.as_tensor(delta, dtype=torch.float64).expand(len(PATCHES), len(PROBS) - 1, len(KS))
    err = torch.empty(len(PATCHES), len(PROBS), len(KS), dtype=torch.float64)
    err[:, 0] = err_plain
    err[:, 1:] = err_plain * (1 - d)
    return MaskingSweep(PATCHES, PROBS, KS, err, err_plain)


def _verdicts(claims):
    return [c.verdict for c in claims]


def test_delta_align_is_the_papers_relative_residual_difference():
    sw = _sweep(0.0)
    sw.err[1, 2, 0] = 0.4  # residual 0.5 → 0.4: (0.5 − 0.4) / 0.5 = +20 %
    assert abs(float(sw.delta_align[1, 2, 0]) - 0.2) < 1e-15
    # the earlier square-root variant: (√0.6 − √0.5) / √0.5
    assert abs(float(sw.delta_sqrt[1, 2, 0]) - (0.6**0.5 - 0.5**0.5) / 0.5**0.5) < 1e-15


def test_masking_claims_hold_on_the_papers_pattern():
    good = _sweep(torch.tensor([[[0.0]], [[-0.1]]]))  # (1,1) harmless, (2,2) hurts
    shrink = torch.tensor([0.3, 0.2, 0.1])  # the benefit falls with K
    poor = [_sweep(shrink + 0.01 * s) for s in range(3)]
    assert _verdicts(masking_claims(good, poor)) == ["held"] * 4


def test_masking_claims_are_not_held_on_counter_examples():
    good = _sweep(torch.tensor([[[-0.05]], [[0.1]]]))  # (1,1) hurts, (2,2) helps
    grow = torch.tensor([-0.3, -0.2, -0.1])  # masking hurts, and less so with K
    poor = [_sweep(grow + 0.01 * s) for s in range(3)]
    assert _verdicts(masking_claims(good, poor)) == ["not held"] * 4


def _curves(values):
    return {"thin": values, "full": values}


def test_alignment_claims_are_not_held_on_counter_examples():
    cfg = AlignmentConfig(classes=[2, 5], resolutions=[8, 16])
    curves = {"c2": _curves([0.1, 0.2]), "c5": _curves([0.5, 1.2]),  # out of range: a numerical error
              "r8": _curves([0.2, 1.0]), "r16": _curves([0.3, 1.0])}
    groups = {"classes": ["c2", "c5"], "resolution": ["r8", "r16"]}
    claims = alignment_claims(curves, groups, [(0.2, 0.5), (0.25, 0.5), (0.2, 0.45)], cfg)
    assert _verdicts(claims) == ["not held"] * 4
    assert "numerical error" in claims[0].evidence and "outside [0, 1]" in claims[0].evidence
    # a decreasing curve is an error too, and the claims hold where they are true
    curves = {"c2": _curves([0.5, 1.0]), "c5": _curves([0.2, 1.0]), "r8": _curves([0.4, 1.0]),
              "r16": _curves([0.3, 1.0])}
    held = alignment_claims(curves, groups, [(0.6, 0.2), (0.65, 0.2), (0.6, 0.25)], cfg)
    assert _verdicts(held) == ["held"] * 4
    curves["r8"] = _curves([0.6, 0.5])
    assert alignment_claims(curves, groups, [(0.6, 0.2)] * 3, cfg)[0].verdict == "not held"


def test_mask_distance_trend_uses_all_points():
    rhos = [0.0, 0.2, 0.4, 0.6, 0.8]
    u = [[1.0, 0.8, 0.7, 0.75, 0.9], [1.0, 0.82, 0.7, 0.74, 0.92], [0.98, 0.8, 0.69, 0.76, 0.9]]
    assert decide_distance(rhos, u)[0] == "held"
    concave = [[1.0, 0.98, 0.9, 0.75, 0.5], [1.0, 0.97, 0.91, 0.76, 0.5], [1.0, 0.98, 0.9, 0.74, 0.52]]
    assert decide_distance(rhos, concave)[0] == "not held"
    # convex but still falling at the end: the minimum is the end of the range
    falling = [[1.0, 0.7, 0.45, 0.25, 0.1], [1.0, 0.71, 0.45, 0.26, 0.1], [1.0, 0.7, 0.46, 0.25, 0.11]]
    assert decide_distance(rhos, falling)[0] == "not held"
    flat = [[1.0, 1.01, 0.99, 1.0, 1.01], [1.0, 0.99, 1.01, 1.0, 0.99], [1.01, 1.0, 1.0, 0.99, 1.0]]
    assert decide_distance(rhos, flat)[0] == "inconclusive"
    # a single low point next to an end does not make a minimum: the fit uses every point
    assert fitted_minimum(rhos, [1.0, 0.9, 0.8, 0.7, 0.71]) > 0.6


def test_mask_graph_claims_are_not_held_on_counter_examples():
    rhos = [0.2, 0.4, 0.6, 0.8]
    lam = [[0.4, 0.3, 0.2, 0.1]] * 3  # falls with ρ
    alpha = [[0.3, 0.2, 0.15, 0.1], [0.31, 0.2, 0.14, 0.1], [0.3, 0.21, 0.15, 0.09]]
    bound = [[1.0, 2.5, 3.5, 4.0], [1.1, 2.5, 3.6, 4.0], [1.0, 2.6, 3.5, 4.1]]  # concave: no interior minimum
    v = decide_graph(rhos, lam, alpha, bound)
    assert [v[k][0] for k in ("lambda", "alpha", "bound")] == ["not held"] * 3


def test_verdict_combinators():
    assert all_of(["held", "held"]) == "held"
    assert all_of(["held", "inconclusive"]) == "inconclusive"
    assert all_of(["inconclusive", "not held"]) == "not held"
    assert at_least([0.95, 0.96, 0.97], 0.9)[0] == "held"
    assert at_least([0.1, 0.2, 0.15], 0.9)[0] == "not held"
    assert at_least([0.5, 1.0, 0.95], 0.9)[0] == "inconclusive"
    assert at_most([0.01, 0.02, 0.03], 0.1)[0] == "held"
    assert at_most([0.5, 0.6, 0.55], 0.1)[0] == "not held"
    assert inside(summarize([0.4, 0.5, 0.6]), 0.0, 1.0) == "held"
    assert inside(summarize([1.0, 1.0, 1.0]), 0.0, 1.0) == "not held"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["masking-alignment", "mask-distance", "alignment"])
def test_quick_verdicts_agree_between_seed_0_and_seed_1(name, tmp_path):
    verdicts = []
    for seed in (0, 1):
        _, rec = run_experiment(name, quick=True, seed=seed, out_root=tmp_path / str(seed))
        assert rec["status"] == "ok", rec.get("error")
        assert all(c["test"] for c in rec["claims"])
        verdicts.append({c["name"]: c["verdict"] for c in rec["claims"]})
    assert verdicts[0] == verdicts[1]


@pytest.mark.parametrize(("name", "overrides", "failing"), [
    ("linear-limits", {"tolerance": 1e-15, "points": 5}, ["λ → 0 gives the OLS map", "λ → ∞ gives the PCA projector"]),
    ("noise-invariance", {"accuracy_tolerance": 0.0, "epochs": 3, "seeds": 2, "trained_sigmas": [0.0, 1.0]},
     ["trained linear DAEs: test accuracy varies by at most 0% across σ"]),
    # weak irrelevant features: α_JE > α_RC, so "JE optimal between the thresholds while RC is not" is false
    ("je-vs-recon-samples", {"gamma": 0.2, "ns": [100, 300, 1000], "seeds": 2, "n_test": 2000},
     ["between the thresholds (strong irrelevant features) JE is optimal while RC is not"]),
])
def test_claims_fail_when_the_bound_cannot_be_met(name, overrides, failing, tmp_path):
    _, rec = run_experiment(name, quick=True, seed=0, overrides=overrides, out_root=tmp_path)
    assert rec["status"] == "ok", rec.get("error")
    verdicts = {c["name"]: c["verdict"] for c in rec["claims"]}
    for claim in failing:
        assert verdicts[claim] == "not held", verdicts


def test_vit_control_fails_a_to_c(tmp_path):
    over = {"size_ratios": [1, 10], "seeds": 2, "steps": 40, "samples": 48, "record_every": 10}
    _, rec = run_experiment("vit-global-local", quick=True, seed=0, overrides=over, out_root=tmp_path)
    assert rec["status"] == "ok", rec.get("error")
    assert rec["numbers"]["control_verdicts"] == {"a": "not held", "b": "not held", "c": "not held"}
    claims = {c["name"]: c for c in rec["claims"]}
    assert claims["the untrained control (lr 0) fails (a), (b) and (c)"]["verdict"] == "held"
    assert all(c["test"] for c in rec["claims"])
    for r in ("1", "10"):  # the control's own-area mass is the uniform share, far below the bound
        assert rec["numbers"]["control"][r]["own_mass_mae"]["mean"] < 0.5


def test_linear_limits_accuracy_trend_uses_every_lambda():
    lams = [1e-6, 1e-3, 1.0, 1e3, 1e6]
    assert decide_accuracy(lams, [0.95, 0.94, 0.9, 0.85, 0.8]).verdict == "held"
    # accuracy rises towards the PCA end: the claim is false
    assert decide_accuracy(lams, [0.8, 0.85, 0.9, 0.94, 0.95]).verdict == "not held"
    # the two ends fall, but the path mostly rises: a test of the endpoints alone would pass this
    assert decide_accuracy(lams, [0.9, 0.91, 0.93, 0.95, 0.89]).verdict == "not held"
    assert decide_accuracy(lams, [0.9] * 5).verdict == "not held"


def test_noise_invariance_closed_form_is_not_held_when_the_map_moves():
    g = torch.Generator().manual_seed(0)
    base = torch.randn(10, 64, generator=g, dtype=torch.float64)
    same = [base, base.clone(), base * (1 + 1e-12)]
    assert decide_closed_form([0.0, 0.1, 1.0], same, [0.9] * 3).verdict == "held"
    moved = [base, base.clone(), base + 1e-4 * torch.randn(10, 64, generator=g, dtype=torch.float64)]
    claim = decide_closed_form([0.0, 0.1, 1.0], moved, [0.9] * 3)
    assert claim.verdict == "not held"
    assert max(map_differences(moved)) > 1e-6


EIGS = np.array([8.0, 4.0, 2.0, 1.0, 0.5, 0.25])


def _sigmoid_caps(t_half: np.ndarray, steps: int = 12000) -> tuple[np.ndarray, np.ndarray]:
    """Captured fractions m_i(t) that are logistic curves reaching ½ at ``t_half[i]``."""
    times = np.arange(0, steps + 1, 2.0)
    return times, 1.0 / (1.0 + np.exp(-(times[:, None] - t_half) / (0.1 * t_half)))


def _stats(power: float, order=slice(None)) -> tuple[list[float], list[float]]:
    slopes, rhos = [], []
    for s in range(3):
        jitter = 1 + 0.01 * np.sin(np.arange(len(EIGS)) + s)  # per-seed noise in the time scales
        t_half = (100.0 / EIGS**power * jitter)[order]
        slope, rho, th = direction_statistics(EIGS, *_sigmoid_caps(t_half))
        assert np.allclose(th, t_half, rtol=1e-2)
        slopes.append(slope)
        rhos.append(rho)
    return slopes, rhos


def test_spectral_rate_and_order_claims_are_not_held_on_counter_examples():
    slopes, rhos = _stats(1.0)  # rate ∝ c_i, learned in eigenvalue order
    th = 100.0 / EIGS
    assert decide_slope(slopes, [6] * 3, 12000).verdict == "held"
    assert decide_order(rhos, th, 0).verdict == "held"
    slopes, _ = _stats(0.5)  # rate ∝ √c_i: still in order, but the slope is ½
    assert decide_slope(slopes, [6] * 3, 12000).verdict == "not held"
    slopes, rhos = _stats(1.0, order=slice(None, None, -1))  # the bottom direction is learned first
    assert decide_slope(slopes, [6] * 3, 12000).verdict == "not held"
    assert decide_order(rhos, th[::-1], 0).verdict == "not held"
    # seeds that disagree about the slope: the CI straddles the band
    assert decide_slope([0.7, 1.0, 1.3], [6] * 3, 12000).verdict == "inconclusive"


def test_spectral_bottom_subspace_claim_is_not_held_when_top_carries_more():
    assert decide_bottom({5: {"top": 0.6, "bottom": 0.3}, 20: {"top": 0.8, "bottom": 0.85}}).verdict == "held"
    assert decide_bottom({5: {"top": 0.6, "bottom": 0.3}, 20: {"top": 0.8, "bottom": 0.8}}).verdict == "not held"


PHASE_GAMMAS = np.array([0.1, 1.0, 10.0])
PHASE_ALPHAS = np.array([0.0, 1.0, 2.0, 3.0, 4.0])


def _grid(first: list[float]) -> np.ndarray:
    """An excess-risk grid (γ × α) that is 0 from α = first[i] on and 1 below it."""
    return np.array([[0.0 if a >= f else 1.0 for a in PHASE_ALPHAS] for f in first])


def _phase(rc: list[float], je: list[float], err: dict | None = None) -> list[str]:
    err = err or {"RC": _grid(rc), "JE": _grid(je)}
    return _verdicts(decide_phase(PHASE_GAMMAS, PHASE_ALPHAS, err, {"RC": rc, "JE": je}))


def test_je_vs_recon_phase_claims_are_not_held_on_counter_examples():
    # the paper's pattern: weak γ, RC first; strong γ, JE first
    assert _phase([1.0, 2.0, 3.0], [2.0, 2.0, 1.0]) == ["held"] * 3
    # the reverse pattern: both comparisons are false, the boundaries still match the thresholds
    assert _phase([2.0, 2.0, 1.0], [1.0, 2.0, 3.0]) == ["held", "not held", "not held"]
    # strong γ: JE never recovers within the grid (∞), RC does
    assert _phase([1.0, 2.0, 3.0], [2.0, 2.0, 9.0])[1] == "not held"
    rc, je = [1.0, 2.0, 3.0], [2.0, 2.0, 1.0]
    # recovery two grid steps above the threshold
    late = {"RC": _grid([1.0, 2.0, 3.0]), "JE": _grid([2.0, 4.0, 1.0])}
    assert _phase(rc, je, late)[0] == "not held"
    # recovery in a window: lost again at a larger α
    window = {"RC": _grid(rc), "JE": _grid(je)}
    window["RC"][0, 3] = 0.5
    assert _phase(rc, je, window)[0] == "not held"
    # a boundary below the threshold is not held either
    early = {"RC": _grid([0.0, 2.0, 3.0]), "JE": _grid(je)}
    assert _phase(rc, je, early)[0] == "not held"
